"""Installed trees and crafted archives for the store tests (the archive format and the remote tier)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from cdk_native_python.store import archive
from tests.wheelfactory import WheelIndex, find_uv

Member = tuple[tarfile.TarInfo, bytes | None]


def empty_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (its path relative to ``folder``) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root``: folders with their mode, files with their mode and sha256."""
    out: dict[str, tuple[Any, ...]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", st.st_mode & 0o7777)
        else:
            out[rel] = ("file", st.st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def normalised(snap: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """What a tree must look like after a round trip: folders 0o755, files 0o755 or 0o644."""
    return {rel: ("dir", 0o755) if e[0] == "dir" else ("file", 0o755 if e[1] & 0o111 else 0o644, e[2])
            for rel, e in snap.items()}


def installed_tree(root: Path, index: WheelIndex) -> Path:
    """A real installed entry: ``tree/`` (wheels installed by uv for the Lambda target) and ``meta.json``,
    plus what trees can hold: an empty folder, executables, odd modes, non-ASCII names, a larger binary."""
    tree = root / "tree"
    subprocess.run([find_uv(), "pip", "install", "--target", str(tree), "--no-index", "--find-links",
                    index.find_links, "--python-platform", "x86_64-manylinux_2_28", "--python-version", "3.12",
                    "--only-binary", ":all:", "--link-mode", "copy", "--no-compile", "--quiet",
                    "nativepkg", "usesattrs", "jsii"],
                   check=True, env={**os.environ, "UV_CACHE_DIR": str(root.parent / "uv-cache")})
    (tree / "empty" / "nested").mkdir(parents=True)
    (tree / "données").mkdir()
    (tree / "données" / "été.txt").write_text("ünïcödé\n")
    (tree / "zero-bytes").write_bytes(b"")
    tool = tree / "tool.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o700)
    private = tree / "private.cfg"
    private.write_text("x=1\n")
    private.chmod(0o600)
    (tree / "big.bin").write_bytes(os.urandom(3 << 19))  # crosses the 1 MiB copy chunk
    (root / "meta.json").write_text(json.dumps({"target": "python3.12/x86_64"}))
    assert any(p.suffix == ".so" for p in tree.rglob("*")), "the tree has a real ELF extension module"
    return root


def craft(members: list[Member], fmt: str = archive.ZSTD) -> bytes:
    """A compressed tar of exactly ``members`` (as an attacker with write access would make it)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    if fmt == archive.ZSTD:
        import zstandard

        return bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    import gzip

    return gzip.compress(raw.getvalue())


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: Any) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, (data if kind == tarfile.REGTYPE else None)


def unsafe_cases(outside: Path) -> dict[str, tuple[str, list[Member]]]:
    """Archives an attacker with write access could upload, each with the reason it must be refused for."""
    ok = member("tree/ok.py", data=b"x = 1\n")
    not_plain = "is not a plain relative path"
    return {
        "dot-dot": (not_plain, [ok, member("tree/../../escaped", data=b"pwned")]),
        "leading-dot-dot": (not_plain, [member("../escaped", data=b"pwned")]),
        "absolute": (not_plain, [ok, member(str(outside / "absolute"), data=b"pwned")]),
        "dot-segment": (not_plain, [ok, member("tree/./x", data=b"x")]),
        "backslash": (not_plain, [ok, member("tree\\..\\..\\escaped", data=b"pwned")]),
        "symlink": ("is a symlink", [ok, member("tree/link", tarfile.SYMTYPE, linkname=str(outside))]),
        "symlink-then-write-through": ("is a symlink", [
            member("tree/link", tarfile.SYMTYPE, linkname=str(outside)), member("tree/link/through", data=b"pwned")]),
        "hardlink": ("is a hard link", [ok, member("tree/hard", tarfile.LNKTYPE, linkname="tree/ok.py")]),
        "char-device": ("is a character device", [ok, member("tree/null", tarfile.CHRTYPE, devmajor=1, devminor=3)]),
        "block-device": ("is a block device", [ok, member("tree/disk", tarfile.BLKTYPE, devmajor=8, devminor=0)]),
        "fifo": ("is a fifo", [ok, member("tree/pipe", tarfile.FIFOTYPE)]),
        "duplicate": ("clashes with another member", [ok, member("tree/ok.py", data=b"evil = 1\n")]),
        "file-then-dir": ("clashes with another member", [ok, member("tree/ok.py/inner", data=b"x")]),
    }
