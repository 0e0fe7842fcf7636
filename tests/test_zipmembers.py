"""Deflated members kept in the store: a warm zip copies them, and is byte-for-byte the zip ``zipfile`` writes."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from cdk_native_python.cli import main as cli
from cdk_native_python.cli.zipmembers import KIND, MIN_BYTES, MemberCache


def tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "big.py").write_text("x = 1\n" * 20_000)  # compressible, over MIN_BYTES
    (root / "pkg" / "_native.so").write_bytes(os.urandom(3 * MIN_BYTES))  # incompressible
    (root / "pkg" / "small.py").write_text("y = 2\n")
    (root / "pkg" / "é.py").write_text("z = 3\n" * 5_000)  # a UTF-8 name
    return root


def reference(root: Path, dest: Path) -> bytes:
    """The zip as ``zipfile`` itself writes it (what ``write_zip`` wrote before members were kept)."""
    with zipfile.ZipFile(dest, "w") as zf:
        for rel in sorted(p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in root.rglob("*")):
            info = zipfile.ZipInfo(rel, date_time=cli.ZIP_EPOCH)
            info.create_system = 3
            if rel.endswith("/"):
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
                continue
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = (root / rel).stat().st_size
            with zf.open(info, "w") as out:
                out.write((root / rel).read_bytes())
    return dest.read_bytes()


def test_a_warm_zip_copies_kept_members_and_is_the_same_zip(tmp_path: Path) -> None:
    root, store = tree(tmp_path / "root"), tmp_path / "store"
    cli.write_zip(root, tmp_path / "cold.zip", members=MemberCache(store))
    blobs = sorted(p for p in (store / KIND).rglob("*") if p.is_file())
    assert len(blobs) == 3  # big.py, _native.so, é.py; small.py is compressed each time
    cli.write_zip(root, tmp_path / "warm.zip", members=MemberCache(store))
    assert (tmp_path / "warm.zip").read_bytes() == (tmp_path / "cold.zip").read_bytes()
    assert (tmp_path / "cold.zip").read_bytes() == reference(root, tmp_path / "reference.zip")
    with zipfile.ZipFile(tmp_path / "warm.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("pkg/é.py") == (root / "pkg" / "é.py").read_bytes()


def test_a_damaged_or_foreign_member_is_compressed_again(tmp_path: Path) -> None:
    root, store = tree(tmp_path / "root"), tmp_path / "store"
    cli.write_zip(root, tmp_path / "first.zip", members=MemberCache(store))
    for blob in (p for p in (store / KIND).rglob("*") if p.is_file()):
        data = bytearray(blob.read_bytes())
        data[-1] ^= 0xFF  # the stream no longer matches its digest
        os.chmod(blob, 0o644)
        blob.write_bytes(bytes(data))
    cli.write_zip(root, tmp_path / "second.zip", members=MemberCache(store))
    assert (tmp_path / "second.zip").read_bytes() == (tmp_path / "first.zip").read_bytes()
    # a blob under another file's name (the right digest, another file's CRC) is not used either
    blobs = sorted(p for p in (store / KIND).rglob("*") if p.is_file())
    blobs[1].write_bytes(blobs[0].read_bytes())
    cli.write_zip(root, tmp_path / "third.zip", members=MemberCache(store))
    assert (tmp_path / "third.zip").read_bytes() == (tmp_path / "first.zip").read_bytes()
