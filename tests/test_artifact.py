"""Artifact guarantees (issue #4): verification of native files, size budget, slimming, reproducibility, reports.

Offending files are real files in real wheels, installed by the real engine: mislabeled wheels (the tags promise
one platform, the binary is another) are exactly what verification exists to catch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_native_python.budget import LIMIT_BYTES
from cdk_native_python.engine import BuildRequest, BuildResult, build, prepare
from cdk_native_python.errors import InstallError, VerificationError
from cdk_native_python.install import InstallOptions
from cdk_native_python.records import to_json
from cdk_native_python.slim import SlimOptions
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target
from cdk_native_python.verify import glibc_needs
from tests.wheelfactory import build_wheel, make_elf, make_macho

ARM312 = Target.from_runtime("python3.12", "arm64")
X86_311 = Target.from_runtime("python3.11", "x86_64")
ML = {"aarch64": "manylinux_2_17_aarch64", "x86_64": "manylinux_2_17_x86_64"}


def write_function(root: Path, requirements: str, files: dict[str, bytes] | None = None) -> Path:
    entry = root / "fn"
    entry.mkdir(parents=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (entry / "requirements.txt").write_text(requirements)
    for rel, data in (files or {}).items():
        (entry / rel).parent.mkdir(parents=True, exist_ok=True)
        (entry / rel).write_bytes(data)
    return entry


def from_wheels(entry: Path, wheels: Path, target: Target = ARM312, *, slim: SlimOptions | None = None,
        verify_exclude: tuple[str, ...] = (), layer_bytes: int = 0) -> BuildRequest:
    return BuildRequest(entry=entry, target=target, indexes=IndexOptions(no_index=True, find_links=(str(wheels),)),
                        install=InstallOptions(slim=slim or SlimOptions(), verify_exclude=verify_exclude),
                        layer_bytes=layer_bytes)


def native_wheel(wheels: Path, name: str, machine: str, module: str, binary: bytes, tags: str = "") -> None:
    build_wheel(wheels, name, "1.0", tags or f"cp38-abi3-{ML[machine]}",
                files={f"{name}/__init__.py": b"", f"{name}/{module}": binary})


def host_elf() -> Path:
    """A real ELF shared object of this host: the interpreter's own compiled ``_json`` (or ``_struct``) module."""
    for mod in ("_json", "_struct", "_ctypes", "_ssl"):
        spec = importlib.util.find_spec(mod)
        if spec and spec.origin and spec.origin.endswith(".so"):
            return Path(spec.origin)
    pytest.skip("this Python has no compiled extension modules on disk")


def other_machine() -> str:
    return "aarch64" if platform.machine() in ("x86_64", "AMD64") else "x86_64"


# -- verification ----------------------------------------------------------------------------------------------


def test_good_native_wheels_pass_and_are_reported(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "fine", "aarch64", "_c.cpython-312-aarch64-linux-gnu.so",
                 make_elf("aarch64", ("GLIBC_2.17", "GLIBC_2.28")), tags="cp312-cp312-manylinux_2_28_aarch64")
    result = build(from_wheels(write_function(tmp_path, "fine\n"), wheels),
            tmp_path / "out", LocalStore(tmp_path / "c"))
    verification = to_json(result.report)["verification"]
    assert verification["native_files"] == 1  # type: ignore[index]
    assert verification["max_glibc_needed"] == "2.28"  # type: ignore[index]
    assert verification["violations"] == []  # type: ignore[index]


def test_macho_binary_in_a_manylinux_wheel_fails(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "machoinside", "aarch64", "_native.abi3.so", make_macho("arm64"))
    with pytest.raises(VerificationError) as err:
        build(from_wheels(write_function(tmp_path, "machoinside\n"), wheels),
                tmp_path / "out", LocalStore(tmp_path / "c"))
    text = str(err.value)
    assert "machoinside/_native.abi3.so" in text and "machoinside 1.0" in text  # the file and its package
    assert "Mach-O" in text and "aarch64" in text  # what was found and what the target needs
    assert not (tmp_path / "c" / "trees").exists() or not any((tmp_path / "c" / "trees").iterdir())


