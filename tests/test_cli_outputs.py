"""What ``cdk-native-python build`` leaves on disk: a ``.zip`` name is a zip, a full disk names the output and
the cause, a killed build leaves nothing a later run trusts (and later runs remove it), and the hint of every
file-system error says something true about it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python._fs import LOCK_NAME, atomic_write, held_tempdir, remove_dead, replacing
from tests.test_cli import fn_args, run


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(cwd / "cache")}
    return subprocess.Popen([sys.executable, "-m", "cdk_native_python.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (src / "requirements.txt").write_text("purepkg\nnativepkg\n")
    return tmp_path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name) if folder.is_dir() else []


# -- -o fn.zip ----------------------------------------------------------------------------------------------------

def test_an_output_named_zip_is_a_zip(project: Path, wheel_index: Any) -> None:
    out = run(project, *fn_args(wheel_index, "-o", "dist/fn.zip", "--report", "fn.json"))
    assert out.returncode == 0, out.stderr
    made = project / "dist" / "fn.zip"
    assert made.is_file() and zipfile.is_zipfile(made)
    with zipfile.ZipFile(made) as zf:
        assert {"index.py", "purepkg/__init__.py", "nativepkg/_native.abi3.so"} <= set(zf.namelist())
    assert f"wrote {made} (" in out.stderr
    assert '"kind": "zip"' in (project / "fn.json").read_text()
    # exactly what --zip writes
    assert run(project, *fn_args(wheel_index, "--zip", "dist/same.zip")).returncode == 0
    assert (project / "dist" / "same.zip").read_bytes() == made.read_bytes()
    # a folder by that name (what older versions made) is not silently filled or replaced
    (project / "old.zip").mkdir()
    refused = run(project, *fn_args(wheel_index, "-o", "old.zip"))
    assert refused.returncode == 2 and "is a folder" in refused.stderr and ".zip" in refused.stderr
    assert "hint:" in refused.stderr and not any((project / "old.zip").iterdir())


# -- a full disk -------------------------------------------------------------------------------------------------

def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` bytes."""
    st = os.statvfs(folder)
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(st.f_bavail * st.f_frsize - leave, 0))


@pytest.mark.parametrize("flag", ["--output", "--zip", "--report"])
def test_a_full_disk_names_the_output_and_the_cause(project: Path, wheel_index: Any, small_fs: Any,
                                                    flag: str) -> None:
    small = small_fs("small", "size=256k")
    fill(small, 0 if flag == "--report" else 8 * 1024)  # the dependencies do not fit: copying them from the cache fails
    target = small / ("fn.zip" if flag == "--zip" else "fn.json" if flag == "--report" else "fn")
    args = ["--report", str(target), "--output", "out"] if flag == "--report" else [flag, str(target)]
    out = run(project, *fn_args(wheel_index, *args))
    assert out.returncode == 1, out.stderr
    assert f"cannot write {flag} {target}: no space is left on its disk" in out.stderr, out.stderr
    assert f"hint: free space on the disk that holds {small}" in out.stderr
    assert str(project / "cache") not in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in small.iterdir()) == ["filler"]  # nothing half-written, no temporary folder


# -- killed builds -----------------------------------------------------------------------------------------------

