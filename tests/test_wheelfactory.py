"""The hermetic index itself: its wheels are real (uv installs them), its binaries parse, its sdists really build."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.tags import parse_tag
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from tests.helpers import elf_machine
from tests.wheelfactory import (
    SENTINEL_ENV,
    STANDARD_PACKAGES,
    WheelIndex,
    build_sdist,
    build_wheel,
    find_uv,
    make_elf,
    make_macho,
    normalize,
)

READELF = shutil.which("readelf")
needs_readelf = pytest.mark.skipif(READELF is None, reason="binutils readelf not installed")


def uv(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a private cache and no config files: only the index under test may answer
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_CONFIG": "1"}
    for key in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS",
                "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        env.pop(key, None)
    proc = subprocess.run([find_uv(), *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_every_file_has_a_valid_name_and_the_set_is_complete(wheel_index: WheelIndex) -> None:
    names = set()
    for path in Path(wheel_index.find_links).iterdir():
        if path.suffix == ".whl":
            names.add(parse_wheel_filename(path.name)[0])
        else:
            names.add(parse_sdist_filename(path.name)[0])
    assert names == {normalize(n) for n in STANDARD_PACKAGES}


def test_wheel_contents_agree_with_name_record_and_tags(wheel_index: WheelIndex) -> None:
    for path in Path(wheel_index.find_links).glob("*.whl"):
        name, version, _, tags = parse_wheel_filename(path.name)
        with zipfile.ZipFile(path) as zf:
            dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
            wheel = zf.read(f"{dist_info}/WHEEL").decode()
            lines = [line[5:] for line in wheel.splitlines() if line.startswith("Tag: ")]
            assert len(lines) == len(tags) and set().union(*map(parse_tag, lines)) == tags
            assert f"Version: {version}" in zf.read(f"{dist_info}/METADATA").decode()
            rows = [row.split(",") for row in zf.read(f"{dist_info}/RECORD").decode().splitlines()]
            assert sorted(r[0] for r in rows) == sorted(zf.namelist())
            for file, digest, size in rows:
                if file.endswith("/RECORD"):
                    continue
                data = zf.read(file)
                want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert (digest, int(size)) == (f"sha256={want}", len(data)), file


def test_builds_are_deterministic(tmp_path: Path) -> None:
    for attempt in ("a", "b"):
        build_wheel(tmp_path / attempt, "x-y", "1.0", "cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
                    ["z; python_version >= '3.9'"])
        build_sdist(tmp_path / attempt, "x-y", "1.0")
    for file in (tmp_path / "a").iterdir():
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes(), file.name


@pytest.mark.parametrize("via", ["find-links", "http"])
def test_uv_installs_the_native_wheel_for_the_target(tmp_path: Path, wheel_index: WheelIndex, via: str) -> None:
    before = len(wheel_index.requests)
    source = (["--no-index", "--find-links", wheel_index.find_links] if via == "find-links"
              else ["--index-url", wheel_index.url])
    uv(tmp_path, "pip", "install", "--target", str(tmp_path / "t"), *source, "--python-platform",
       "aarch64-manylinux_2_34", "--python-version", "3.12", "--only-binary", ":all:", "nativepkg", "purepkg")
    assert elf_machine((tmp_path / "t" / "nativepkg" / "_native.abi3.so").read_bytes()) == 183
    assert (tmp_path / "t" / "depa" / "__init__.py").read_text() == '__version__ = "2.0"\n'
    assert list((tmp_path / "t").glob("nativepkg-1.0.dist-info/RECORD"))
    if via == "http":
        assert any(r.startswith("/simple/nativepkg") for r in wheel_index.requests[before:])
        assert any(r.startswith("/files/nativepkg-1.0-") for r in wheel_index.requests[before:])
    else:
        assert len(wheel_index.requests) == before


def test_simple_index_pages(wheel_index: WheelIndex) -> None:
    status, _, body = wheel_index.page("/simple/")
    assert status == 200 and b'href="/simple/python-dateutil/"' in body
    status, _, body = wheel_index.page("/simple/depa/")
    digest = hashlib.sha256((Path(wheel_index.find_links) / "depa-2.0-py3-none-any.whl").read_bytes()).hexdigest()
    assert status == 200 and f"depa-2.0-py3-none-any.whl#sha256={digest}".encode() in body
    assert wheel_index.page("/simple/nope/")[0] == 404
    assert wheel_index.page("/files/..%2Fetc")[0] == 404


def test_sdist_really_builds_and_its_setup_code_writes_the_sentinel(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "ran"
    monkeypatch.setenv(SENTINEL_ENV, str(sentinel))
    sdist = build_sdist(tmp_path / "dist", "my-sdist", "1.0", requires=["depa"])
    uv(tmp_path, "build", "--no-index", "--wheel", "--python", sys.executable, "--out-dir", str(tmp_path / "out"),
       str(sdist))
    assert sentinel.read_text() == "my-sdist\n"
    (wheel,) = (tmp_path / "out").glob("*.whl")
    assert wheel.name == "my_sdist-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("my_sdist/__init__.py") == b'__version__ = "1.0"\n'
        assert "Requires-Dist: depa" in zf.read("my_sdist-1.0.dist-info/METADATA").decode()


@needs_readelf
@pytest.mark.parametrize(("machine", "shown"), [("aarch64", "AArch64"), ("x86_64", "X86-64")])
def test_readelf_reads_the_machine(tmp_path: Path, machine: str, shown: str) -> None:
    so = tmp_path / "m.so"
    so.write_bytes(make_elf(machine))
    out = subprocess.run([str(READELF), "-h", "-W", str(so)], capture_output=True, text=True, check=True)
    assert shown in out.stdout and "DYN" in out.stdout and not out.stderr


@needs_readelf
def test_readelf_sees_the_needed_glibc_versions(tmp_path: Path) -> None:
    so = tmp_path / "g.so"
    so.write_bytes(make_elf("x86_64", ("GLIBC_2.17", "GLIBC_2.39")))
    out = subprocess.run([str(READELF), "-V", "-d", "-W", str(so)], capture_output=True, text=True, check=True)
    assert "File: libc.so.6" in out.stdout and "Cnt: 2" in out.stdout
    assert "Name: GLIBC_2.17" in out.stdout and "Name: GLIBC_2.39" in out.stdout
    assert "Shared library: [libc.so.6]" in out.stdout and not out.stderr
    so.write_bytes(make_elf("x86_64"))
    plain = subprocess.run([str(READELF), "-V", str(so)], capture_output=True, text=True, check=True)
    assert "GLIBC" not in plain.stdout


def test_elf_version_hash_matches_glibc() -> None:
    # vna_hash of GLIBC_2.17 as real aarch64 binaries carry it; a wrong hash makes the loader reject the module
    assert b"\x97\x91\x96\x06" in make_elf("aarch64", ("GLIBC_2.17",))


def test_macho_header() -> None:
    assert make_macho()[:8] == bytes.fromhex("cffaedfe0c000001")
