"""Native-code verification read from the files themselves (``verify.py`` over ``_elffile.py``).

Offending files are real files in real wheels, installed by the real engine: mislabeled wheels (the tags
promise one platform, the binary is another) are what verification exists to catch. The ``pypi`` tier bundles
real compiled packages from PyPI for both architectures."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from cdk_native_python.core._elffile import ELFError, ELFFile
from cdk_native_python.core.errors import VerificationError
from cdk_native_python.core.records import to_json
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.pipeline.verify import check_file, glibc_needs, scan
from cdk_native_python.store.local import LocalStore
from tests.helpers import ARM312, ML, elf_machine, from_wheels, native_wheel, write_function
from tests.wheelfactory import build_wheel, make_elf, make_macho

AL2_X86 = Target.from_runtime("python3.11", "x86_64")

#: every library glibc ships whose symbol versions the runtime's glibc must provide
GLIBC_LIBRARIES = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                   "libresolv.so.2", "ld-linux-aarch64.so.1", "ld-linux-x86-64.so.2"]


@pytest.mark.parametrize("library", GLIBC_LIBRARIES)
def test_glibc_needs_of_every_glibc_library_count(tmp_path: Path, library: str) -> None:
    so = tmp_path / "_m.abi3.so"
    so.write_bytes(make_elf("aarch64", ("GLIBC_2.17", "GLIBC_2.38"), library=library))
    assert sorted(glibc_needs(so)[0]) == ["GLIBC_2.17", "GLIBC_2.38"]
    finding = check_file(so, "pkg/_m.abi3.so", ARM312)
    assert finding is not None and "needs glibc 2.38" in finding.problem and "glibc 2.34" in finding.problem


def test_versions_from_other_libraries_are_not_glibc(tmp_path: Path) -> None:
    """libstdc++'s GLIBCXX_3.4.30 or a vendored library's own versions are not glibc's."""
    so = tmp_path / "_m.abi3.so"
    so.write_bytes(make_elf("aarch64", ("GLIBC_2.38",), library="libfoo.so.1"))
    assert glibc_needs(so)[0] == []
    finding = check_file(so, "pkg/_m.abi3.so", ARM312)
    assert finding is not None and finding.problem == ""


def corrupt(data: bytes, field: str) -> bytes:
    """The ELF with one header field set to an absurd value, as a damaged or hostile file has."""
    out = bytearray(data)
    shoff = struct.unpack_from("<Q", data, 40)[0]
    shnum = struct.unpack_from("<H", data, 60)[0]
    if field == "e_shoff":
        struct.pack_into("<Q", out, 40, 2**62)
    elif field == "e_shnum":
        struct.pack_into("<H", out, 60, 0xFFFF)
    else:  # sh_size of the .gnu.version_r section (the last before .shstrtab)
        section = shoff + (shnum - 2) * 64
        struct.pack_into("<Q", out, section + 32, 2**62)
    return bytes(out)


@pytest.mark.parametrize("field", ["e_shoff", "e_shnum", "sh_size"])
def test_absurd_sizes_are_an_unreadable_file_not_a_huge_read(tmp_path: Path, field: str) -> None:
    so = tmp_path / "_bad.abi3.so"
    so.write_bytes(corrupt(make_elf("x86_64", ("GLIBC_2.17",)), field))
    with open(so, "rb") as f, pytest.raises(ELFError):
        list(ELFFile(f).version_needs())
    start = time.perf_counter()
    finding = check_file(so, "pkg/_bad.abi3.so", AL2_X86)
    assert time.perf_counter() - start < 1  # no gigantic allocation, no MemoryError
    assert finding is not None and "unreadable ELF" in finding.problem


def test_scan_names_the_package_that_installed_a_bad_file(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "_m.abi3.so").write_bytes(make_elf("x86_64"))
    info = tree / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    (info / "RECORD").write_text("pkg/_m.abi3.so,,\n")
    (violation,) = scan(tree, ARM312).violations
    assert violation.package == "pkg 1.0" and "an ELF for x86_64" in violation.problem


def host_elf() -> Path:
    """A real ELF shared object of this host: the interpreter's own compiled ``_json`` (or ``_struct``) module."""
    for mod in ("_json", "_struct", "_ctypes", "_ssl"):
        spec = importlib.util.find_spec(mod)
        if spec and spec.origin and spec.origin.endswith(".so"):
            return Path(spec.origin)
    pytest.skip("this Python has no compiled extension modules on disk")


def other_machine() -> str:
    return "aarch64" if platform.machine() in ("x86_64", "AMD64") else "x86_64"