def test_real_host_elf_in_a_wheel_for_the_other_architecture_fails(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    real = host_elf().read_bytes()
    wrong = other_machine()
    native_wheel(wheels, "mislabeled", wrong, "_speedups.abi3.so", real)
    target = Target.from_runtime("python3.12", "arm64" if wrong == "aarch64" else "x86_64")
    with pytest.raises(VerificationError) as err:
        build(from_wheels(write_function(tmp_path, "mislabeled\n"), wheels, target),
                tmp_path / "out", LocalStore(tmp_path / "c"))
    text = str(err.value)
    _, host_machine = glibc_needs(host_elf())
    assert f"an ELF for {host_machine}" in text and f"needs {wrong}" in text
    assert "mislabeled/_speedups.abi3.so (from mislabeled 1.0)" in text
    assert "mislabeled" in err.value.hint


@pytest.mark.parametrize(("target", "needs", "ok"), [
    (ARM312, ("GLIBC_2.17", "GLIBC_2.34"), True),  # AL2023 has 2.34
    (ARM312, ("GLIBC_2.17", "GLIBC_2.38"), False),
    (Target.from_runtime("python3.11", "arm64"), ("GLIBC_2.28",), False),  # AL2 has 2.26
    (ARM312, ("GLIBC_2.17", "GLIBC_ABI_DT_RELR"), False),  # packed relocations need glibc 2.36
])
def test_glibc_symbol_versions_against_the_runtime(tmp_path: Path, target: Target, needs: tuple[str, ...],
                                                   ok: bool) -> None:
    wheels = tmp_path / "wheels"
    # the tag claims manylinux_2_17: only reading the binary shows what it really needs
    native_wheel(wheels, "newglibc", "aarch64", "_native.abi3.so", make_elf("aarch64", needs))
    run = lambda: build(from_wheels(write_function(tmp_path, "newglibc\n"), wheels, target),  # noqa: E731
                        tmp_path / "out", LocalStore(tmp_path / "c"))
    if ok:
        run()
        return
    with pytest.raises(VerificationError) as err:
        run()
    text = str(err.value)
    have = ".".join(map(str, target.glibc))
    assert "newglibc/_native.abi3.so" in text and f"glibc {have}" in text and target.os_generation in text
    assert needs[-1] in text


def test_real_host_binary_needing_newer_glibc_than_amazon_linux_2(tmp_path: Path) -> None:
    """A real executable of this host (glibc >= 2.34 puts __libc_start_main@GLIBC_2.34 in every program)."""
    host = platform.machine()
    if host not in ("x86_64", "aarch64"):
        pytest.skip(f"no Lambda architecture is {host}")
    candidates = [Path(p) for p in (shutil.which("env"), shutil.which("ls"), sys.executable) if p]
    found = None
    for path in candidates:
        try:
            needs, _ = glibc_needs(path.resolve())
        except ValueError:
            continue
        if any(n.startswith("GLIBC_2.3") and n not in ("GLIBC_2.3", "GLIBC_2.3.2", "GLIBC_2.3.4") for n in needs):
            found = path.resolve()
            break
    if found is None:
        pytest.skip("no binary on this host needs glibc > 2.26")
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "hostbin", host, "lib/helper.so", found.read_bytes())
    target = Target.from_runtime("python3.11", "arm64" if host == "aarch64" else "x86_64")
    with pytest.raises(VerificationError) as err:
        build(from_wheels(write_function(tmp_path, "hostbin\n"), wheels, target),
                tmp_path / "out", LocalStore(tmp_path / "c"))
    assert "hostbin/lib/helper.so" in str(err.value) and "glibc 2.26" in str(err.value)


def test_extension_module_tag_must_match_the_target_interpreter(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wrongtag", "1.0", f"cp312-cp312-{ML['aarch64']}", files={
        "wrongtag/__init__.py": b"",
        "wrongtag/_ok.cpython-312-aarch64-linux-gnu.so": make_elf("aarch64"),
        "wrongtag/_old.cpython-313-aarch64-linux-gnu.so": make_elf("aarch64"),
        "wrongtag/_mac.cpython-312-darwin.so": make_elf("aarch64"),
    })
    with pytest.raises(VerificationError) as err:
        build(from_wheels(write_function(tmp_path, "wrongtag\n"), wheels), tmp_path / "out", LocalStore(tmp_path / "c"))
    text = str(err.value)
    assert "_old.cpython-313-aarch64-linux-gnu.so" in text and "_mac.cpython-312-darwin.so" in text
    assert "cpython-312-aarch64-linux-gnu" in text
    assert "_ok.cpython" not in text.split("cannot load there:")[1]


