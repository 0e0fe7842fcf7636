"""Progress: slow steps are shown (one live line on a terminal, one plain line per step otherwise), fast ones
never; the summary line takes the live line's place. Terminals are real pseudo-terminals (``os.openpty``,
``script``), slowness comes from a real index server that answers late."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import shlex
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

import pytest

from cdk_native_python.core import progress
from cdk_native_python.core.progress import Console
from cdk_native_python.core.reporter import Reporter
from tests.cdkhelpers import CDK, needs_cdk
from tests.helpers import PYTHON, write_function
from tests.wheelfactory import WheelIndex
from tests.wheelfactory import _handler as index_handler

SCRIPT = shutil.which("script")
needs_script = pytest.mark.skipif(SCRIPT is None, reason="needs util-linux `script` for a pseudo-terminal")


# -- a terminal, as the user sees it --------------------------------------------------------------------------------

_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # colours (the CDK CLI's), which move nothing


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw``: carriage returns go back to column 0, ESC[K clears to the end."""
    raw = _STYLE.sub("", raw)
    lines, col, i = [""], 0, 0
    while i < len(raw):
        if raw.startswith("\x1b[K", i):
            lines[-1] = lines[-1][:col]
            i += 3
            continue
        ch = raw[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("")
            col = 0
        else:
            line = lines[-1].ljust(col)
            lines[-1] = line[:col] + ch + line[col + 1:]
            col += 1
        i += 1
    return [line for line in lines if line.strip()]


class Pty:
    """A real pseudo-terminal: the console writes to its slave side, the test reads what a terminal would get."""

    def __init__(self, columns: int = 120) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.stream = os.fdopen(slave, "w", encoding="utf-8")
        os.set_blocking(self.master, False)

    def read(self, wait: bool = False) -> str:
        """What was written so far; ``wait``: block until something is (an event, not a sleep)."""
        if wait:
            select.select([self.master], [], [], 30)
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def pty() -> Iterator[Pty]:
    terminal = Pty()
    yield terminal
    terminal.close()


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_NATIVE_PYTHON_QUIET", raising=False)
    monkeypatch.delenv("CDK_NATIVE_PYTHON_VERBOSE", raising=False)
    monkeypatch.delenv("CI", raising=False)  # CI systems set it: these tests choose their terminal themselves


STEP = "resolving 3 requirements for python3.12/arm64"


# -- the console on its own -----------------------------------------------------------------------------------------
# Each console runs on a clock the test moves, and what its drawing thread would do when it wakes is done by
# ``tick()``: no test waits on wall time, and none passes by luck of a thread's timing.

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def stepped(stream: TextIO, delay: float) -> tuple[Console, Clock]:
    clock = Clock()
    return Console(stream, delay=delay, clock=clock, threaded=False), clock


def test_a_slow_step_is_one_live_line_that_the_summary_replaces(pty: Pty) -> None:
    console, clock = stepped(pty.stream, 0.3)
    console.phase(STEP, "App/Fn")
    clock.advance(0.4)
    console.tick()  # past the delay: drawn
    clock.advance(1.0)
    console.tick()  # the seconds counter redrawn in place
    console.phase("installing 31 packages for python3.12/arm64", "App/Fn")
    clock.advance(0.4)
    console.tick()
    console.idle()
    console.line("[cdk-native-python] App/Fn: python3.12 — 31 packages, 80.0 MB")
    raw = pty.read()
    before_summary = raw.split("[cdk-native-python] App/Fn: python3.12")[0]
    assert "\n" not in before_summary  # the progress never took a line of its own
    assert f"App/Fn: {STEP} … 0s" in before_summary and f"App/Fn: {STEP} … 1s" in before_summary  # redrawn
    assert "App/Fn: installing 31 packages for python3.12/arm64 … 0s" in raw
    assert screen(raw) == ["[cdk-native-python] App/Fn: python3.12 — 31 packages, 80.0 MB"]


def test_a_status_that_changes_often_is_still_drawn_and_keeps_its_seconds(pty: Pty) -> None:
    """prefetch's summary of several bundles changes more often than the delay: a new phase each time would never
    be shown, a status keeps the step (and its start) and replaces the text."""
    console = Console(pty.stream, delay=0.3)
    for done in range(8):
        console.status(f"{done}/8 done", "prefetch")
        time.sleep(0.1)
    console.idle()
    raw = pty.read()
    assert "prefetch: 7/8 done … 0s" in raw or "prefetch: 7/8 done … 1s" in raw, raw
    assert "prefetch: 0/8 done" not in raw  # replaced before it was due
    assert screen(raw) == []


def test_a_fast_step_shows_nothing(pty: Pty) -> None:
    console, clock = stepped(pty.stream, 0.5)
    for _ in range(3):
        console.phase(STEP, "App/Fn")
        clock.advance(0.05)
        console.tick()
    console.idle()
    clock.advance(0.7)
    console.tick()  # the drawing thread wakes after the step ended: nothing to draw
    console.line("summary")
    assert pty.read().replace("\r", "") == "summary\n"


def test_a_notice_during_a_step_is_printed_above_the_live_line(pty: Pty) -> None:
    console, clock = stepped(pty.stream, 0.2)
    console.phase(STEP, "App/Fn")
    clock.advance(0.5)
    console.tick()
    Reporter("App/Fn", on_phase=console.phase, sink=lambda n, s: console.line(n.line(s))).warn("x", "careful")
    console.idle()
    warning, live = screen(pty.read().rsplit("\r\x1b[K", 1)[0])  # before the last erase: the live line
    assert warning == "[cdk-native-python] App/Fn: warning: careful"
    assert re.fullmatch(rf"\[cdk-native-python\] App/Fn: {STEP} … \ds", live), live


def test_the_live_line_never_wraps() -> None:
    narrow = Pty(columns=40)
    try:
        console, clock = stepped(narrow.stream, 0.1)
        console.phase(STEP + " and a lot more words than forty columns hold", "App/Fn")
        clock.advance(0.2)
        console.tick()
        console.idle()
        drawn = [part for part in narrow.read().split("\r\x1b[K") if part]
        assert drawn and all(len(part) <= 39 for part in drawn), drawn
        assert drawn[0].endswith("…")
    finally:
        narrow.close()


def test_without_a_terminal_each_slow_step_is_one_plain_line() -> None:
    read, write = os.pipe()
    stream = os.fdopen(write, "w", encoding="utf-8")
    console, clock = stepped(stream, 0.2)
    console.phase(STEP, "App/Fn")
    for _ in range(4):  # several redraw periods: still one line
        clock.advance(0.3)
        console.tick()
    console.phase("a fast step", "App/Fn")
    console.phase("verifying 31 packages (80.0 MB) for python3.12/arm64", "App/Fn")
    clock.advance(0.3)
    console.tick()
    console.idle()
    console.line("summary")
    stream.close()
    with os.fdopen(read, encoding="utf-8") as out:
        text = out.read()
    assert text == (f"[cdk-native-python] App/Fn: {STEP} …\n"
                    "[cdk-native-python] App/Fn: verifying 31 packages (80.0 MB) for python3.12/arm64 …\n"
                    "summary\n")


def test_a_ci_system_gets_plain_lines_even_with_a_terminal(pty: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    console, clock = stepped(pty.stream, 0.1)
    console.phase(STEP, "App/Fn")
    for _ in range(3):
        clock.advance(0.2)
        console.tick()
    console.idle()
    assert pty.read().replace("\r", "") == f"[cdk-native-python] App/Fn: {STEP} …\n"


def test_verbose_shows_every_step_at_once_and_quiet_nothing(pty: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_NATIVE_PYTHON_VERBOSE", "1")
    console = Console(pty.stream, delay=5)
    console.phase(STEP, "App/Fn")
    console.phase("staging 3 packages (1.0 MB) for python3.12/arm64", "App/Fn")
    console.idle()
    assert pty.read().replace("\r", "") == (f"[cdk-native-python] App/Fn: {STEP}\n"
                                            "[cdk-native-python] App/Fn: staging 3 packages (1.0 MB) for "
                                            "python3.12/arm64\n")
    monkeypatch.setenv("CDK_NATIVE_PYTHON_VERBOSE", "0")
    monkeypatch.setenv("CDK_NATIVE_PYTHON_QUIET", "1")
    console, clock = stepped(pty.stream, 0.1)
    console.phase(STEP, "App/Fn")
    clock.advance(0.4)
    console.tick()
    console.idle()
    assert pty.read() == ""


def test_the_drawing_thread_draws_a_due_step_by_itself(pty: Pty) -> None:
    """The thread (not tick) draws: the step is due at once, and the pty is read until the line arrives."""
    console = Console(pty.stream, delay=0)
    console.phase(STEP, "App/Fn")
    seen = ""
    deadline = time.monotonic() + 30  # a bound for a broken thread, not a wait the test relies on
    while f"{STEP} … 0s" not in seen and time.monotonic() < deadline:
        seen += pty.read(wait=True)
    console.idle()
    assert f"App/Fn: {STEP} … 0s" in seen


# -- real builds against an index that answers late -------------------------------------------------------------------

class SlowIndex:
    """The hermetic index's pages and files, served by a real server that answers each request after ``delay``."""

    def __init__(self, index: WheelIndex, delay: float) -> None:
        class Handler(index_handler(index)):
            def _answer(self, body: bool) -> None:
                time.sleep(delay)
                super()._answer(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/simple/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def slow_index(wheel_index: WheelIndex) -> Iterator[SlowIndex]:
    index = SlowIndex(wheel_index, delay=0.8)
    yield index
    index.close()


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_NATIVE_PYTHON_") and k != "CI"}
    env.update(CDK_NATIVE_PYTHON_CACHE_DIR=str(tmp_path / "cache"), CDK_DISABLE_CLI_TELEMETRY="1",
               JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1", TERM="xterm")
    return env


def in_terminal(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """What ``command`` writes to a terminal (``script`` gives it a pseudo-terminal as stdout and stderr)."""
    assert SCRIPT is not None
    out = subprocess.run([SCRIPT, "-qec", shlex.join(command), "/dev/null"], cwd=cwd, env=env, capture_output=True,
                         timeout=600, check=False)  # bytes: text mode would turn every \r into \n
    raw = out.stdout.decode()
    assert out.returncode == 0, raw[-3000:] + out.stderr.decode()[-3000:]
    return raw


def cli_build(tmp_path: Path, index_url: str, output: str) -> list[str]:
    return [sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.12", "--arch", "arm64",
            "--source", str(tmp_path / "src"), "--index-url", index_url, "--zip", str(tmp_path / output)]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_function(tmp_path, "purepkg\n", files={"index.py": "def handler(event, context):\n    return 1\n"},
                          name="src")


@needs_script
def test_cli_cold_build_on_a_terminal_collapses_to_its_summary(tmp_path: Path, source: Path,
                                                                slow_index: SlowIndex) -> None:
    raw = in_terminal(cli_build(tmp_path, slow_index.url, "fn.zip"), tmp_path, environment(tmp_path))
    assert "\x1b[K[cdk-native-python] fn.zip: resolving 1 requirement for python3.12/arm64 … 1s" in raw
    shown = screen(raw)
    assert len(shown) == 2, shown  # what stays on the terminal: the summary and the written file
    assert shown[0].startswith("[cdk-native-python] fn.zip: python3.12 / manylinux_2_34 aarch64 — 2 packages")
    assert shown[1].startswith("[cdk-native-python] wrote ")


def test_cli_cold_build_without_a_terminal_prints_its_slow_steps_then_warm_is_one_line(
        tmp_path: Path, source: Path, slow_index: SlowIndex) -> None:
    env = environment(tmp_path)
    # the install must be slow to be shown: its wheels are not downloaded ahead while the resolution is made
    cold = subprocess.run(cli_build(tmp_path, slow_index.url, "fn.zip"), capture_output=True, text=True,
                          env={**env, "CDK_NATIVE_PYTHON_NO_DOWNLOAD_AHEAD": "1"}, timeout=600, check=False)
    assert cold.returncode == 0, cold.stderr
    lines = cold.stderr.splitlines()
    assert "\r" not in cold.stderr and "\x1b" not in cold.stderr
    assert lines[0] == "[cdk-native-python] fn.zip: resolving 1 requirement for python3.12/arm64 …"
    assert "[cdk-native-python] fn.zip: downloading and installing 2 packages for python3.12/arm64 …" in lines
    assert len(lines) == len(set(lines))  # each step once
    assert lines[-2].startswith("[cdk-native-python] fn.zip: python3.12 / manylinux_2_34 aarch64 — 2 packages")
    warm = subprocess.run(cli_build(tmp_path, slow_index.url, "again.zip"), env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert warm.returncode == 0, warm.stderr
    summary, wrote = warm.stderr.splitlines()
    assert "resolve cached, install cached" in summary and wrote.startswith("[cdk-native-python] wrote ")
    quiet = subprocess.run([*cli_build(tmp_path, slow_index.url, "q.zip"), "--refresh", "-q"], env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


# -- inside `cdk synth` ---------------------------------------------------------------------------------------------

def synth_app(tmp_path: Path, index_url: str) -> Path:
    app = tmp_path / "app"
    write_function(app, "purepkg\n", files={"index.py": "def handler(event, context):\n    return 1\n"})
    (app / "app.py").write_text(
        "import aws_cdk as cdk\nfrom cdk_native_python import BundlingOptions, NativePythonFunction\n"
        "app = cdk.App()\nstack = cdk.Stack(app, 'App')\n"
        f"NativePythonFunction(stack, 'Fn', entry='fn', bundling=BundlingOptions(index_url={index_url!r}))\n"
        "app.synth()\n")
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    return app


@pytest.mark.synth
@needs_script
@needs_cdk
def test_cdk_synth_shows_live_progress_on_a_terminal_and_phase_lines_in_ci(tmp_path: Path,
                                                                          slow_index: SlowIndex) -> None:
    app = synth_app(tmp_path, slow_index.url)
    env = environment(tmp_path)
    # the CDK CLI gives the app the terminal as stderr: the live line is drawn inside `cdk synth`
    raw = in_terminal([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(tmp_path / "tty.out")], app, env)
    assert "\x1b[K[cdk-native-python] App/Fn: resolving 1 requirement for python3.13/x86_64 … 1s" in raw
    ours = [line for line in screen(raw) if "cdk-native-python" in line]
    assert len(ours) == 1 and ours[0].startswith("[cdk-native-python] App/Fn: python3.13 / manylinux_2_34 x86_64")
    assert "Bundling asset App/Fn/Code/Stage..." in screen(raw)  # CDK's own line is not glued to ours
    # CI: no terminal, a plain line per slow step (a fresh cache makes the steps slow again)
    env["CDK_NATIVE_PYTHON_CACHE_DIR"] = str(tmp_path / "cache2")
    ci = subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(tmp_path / "ci.out")], cwd=app,
                        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert ci.returncode == 0, ci.stderr[-3000:]
    ours = [line for line in ci.stderr.splitlines() if "cdk-native-python" in line]
    assert ours[0] == "[cdk-native-python] App/Fn: resolving 1 requirement for python3.13/x86_64 …"
    assert ours[-1].startswith("[cdk-native-python] App/Fn: python3.13 / manylinux_2_34 x86_64 — 2 packages")
    assert "\r" not in ci.stderr


@pytest.mark.parametrize(("raw", "shown"), [
    ("pkg\x1b]52;c;ZWNobyBwd25lZA==\x07 1.0", "pkg 1.0"),  # OSC 52: a clipboard write
    ("pkg\x1b]0;title\x1b\\ 1.0", "pkg 1.0"),  # OSC ended by ST
    ("a\x1b[2Jb\x1b[31;1mc", "abc"),  # clear the screen, colours
    ("a\x9b2Jb\x9d0;t\x9cc", "abc"),  # the same as C1 controls
    ("a\x1bPdcs\x1b\\b\x1b7c", "abc"),  # DCS string, a two-byte sequence
    ("bell\x07 bs\x08 del\x7f cr\r nul\x00 c1\x85 esc\x1b", "bell? bs? del? cr? nul? c1? esc?"),
    ("tab\tand\nnewline, ünïcode ≈ ok", "tab and\nnewline, ünïcode ≈ ok"),
])
def test_printable_removes_escape_sequences_and_shows_other_controls(raw: str, shown: str) -> None:
    assert progress.printable(raw) == shown


def test_every_line_the_console_prints_goes_through_the_filter() -> None:
    out = io.StringIO()
    console = Console(out, verbose=True)
    console.phase("resolving \x1b[2Jpkg", "fn\x1b]52;c;eA==\x07")
    console.line("warning: \x1b[2Jname 1.0\x9b")
    progress.echo("error: \x1b]52;c;eA==\x07x", out)
    assert "\x1b" not in out.getvalue() and "\x9b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "resolving pkg" in out.getvalue() and "warning: name 1.0" in out.getvalue()
