"""``cdk-native-python build`` run as a subprocess against the hermetic index: zips unzipped and inspected;
what it leaves on disk (a ``.zip`` name is a zip, a full disk names the output and the cause, a killed build
leaves nothing a later run trusts, every file-system hint says something true)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.cli import main as cli
from cdk_native_python.core._fs import LOCK_NAME
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import build
from cdk_native_python.pipeline.options import BundlingOptions
from cdk_native_python.store.local import LocalStore
from tests.cdkhelpers import NOISY_INFO, NOISY_WARNINGS, noisy_function, says_every_notice
from tests.helpers import elf_machine, leftovers, write_function

EPOCH = (1980, 1, 1, 0, 0, 0)
SCRIPT = Path(sys.executable).parent / "cdk-native-python"


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    environ.update({"CDK_NATIVE_PYTHON_CACHE_DIR": str(cwd / "cache"), **(env or {})})
    return subprocess.run([sys.executable, "-m", "cdk_native_python.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = write_function(tmp_path, "purepkg\nnativepkg\nboto3\n", name="src",
                         files={"run.sh": "#!/bin/sh\necho hi\n", "tests/test_x.py": ""})
    (src / "run.sh").chmod(0o755)
    return tmp_path


def fn_args(index: Any, *extra: str) -> list[str]:
    return ["build", "--runtime", "python3.12", "--arch", "arm64", "--source", "src", "--index-url", index.url,
            *extra]


def members(path: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: info for info in zf.infolist()}


# -- help, version -------------------------------------------------------------------------------------------------

def test_help_documents_every_option_examples_and_exit_codes(tmp_path: Path) -> None:
    top = run(tmp_path, "--help")
    assert top.returncode == 0 and "build" in top.stdout and "exit codes:" in top.stdout
    out = run(tmp_path, "build", "--help")
    assert out.returncode == 0
    for flag in ("--runtime", "--arch", "--dependency-file", "--source", "--output", "--zip", "--layer", "--report",
                 "--index-url", "--extra-index-url", "--find-links", "--no-index", "--allow-build", "--keep-boto3",
                 "--strip", "--keep", "--exclude", "--cache-dir", "--refresh", "--quiet", "--verbose"):
        assert flag in out.stdout, flag
    assert "examples:" in out.stdout and "SOURCE_DATE_EPOCH" in out.stdout
    for code in range(5):
        assert f"\n  {code}  " in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
    version = run(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "cdk-native-python 0.1.0"


def test_the_installed_script_runs(tmp_path: Path) -> None:
    if not SCRIPT.is_file():
        pytest.skip("package not installed with its console script in this environment")
    out = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "cdk-native-python" in out.stdout


# -- zips ----------------------------------------------------------------------------------------------------------

def test_function_zip_contents_permissions_and_timestamps(project: Path, wheel_index: Any) -> None:
    out = run(project, *fn_args(wheel_index, "--zip", "dist/fn.zip"))
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stderr and "fn.zip" in out.stderr and "Traceback" not in out.stderr
    zpath = project / "dist" / "fn.zip"
    infos = members(zpath)
    names = list(infos)
    assert names == sorted(names)
    assert {"index.py", "run.sh", "requirements.txt", "purepkg/__init__.py", "depa/__init__.py",
            "nativepkg/_native.abi3.so"} <= set(names)
    assert not any(n.startswith(("boto3", "botocore", "python/")) for n in names)
    assert "tests/test_x.py" in names  # the entry's tests ship, as the alpha module ships them
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
    for name, info in infos.items():
        assert info.date_time == EPOCH, name
        assert info.create_system == 3
        mode = info.external_attr >> 16
        if name.endswith("/"):
            assert mode == stat.S_IFDIR | 0o755, name
        elif name == "run.sh":
            assert mode == stat.S_IFREG | 0o755
        else:
            assert mode == stat.S_IFREG | 0o644, name
    with zipfile.ZipFile(zpath) as zf:
        assert elf_machine(zf.read("nativepkg/_native.abi3.so")) == 183  # aarch64
        # no host path anywhere in the archive
        for name in zf.namelist():
            data = zf.read(name)
            assert str(project).encode() not in data and str(Path.home()).encode() + b"/" not in data, name
    assert zpath.stat().st_mode & 0o777 == 0o644
    assert not [p for p in zpath.parent.iterdir() if p.name != "fn.zip"]  # no temporary file left


def test_same_inputs_give_byte_identical_zips(project: Path, wheel_index: Any) -> None:
    first = run(project, *fn_args(wheel_index, "--zip", "a.zip"))
    # another cache (cold: resolved and installed again) and another name
    second = run(project, *fn_args(wheel_index, "--zip", "b.zip"), env={"CDK_NATIVE_PYTHON_CACHE_DIR":
                                                                         str(project / "cache2")})
    # the first cache again: warm (hard links from the store instead of a fresh install)
    warm = run(project, *fn_args(wheel_index, "--zip", "w.zip"))
    assert first.returncode == 0 and second.returncode == 0 and warm.returncode == 0, first.stderr + second.stderr
    assert "resolve done" in first.stderr and "resolve done" in second.stderr
    assert "resolve cached, install cached" in warm.stderr
    assert (project / "a.zip").read_bytes() == (project / "b.zip").read_bytes() == (project / "w.zip").read_bytes()
    # a changed source changes the zip
    (project / "src" / "index.py").write_text("def handler(event, context):\n    return 'changed'\n")
    assert run(project, *fn_args(wheel_index, "--zip", "c.zip")).returncode == 0
    assert (project / "c.zip").read_bytes() != (project / "a.zip").read_bytes()


def test_source_date_epoch_sets_the_timestamp(project: Path, wheel_index: Any) -> None:
    out = run(project, *fn_args(wheel_index, "--zip", "fn.zip"), env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert out.returncode == 0, out.stderr
    assert {i.date_time for i in members(project / "fn.zip").values()} == {(2023, 11, 14, 22, 13, 20)}
    bad = run(project, *fn_args(wheel_index, "--zip", "fn2.zip"), env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.returncode == 2 and "SOURCE_DATE_EPOCH" in bad.stderr
    assert not (project / "fn2.zip").exists()


def test_layer_zip_puts_dependencies_under_python(project: Path, wheel_index: Any) -> None:
    out = run(project, "build", "--runtime", "python3.12", "--arch", "x86_64", "-r", "src/requirements.txt",
              "--layer", "--zip", "layer.zip", "--index-url", wheel_index.url)
    assert out.returncode == 0, out.stderr
    names = set(members(project / "layer.zip"))
    assert {"python/", "python/purepkg/__init__.py", "python/depa/__init__.py",
            "python/nativepkg/_native.abi3.so"} <= names
    assert all(n.startswith("python/") for n in names)
    assert not any("boto3" in n or n.endswith("index.py") for n in names)
    with zipfile.ZipFile(project / "layer.zip") as zf:
        assert elf_machine(zf.read("python/nativepkg/_native.abi3.so")) == 62  # x86_64
    # with --source, the layer carries that folder's code under python/ too, as PythonLayerVersion does
    shared = run(project, "build", "--runtime", "python3.12", "--source", "src", "--layer", "--zip", "shared.zip",
                 "--index-url", wheel_index.url)
    assert shared.returncode == 0, shared.stderr
    assert {"python/index.py", "python/purepkg/__init__.py"} <= set(members(project / "shared.zip"))


def test_dependencies_only_without_source(project: Path, wheel_index: Any) -> None:
    out = run(project, "build", "--runtime", "python3.13", "-r", "src/requirements.txt", "--zip", "deps.zip",
              "--index-url", wheel_index.url, "--keep-boto3")
    assert out.returncode == 0, out.stderr
    names = set(members(project / "deps.zip"))
    assert "purepkg/__init__.py" in names and "boto3/__init__.py" in names
    assert "index.py" not in names and "requirements.txt" not in names


@pytest.mark.parametrize(("arch", "machine"), [("aarch64", 183), ("AMD64", 62)])
def test_machine_names_are_accepted_for_arch(project: Path, wheel_index: Any, arch: str, machine: int) -> None:
    out = run(project, "build", "--runtime", "python3.12", "--arch", arch, "-r", "src/requirements.txt",
              "--output", "deps", "--index-url", wheel_index.url)
    assert out.returncode == 0, out.stderr
    assert elf_machine((project / "deps" / "nativepkg" / "_native.abi3.so").read_bytes()) == machine


def test_output_inside_the_source_is_not_bundled_into_itself(project: Path, wheel_index: Any) -> None:
    for _ in range(2):
        out = run(project / "src", "build", "--runtime", "python3.12", "--source", ".", "--index-url",
                  wheel_index.url, "--zip", "build/fn.zip", "--report", "build/report.json",
                  env={"CDK_NATIVE_PYTHON_CACHE_DIR": str(project / "cache")})
        assert out.returncode == 0, out.stderr
    names = set(members(project / "src" / "build" / "fn.zip"))
    assert "index.py" in names and not any(n.startswith("build") for n in names)


# -- folders -------------------------------------------------------------------------------------------------------

def test_output_folder_is_new_or_empty_and_never_linked_to_the_cache(project: Path, wheel_index: Any) -> None:
    out = run(project, *fn_args(wheel_index, "--output", "out/fn"))
    assert out.returncode == 0, out.stderr
    dest = project / "out" / "fn"
    assert (dest / "index.py").is_file() and (dest / "purepkg" / "__init__.py").is_file()
    assert stat.S_IMODE(dest.stat().st_mode) & 0o755 == 0o755
    assert all(p.stat().st_nlink == 1 for p in dest.rglob("*") if p.is_file())  # edits cannot reach the cache
    assert [p.name for p in dest.parent.iterdir()] == ["fn"]  # no temporary sibling left

    again = run(project, *fn_args(wheel_index, "--output", "out/fn"))
    assert again.returncode == 2
    assert "out/fn is not empty" in again.stderr and "hint:" in again.stderr
    assert (dest / "index.py").is_file()

    (project / "empty").mkdir()
    assert run(project, *fn_args(wheel_index, "--output", "empty")).returncode == 0
    assert (project / "empty" / "purepkg").is_dir()


def test_a_failed_build_leaves_no_output(project: Path, wheel_index: Any) -> None:
    (project / "src" / "requirements.txt").write_text("purepkg\nmacpkg\n")  # no wheel for Linux
    out = run(project, *fn_args(wheel_index, "--output", "out/fn"))
    assert out.returncode == 1
    said = [line for line in out.stderr.splitlines() if not line.endswith(" …")]  # a slow step may show first
    assert said[0].startswith("cdk-native-python: error: ") and "macpkg" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (project / "out").exists() or not any((project / "out").iterdir())
    zipped = run(project, *fn_args(wheel_index, "--zip", "dist/fn.zip"))
    assert zipped.returncode == 1
    assert not (project / "dist").exists() or not any((project / "dist").iterdir())


# -- report --------------------------------------------------------------------------------------------------------

def test_report_json(project: Path, wheel_index: Any) -> None:
    out = run(project, *fn_args(wheel_index, "--zip", "fn.zip", "--report", "reports/fn.json", "-q"))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    report = json.loads((project / "reports" / "fn.json").read_text())
    assert report["runtime"] == "python3.12" and report["architecture"] == "arm64"
    packages = report["packages"]
    assert packages["purepkg"]["version"] == "1.0" and packages["depa"]["version"] == "2.0"
    assert any("aarch64" in tag for tag in packages["nativepkg"]["wheel_tags"])
    assert report["stripped"]["boto3"] == ("provided by the Lambda runtime "
                                           "(python3.12 guarantees boto3 >= 1.38.36, below 2)")
    assert report["output"]["kind"] == "zip"
    assert report["output"]["sha256"] == hashlib.sha256((project / "fn.zip").read_bytes()).hexdigest()
    assert report["size"]["unzipped_bytes"] > 0 and report["cache"] == {"resolve": "miss", "install": "miss"}


def test_the_cli_shares_the_constructs_engine_and_cache(project: Path, wheel_index: Any) -> None:
    """What the construct's options build warms the cache for the CLI: same request, same asset."""
    target = Target.from_runtime("python3.12", "arm64")
    request = BundlingOptions(index_url=wheel_index.url).request(project / "src", target)
    direct = build(request, project / "direct", LocalStore(project / "cache"))
    out = run(project, *fn_args(wheel_index, "--output", "via-cli", "--report", "r.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((project / "r.json").read_text())
    assert report["cache"] == {"resolve": "hit", "install": "hit"}
    assert report["asset_hash"] == direct.asset_hash
    files = {p.relative_to(project / "direct").as_posix() for p in (project / "direct").rglob("*")}
    assert files == {p.relative_to(project / "via-cli").as_posix() for p in (project / "via-cli").rglob("*")}


# -- exit codes ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "code", "says"), [
    (["build", "--runtime", "nodejs20.x", "-r", "src/requirements.txt", "--zip", "x.zip"], 2, "nodejs20.x"),
    (["build", "--runtime", "python3.12", "--arch", "sparc", "-r", "src/requirements.txt", "--zip", "x.zip"], 2,
     "sparc"),
    (["build", "--runtime", "python3.12", "-r", "src/requirements.txt"], 2, "--output"),
    (["build", "--runtime", "python3.12", "-r", "src/requirements.txt", "--zip", "x.zip", "--output", "o"], 2,
     "not allowed with"),
    (["build", "--runtime", "python3.12", "--zip", "x.zip"], 2, "nothing to bundle"),
    (["build", "--runtime", "python3.12", "-r", "missing.txt", "--zip", "x.zip"], 2, "missing.txt"),
    (["build", "--runtime", "python3.12", "--source", "nowhere", "--zip", "x.zip"], 2, "nowhere"),
    (["build", "--runtime", "python3.12", "-r", "src/requirements.txt", "--zip", "src"], 2, "is a folder"),
    (["build", "--runtime", "python3.12", "-r", "src/requirements.txt", "--zip", "x.zip", "--no-index"], 2,
     "--find-links"),
    (["build", "--runtime", "python3.12", "-r", "includes.txt", "--zip", "x.zip"], 2, "other.txt"),
    (["build", "--runtime", "python3.12", "-r", "src/requirements.txt", "--zip", "x.zip",
      "--index-url", "http://127.0.0.1:9/simple"], 3, "127.0.0.1:9"),
    ([], 2, "usage"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_exit_codes(project: Path, args: list[str], code: int, says: str) -> None:
    (project / "includes.txt").write_text("-r other.txt\n")
    out = run(project, *args)
    assert out.returncode == code, out.stderr
    assert says in out.stderr
    assert "Traceback" not in out.stderr
    assert not (project / "x.zip").exists()


def test_unknown_package_is_a_bundling_failure(project: Path, wheel_index: Any) -> None:
    (project / "src" / "requirements.txt").write_text("no-such-package-here\n")
    out = run(project, *fn_args(wheel_index, "--zip", "x.zip"))
    assert out.returncode == 1
    assert "cdk-native-python: error: " in out.stderr and "no-such-package-here" in out.stderr
    assert "hint: " in out.stderr


def test_internal_errors_ask_for_a_report(project: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    def boom(*_: object, **__: object) -> None:
        raise KeyError("unexpected")

    monkeypatch.chdir(project)
    monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(project / "cache"))
    monkeypatch.setattr(cli, "engine_build", boom)
    args = ["build", "--runtime", "python3.12", "--source", "src", "--zip", "x.zip"]
    assert cli.main(args) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "please report" in err and "Traceback" not in err
    assert cli.main([*args, "-v"]) == cli.EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err
    assert not (project / "x.zip").exists()


def test_zip_writer_is_deterministic_and_atomic(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "b").mkdir(parents=True)
    (root / "b" / "z.py").write_text("z")
    (root / "a.py").write_text("a")
    (root / "tool").write_text("#!/bin/sh\n")
    (root / "tool").chmod(0o700)
    (root / "link.py").symlink_to(root / "a.py")
    dest = tmp_path / "out.zip"
    dest.write_bytes(b"old")
    entries, size = cli.write_zip(root, dest)
    assert entries == 5 and size == dest.stat().st_size
    infos = members(dest)
    assert list(infos) == ["a.py", "b/", "b/z.py", "link.py", "tool"]
    assert infos["tool"].external_attr >> 16 == stat.S_IFREG | 0o755
    os.utime(root / "a.py", (0, 0))  # host mtimes do not matter
    cli.write_zip(root, tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == dest.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.zip", "out.zip", "root"]


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(cwd / "cache")}
    return subprocess.Popen([sys.executable, "-m", "cdk_native_python.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def bare_project(tmp_path: Path) -> Path:
    write_function(tmp_path, "purepkg\nnativepkg\n", name="src")
    return tmp_path


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` bytes."""
    st = os.statvfs(folder)
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(st.f_bavail * st.f_frsize - leave, 0))


def kill_when_staging(proc: subprocess.Popen[str], folder: Path) -> None:
    """SIGKILL ``proc`` while it writes its temporary output in ``folder`` (a cold build takes seconds)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        # the moment that counts: a temporary folder whose lock file is in place (made, locked, renamed), so
        # the kill never lands between creating the folder and locking it; no guess of how long that takes
        if any((folder / name / LOCK_NAME).exists() for name in leftovers(folder)):
            proc.kill()
            proc.communicate()
            return
        time.sleep(0.002)
    proc.communicate()
    pytest.fail(f"the build finished (exit {proc.returncode}) before it could be killed")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Any]:
    """Processes that keep a locked temporary folder until told to go: ``holder(folder) -> (process, path)``."""
    procs: list[subprocess.Popen[str]] = []
    code = ("import sys; from pathlib import Path; from cdk_native_python.core._fs import held_tempdir\n"
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


def test_an_output_named_zip_is_a_zip(bare_project: Path, wheel_index: Any) -> None:
    out = run(bare_project, *fn_args(wheel_index, "-o", "dist/fn.zip", "--report", "fn.json"))
    assert out.returncode == 0, out.stderr
    made = bare_project / "dist" / "fn.zip"
    assert made.is_file() and zipfile.is_zipfile(made)
    with zipfile.ZipFile(made) as zf:
        assert {"index.py", "purepkg/__init__.py", "nativepkg/_native.abi3.so"} <= set(zf.namelist())
    assert f"wrote {made} (" in out.stderr
    assert '"kind": "zip"' in (bare_project / "fn.json").read_text()
    # exactly what --zip writes
    assert run(bare_project, *fn_args(wheel_index, "--zip", "dist/same.zip")).returncode == 0
    assert (bare_project / "dist" / "same.zip").read_bytes() == made.read_bytes()
    # a folder by that name (what older versions made) is not silently filled or replaced
    (bare_project / "old.zip").mkdir()
    refused = run(bare_project, *fn_args(wheel_index, "-o", "old.zip"))
    assert refused.returncode == 2 and "is a folder" in refused.stderr and ".zip" in refused.stderr
    assert "hint:" in refused.stderr and not any((bare_project / "old.zip").iterdir())


@pytest.mark.parametrize("flag", ["--output", "--zip", "--report"])
def test_a_full_disk_names_the_output_and_the_cause(bare_project: Path, wheel_index: Any, small_fs: Any,
                                                    flag: str) -> None:
    small = small_fs("small", "size=256k")
    fill(small, 0 if flag == "--report" else 8 * 1024)  # the dependencies do not fit: copying them from the cache fails
    target = small / ("fn.zip" if flag == "--zip" else "fn.json" if flag == "--report" else "fn")
    args = ["--report", str(target), "--output", "out"] if flag == "--report" else [flag, str(target)]
    out = run(bare_project, *fn_args(wheel_index, *args))
    assert out.returncode == 1, out.stderr
    assert f"cannot write {flag} {target}: no space is left on its disk" in out.stderr, out.stderr
    assert f"hint: free space on the disk that holds {small}" in out.stderr
    assert str(bare_project / "cache") not in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in small.iterdir()) == ["filler"]  # nothing half-written, no temporary folder


@pytest.mark.parametrize("flag", ["--output", "--zip"])
def test_a_killed_build_leaves_nothing_trusted_and_the_next_run_cleans_up(bare_project: Path, wheel_index: Any,
                                                                          flag: str) -> None:
    out = bare_project / "out"
    out.mkdir()
    target = out / ("fn.zip" if flag == "--zip" else "fn")
    kill_when_staging(start(bare_project, *fn_args(wheel_index, flag, str(target))), out)
    assert not target.exists()
    assert leftovers(out), "the kill came after the build had cleaned up"
    again = run(bare_project, *fn_args(wheel_index, flag, str(target)))
    assert again.returncode == 0, again.stderr
    assert leftovers(out) == [] and target.exists()


def test_only_dead_builds_leftovers_are_removed(bare_project: Path, wheel_index: Any, holder: Any) -> None:
    out = bare_project / "out"
    out.mkdir()
    alive, alive_tmp = holder(out)
    dead, dead_tmp = holder(out)
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    (out / ".notes.tmp-mine").mkdir()  # not ours (no lock file): never touched
    built = run(bare_project, *fn_args(wheel_index, "--output", str(out / "fn")))
    assert built.returncode == 0, built.stderr
    assert alive_tmp.is_dir() and not dead_tmp.exists() and (out / ".notes.tmp-mine").is_dir()
    assert alive.stdin is not None
    alive.stdin.close()  # a live writer cleans up after itself
    alive.wait(30)
    assert not alive_tmp.exists()


def test_file_system_errors_get_a_hint_about_their_real_cause(bare_project: Path, wheel_index: Any,
                                                               small_fs: Any) -> None:
    (bare_project / "loop").symlink_to("loop")
    looped = run(bare_project, *fn_args(wheel_index, "--output", "loop/fn"))
    assert looped.returncode == 1 and "Too many levels of symbolic links" in looped.stderr, looped.stderr
    assert "hint: a symbolic link on that path leads back to itself" in looped.stderr
    (bare_project / "afile").write_text("")
    under_file = run(bare_project, *fn_args(wheel_index, "--output", "afile/fn"))
    assert under_file.returncode == 1 and "hint: a part of that path is a file" in under_file.stderr, \
        under_file.stderr
    ro = small_fs("ro", "size=64k,ro")
    read_only = run(bare_project, *fn_args(wheel_index, "--output", str(ro / "fn")))
    assert read_only.returncode == 1
    assert f"cannot write --output {ro / 'fn'}: its file system is read-only" in read_only.stderr, read_only.stderr
    for proc in (looped, under_file, read_only):
        assert "writable and has space" not in proc.stderr and "Traceback" not in proc.stderr


# -- every notice on every path (see docs/warnings.md) -------------------------------------------------------


def test_every_notice_reaches_the_command_line_cold_and_warm(tmp_path: Path, tracer_index: Path) -> None:
    """The CLI says what the construct annotates, once each, cold and warm; its report keeps every notice."""
    entry = noisy_function(tmp_path)
    for path in ("cold", "warm"):
        out, report = tmp_path / f"{path}-out", tmp_path / f"{path}.json"
        proc = run(tmp_path, "build", "--runtime", "python3.12", "--source", str(entry), "--find-links",
                   str(tracer_index), "--no-index", "--output", str(out), "--report", str(report))
        assert proc.returncode == 0, proc.stderr
        assert ("install cached" in proc.stderr) == (path == "warm"), proc.stderr
        said = [("warning", line.split(": warning: ", 1)[1] + f" [ack: cdk-native-python:{code}]")
                for line in proc.stderr.splitlines() if ": warning: " in line
                for code in [_code_of(line)]]
        said += [("info", line) for line in proc.stderr.splitlines() if NOISY_INFO in line]
        says_every_notice(said, "python3.12")
        kept = json.loads(report.read_text())["notices"]
        assert sorted(n["code"] for n in kept if n["level"] == "warning") == sorted(NOISY_WARNINGS), kept
        assert any(NOISY_INFO in n["message"] for n in kept), kept


def _code_of(line: str) -> str:
    """The code of a warning line the CLI printed, by its words (the CLI prints no code)."""
    words = {"source file .env": "source-secret", "leads outside the entry": "source-link-outside",
             "leads nowhere": "source-link-dangling", "which the Lambda runtime provides": "runtime-provided-shipped"}
    return next((code for text, code in words.items() if text in line), "unexpected")


def test_every_command_but_build_is_registered_in_the_one_table() -> None:
    import argparse

    from cdk_native_python.cli import commands

    (sub,) = [a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == ["build", *commands.TABLE]
    assert tuple(commands.TABLE) == commands.COMMANDS