def test_windows_dll_fails_but_windows_launchers_are_ignored(tmp_path: Path) -> None:
    pe = b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\0\0" + bytes(64)
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "launchers", "1.0", files={"launchers/__init__.py": b"", "launchers/cli-64.exe": pe})
    build_wheel(wheels, "windll", "1.0", files={"windll/__init__.py": b"", "windll/helper.dll": pe})
    build(from_wheels(write_function(tmp_path / "a", "launchers\n"), wheels),
            tmp_path / "a" / "out", LocalStore(tmp_path / "c"))
    with pytest.raises(VerificationError, match=r"windll/helper.dll \(from windll 1.0\): a Windows \(PE\)"):
        build(from_wheels(write_function(tmp_path / "b", "windll\n"), wheels),
                tmp_path / "b" / "out", LocalStore(tmp_path / "c"))


def test_native_files_in_the_handler_source_are_checked(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    entry = write_function(tmp_path, "", files={"vendor/libfast.dylib": make_macho("arm64"),
                                          "vendor/_x86.so": make_elf("x86_64")})
    with pytest.raises(VerificationError) as err:
        build(from_wheels(entry, wheels), tmp_path / "out", LocalStore(tmp_path / "c"))
    text = str(err.value)
    assert "vendor/libfast.dylib" in text and "vendor/_x86.so" in text and "source" in text
    assert "your own source" in err.value.hint


def test_verify_exclude_accepts_a_named_file(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "machoinside", "aarch64", "_native.abi3.so", make_macho("arm64"))
    request = from_wheels(write_function(tmp_path, "machoinside\n"), wheels,
            verify_exclude=("machoinside/_native.abi3.so",))
    result = build(request, tmp_path / "out", LocalStore(tmp_path / "c"))
    assert (result.output / "machoinside" / "_native.abi3.so").is_file()


def test_verification_scans_fast(tmp_path: Path) -> None:
    """Not a timing test: the reader opens only files that can be native (no read of .py files at all)."""
    from cdk_native_python.verify import scan

    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    for i in range(200):
        (tree / "pkg" / f"m{i}.py").write_bytes(b"\x7fELF looks like ELF but is a .py file")
    (tree / "pkg" / "_c.abi3.so").write_bytes(make_elf("aarch64", ("GLIBC_2.17",)))
    report = scan(tree, ARM312)
    assert report.checked == 1 and len(report.native) == 1 and not report.violations


# -- size budget -----------------------------------------------------------------------------------------------


def test_dependencies_over_250_mb_fail_with_the_largest_packages_and_savings(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    blob = bytes(140 * 1024 * 1024)  # zeros: tiny wheels, real 140 MB files once installed
    build_wheel(wheels, "bigmodel", "1.0", requires=["bigdata"],
                files={"bigmodel/__init__.py": b"", "bigmodel/weights.bin": blob})
    build_wheel(wheels, "bigdata", "1.0", files={"bigdata/__init__.py": b"", "bigdata/table.bin": blob})
    build_wheel(wheels, "small", "1.0")
    with pytest.raises(VerificationError) as err:
        build(from_wheels(write_function(tmp_path, "bigmodel\nsmall\n"), wheels),
                tmp_path / "out", LocalStore(tmp_path / "c"))
    text, hint = str(err.value), err.value.hint
    assert "280.0 MB unzipped" in text and "250.0 MB limit" in text and "zipped" in text
    lines = text.split("Largest parts:")[1]
    assert lines.index("bigmodel") < lines.index("small") and "bigdata" in lines
    # stripping bigmodel takes bigdata with it (nothing else needs it): the hint says so, with the bytes saved
    assert "strip=['bigmodel'] (removes bigdata, bigmodel) saves 280.0 MB" in hint


def test_layers_count_against_the_budget_and_near_limit_warns(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "small", "1.0")
    entry = write_function(tmp_path, "small\n")
    cache = LocalStore(tmp_path / "c")
    near = build(from_wheels(entry, wheels, layer_bytes=int(LIMIT_BYTES * 0.95)), tmp_path / "o1", cache)
    (warning,) = near.report.warnings
    assert "95% of Lambda's 250.0 MB limit" in warning and "layers" in warning
    assert capsys.readouterr().err.count(f"warning: {warning}") == 1  # said once, as it happened
    with pytest.raises(VerificationError, match=r"including 250.0 MB in layers"):
        build(from_wheels(entry, wheels, layer_bytes=LIMIT_BYTES), tmp_path / "o2", cache)
    fine = build(from_wheels(entry, wheels), tmp_path / "o3", cache)
    assert fine.report.warnings == () and fine.report.size.zipped_estimate_bytes > 0


# -- slimming ------------------------------------------------------------------------------------------------------


def slim_wheel(wheels: Path) -> None:
    build_wheel(wheels, "slimpkg", "1.0", files={
        "slimpkg/__init__.py": b"from importlib.metadata import version\n__version__ = version('slimpkg')\n",
        "slimpkg/__pycache__/__init__.cpython-311.pyc": b"stale bytecode of another Python",
        "slimpkg/tests/__init__.py": b"",
        "slimpkg/tests/test_big.py": b"x = 1\n" * 10000,
        "slimpkg/testing/__init__.py": b"HELPERS = 1\n",  # public API: stays
        "slimpkg/_speed.pyx": b"cdef int x = 1\n",
        "slimpkg/data/schema.json": b"{}",
    })


def test_slim_removes_what_lambda_never_reads_and_keeps_metadata(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    result = build(from_wheels(write_function(tmp_path, "slimpkg\n"), wheels),
            tmp_path / "out", LocalStore(tmp_path / "c"))
    out = result.output
    assert not (out / "slimpkg" / "tests").exists() and not (out / "slimpkg" / "__pycache__").exists()
    assert not (out / "slimpkg" / "_speed.pyx").exists()
    assert (out / "slimpkg" / "testing" / "__init__.py").is_file() and (out / "slimpkg/data/schema.json").is_file()
    assert (out / "slimpkg-1.0.dist-info" / "METADATA").is_file()
    slimmed = to_json(result.report)["slimmed"]
    assert slimmed["files_removed"] == 4 and slimmed["bytes_removed"] > 60000  # type: ignore[index]
    # the package still reads its own version through importlib.metadata
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(out)!r}); "
                           "import slimpkg; print(slimpkg.__version__)"], capture_output=True, text=True)
    assert proc.stdout.strip() == "1.0", proc.stderr