def kill_when_staging(proc: subprocess.Popen[str], folder: Path) -> None:
    """SIGKILL ``proc`` while it writes its temporary output in ``folder`` (a cold build takes seconds)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if leftovers(folder):
            time.sleep(0.05)  # well into the build, never between creating a folder and locking it
            proc.kill()
            proc.communicate()
            return
        time.sleep(0.002)
    proc.communicate()
    pytest.fail(f"the build finished (exit {proc.returncode}) before it could be killed")


@pytest.mark.parametrize("flag", ["--output", "--zip"])
def test_a_killed_build_leaves_nothing_trusted_and_the_next_run_cleans_up(project: Path, wheel_index: Any,
                                                                          flag: str) -> None:
    out = project / "out"
    out.mkdir()
    target = out / ("fn.zip" if flag == "--zip" else "fn")
    kill_when_staging(start(project, *fn_args(wheel_index, flag, str(target))), out)
    assert not target.exists()
    assert leftovers(out), "the kill came after the build had cleaned up"
    again = run(project, *fn_args(wheel_index, flag, str(target)))
    assert again.returncode == 0, again.stderr
    assert leftovers(out) == [] and target.exists()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Any]:
    """Processes that keep a locked temporary folder until told to go: ``holder(folder) -> (process, path)``."""
    procs: list[subprocess.Popen[str]] = []
    code = ("import sys; from pathlib import Path; from cdk_native_python._fs import held_tempdir\n"
            "with held_tempdir(Path(sys.argv[1]), '.other.tmp-') as tmp:\n"
            "    print(tmp, flush=True); sys.stdin.read()\n")

    def hold(folder: Path) -> tuple[subprocess.Popen[str], Path]:
        proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        return proc, Path(proc.stdout.readline().strip())

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def test_only_dead_builds_leftovers_are_removed(project: Path, wheel_index: Any, holder: Any) -> None:
    out = project / "out"
    out.mkdir()
    alive, alive_tmp = holder(out)
    dead, dead_tmp = holder(out)
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    (out / ".notes.tmp-mine").mkdir()  # not ours (no lock file): never touched
    built = run(project, *fn_args(wheel_index, "--output", str(out / "fn")))
    assert built.returncode == 0, built.stderr
    assert alive_tmp.is_dir() and not dead_tmp.exists() and (out / ".notes.tmp-mine").is_dir()
    assert alive.stdin is not None
    alive.stdin.close()  # a live writer cleans up after itself
    alive.wait(30)
    assert not alive_tmp.exists()


def test_atomic_writes_replace_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    atomic_write(path, "old\n")
    with pytest.raises(RuntimeError), replacing(path) as part:
        part.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old\n" and leftovers(tmp_path) == []
    atomic_write(path, b"new\n")
    assert path.read_text() == "new\n" and path.stat().st_mode & 0o777 == 0o644
    # a folder replaces a missing or empty one
    with replacing(tmp_path / "dir") as part:
        part.mkdir()
        (part / "x").write_text("x")
    assert (tmp_path / "dir" / "x").read_text() == "x" and leftovers(tmp_path) == []
    # the lock is held while the block runs: a cleaner leaves it alone
    with held_tempdir(tmp_path, ".live.tmp-") as tmp:
        assert remove_dead(tmp_path) == [] and tmp.is_dir()
    assert leftovers(tmp_path) == []
    # killed while creating its lock: removed once old; folders without our lock file are not ours
    half, young, foreign = tmp_path / ".a.tmp-1", tmp_path / ".b.tmp-2", tmp_path / ".c.tmp-3"
    for folder in (half, young):
        folder.mkdir()
        (folder / f"{LOCK_NAME}.new").write_text("")
    (foreign / "data").mkdir(parents=True)
    for folder in (half, foreign):
        os.utime(folder, (0, 0))
    assert remove_dead(tmp_path) == [half]
    assert leftovers(tmp_path) == [young.name, foreign.name]


# -- every hint says something true --------------------------------------------------------------------------------

def test_file_system_errors_get_a_hint_about_their_real_cause(project: Path, wheel_index: Any, small_fs: Any) -> None:
    (project / "loop").symlink_to("loop")
    looped = run(project, *fn_args(wheel_index, "--output", "loop/fn"))
    assert looped.returncode == 1 and "Too many levels of symbolic links" in looped.stderr, looped.stderr
    assert "hint: a symbolic link on that path leads back to itself" in looped.stderr
    (project / "afile").write_text("")
    under_file = run(project, *fn_args(wheel_index, "--output", "afile/fn"))
    assert under_file.returncode == 1 and "hint: a part of that path is a file" in under_file.stderr, \
        under_file.stderr
    ro = small_fs("ro", "size=64k,ro")
    read_only = run(project, *fn_args(wheel_index, "--output", str(ro / "fn")))
    assert read_only.returncode == 1
    assert f"cannot write --output {ro / 'fn'}: its file system is read-only" in read_only.stderr, read_only.stderr
    for proc in (looped, under_file, read_only):
        assert "writable and has space" not in proc.stderr and "Traceback" not in proc.stderr