ELF_MACHINE = {"x86_64": 62, "aarch64": 183}


def _download(tmp_path: Path, project: str, platform: str) -> Path:
    """A real wheel of ``project`` for ``platform`` from PyPI (pip, isolated from this machine's pip config)."""
    dest = tmp_path / f"dl-{platform}"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--only-binary=:all:",
         "--index-url", "https://pypi.org/simple", "--platform", platform, "--python-version", "3.12",
         "--implementation", "cp", "-d", str(dest), project],
        capture_output=True, text=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = dest.glob("*.whl")
    return wheel


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
    from cdk_native_python.pipeline.verify import scan

    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    for i in range(200):
        (tree / "pkg" / f"m{i}.py").write_bytes(b"\x7fELF looks like ELF but is a .py file")
    (tree / "pkg" / "_c.abi3.so").write_bytes(make_elf("aarch64", ("GLIBC_2.17",)))
    report = scan(tree, ARM312)
    assert report.checked == 1 and len(report.native) == 1 and not report.violations


@pytest.mark.pypi
@pytest.mark.parametrize(("runtime", "arch"), [("python3.13", "arm64"), ("python3.12", "x86_64"),
                                                ("python3.11", "arm64")])
def test_compiled_wheels_are_elf_for_the_target(tmp_path: Path, pypi_store: LocalStore, runtime: str,
                                                arch: str) -> None:
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("def handler(event, context):\n    return 1\n")
    (entry / "requirements.txt").write_text(
        "cryptography\npydantic\nnumpy\n"
        'appnope ; sys_platform == "darwin"\n'
        'attrs ; python_version >= "3.13"\n'
        'six ; platform_machine == "aarch64"\n'
    )
    target = Target.from_runtime(runtime, arch)
    result = build(BuildRequest(entry=entry, target=target), tmp_path / "out", pypi_store)

    assert {"cryptography", "pydantic-core", "numpy"} <= set(result.packages)
    assert "appnope" not in result.packages
    # markers are the target's: this host is x86_64 / Python 3.11
    assert ("attrs" in result.packages) == (target.python_minor >= 13)
    assert ("six" in result.packages) == (target.machine == "aarch64")
    shared = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name)]
    assert len(shared) >= 3
    for so in shared:
        head = so.read_bytes()[:20]
        assert head[:4] == b"\x7fELF", so
        assert elf_machine(head) == ELF_MACHINE[target.machine], so
    ext = [p.name for p in shared if ".cpython-" in p.name]
    assert ext and all(f"cpython-3{target.python_minor}-{target.machine}-linux-gnu" in n for n in ext), ext
    # nothing compiled for the host: every .pyc present came inside a wheel (listed in its RECORD)
    out = tmp_path / "out"
    recorded = {line.split(",")[0] for rec in out.glob("*.dist-info/RECORD") for line in rec.read_text().splitlines()}
    assert not [p for p in out.rglob("*.pyc") if p.relative_to(out).as_posix() not in recorded]
    # verification read every native file: all fit the runtime's glibc
    verification = to_json(result.report)["verification"]
    assert verification["native_files"] >= len(shared) and verification["violations"] == []  # type: ignore[index]
    needed = tuple(int(x) for x in str(verification["max_glibc_needed"]).split("."))  # type: ignore[index]
    assert (2, 17) <= needed <= target.glibc


@pytest.mark.pypi
@pytest.mark.parametrize(("platform", "found"), [("manylinux_2_17_x86_64", "an ELF for x86_64"),
                                                 ("macosx_11_0_arm64", "macOS (Mach-O)")])
def test_real_mislabeled_wheel_is_caught(tmp_path: Path, pypi_store: LocalStore, platform: str, found: str) -> None:
    """A real orjson wheel for another platform, renamed as manylinux aarch64 (what a bad upload to a private
    index looks like): the tags say it fits, verification reads the binary and refuses it."""
    wheel = _download(tmp_path, "orjson==3.10.18", platform)
    name, version, _, _ = parse_wheel_filename(wheel.name)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy(wheel, wheels / f"{name}-{version}-cp312-cp312-manylinux_2_17_aarch64.whl")
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("import orjson\n")
    (entry / "requirements.txt").write_text("orjson\n")
    request = BuildRequest(entry=entry, target=Target.from_runtime("python3.12", "arm64"),
                           indexes=IndexOptions(no_index=True, find_links=(str(wheels),)))
    with pytest.raises(VerificationError) as err:
        build(request, tmp_path / "out", pypi_store)
    assert found in str(err.value) and "(from orjson 3.10.18)" in str(err.value)
    assert "aarch64" in str(err.value)
