"""A corpus of user mistakes: each gets a message that names the culprit and says what to do, never a traceback.

Engine level: the exception is a ``BundlingError`` subclass whose text names the file / package / index /
target at fault and carries a hint. App level (a subset): an ``app.py`` like ``integ/app.py`` run with
``python`` and through the real ``cdk synth`` prints the message with no Python ``Traceback`` and no
JavaScript stack (``    at ...``) lines.
"""

from __future__ import annotations

import base64
import errno
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import NativePythonFunction
from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.errors import (
    BundlingError,
    CacheError,
    ConfigurationError,
    IndexUnreachableError,
    InputError,
    InstallError,
    ResolutionError,
    VerificationError,
)
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ARM312 = Target.from_runtime("python3.12", "arm64")
X86313 = Target.from_runtime("python3.13", "x86_64")
SECRET = "s3cret-Pa55word"


# -- helpers --------------------------------------------------------------------------------------

def write_function(root: Path, requirements: str | None = "", files: dict[str, str] | None = None) -> Path:
    entry = root / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    if requirements is not None:
        (entry / "requirements.txt").write_text(requirements)
    for name, text in (files or {}).items():
        (entry / name).parent.mkdir(parents=True, exist_ok=True)
        (entry / name).write_text(text)
    return entry


def build_request(entry: Path, index: Any = None, target: Target = ARM312, **kw: Any) -> BuildRequest:
    indexes = kw.pop("indexes", None) or (IndexOptions(index_url=index.url) if index is not None else IndexOptions())
    return BuildRequest(entry=entry, target=target, indexes=indexes, **kw)


def fails(kind: type[BundlingError], action: Callable[[], object]) -> BundlingError:
    with pytest.raises(kind) as info:
        action()
    return info.value


def says(err: BundlingError, *culprits: str, hint: str) -> str:
    """The message names every culprit and the hint says what to do; returns the full text."""
    text = str(err)
    for culprit in culprits:
        assert culprit in text, f"{culprit!r} not named in:\n{text}"
    assert err.hint and hint.lower() in err.hint.lower(), f"hint {err.hint!r} does not say {hint!r}"
    assert "Traceback" not in text and "\n    at " not in text
    return text


