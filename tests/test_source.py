"""A corpus of hostile and unusual source trees: each works, warns so a user can act, or is refused by name.

Every case goes through the engine (``engine.build``, the asset hash) and the command line (a subprocess with
a timeout, so a regression that hangs fails instead of stalling the suite); the linked-folder, named-pipe and
secret cases also through a real ``cdk synth``. No case needs a package index: the entries have no
dependency file, so what is tested is the walk, the hash and the copy of the handler's own files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core import source as source_module
from cdk_native_python.core.errors import BundlingError, InputError, VerificationError
from cdk_native_python.core.reporter import silent
from cdk_native_python.core.source import snapshot, tree_digest
from cdk_native_python.pipeline.engine import BuildRequest, BuildResult, build, bundle, prepare
from cdk_native_python.store.local import LocalStore
from tests.cdkhelpers import BAD_APP, CDK, cdk_env, clean_failure, needs_cdk
from tests.helpers import ARM312, PYTHON

SECRET = "aws_secret_access_key=wJalrXUtnFEMI-K7MDENG"


# -- helpers --------------------------------------------------------------------------------------------------

def function(root: Path, index: str = "def handler(event, context):\n    return 'ok'\n") -> Path:
    entry = root / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text(index)
    return entry


def request(entry: Path, *excludes: str) -> BuildRequest:
    return BuildRequest(entry=entry, target=ARM312, excludes=excludes)


def engine(entry: Path, out: Path, *excludes: str) -> BuildResult:
    return build(request(entry, *excludes), out, LocalStore(out.parent / "cache"))


def asset_hash(entry: Path, cache: Path, *excludes: str) -> str:
    return prepare(request(entry, *excludes), LocalStore(cache)).asset_hash


def cli(cwd: Path, entry: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``cdk-native-python build --source entry`` (folder output ``cli-out`` unless ``args`` say otherwise)."""
    where = [] if {"--zip", "--output", "-o"} & set(args) else ["--output", str(cwd / "cli-out")]
    env = {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(cwd / "cli-cache")}
    return subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.12",
                           "--arch", "arm64", "--source", str(entry), *where, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def refused(proc: subprocess.CompletedProcess[str], code: int, *culprits: str) -> None:
    """The CLI failed with ``code``, one error line naming every culprit and a hint, no traceback."""
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("cdk-native-python: error: "), proc.stderr
    assert "\n  hint: " in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    for culprit in culprits:
        assert culprit in proc.stderr, f"{culprit!r} not in {proc.stderr}"


def fails(kind: type[BundlingError], action: Callable[[], object], code: str, *culprits: str) -> BundlingError:
    with pytest.raises(kind) as info:
        finishes(action)
    err = info.value
    assert err.code == code, (err.code, str(err))
    assert err.hint, str(err)
    assert "\n" not in err.message or code == "source-too-large", err.message  # one line (a list may follow)
    for culprit in culprits:
        assert culprit in str(err), f"{culprit!r} not in {err}"
    return err


def finishes(action: Callable[[], object], seconds: float = 30, unblock: Callable[[], None] | None = None) -> Any:
    """Run ``action`` in a thread; a hang fails the test (after ``unblock`` released it) instead of the suite."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = action()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            unblock()
        thread.join(5)
        pytest.fail(f"still running after {seconds}s: it hangs")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def release_fifo(path: Path) -> Callable[[], None]:
    """Open the pipe's writing end once, so a reader blocked on opening it gets end-of-file."""
    def release() -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    return release


def warned(result: BuildResult, *words: str) -> list[str]:
    """The warnings that contain every word."""
    return [w for w in result.report.warnings if all(word in w for word in words)]


def zip_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return set(zf.namelist())


# -- folder links: followed, copied, hashed -----------------------------------------------------------------------

def monorepo(root: Path) -> tuple[Path, Path]:
    """repo/common/util.py shared by repo/functions/fn through the link fn/common -> ../../common."""
    common = root / "repo" / "common"
    common.mkdir(parents=True)
    (common / "__init__.py").write_text("")
    (common / "util.py").write_text("VALUE = 'shared'\n")
    entry = function(root / "repo" / "functions",
                     "from common.util import VALUE\n\ndef handler(event, context):\n    return VALUE\n")
    (entry / "common").symlink_to(Path("..", "..", "common"))
    return entry, common