def test_slim_opt_outs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    entry = write_function(tmp_path, "slimpkg\n")
    cache = LocalStore(tmp_path / "c")
    off = build(from_wheels(entry, wheels, slim=SlimOptions(enabled=False)), tmp_path / "off", cache)
    assert (off.output / "slimpkg" / "tests" / "test_big.py").is_file()
    assert (off.output / "slimpkg" / "__pycache__").is_dir()
    kept = build(from_wheels(entry, wheels, slim=SlimOptions(keep=("slimpkg/tests",))), tmp_path / "keep", cache)
    assert (kept.output / "slimpkg" / "tests" / "test_big.py").is_file()
    assert not (kept.output / "slimpkg" / "__pycache__").exists()


def test_precompile_for_the_target_python_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    entry = write_function(tmp_path, "slimpkg\n")
    minor = sys.version_info.minor
    here = Target.from_runtime(f"python3.{minor}", "arm64")
    result = build(from_wheels(entry, wheels, here, slim=SlimOptions(compile_bytecode=True)), tmp_path / "o",
                   LocalStore(tmp_path / "c"))
    pyc = result.output / "slimpkg" / "__pycache__" / f"__init__.cpython-3{minor}.pyc"
    assert pyc.is_file()
    flags = struct.unpack("<I", pyc.read_bytes()[4:8])[0]
    assert flags == 0b11  # hash-based and checked: reproducible, and never stale after a hook edits a .py
    assert str(tmp_path) not in pyc.read_bytes().decode("latin-1")  # no cache path inside the bytecode
    # another version with no interpreter of it on PATH: a clear error, never bytecode for the host's version
    other = Target.from_runtime("python3.14" if minor != 14 else "python3.13", "arm64")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InstallError, match=rf"no Python {other.python_version} was found"):
        build(from_wheels(entry, wheels, other, slim=SlimOptions(compile_bytecode=True)), tmp_path / "o2",
              LocalStore(tmp_path / "c"))