def _build(entry_or_request: BuildRequest, tmp_path: Path, cache: LocalStore | None = None) -> Callable[[], object]:
    return lambda: build(entry_or_request, tmp_path / "out", cache or LocalStore(tmp_path / "cache"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_index() -> Iterator[str]:
    """A private index on 127.0.0.1 that wants basic auth ``alice:<right>``; yields its base URL."""
    good = "Basic " + base64.b64encode(b"alice:the-right-one").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != good:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.end_headers()
                return
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


# -- 1-3: props ----------------------------------------------------------------------------------

def test_01_missing_entry(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    err = fails(ConfigurationError, _build(build_request(missing), tmp_path))
    says(err, str(missing), hint="point entry at the folder")
    # and through the construct
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    err = fails(ConfigurationError, lambda: NativePythonFunction(stack, "Fn", entry=str(missing)))
    says(err, str(missing), "does not exist", hint="point entry at the folder")


def test_02_missing_index_file(tmp_path: Path) -> None:
    entry = write_function(tmp_path, None)
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    err = fails(ConfigurationError, lambda: NativePythonFunction(stack, "Fn", entry=str(entry), index="main.py"))
    says(err, "Fn", str(entry / "main.py"), hint="set index=")


def test_03_non_python_runtime(tmp_path: Path) -> None:
    says(fails(ConfigurationError, lambda: Target.from_runtime("nodejs20.x", "arm64")), "nodejs20.x",
         hint="python3.x runtime")
    entry = write_function(tmp_path, None)
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    err = fails(ConfigurationError, lambda: NativePythonFunction(stack, "Fn", entry=str(entry),
                                                                 runtime=lambda_.Runtime.NODEJS_20_X))
    says(err, "nodejs20.x", hint="Python runtime")


# -- 4-6, 13-15: dependency files -------------------------------------------------------------------

def test_04_malformed_requirements_line(tmp_path: Path) -> None:
    entry = write_function(tmp_path, "purepkg\n\nrequests>=>2\n")
    err = fails(InputError, _build(build_request(entry), tmp_path))
    says(err, f"{entry / 'requirements.txt'}:3", "requests>=>2", hint="PEP 508")


def test_13_several_dependency_files_choose_by_upstreams_order(tmp_path: Path) -> None:
    """Not an error any more: aws_lambda_python_alpha's order picks Pipfile.lock, and a notice names both."""
    from cdk_native_python import inputs

    entry = write_function(tmp_path, "purepkg\n", files={"Pipfile.lock": json.dumps({"_meta": {}, "default": {}})})
    spec = inputs.load(entry)
    assert spec is not None and spec.kind == "Pipfile.lock"
    (notice,) = spec.notices
    assert notice.code == "dependency-file-chosen" and notice.level == "info"
    assert notice.message.startswith("using Pipfile.lock, ignoring requirements.txt beside it")
    assert "dependency_file=" in notice.message


def test_14_missing_include(tmp_path: Path) -> None:
    entry = write_function(tmp_path, "-r base.txt\npurepkg\n")
    err = fails(InputError, _build(build_request(entry), tmp_path))
    says(err, str(entry / "base.txt"), str(entry / "requirements.txt"), hint="fix the -r/-c path")


def test_15_include_loop(tmp_path: Path) -> None:
    entry = write_function(tmp_path, "-r a.txt\n", files={"a.txt": "-r b.txt\n", "b.txt": "purepkg\n-r a.txt\n"})
    err = fails(InputError, _build(build_request(entry), tmp_path))
    text = says(err, "loop", "a.txt", "b.txt", hint="remove one of the -r")
    assert text.count("a.txt") >= 2  # the chain is shown, back to where it started


# -- 5-12: resolution and install against the hermetic index ------------------------------------------

def test_05_unknown_package(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\nno-such-package-anywhere\n")
    err = fails(ResolutionError, _build(build_request(entry, wheel_index), tmp_path))
    says(err, "no-such-package-anywhere", wheel_index.url.rstrip("/"), hint="check the spelling")


def test_06_unsatisfiable_versions(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\ndepa>=999\n")
    err = fails(ResolutionError, _build(build_request(entry, wheel_index), tmp_path))
    says(err, "depa", str(ARM312), hint="relax the conflicting version pins")


def test_07_no_wheel_for_the_target_lists_the_wheels_that_exist(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "macpkg\n")
    err = fails(ResolutionError, _build(build_request(entry, wheel_index), tmp_path))
    text = says(err, "macpkg", str(ARM312), "wheels that exist", hint="publishes a wheel for aarch64 Linux")
    existing = sorted(p.name for p in Path(wheel_index.find_links).glob("macpkg-*.whl"))
    assert existing and all(name in text for name in existing), text


def test_08_sdist_only_not_allowed_to_build(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "sdistonly\n")
    err = fails(ResolutionError, _build(build_request(entry, wheel_index), tmp_path))
    says(err, "sdistonly", "no wheel", "source distributions", hint="allow_build=['sdistonly']")


NATIVE_SETUP = '''\
from setuptools import Extension, setup
setup(name="brokennative", version="1.0", packages=["brokennative"],
      ext_modules=[Extension("brokennative._speedups", ["brokennative/_speedups.c"])])
'''


def _native_sdist(folder: Path, c_source: str) -> Path:
    import tarfile

    src = folder / "brokennative-1.0"
    (src / "brokennative").mkdir(parents=True)
    (src / "brokennative" / "__init__.py").write_text("")
    (src / "brokennative" / "_speedups.c").write_text(c_source)
    (src / "setup.py").write_text(NATIVE_SETUP)
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: brokennative\nVersion: 1.0\n")
    (src / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\n'
                                        'build-backend = "setuptools.build_meta"\n')
    out = folder / "dist" / "brokennative-1.0.tar.gz"
    out.parent.mkdir()
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return out.parent


@pytest.mark.pypi  # the sdist's build backend (setuptools) comes from PyPI
@pytest.mark.parametrize("c_source", ["#error this extension does not build\n",
                                      "#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "
                                      "\"_speedups\"};\nPyMODINIT_FUNC PyInit__speedups(void) "
                                      "{ return PyModule_Create(&m); }\n"],
                         ids=["build-fails", "builds-native-for-the-host"])
def test_09_native_sdist_allowed_is_refused_clearly(tmp_path: Path, c_source: str) -> None:
    dist = _native_sdist(tmp_path / "pkg", c_source)
    entry = write_function(tmp_path, "brokennative\n")
    req = build_request(entry, indexes=IndexOptions(find_links=(str(dist),)), allow_build=("brokennative",))
    err = fails(ResolutionError, _build(req, tmp_path))
    says(err, "brokennative-1.0.tar.gz", hint="brokennative")
    assert not list((tmp_path / "cache").glob("wheelhouse/*/brokennative-*.whl"))


def test_10_unreachable_index_names_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/simple"
    entry = write_function(tmp_path, "purepkg\n")
    err = fails(IndexUnreachableError, _build(build_request(entry, indexes=IndexOptions(index_url=url)), tmp_path))
    says(err, url, hint="network")


def test_11_wrong_credentials_do_not_leak(tmp_path: Path, private_index: str) -> None:
    url = private_index.replace("http://", f"http://alice:{SECRET}@")
    entry = write_function(tmp_path, "purepkg\n")
    err = fails(IndexUnreachableError, _build(build_request(entry, indexes=IndexOptions(index_url=url)), tmp_path))
    text = says(err, private_index, "credentials", hint="check the user/token")
    assert SECRET not in text and SECRET not in repr(err.args)
    # nor anywhere in the cache (a lock key, a log)
    for p in (tmp_path / "cache").rglob("*"):
        if p.is_file() and p.stat().st_size < 1_000_000:
            assert SECRET.encode() not in p.read_bytes(), p


def test_12_hash_mismatch(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "depa --hash=sha256:" + "0" * 64 + "\n")
    err = fails(BundlingError, _build(build_request(entry, wheel_index), tmp_path))
    assert isinstance(err, (InstallError, ResolutionError)), type(err)
    says(err, "depa", "hash", hint="hash")


# -- 16-19: size, cache directory, interrupted runs ----------------------------------------------------

def test_16_bundle_over_the_size_limit(tmp_path: Path) -> None:
    entry = write_function(tmp_path, None)
    with open(entry / "model.bin", "wb") as f:  # sparse: 300 MB of size without 300 MB of writes
        f.truncate(300 * 1024 * 1024)
    try:
        build(build_request(entry), tmp_path / "out", LocalStore(tmp_path / "cache"))
    except VerificationError as err:
        says(err, "250", "model.bin", hint="")
        return
    raise AssertionError("a 300 MB bundle was accepted (Lambda's unzipped limit is 250 MB)")


def test_17_read_only_cache_falls_back_with_a_warning(tmp_path: Path, wheel_index: Any, small_fs: Any,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    ro = small_fs("ro", "size=4m,ro")
    entry = write_function(tmp_path, "purepkg\n")
    cache = LocalStore(ro / "cache")
    warning = capfd.readouterr().err
    assert cache.fallback_from == (ro / "cache").absolute()
    assert str(ro / "cache") in warning and "CDK_NATIVE_PYTHON_CACHE_DIR" in warning
    result = build(build_request(entry, wheel_index), tmp_path / "out", cache)
    assert {"purepkg", "depa"} <= set(result.packages)
    # without the fallback it says so
    err = fails(CacheError, lambda: LocalStore(ro / "cache", fallback=False))
    says(err, str(ro / "cache"), "Read-only", hint="CDK_NATIVE_PYTHON_CACHE_DIR")


def test_18_full_cache_disk(tmp_path: Path, wheel_index: Any, small_fs: Any,
                            capfd: pytest.CaptureFixture[str]) -> None:
    # full before we start: fall back, with a warning naming the directory
    full = small_fs("full", "size=64k")
    with open(full / "filler", "wb") as f, pytest.raises(OSError) as info:
        f.write(b"\0" * 10**6)
    assert info.value.errno == errno.ENOSPC
    cache = LocalStore(full / "cache")
    assert cache.fallback_from == (full / "cache").absolute()
    assert str(full / "cache") in capfd.readouterr().err
    # fills up while installing: a clear error naming the cache directory, and no entry is published
    tight = small_fs("tight", "size=200k")
    entry = write_function(tmp_path, "nativepkg\npurepkg\n")
    small = LocalStore(tight / "cache")
    assert small.fallback_from is None
    with open(tight / "filler", "wb") as f:  # leave ~40 kB: enough for the lock, not for the wheels
        f.write(b"\0" * (160 * 1024))
    err = fails(CacheError, _build(build_request(entry, wheel_index), tmp_path, small))
    says(err, str(tight / "cache"), "no space left", hint="free space")
    assert not (tight / "cache" / "trees").exists() or not any((tight / "cache" / "trees").iterdir())


HOLDER = """
import sys, time
from pathlib import Path
from cdk_native_python.store.local import LocalStore
with LocalStore(Path(sys.argv[1])).scratch("trees-live") as path:
    print(path, flush=True)
    time.sleep(120)
"""


def test_19_interrupted_previous_run_is_ignored_and_cleaned(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\n")
    root = tmp_path / "cache"
    clean = build(build_request(entry, wheel_index), tmp_path / "clean", LocalStore(tmp_path / "reference"))
    LocalStore(root)
    # a killed run's leftover: a half-built scratch folder nobody holds any more (whatever its name says)
    killed = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    leftover = Path(killed.stdout.readline().strip()) if killed.stdout else Path()
    (leftover / "tree" / "purepkg").mkdir(parents=True)
    (leftover / "tree" / "purepkg" / "__init__.py").write_text("half")
    killed.kill()
    killed.wait()
    # and a live one, held by another process (as in another container sharing the volume): never touched
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(holder.stdout.readline().strip()) if holder.stdout else Path()
        assert live.is_dir()
        result = build(build_request(entry, wheel_index), tmp_path / "out1", LocalStore(root))
        assert not leftover.exists() and live.is_dir()
    finally:
        holder.kill()
        holder.wait()
    LocalStore(root)  # its holder is gone: the next start removes it
    assert not live.exists()
    # a published entry changed behind the store's back: quarantined and rebuilt, never shipped
    trees = list((root / "trees").iterdir())
    assert len(trees) == 1
    half = trees[0] / "tree" / "purepkg" / "__init__.py"
    half.unlink()  # out1 holds a hard link to the old file; the half write is a new one
    half.write_text("tampered half write")
    again = build(build_request(entry, wheel_index), tmp_path / "out2", LocalStore(root))
    assert not again.install_hit
    assert [p.name.split("-")[0] for p in (root / "quarantine").iterdir()] == ["trees"]
    for out in (tmp_path / "out1", tmp_path / "out2"):
        assert (out / "purepkg" / "__init__.py").read_text() == \
            (tmp_path / "clean" / "purepkg" / "__init__.py").read_text()
    assert result.packages == again.packages == clean.packages


# -- the same mistakes as a user sees them: python app.py and cdk synth -------------------------------------

BAD_APP = '''\
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_native_python import BundlingOptions, NativePythonFunction

app = cdk.App()
stack = cdk.Stack(app, "Bad")
NativePythonFunction(stack, "Fn", {props})
app.synth()
'''


def _app(tmp_path: Path, props: str, requirements: str | None) -> Path:
    app = tmp_path / "app"
    write_function(app, requirements)
    (app / "app.py").write_text(BAD_APP.format(props=props))
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    return app


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(tmp_path / "cache"), "CDK_DISABLE_CLI_TELEMETRY": "1",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def _clean_failure(proc: subprocess.CompletedProcess[str], *culprits: str) -> None:
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "\n    at " not in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr, proc.stderr
    for culprit in culprits:
        assert culprit in proc.stderr, proc.stderr


def _cases(index_url: str, unreachable: str) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
    idx = f"bundling=BundlingOptions(index_url={index_url!r})"
    return {
        "missing-entry": ("entry='nope'", None, ("'nope'", "entry")),
        "missing-index": ("entry='fn', index='main.py'", None, ("main.py",)),
        "nodejs-runtime": ("entry='fn', runtime=lambda_.Runtime.NODEJS_20_X", None, ("nodejs20.x",)),
        "include-loop": ("entry='fn'", "-r requirements.txt\n", ("loop",)),
        "macos-only": (f"entry='fn', {idx}", "macpkg\n", ("macpkg", "wheels that exist")),
        "sdist-only": (f"entry='fn', {idx}", "sdistonly\n", ("sdistonly", "allow_build")),
        "unreachable": (f"entry='fn', bundling=BundlingOptions(index_url={unreachable!r})", "purepkg\n",
                        (unreachable,)),
        # fails at bundling time, inside CDK's (JavaScript) call back into Python
        "hash-mismatch": (f"entry='fn', {idx}", "depa --hash=sha256:" + "0" * 64 + "\n", ("depa", "hash")),
    }


@pytest.mark.parametrize("case", ["missing-entry", "missing-index", "nodejs-runtime", "include-loop",
                                  "macos-only", "sdist-only", "unreachable", "hash-mismatch"])
def test_app_shows_the_message_without_a_stack_dump(tmp_path: Path, wheel_index: Any, case: str) -> None:
    props, requirements, culprits = _cases(wheel_index.url, f"http://127.0.0.1:{closed_port()}/simple")[case]
    app = _app(tmp_path, props, requirements)
    proc = subprocess.run([str(PYTHON), "app.py"], cwd=app, env={**_env(tmp_path), "CDK_OUTDIR": str(tmp_path / "o")},
                          capture_output=True, text=True, timeout=300, check=False)
    _clean_failure(proc, *culprits)


@pytest.mark.synth
@pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
@pytest.mark.parametrize("case", ["nodejs-runtime", "macos-only", "hash-mismatch"])
def test_cdk_synth_shows_the_message_without_a_stack_dump(tmp_path: Path, wheel_index: Any, case: str) -> None:
    props, requirements, culprits = _cases(wheel_index.url, f"http://127.0.0.1:{closed_port()}/simple")[case]
    app = _app(tmp_path, props, requirements)
    proc = subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(tmp_path / "cdk.out")], cwd=app,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600, check=False)
    _clean_failure(proc, *culprits)
