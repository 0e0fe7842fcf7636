"""Native-code verification read from the files themselves (``verify.py`` over ``_elffile.py``)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from cdk_native_python._elffile import ELFError, ELFFile
from cdk_native_python.target import Target
from cdk_native_python.verify import check_file, glibc_needs, scan
from tests.wheelfactory import make_elf

AL2023_ARM = Target.from_runtime("python3.12", "arm64")
AL2_X86 = Target.from_runtime("python3.11", "x86_64")

#: every library glibc ships whose symbol versions the runtime's glibc must provide
GLIBC_LIBRARIES = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                   "libresolv.so.2", "ld-linux-aarch64.so.1", "ld-linux-x86-64.so.2"]


@pytest.mark.parametrize("library", GLIBC_LIBRARIES)
def test_glibc_needs_of_every_glibc_library_count(tmp_path: Path, library: str) -> None:
    so = tmp_path / "_m.abi3.so"
    so.write_bytes(make_elf("aarch64", ("GLIBC_2.17", "GLIBC_2.38"), library=library))
    assert sorted(glibc_needs(so)[0]) == ["GLIBC_2.17", "GLIBC_2.38"]
    finding = check_file(so, "pkg/_m.abi3.so", AL2023_ARM)
    assert finding is not None and "needs glibc 2.38" in finding.problem and "glibc 2.34" in finding.problem


def test_versions_from_other_libraries_are_not_glibc(tmp_path: Path) -> None:
    """libstdc++'s GLIBCXX_3.4.30 or a vendored library's own versions are not glibc's."""
    so = tmp_path / "_m.abi3.so"
    so.write_bytes(make_elf("aarch64", ("GLIBC_2.38",), library="libfoo.so.1"))
    assert glibc_needs(so)[0] == []
    finding = check_file(so, "pkg/_m.abi3.so", AL2023_ARM)
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
    (violation,) = scan(tree, AL2023_ARM).violations
    assert violation.package == "pkg 1.0" and "an ELF for x86_64" in violation.problem