def handler_returns(asset: Path) -> str:
    """What the asset's handler returns when Python imports it from the asset alone (as Lambda does)."""
    code = f"import sys; sys.path.insert(0, {str(asset)!r}); import index; sys.stdout.write(index.handler(None, None))"
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=asset, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_linked_folder_is_copied_hashed_and_importable(tmp_path: Path) -> None:
    entry, common = monorepo(tmp_path)
    result = engine(entry, tmp_path / "out")
    assert (tmp_path / "out" / "common" / "util.py").read_text() == "VALUE = 'shared'\n"
    assert "common/util.py" in result.report.source_files
    assert handler_returns(tmp_path / "out") == "shared"
    # it leads outside the entry: said once, naming the link and where it leads
    assert len(warned(result, "source link common leads outside the entry", str(common))) == 1, result.report.warnings
    # in the hash: editing the shared code changes the asset
    before = asset_hash(entry, tmp_path / "cache")
    (common / "util.py").write_text("VALUE = 'edited'\n")
    assert asset_hash(entry, tmp_path / "cache") != before

    out = cli(tmp_path, entry)
    assert out.returncode == 0, out.stderr
    assert handler_returns(tmp_path / "cli-out") == "edited"
    assert "warning: source link common leads outside the entry" in out.stderr and str(common) in out.stderr
    zipped = cli(tmp_path, entry, "--zip", str(tmp_path / "fn.zip"))
    assert zipped.returncode == 0, zipped.stderr
    assert {"index.py", "common/__init__.py", "common/util.py"} <= zip_names(tmp_path / "fn.zip")


# -- files that come from outside, or look like secrets: copied, with a warning that says how to leave them out ---

