"""``cdk-native-python prefetch``: the app's bundles built at once (overlapping), identical ones once, a failure
named with its construct path after the others finished, and the synth that follows warm."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from cdk_native_python.cli import main as cli
from cdk_native_python.pipeline.requestlog import PREFETCH_FILE_ENV, RequestRecord, parse, record
from tests.cdkhelpers import CDK, cdk_env, cdk_synth, needs_cdk
from tests.helpers import ARM312, PYTHON, build_request, write_function
from tests.helpers import cli as run_cli
from tests.test_progress import SlowIndex, environment, in_terminal, needs_script, screen
from tests.uvcalls import Call, observed
from tests.wheelfactory import MeetingIndex, WheelIndex
from tests.wheelfactory import _handler as index_handler

APP = """\
import aws_cdk as cdk
from cdk_native_python import BundlingOptions, NativePythonFunction

app = cdk.App()
stack = cdk.Stack(app, "S")
for name, entry in {functions!r}:
    NativePythonFunction(stack, name, entry=entry, bundling=BundlingOptions(index_url={url!r}) if {url!r} else None)
app.synth()
"""


def app(root: Path, url: str | None, functions: dict[str, tuple[str, str]],
        context: dict[str, object] | None = None) -> Path:
    """An app folder with cdk.json (and its ``context``): ``functions`` maps a construct id to (its folder, its
    requirements); ``url`` is each function's index (None: cdk.json's team default)."""
    folder = root / "app"
    for entry, requirements in dict(functions.values()).items():
        write_function(folder, requirements, name=entry)
    pairs = [(name, entry) for name, (entry, _) in functions.items()]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(APP.format(functions=pairs, url=url))
    (folder / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py", "context": context or {}}))
    return folder


def prefetch_in_process(folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, list[Call]]:
    """``prefetch`` run here (its builds are threads of this process, so uv's calls can be observed)."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    calls: list[Call] = []
    with observed(calls.append):
        code = cli.main(["prefetch", *args])
    return code, calls


def kinds(calls: list[Call]) -> list[str]:
    """What uv did: an install first tries the wheel cache offline and, when that fails (a wheel not yet in it,
    or the cache busy under load), installs online; only the call that succeeded is the work done."""
    return sorted(c.kind.replace(" --offline", "") for c in calls if c.returncode == 0)


@pytest.mark.synth
@needs_cdk
def test_after_prefetch_the_synth_is_warm(tmp_path: Path, wheel_index: WheelIndex) -> None:
    folder = app(tmp_path, wheel_index.url, {"A": ("a", "depa\n"), "B": ("b", "attrs\n"), "C": ("c", "purepkg\n")})
    env = cdk_env(tmp_path)
    done = run_cli(folder, "prefetch", env=env)
    assert done.returncode == 0, done.stderr
    assert "prefetch: 3 bundles ready" in done.stderr
    for name in ("S/A", "S/B", "S/C"):
        assert f"{name}: python3.13/x86_64 — " in done.stderr and "install done" in done.stderr, done.stderr
    trees = sorted(p.name for p in (tmp_path / "cache" / "trees").iterdir())
    assert len(trees) == 3

    asked = len(wheel_index.requests)
    synth = cdk_synth(tmp_path, folder)
    assert synth.returncode == 0, synth.stderr[-3000:]
    assert synth.stderr.count("resolve cached, install cached") == 3, synth.stderr[-3000:]
    assert len(wheel_index.requests) == asked  # the synth asked the index nothing
    assert sorted(p.name for p in (tmp_path / "cache" / "trees").iterdir()) == trees


@pytest.mark.synth
@needs_cdk
def test_prefetch_then_the_real_cdk_synth_beside_it(tmp_path: Path, wheel_index: WheelIndex) -> None:
    """`prefetch -- cdk synth`: the real synth runs beside the builds, meets them at the store's locks, and
    stages every bundle (one tree per set in the store)."""
    folder = app(tmp_path, wheel_index.url, {"A": ("a", "depa\n"), "B": ("b", "attrs\n"), "C": ("c", "purepkg\n")})
    done = run_cli(folder, "prefetch", "--", str(CDK), "synth", "--quiet", "--no-notices", "-o",
                   str(tmp_path / "cdk.out"), env=cdk_env(tmp_path), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "prefetch: 3 bundles ready" in done.stderr and "every request is known; starting" in done.stderr
    assets = [p for p in (tmp_path / "cdk.out").iterdir() if p.name.startswith("asset.") and p.is_dir()]
    assert len(assets) == 3 and all((a / "index.py").is_file() for a in assets)
    assert sorted(next(n for n in ("purepkg", "attrs", "depa") if (a / n).is_dir()) for a in assets) == [
        "attrs", "depa", "purepkg"]
    assert len(list((tmp_path / "cache" / "trees").iterdir())) == 3


def test_identical_requests_are_built_once_and_a_warm_prefetch_builds_nothing(
        tmp_path: Path, wheel_index: WheelIndex, cache_env: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A and Twin: one folder (one request); Copy: the same requirements in another folder; Other: another set
    folder = app(tmp_path, wheel_index.url, {"A": ("a", "depa\n"), "Twin": ("a", "depa\n"), "Copy": ("b", "depa\n"),
                                             "Other": ("c", "attrs\n")})
    code, calls = prefetch_in_process(folder, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "4 bundles (3 distinct) ready" in err
    assert "S/A, S/Twin: python3.13/x86_64" in err
    # two dependency sets: two resolutions, two installs (Copy waited for A's tree and found it)
    assert kinds(calls) == ["pip compile", "pip compile", "pip install", "pip install"], calls
    assert len(list((tmp_path / "cache" / "trees").iterdir())) == 2

    code, calls = prefetch_in_process(folder, monkeypatch, "--quiet")
    err = capsys.readouterr().err
    assert code == 0 and calls == [], err  # warm: not one uv call
    assert "[cdk-native-python]" not in err, err  # --quiet: errors only


def test_a_failing_function_fails_the_command_by_name_after_the_others(
        tmp_path: Path, wheel_index: WheelIndex, cache_env: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = app(tmp_path, wheel_index.url, {"Good": ("a", "depa\n"), "Bad": ("b", "no-such-package-here\n"),
                                             "Fine": ("c", "attrs\n")})
    code, _ = prefetch_in_process(folder, monkeypatch, "--jobs", "1")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "S/Bad could not be bundled" in err and "no-such-package-here" in err and "hint:" in err
    assert "1 of 3 bundles failed: S/Bad" in err.splitlines()[-1]
    # built, the one after the failure too
    assert "S/Good: python3.13/x86_64 — 1 package" in err and "S/Fine: python3.13/x86_64 — 1 package" in err, err
    assert len(list((tmp_path / "cache" / "trees").iterdir())) == 2
    assert "Traceback" not in err


def test_prefetch_overlaps_its_builds(tmp_path: Path, wheel_index: WheelIndex, cache_env: None,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Three cold sets of one package each (uv asks the index one thing at a time for each): the index sees
    more than one request at once only if builds run at the same time."""
    meeting = MeetingIndex(wheel_index)
    try:
        folder = app(tmp_path, meeting.url,
                     {"A": ("a", "depa\n"), "B": ("b", "attrs\n"), "C": ("c", "typing-extensions\n")})
        code, _ = prefetch_in_process(folder, monkeypatch, "--jobs", "3")
    finally:
        meeting.close()
    assert code == 0, capsys.readouterr().err
    assert meeting.most > 1


class GatedIndex:
    """``index``'s pages and files on another port; every file download waits until ``gate`` exists (at most
    ``patience`` seconds, after which ``ran_out`` is set). Downloads go on only once a command started by
    ``prefetch -- COMMAND`` has created the gate: so the command runs while builds are still under way, or
    the wait runs out. Nothing is timed."""

    def __init__(self, index: WheelIndex, gate: Path, patience: float = 60.0) -> None:
        self.ran_out = False
        gated = self

        class Handler(index_handler(index)):  # type: ignore[misc]
            def _answer(self, body: bool) -> None:
                if self.path.startswith("/files/"):
                    gated.wait(gate, patience)
                super()._answer(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/simple/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait(self, gate: Path, patience: float) -> None:
        watcher = threading.Event()
        deadline = time.monotonic() + patience
        while not gate.exists():
            if time.monotonic() > deadline:
                self.ran_out = True
                return
            watcher.wait(0.05)  # a file has no event to wait on: look again shortly

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


#: the command after `--` in the tests: it opens the gate, and writes down what it was handed
FOLLOWER = ("import os, pathlib, sys; pathlib.Path('gate').touch(); "
            "pathlib.Path('follower-env').write_text(os.environ.get({var!r}, 'unset')); sys.exit({code})")


@pytest.mark.parametrize("code", [0, 3])
def test_a_command_after_the_double_dash_starts_while_the_builds_run(
        tmp_path: Path, wheel_index: WheelIndex, cache_env: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], code: int) -> None:
    folder = tmp_path / "app"
    gated = GatedIndex(wheel_index, folder / "gate")
    try:
        folder = app(tmp_path, gated.url, {"A": ("a", "depa\n"), "B": ("b", "attrs\n")})
        done, _ = prefetch_in_process(folder, monkeypatch, "--", str(PYTHON), "-c",
                                      FOLLOWER.format(var=PREFETCH_FILE_ENV, code=code))
    finally:
        gated.close()
    err = capsys.readouterr().err
    assert not gated.ran_out, "the command started only after the builds (their downloads waited for it)" + err
    assert done == code, err  # the command's code when it fails, else prefetch's
    assert "prefetch: 2 bundles ready" in err and "every request is known; starting" in err
    assert (folder / "follower-env").read_text() == "unset"  # its own synth bundles: no request file for it


def test_a_command_after_the_double_dash_is_not_started_when_the_app_fails(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} -c 'raise SystemExit(5)'"}))
    failed = run_cli(tmp_path, "prefetch", "--", str(PYTHON), "-c", "open('ran', 'w')")
    assert failed.returncode == 2 and "failed (exit 5)" in failed.stderr
    assert not (tmp_path / "ran").exists()
    (tmp_path / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} -c 'pass'"}))
    missing = run_cli(tmp_path, "prefetch", "--", "no-such-command-here", "--parameters", "Password=hunter2")
    assert missing.returncode == 2 and "cannot start `no-such-command-here`" in missing.stderr
    assert "hunter2" not in missing.stderr  # the command's arguments are never shown
    assert "hint: check the command after `--`" in missing.stderr and "Traceback" not in missing.stderr


def test_the_app_gets_cdk_json_context_and_context_flags(
        tmp_path: Path, wheel_index: WheelIndex, cache_env: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The team default of cdk.json (the index) and a --context flag reach the constructs as under cdk synth."""
    folder = app(tmp_path, None, {"A": ("a", "usesattrs\n")}, {"cdk-native-python": {"index_url": wheel_index.url}})
    code, calls = prefetch_in_process(folder, monkeypatch, "--context", "cdk-native-python:strip=[\"usesattrs\"]")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "S/A: python3.13/x86_64 — 0 packages" in err, err  # usesattrs and attrs stripped, as the flag says
    assert any(wheel_index.url.split("/simple")[0].split("//")[1] in " ".join(c.args) for c in calls), calls


def test_no_app_to_run_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "prefetch")
    assert done.returncode == 2
    assert f"no CDK app to run: {tmp_path / 'cdk.json'} does not exist" in done.stderr
    assert "hint: run prefetch where you run cdk" in done.stderr

    (tmp_path / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} -c 'raise SystemExit(5)'"}))
    failed = run_cli(tmp_path, "prefetch")
    assert failed.returncode == 2
    assert "failed (exit 5)" in failed.stderr and "hint: make `cdk synth` work first" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_a_request_is_written_down_only_for_prefetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = build_request(write_function(tmp_path, "depa\n"), None, ARM312, groups=("dev",), name="S/Fn")
    file = tmp_path / "requests.jsonl"
    monkeypatch.delenv(PREFETCH_FILE_ENV, raising=False)
    record([request], None, None)
    assert not file.exists()

    monkeypatch.setenv(PREFETCH_FILE_ENV, str(file))
    record([request, request], str(tmp_path / "cache"), None)
    lines = file.read_text().splitlines()
    assert len(lines) == 2 and oct(os.stat(file).st_mode & 0o777) == "0o600"
    back = [parse(line) for line in lines]
    assert back[0].request == dataclasses.replace(request, entry=request.entry.absolute())
    assert back[0] == RequestRecord.of(request, str(tmp_path / "cache"), None)


@needs_script
def test_on_a_terminal_the_bundles_share_one_live_line(tmp_path: Path, wheel_index: WheelIndex) -> None:
    """Each running bundle's step on one line updated in place (how many are done, then each one's phase); what
    stays on the screen is one summary per bundle."""
    slow = SlowIndex(wheel_index, delay=0.8)  # every step lasts long enough to be drawn
    try:
        folder = app(tmp_path, slow.url, {"A": ("a", "depa\n"), "B": ("b", "attrs\n")})
        raw = in_terminal([str(PYTHON), "-m", "cdk_native_python.cli", "prefetch"], folder, environment(tmp_path))
    finally:
        slow.close()
    assert re.search(r"\x1b\[K\[cdk-native-python\] prefetch: [01]/2 done — S/[AB]: resolving 1 requirement", raw)
    shown = [line for line in screen(raw) if line.startswith("[cdk-native-python]")]
    assert shown[0].startswith("[cdk-native-python] prefetch: running the app"), shown
    assert sorted(line.split(" — ")[0] for line in shown[1:3]) == [
        "[cdk-native-python] S/A: python3.13/x86_64", "[cdk-native-python] S/B: python3.13/x86_64"], shown
    assert shown[3].startswith("[cdk-native-python] prefetch: 2 bundles ready"), shown
    assert len(shown) == 4, shown  # no step took a line of its own