# -- reproducibility -----------------------------------------------------------------------------------------------


def tree_bytes(folder: Path) -> dict[str, tuple[bytes, bool]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), os.access(p, os.X_OK))
            for p in sorted(folder.rglob("*")) if p.is_file()}


# A minimal PEP 517 backend (no index needed). Like hatchling, setuptools and flit it stamps wheel entries with
# $SOURCE_DATE_EPOCH when set, else the current time: two builds agree only if the engine sets it.
LOCAL_BACKEND = """
import os, time, zipfile
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    stamp = time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time())))[:6]
    name = "shared-0.1-py3-none-any.whl"
    files = {"shared/__init__.py": open("shared/__init__.py", "rb").read(),
             "shared-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: shared\\nVersion: 0.1\\n",
             "shared-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    names = [*files, "shared-0.1.dist-info/RECORD"]
    files["shared-0.1.dist-info/RECORD"] = "".join(f"{k},," + chr(10) for k in names).encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=stamp), data)
    return name
def get_requires_for_build_wheel(config_settings=None):
    return []
"""


def test_two_builds_in_two_caches_are_byte_identical(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    native_wheel(wheels, "fine", "aarch64", "_c.abi3.so", make_elf("aarch64", ("GLIBC_2.17",)))
    lib = tmp_path / "libs" / "shared"  # a local path dependency, built into a wheel by each cache
    (lib / "shared").mkdir(parents=True)
    (lib / "shared" / "__init__.py").write_text("VALUE = 1\n")
    (lib / "pyproject.toml").write_text('[project]\nname = "shared"\nversion = "0.1"\n[build-system]\n'
                                        'requires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (lib / "backend.py").write_text(LOCAL_BACKEND)
    entry = write_function(tmp_path, "slimpkg\nfine\n../libs/shared\n")
    outputs, hashes = [], []
    for i in (1, 2):
        request = from_wheels(entry, wheels, slim=SlimOptions(compile_bytecode=True), target=Target.from_runtime(
            f"python3.{sys.version_info.minor}", "arm64"))
        cache = LocalStore(tmp_path / f"cache-{i}")
        plan = prepare(request, cache)
        hashes.append(plan.asset_hash)
        out = tmp_path / f"out-{i}"
        build(request, out, cache)
        outputs.append(tree_bytes(out))
    assert outputs[0] == outputs[1]
    assert hashes[0] == hashes[1]
    # nothing machine-specific inside any file: no cache or output path, no host name
    host = socket.gethostname().encode()
    for rel, (data, _) in outputs[0].items():
        assert str(tmp_path).encode() not in data, rel
        assert len(host) < 4 or host not in data, rel


def test_report_is_written_next_to_the_cache_and_summary_is_short(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "fine", "aarch64", "_c.abi3.so", make_elf("aarch64", ("GLIBC_2.17",)))
    build_wheel(wheels, "boto3", "1.0", requires=["botocore"])
    build_wheel(wheels, "botocore", "1.0")
    cache = LocalStore(tmp_path / "c")
    result: BuildResult = build(from_wheels(write_function(tmp_path, "fine\nboto3\n"), wheels), tmp_path / "out", cache)
    assert result.report_path is not None and result.report_path.parent == cache.root / "reports"
    report = json.loads(result.report_path.read_text())
    assert report["target"] == str(ARM312) and report["asset_hash"] == result.asset_hash
    assert report["packages"]["fine"]["version"] == "1.0"
    assert report["packages"]["fine"]["wheel_tags"] == ["cp38-abi3-manylinux_2_17_aarch64"]
    assert report["packages"]["fine"]["bytes"] > 0
    assert set(report["stripped"]) == {"boto3", "botocore"}
    assert all(why.startswith("provided by the Lambda runtime (python3.") for why in report["stripped"].values())
    assert report["verification"]["native_files"] == 1
    assert report["size"]["unzipped_bytes"] == sum(p.stat().st_size for p in result.output.rglob("*") if p.is_file())
    summary = result.summary("App/Fn")
    assert len(summary.splitlines()) == 1 and "1 packages" in summary and "App/Fn" in summary
    verbose = result.summary("App/Fn", verbose=True)
    assert "fine==1.0" in verbose and "stripped boto3" in verbose and str(result.report_path) in verbose