def test_link_to_a_file_outside_the_entry_warns(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    credentials = home / ".aws" / "credentials"
    credentials.write_text(f"[default]\n{SECRET}\n")
    entry = function(tmp_path)
    (entry / "settings.ini").symlink_to(credentials)
    result = engine(entry, tmp_path / "out")
    assert warned(result, "source link settings.ini leads outside the entry", str(credentials)), result.report.warnings
    assert warned(result, "settings.ini", "AWS credentials", "asset_excludes=['settings.ini']"), result.report.warnings
    assert all(SECRET not in w for w in result.report.warnings)

    out = cli(tmp_path, entry)
    assert out.returncode == 0, out.stderr
    assert "settings.ini" in out.stderr and str(credentials) in out.stderr and "--exclude settings.ini" in out.stderr
    assert "asset_excludes" not in out.stderr  # the CLI's flag, not the construct's option
    assert SECRET not in out.stderr
    # left out as the warning says: no warning, not shipped
    quiet = engine(entry, tmp_path / "out2", "settings.ini")
    assert not quiet.report.warnings and not (tmp_path / "out2" / "settings.ini").exists()


SECRETS = {".env": "SECRET=1", ".env.production": "SECRET=2", "certs/server.pem": "-----BEGIN", "tls.key": "k",
           "id_rsa": "-----BEGIN OPENSSH", ".aws/credentials": SECRET, ".ssh/config": "Host *"}
HARMLESS = {"keyring.py": "", "environment.py": "", "certs/README.md": "", "keys.py": ""}


def test_secret_looking_files_warn_naming_each_and_how_to_leave_it_out(tmp_path: Path) -> None:
    entry = function(tmp_path)
    for rel, text in {**SECRETS, **HARMLESS}.items():
        (entry / rel).parent.mkdir(parents=True, exist_ok=True)
        (entry / rel).write_text(text)
    result = engine(entry, tmp_path / "out")
    secret_warnings = [w for w in result.report.warnings if "looks like" in w]
    for rel in SECRETS:
        assert len([w for w in secret_warnings if w.startswith(f"source file {rel} ")]) == 1, (rel, secret_warnings)
    assert len(secret_warnings) == len(SECRETS)
    assert warned(result, ".aws/credentials", "asset_excludes=['.aws']")
    assert warned(result, ".env ", "asset_excludes=['.env']")
    assert all(SECRET not in w for w in result.report.warnings)
    notices = prepare(request(entry), LocalStore(tmp_path / "cache")).source.notices
    assert {n.code for n in notices} == {"source-secret"}

    out = cli(tmp_path, entry)
    assert out.returncode == 0, out.stderr
    for rel in SECRETS:
        assert f"source file {rel} " in out.stderr
    assert "--exclude .aws" in out.stderr and SECRET not in out.stderr
    # excluded as told: silent, and not in the asset
    excludes = (".env*", "*.pem", "*.key", "id_rsa", ".aws", ".ssh")
    quiet = engine(entry, tmp_path / "quiet", *excludes)
    assert quiet.report.warnings == ()
    assert set(quiet.report.source_files) == {"index.py", *HARMLESS}


# -- special files: refused by name, at once -------------------------------------------------------------------

def test_named_pipe_is_refused_without_hanging(tmp_path: Path) -> None:
    entry = function(tmp_path)
    os.mkfifo(entry / "pipe")
    # the construct computes the asset hash first (this is where cdk synth hung), the CLI bundles
    for action in (lambda: asset_hash(entry, tmp_path / "cache"), lambda: engine(entry, tmp_path / "out")):
        started = time.perf_counter()
        with pytest.raises(InputError) as info:
            finishes(action, unblock=release_fifo(entry / "pipe"))
        assert time.perf_counter() - started < 5
        err = info.value
        assert err.code == "source-fifo" and str(entry / "pipe") in err.message and "named pipe" in err.message
        assert err.hint and "asset_excludes=['pipe']" in err.hint
    refused(cli(tmp_path, entry, timeout=30), 2, str(entry / "pipe"), "named pipe", "--exclude pipe")
    assert not (tmp_path / "cli-out").exists()
    # excluded, it is never opened
    assert engine(entry, tmp_path / "out2", "pipe").report.source_files == ("index.py",)


def test_socket_is_refused(tmp_path: Path) -> None:
    entry = function(tmp_path)
    path = entry / "app.sock"
    if len(str(path)) > 100:
        pytest.skip("temporary path too long for a Unix socket")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        fails(InputError, lambda: engine(entry, tmp_path / "out"), "source-socket", str(path), "a socket")
        refused(cli(tmp_path, entry, timeout=30), 2, str(path), "socket")


def test_devices_are_refused(tmp_path: Path) -> None:
    entry = function(tmp_path)
    try:
        os.mknod(entry / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs root")
    fails(InputError, lambda: engine(entry, tmp_path / "out"), "source-device", str(entry / "null"), "a device")
    (entry / "null").unlink()
    # a link to /dev/zero would be read forever: refused before it is opened
    (entry / "zeros").symlink_to("/dev/zero")
    fails(InputError, lambda: engine(entry, tmp_path / "out"), "source-device", "zeros", "/dev/zero")
    refused(cli(tmp_path, entry, timeout=30), 2, "zeros", "/dev/zero")


@pytest.mark.parametrize("case", ["to-an-ancestor", "to-itself", "two-links"])
def test_link_loops_are_refused(tmp_path: Path, case: str) -> None:
    entry = function(tmp_path)
    (entry / "pkg").mkdir()
    if case == "to-an-ancestor":
        (entry / "pkg" / "loop").symlink_to("..")
    elif case == "to-itself":
        (entry / "pkg" / "loop").symlink_to("loop")
    else:
        (entry / "pkg" / "loop").symlink_to("other")
        (entry / "pkg" / "other").symlink_to("loop")
    # named at the first link of the loop, not wherever the kernel gives up following it
    fails(InputError, lambda: engine(entry, tmp_path / "out"), "source-link-loop", f"{entry / 'pkg' / 'loop'} is ")
    refused(cli(tmp_path, entry, timeout=30), 2, f"{entry / 'pkg' / 'loop'} is ", "loop")


def test_dangling_link_is_left_out_with_a_warning(tmp_path: Path) -> None:
    entry = function(tmp_path)
    (entry / ".#index.py").symlink_to("user@host.1234:1700000000")  # what Emacs leaves while a file is edited
    result = engine(entry, tmp_path / "out")
    assert result.report.source_files == ("index.py",)
    assert warned(result, ".#index.py", "user@host.1234:1700000000", "leads nowhere")
    out = cli(tmp_path, entry)
    assert out.returncode == 0 and ".#index.py" in out.stderr, out.stderr


def test_name_that_is_not_utf8_is_refused_by_its_bytes(tmp_path: Path) -> None:
    entry = function(tmp_path)
    raw = os.fsencode(entry) + b"/caf\xe9.txt"
    with open(raw, "wb") as f:
        f.write(b"latin-1 name")
    err = fails(InputError, lambda: engine(entry, tmp_path / "out"), "source-name-encoding", "caf\\xe9.txt")
    assert err.hint and "rename" in err.hint
    refused(cli(tmp_path, entry), 2, "caf\\xe9.txt", "UTF-8")
    # leaving it out works, and a folder that is only fingerprinted (a local package) takes it by its bytes
    assert engine(entry, tmp_path / "out", "caf*").report.source_files == ("index.py",)
    out = cli(tmp_path, entry, "--exclude", "caf*")
    assert out.returncode == 0, out.stderr
    with_it = tree_digest(entry)
    os.unlink(raw)
    assert tree_digest(entry) != with_it


def _read_bytes_so_far() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_huge_sparse_file_is_refused_before_reading(tmp_path: Path) -> None:
    if not Path("/proc/self/io").exists():
        pytest.skip("needs /proc/self/io to count bytes read")
    entry = function(tmp_path)
    with open(entry / "model.bin", "wb") as f:
        f.truncate(3 * 1024**3)  # 3 GiB of size, no blocks
    (entry / "small.bin").write_bytes(b"x" * 1000)
    before, started = _read_bytes_so_far(), time.perf_counter()
    err = fails(VerificationError, lambda: engine(entry, tmp_path / "out"), "source-too-large", "model.bin",
                "3072.0 MB", "250.0 MB")
    elapsed, read = time.perf_counter() - started, _read_bytes_so_far() - before
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    assert read < 1_000_000, f"read {read} bytes"
    assert err.hint and "asset_excludes=['model.bin']" in err.hint
    # the construct's path: the asset hash (computed when the construct is created) fails the same way, as fast
    started = time.perf_counter()
    fails(VerificationError, lambda: asset_hash(entry, tmp_path / "cache"), "source-too-large", "model.bin")
    assert time.perf_counter() - started < 1.0
    started = time.perf_counter()
    refused(cli(tmp_path, entry, timeout=30), 1, "model.bin", "250.0 MB")
    assert time.perf_counter() - started < 10  # interpreter start-up included; reading 3 GiB took longer
    assert not (tmp_path / "cli-out").exists()


# -- the fingerprint ---------------------------------------------------------------------------------------------

def _old_tree_digest(root: Path) -> str:
    """The scheme before length prefixes: name NUL x|- content NUL, for every file."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(b"x" if os.access(path, os.X_OK) else b"-")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def test_two_different_folders_never_share_a_fingerprint(tmp_path: Path) -> None:
    # one file "a" holding what the old scheme wrote for two files "a" and "b": the same bytes were hashed
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a").write_bytes(b"X\0b\0-Y")
    (two / "a").write_bytes(b"X")
    (two / "b").write_bytes(b"Y")
    assert _old_tree_digest(one) == _old_tree_digest(two)  # the collision the old fingerprint allowed
    assert tree_digest(one) != tree_digest(two)
    assert asset_hash(one, tmp_path / "cache") != asset_hash(two, tmp_path / "cache")
    # the executable bit counts, the permissions around it do not
    plain = tree_digest(two)
    (two / "b").chmod(0o755)
    executable = tree_digest(two)
    assert executable != plain
    (two / "b").chmod(0o700)
    assert tree_digest(two) == executable


def test_the_same_source_at_two_checkout_paths_has_one_asset_hash(tmp_path: Path) -> None:
    entry, _ = monorepo(tmp_path / "laptop")
    other = tmp_path / "ci-runner" / "work"
    shutil.copytree(tmp_path / "laptop" / "repo", other, symlinks=True)
    moved = other / "functions" / "fn"
    assert (moved / "common").is_symlink()
    first = asset_hash(entry, tmp_path / "cache-a")
    assert asset_hash(moved, tmp_path / "cache-b") == first
    # and the hash covers the linked code: the checkouts differ as soon as the shared code does
    (other / "common" / "util.py").write_text("VALUE = 'other'\n")
    assert asset_hash(moved, tmp_path / "cache-b") != first


def test_the_copy_is_what_was_hashed(tmp_path: Path) -> None:
    entry = function(tmp_path)
    (entry / "config.json").write_text('{"v": 1}')
    plan = prepare(request(entry), LocalStore(tmp_path / "cache"))
    assert plan.asset_hash  # CDK asks for the hash when the construct is created, and bundles later
    (entry / "config.json").write_text('{"v": 2}')  # an editor saves in between
    fails(InputError, lambda: bundle(plan, tmp_path / "out", LocalStore(tmp_path / "cache")), "source-changed",
          "config.json")


def test_a_local_package_fingerprint_is_walked_the_same_way(tmp_path: Path) -> None:
    """``tree_digest`` (local path dependencies) follows folder links and never hangs on a pipe."""
    pkg = tmp_path / "pkg"
    (pkg / "src").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.py").write_text("1")
    (pkg / "src" / "shared").symlink_to(tmp_path / "shared")
    before = tree_digest(pkg)
    (tmp_path / "shared" / "x.py").write_text("2")
    assert tree_digest(pkg) != before
    os.mkfifo(pkg / "pipe")
    with pytest.raises(InputError) as info:
        finishes(lambda: tree_digest(pkg), unblock=release_fifo(pkg / "pipe"))
    assert info.value.code == "source-fifo"


def test_the_walk_is_one_record_for_hash_and_copy(tmp_path: Path) -> None:
    entry, common = monorepo(tmp_path)
    (entry / "run.sh").write_text("#!/bin/sh\n")
    (entry / "run.sh").chmod(0o755)
    (common / "alias.py").symlink_to("util.py")  # within the outside folder: not news
    (entry / "lib").symlink_to(common)  # another link to it: named too
    tree = snapshot(entry)
    assert [f.rel for f in tree.files] == ["common/__init__.py", "common/alias.py", "common/util.py", "index.py",
                                           "lib/__init__.py", "lib/alias.py", "lib/util.py", "run.sh"]
    assert [f.executable for f in tree.files] == [False] * 7 + [True]
    assert [f.size for f in tree.files] == [os.stat(f.path).st_size for f in tree.files]
    assert [(n.code, n.message.split(" leads")[0]) for n in tree.notices] == [
        ("source-link-outside", "source link common"), ("source-link-outside", "source link lib")]
    copied = tree.copy_to(tmp_path / "out")
    assert copied == [f.rel for f in tree.files]
    assert os.access(tmp_path / "out" / "run.sh", os.X_OK)
    with pytest.raises(AttributeError):
        tree.digest = "x"  # type: ignore[misc]  # frozen


# -- through a real cdk synth ----------------------------------------------------------------------------------

def _synth(tmp_path: Path, entry_setup: Callable[[Path], None]) -> tuple[subprocess.CompletedProcess[str], Path]:
    app = tmp_path / "app"
    entry = function(app)
    entry_setup(entry)
    (app / "app.py").write_text(BAD_APP.format(props="entry='fn'"))
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    out = tmp_path / "cdk.out"
    args = [str(CDK), "synth", "--quiet", "--no-notices", "-o", str(out)]
    # a session of its own: a hang kills node *and* the app process it started (a blocked app would outlive it)
    with subprocess.Popen(args, cwd=app, env=cdk_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail("cdk synth still running after 120s: it hangs")
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr), out


def _asset(out: Path) -> Path:
    template = json.loads((out / "Bad.template.json").read_text())
    fn = next(v for v in template["Resources"].values() if v["Type"] == "AWS::Lambda::Function")
    return out / str(fn["Metadata"]["aws:asset:path"])


@pytest.mark.synth
@needs_cdk
def test_cdk_synth_copies_a_linked_folder(tmp_path: Path) -> None:
    shared = tmp_path / "common"
    shared.mkdir()
    (shared / "util.py").write_text("VALUE = 'shared'\n")

    def setup(entry: Path) -> None:
        (entry / "index.py").write_text("from common.util import VALUE\n\ndef handler(e, c):\n    return VALUE\n")
        (entry / "common").symlink_to(shared)

    proc, out = _synth(tmp_path, setup)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "common" in proc.stderr and str(shared) in proc.stderr and "outside the entry" in proc.stderr
    assert handler_returns(_asset(out)) == "shared"


@pytest.mark.synth
@needs_cdk
def test_cdk_synth_refuses_a_named_pipe_at_once(tmp_path: Path) -> None:
    proc, _ = _synth(tmp_path, lambda entry: os.mkfifo(entry / "pipe"))
    clean_failure(proc, "pipe", "named pipe")


@pytest.mark.synth
@needs_cdk
def test_cdk_synth_warns_about_a_secret(tmp_path: Path) -> None:
    proc, _ = _synth(tmp_path, lambda entry: (entry / ".env").write_text(SECRET))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the construct's words: cdk synth ran the construct
    assert "source file .env looks like" in proc.stderr and "asset_excludes=['.env']" in proc.stderr
    assert SECRET not in proc.stderr


# -- what is left out (source.py) ----------------------------------------------------------------------------

@pytest.mark.parametrize(("rel", "patterns", "excluded"), [
    ("tests/test_x.py", ("tests",), True),  # a component anywhere
    ("pkg/tests/data.json", ("tests",), True),
    ("pkg/testsuite.py", ("tests",), False),  # a whole component, not a prefix
    ("pkg/mod.pyc", ("*.pyc",), True),
    ("docs/build", ("docs/build",), True),  # the whole relative path (the walk asks for each folder)
    ("docs/build", ("/docs/build/",), True),  # slashes around a pattern do not matter
    ("src/docs/build", ("docs/build",), False),
    ("notes.md", (), False),
    ("a/b/c.txt", ("b", "*.md"), True),
])
def test_exclusion_patterns_match_a_component_or_the_whole_path(rel: str, patterns: tuple[str, ...],
                                                                excluded: bool) -> None:
    assert source_module.is_excluded(rel, patterns) is excluded


def test_a_local_package_fingerprint_ignores_what_never_ships_and_sees_the_rest(tmp_path: Path) -> None:
    pkg = tmp_path / "lib"
    (pkg / "lib").mkdir(parents=True)
    (pkg / "lib" / "__init__.py").write_text("VALUE = 1\n")
    (pkg / "pyproject.toml").write_text("[project]\nname = 'lib'\nversion = '1'\n")
    before = source_module.tree_digest(pkg)
    for ignored in (".venv/bin/python", ".venv/pyvenv.cfg", "lib/__pycache__/x.cpython-312.pyc", ".git/HEAD",
                    ".pytest_cache/v/x", "cdk.out/manifest.json"):
        (pkg / ignored).parent.mkdir(parents=True, exist_ok=True)
        (pkg / ignored).write_text("noise")
    assert source_module.tree_digest(pkg) == before
    (pkg / "tests").mkdir()
    (pkg / "tests" / "test_lib.py").write_text("")  # tests are copied now (alpha parity): they count
    assert source_module.tree_digest(pkg) != before
    before = source_module.tree_digest(pkg)
    (pkg / "lib" / "extra.py").write_text("")
    assert source_module.tree_digest(pkg) != before
    assert source_module.tree_digest(pkg, defaults=False) != source_module.tree_digest(pkg)  # the noise counts


# -- secret patterns (issue 22): each warned by name with the exclude fix, on every build path -------------------

#: a file per pattern, as it would sit in a function folder -> the pattern the warning names
MORE_SECRETS = {
    ".npmrc": ".npmrc", ".pgpass": ".pgpass", ".my.cnf": ".my.cnf", ".s3cfg": ".s3cfg", ".boto": ".boto",
    "deploy/.docker/config.json": ".docker/config.json", ".kube/config": ".kube/config",
    "certs/client.p12": "*.p12", "certs/client.pfx": "*.pfx", "keystore.jks": "*.jks", "putty.ppk": "*.ppk",
    "service-account-prod.json": "service-account*.json", "infra/terraform.tfstate": "terraform.tfstate*",
    "terraform.tfstate.backup": "terraform.tfstate*", ".htpasswd": ".htpasswd",
}
#: near misses: named like the secrets, but not them
NOT_SECRETS = {"config": "", "docker/config.json": "", ".kube/cache.json": "", "account.json": "", "boto.py": "",
               "npmrc.md": "", "tfstate.py": ""}


def write_secrets(entry: Path, files: dict[str, str]) -> None:
    for rel in files:
        (entry / rel).parent.mkdir(parents=True, exist_ok=True)
        (entry / rel).write_text(SECRET)


def test_every_secret_pattern_of_the_list_has_a_case() -> None:
    listed = {p for p, _ in (*source_module.SECRET_NAMES, *source_module.SECRET_PATHS)}
    assert set(MORE_SECRETS.values()) <= listed
    assert {".npmrc", ".pgpass", ".my.cnf", ".s3cfg", ".boto", ".docker/config.json", ".kube/config", "*.p12",
            "*.pfx", "*.jks", "*.ppk", "service-account*.json", "terraform.tfstate*", ".htpasswd"} <= set(
        MORE_SECRETS.values())


@pytest.mark.parametrize("rel", sorted(MORE_SECRETS))
def test_a_secret_looking_file_is_named_with_its_pattern_and_the_exclude_fix(tmp_path: Path, rel: str) -> None:
    entry = function(tmp_path)
    write_secrets(entry, {rel: "", **NOT_SECRETS})
    result = engine(entry, tmp_path / "out")
    said = [w for w in result.report.warnings if "looks like" in w]
    assert len(said) == 1, said
    assert said[0].startswith(f"source file {rel} looks like ") and f"({MORE_SECRETS[rel]})" in said[0]
    assert f"asset_excludes=[{rel!r}]" in said[0]  # the construct's words; the CLI's are tested below
    assert SECRET not in said[0]
    assert rel in result.report.source_files  # copied, as the user may mean it to be
    quiet = engine(entry, tmp_path / "quiet", rel)
    assert quiet.report.warnings == () and rel not in quiet.report.source_files


def test_the_cli_names_every_secret_with_its_flag(tmp_path: Path) -> None:
    entry = function(tmp_path)
    write_secrets(entry, {**MORE_SECRETS, **NOT_SECRETS})
    out = cli(tmp_path, entry)
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stderr.splitlines() if "looks like" in line]
    assert len(said) == len(MORE_SECRETS), said
    for rel in MORE_SECRETS:
        fix = f"--exclude {shlex.quote(rel)}"
        assert any(f"source file {rel} looks like" in line and fix in line for line in said), rel
    assert SECRET not in out.stderr


def test_the_constructs_annotate_every_secret(tmp_path: Path, wheel_index: Any) -> None:
    from aws_cdk import aws_lambda as lambda_

    from cdk_native_python import NativePythonFunction
    from tests.cdkhelpers import make_layer, said_on, stack

    entry = function(tmp_path)
    write_secrets(entry, {**MORE_SECRETS, **NOT_SECRETS})
    s = stack(tmp_path)
    fn = NativePythonFunction(s, "Fn", entry=str(entry), runtime=lambda_.Runtime.PYTHON_3_12)
    layer = make_layer(s, "Layer", str(entry), wheel_index)
    for construct in (fn, layer):
        said = [w for w in said_on(construct) if "looks like" in w]
        assert len(said) == len(MORE_SECRETS), said
        for rel in MORE_SECRETS:
            assert any(f"source file {rel} looks like" in w and f"asset_excludes=[{rel!r}]" in w for w in said), rel


# -- what is left out by default (alpha parity, issue 24) ----------------------------------------------------------

GOLDEN_HANDLER = '''\
import json, pathlib
from tests.fixtures import EXPECTED

def handler(event, context):
    golden = json.loads((pathlib.Path(__file__).parent / "tests" / "golden.json").read_text())
    return f"{golden['answer']}-{EXPECTED}"
'''


def parity_entry(root: Path) -> Path:
    """A handler that reads tests/golden.json and imports a tests subpackage, beside folders the alpha module
    copies (node_modules, data, a venv folder that is no virtualenv) and ones that are rebuilt."""
    entry = function(root, GOLDEN_HANDLER)
    files = {"tests/__init__.py": "", "tests/fixtures/__init__.py": "EXPECTED = 'ok'\n",
             "tests/golden.json": '{"answer": 42}', "node_modules/pkg/index.js": "module.exports = 1\n",
             "data/model.bin": "weights", "venv/settings.py": "NOT_A_VIRTUALENV = True\n",
             ".venv/pyvenv.cfg": "home = /usr/bin\n", ".venv/lib/site.py": "", "tools/env/pyvenv.cfg": "home = x\n",
             "tools/env/bin/x": "", "tools/run.py": "", "__pycache__/index.cpython-312.pyc": "",
             ".git/HEAD": "ref: refs/heads/main\n", ".pytest_cache/v/x": "", "cdk.out/manifest.json": "{}"}
    for rel, text in files.items():
        (entry / rel).parent.mkdir(parents=True, exist_ok=True)
        (entry / rel).write_text(text)
    return entry


SHIPPED_SOURCE = {"index.py", "tests/__init__.py", "tests/fixtures/__init__.py", "tests/golden.json",
                  "node_modules/pkg/index.js", "data/model.bin", "venv/settings.py", "tools/run.py"}
LEFT_OUT = (".git/", ".pytest_cache/", ".venv/ (a virtualenv: it holds pyvenv.cfg)", "__pycache__/", "cdk.out/",
            "tools/env/ (a virtualenv: it holds pyvenv.cfg)")


def test_what_the_alpha_module_copies_ships_and_only_rebuildables_are_left_out(tmp_path: Path) -> None:
    entry = parity_entry(tmp_path)
    said = silent()
    result = build(request(entry), tmp_path / "out", LocalStore(tmp_path / "cache"), said)
    assert set(result.report.source_files) == SHIPPED_SOURCE
    assert handler_returns(tmp_path / "out") == "42-ok"  # the asset alone runs it, as Lambda would
    told = [n for n in said.notices if n.code == "source-excluded"]
    assert len(told) == 1 and told[0].level == "info", said.notices
    message = told[0].message
    for folder in LEFT_OUT:
        assert message.count(folder) == 1, (folder, message)
    assert "rename" in message
    # what the user leaves out is not news
    (quiet,) = [n.message for n in prepare(request(entry, ".git", "tools/env"), LocalStore(tmp_path / "cache"),
                                           silent()).source.notices if n.code == "source-excluded"]
    assert ".git/" not in quiet and "tools/env" not in quiet and "cdk.out/" in quiet

    out = cli(tmp_path, entry)
    assert out.returncode == 0, out.stderr
    assert sorted(p.relative_to(tmp_path / "cli-out").as_posix()
                  for p in (tmp_path / "cli-out").rglob("*") if p.is_file()) == sorted(SHIPPED_SOURCE)
    assert out.stderr.count("left out of the asset") == 1 and all(f in out.stderr for f in LEFT_OUT)


def test_an_entry_with_nothing_rebuildable_says_nothing(tmp_path: Path) -> None:
    entry = function(tmp_path)
    (entry / "tests").mkdir()
    (entry / "tests" / "test_x.py").write_text("")
    assert [n for n in snapshot(entry).notices if n.code == "source-excluded"] == []
    assert "tests/test_x.py" in snapshot(entry).paths


@pytest.mark.parametrize("name", ["venv", ".venv", "env", "python-env"])
def test_a_folder_is_a_virtualenv_by_its_pyvenv_cfg_not_by_its_name(tmp_path: Path, name: str) -> None:
    entry = function(tmp_path)
    (entry / name / "lib").mkdir(parents=True)
    (entry / name / "lib" / "site.py").write_text("")
    assert f"{name}/lib/site.py" in snapshot(entry).paths  # no pyvenv.cfg: data, copied
    (entry / name / "pyvenv.cfg").write_text("home = /usr/bin\n")
    tree = snapshot(entry)
    assert tree.paths == ["index.py"]
    assert [n.message.split(": ", 1)[1].split(". ")[0] for n in tree.notices] == [
        f"{name}/ (a virtualenv: it holds pyvenv.cfg)"]


def test_python_version_ships_except_from_a_uv_project_as_upstream(tmp_path: Path) -> None:
    """The alpha module leaves `.python-version` out of a uv project's asset only (it picks uv's interpreter);
    with any other dependency file, or none, it is copied like every other file."""
    from tests.inputhelpers import uv_lock

    plain = function(tmp_path / "plain")
    (plain / ".python-version").write_text("3.12\n")
    (plain / "requirements.txt").write_text("")
    assert ".python-version" in engine(plain, tmp_path / "plain" / "out").report.source_files
    project = function(tmp_path / "uv")
    (project / ".python-version").write_text("3.12\n")
    (project / "pyproject.toml").write_text('[project]\nname = "fn"\nversion = "0.1"\nrequires-python = ">=3.12"\n'
                                            "dependencies = []\n")
    uv_lock(project)
    files = engine(project, tmp_path / "uv" / "out").report.source_files
    assert ".python-version" not in files and "index.py" in files and "uv.lock" in files
