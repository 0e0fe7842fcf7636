"""Deflated zip members kept in the store by the digest of their contents, for ``build --zip``.

A warm ``build --zip`` of a large set spent most of its time compressing the same installed files again (144 MB
of the bench set: 4.4 s against 0.58 s for ``--output``). The installed files do not change, so each file of at
least :data:`MIN_BYTES` is deflated once and its raw deflate stream kept under ``<store>/deflated/<sha256 of the
contents>``; the next zip copies the stream instead of compressing. The stream is the one ``zipfile`` writes
(``zlib``, default level, raw deflate), so a zip is byte-for-byte the same whether its members came from the
store or not.

What is read back is data: a blob is ``sha256(stream) + crc32(contents) + stream``; it is used only when the
digest matches its stream and the CRC matches the file being zipped (read and hashed anyway), otherwise the file
is compressed again and the blob replaced (written to a temporary file and renamed, so a killed process never
leaves a half blob under its name).
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core._fs import atomic_write

#: smaller files are compressed each time (a blob per small file would cost more to open than to compress)
MIN_BYTES = 8 * 1024
KIND = "deflated"
_HEAD = 32 + 4
#: a blob's name: the sha256 of the contents, under a folder of its first two digits (nothing else is ours)
_BLOB = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")


@dataclass(frozen=True)
class Member:
    """A file's contents as a zip member: its CRC-32, its size and its raw deflate stream."""

    crc: int
    size: int
    stream: bytes


def deflate(data: bytes) -> Member:
    """What ``zipfile`` writes for ``data`` with ``ZIP_DEFLATED`` at the default level."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return Member(zlib.crc32(data), len(data), compressor.compress(data) + compressor.flush())


class MemberCache:
    """Deflated members under ``root/deflated/`` (``root`` None: nothing kept, every file compressed)."""

    def __init__(self, root: Path | None) -> None:
        self._dir = root / KIND if root is not None else None

    def member(self, path: Path) -> Member:
        data = path.read_bytes()
        if self._dir is None or len(data) < MIN_BYTES:
            return deflate(data)
        key = hashlib.sha256(data).hexdigest()
        blob = self._dir / key[:2] / key
        crc = zlib.crc32(data)
        try:
            raw = blob.read_bytes()
        except OSError:
            raw = b""
        if (len(raw) >= _HEAD and int.from_bytes(raw[32:36], "big") == crc
                and hashlib.sha256(raw[_HEAD:]).digest() == raw[:32]):
            return Member(crc, len(data), raw[_HEAD:])
        member = deflate(data)
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(blob, hashlib.sha256(member.stream).digest() + crc.to_bytes(4, "big") + member.stream,
                         durable=False)  # a lost blob is compressed again next time
        except OSError:
            pass  # a full or read-only store: the zip is still written, only slower next time
        return member


@dataclass(frozen=True)
class Blob:
    """A kept member, as ``cache prune`` sees it."""

    path: Path
    digest: str
    bytes: int
    mtime: float


def blobs(root: Path) -> Iterator[Blob]:
    """The blobs under ``root/deflated/`` (only names in their grammar: nothing else there is touched)."""
    base = root / KIND
    try:
        shards = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return
    for shard in shards:
        if not _SHARD.fullmatch(shard.name) or not shard.is_dir(follow_symlinks=False):
            continue
        try:
            files = sorted(os.scandir(shard.path), key=lambda e: e.name)
        except OSError:
            continue
        for f in files:
            if _BLOB.fullmatch(f.name) and f.name.startswith(shard.name) and f.is_file(follow_symlinks=False):
                try:
                    st = f.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield Blob(Path(f.path), f.name, st.st_size, st.st_mtime)


def stale(root: Path, referenced: Collection[str], now: float, older_than: float | None) -> list[Blob]:
    """The blobs no remaining installed tree holds (``referenced``: the sha256 of every file of the trees
    kept), made more than ``older_than`` seconds ago (any age when None). A source file's blob is not held by
    a tree: it goes when old enough, and is compressed again by the next zip that needs it."""
    return [b for b in blobs(root)
            if b.digest not in referenced and (older_than is None or now - b.mtime > older_than)]
