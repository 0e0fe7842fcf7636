"""One folder as one compressed tar stream, written deterministically and read back defensively.

Writing (:func:`pack`): entries in sorted order, each folder before its contents, with a fixed mtime,
owner and group and modes normalised to ``0o755``/``0o644``, so the same tree gives the same tar stream on
any machine. Only regular files and folders are written; anything else (a symlink, a fifo) is refused
rather than followed or silently dropped.

Reading (:func:`unpack`) trusts nothing in the stream: a member is refused unless its name is a plain
relative path (no ``..``, no ``.``, no absolute path, no backslash, no NUL) and its type is a regular
file or a folder (no symlink, hard link, device, fifo, sparse file). Files are created with
``O_EXCL | O_NOFOLLOW``, so no member can write through something already in the destination, or write
one path twice. Modes are normalised on the way out too. On any refusal or failure the destination is
emptied again: a bad archive leaves nothing behind.

The compressed bytes are what the remote cache addresses by sha256. They are deterministic for one
compressor version; another zstd or zlib build may compress the same tar stream differently, which only
costs a second content object (the first pointer written for a key wins).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core._fs import delete

ZSTD = "tar+zstd"
GZIP = "tar+gzip"
#: formats :func:`unpack` reads; :data:`DEFAULT_FORMAT` is the one :func:`pack` writes unless told
FORMATS = (ZSTD, GZIP)
DEFAULT_FORMAT = ZSTD
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
#: Lambda's limit on what a function and its layers unpack to (262,144,000 bytes)
LAMBDA_UNZIPPED_BYTES = 262_144_000
#: refuse an archive whose files add up to more than this: no entry that fits a Lambda is larger, with a 10%
#: margin (bytecode and files that slimming or the asset excludes remove later)
MAX_UNPACKED_BYTES = LAMBDA_UNZIPPED_BYTES * 11 // 10
MAX_MEMBERS = 1_000_000
#: what the tar stream may hold around each member's data: its header, a PAX header and the padding
FRAMING_BYTES = 4 << 10
_CHUNK = 1 << 20
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_MODE = 0o755


class ArchiveError(Exception):
    """The folder cannot be archived, or the stream cannot be unpacked safely (the message says why)."""


class CodecMissing(ArchiveError):
    """The format needs a module that is not installed (``zstandard``)."""


class DeadlinePassed(ArchiveError):
    """Unpacking went on past the caller's deadline."""


@dataclass(frozen=True)
class Packed:
    """What :func:`pack` wrote: the sha256 (hex) and the size of the compressed bytes."""

    digest: str
    size: int


def file_mode(mode: int) -> int:
    """The normalised mode of a regular file: executable for everyone if it was for anyone."""
    return 0o755 if mode & 0o111 else 0o644


class _HashingWriter:
    """A write-only file that hashes and counts the bytes it passes on to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise CodecMissing("tar+zstd archives need the zstandard module") from None
    return zstandard


def has_codec(fmt: str) -> bool:
    """Whether this Python can read and write ``fmt`` (tar+zstd needs the ``zstandard`` module)."""
    try:
        _stream_errors(fmt)
    except CodecMissing:
        return False
    return fmt in FORMATS


@contextlib.contextmanager
def _compressor(fmt: str, sink: _HashingWriter) -> Iterator[Any]:
    if fmt == ZSTD:
        # single-threaded on purpose: zstd's multi-threaded mode writes different (equally valid) bytes
        with _zstandard().ZstdCompressor(level=ZSTD_LEVEL).stream_writer(sink, closefd=False) as zw:
            yield zw
    elif fmt == GZIP:
        # no file name and a zero mtime in the gzip header: the bytes depend on the tree alone
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=GZIP_LEVEL, mtime=0) as gz:
            yield gz
    else:
        raise ArchiveError(f"unknown archive format {fmt!r}")


@contextlib.contextmanager
def _decompressor(fmt: str, source: IO[bytes]) -> Iterator[Any]:
    if fmt == ZSTD:
        with _zstandard().ZstdDecompressor().stream_reader(source, read_size=_CHUNK, closefd=False) as zr:
            yield zr
    elif fmt == GZIP:
        with gzip.GzipFile(mode="rb", fileobj=source) as gz:
            yield gz
    else:
        raise ArchiveError(f"unknown archive format {fmt!r}")


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """``(relative posix path, lstat)`` of everything under ``root``: sorted, each folder before its contents."""
    with os.scandir(root / rel if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path)


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def pack(src: Path, out: IO[bytes], fmt: str = DEFAULT_FORMAT) -> Packed:
    """Write the folder ``src`` to ``out`` as one compressed tar stream; return its sha256 and size.

    Raises :class:`ArchiveError` naming the first entry that is neither a regular file nor a folder.
    """
    sink = _HashingWriter(out)
    with _compressor(fmt, sink) as stream, tarfile.TarFile(
        fileobj=_ForwardWriter(stream), mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", copybufsize=_CHUNK
    ) as tar:
        for name, st in _walk(src):
            if stat.S_ISDIR(st.st_mode):
                tar.addfile(_info(name, tarfile.DIRTYPE, _DIR_MODE))
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(src / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
                with os.fdopen(fd, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    tar.addfile(_info(name, tarfile.REGTYPE, file_mode(st.st_mode), size), f)
            else:
                raise ArchiveError(f"{name} is {_describe(st.st_mode)}; only regular files and folders are archived")
    return Packed(sink.sha.hexdigest(), sink.size)


def _describe(mode: int) -> str:
    for test, what in ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


_MEMBER_KINDS = {
    tarfile.SYMTYPE: "a symlink", tarfile.LNKTYPE: "a hard link", tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a fifo", tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


def member_parts(name: str) -> list[str]:
    """The path components of a member name, or :class:`ArchiveError` if it could leave the destination."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {name!r} is not a plain relative path")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ArchiveError(f"member {name!r} is not a plain relative path")
    return parts


def unpack(source: IO[bytes], fmt: str, dest: Path, *, deadline: float | None = None) -> None:
    """Extract the stream ``source`` (in format ``fmt``) into the empty folder ``dest``.

    What it unpacks to is counted while it streams: more than :data:`MAX_UNPACKED_BYTES` of files (or a tar
    stream longer than those files and their framing) is refused before it is written or held in memory.
    ``deadline`` (``time.monotonic()``) is checked between reads. Raises :class:`ArchiveError`
    (:class:`DeadlinePassed` past the deadline; :class:`OSError` for a local disk problem) and leaves
    ``dest`` empty.
    """
    if fmt not in FORMATS:
        raise ArchiveError(f"unknown archive format {fmt!r}")
    try:
        _extract(source, fmt, dest, deadline)
    except BaseException:
        empty(dest)
        raise


def too_big() -> ArchiveError:
    return ArchiveError(f"the archive unpacks to more than {MAX_MEMBERS} entries or {MAX_UNPACKED_BYTES:,} bytes "
                        f"(Lambda's {LAMBDA_UNZIPPED_BYTES:,} + 10%)")


def _extract(source: IO[bytes], fmt: str, dest: Path, deadline: float | None) -> None:
    made: set[str] = {""}
    total = members = 0
    try:
        with _decompressor(fmt, source) as stream:
            reader = _ForwardReader(stream, FRAMING_BYTES, deadline)
            with tarfile.open(fileobj=reader, mode="r:", encoding="utf-8") as tar:
                for member in tar:
                    parts = member_parts(member.name)
                    members += 1
                    total += max(member.size, 0)
                    if members > MAX_MEMBERS or total > MAX_UNPACKED_BYTES:
                        raise too_big()
                    # the stream may go on to this member's end and the next member's framing, no further
                    reader.limit = total + (members + 1) * FRAMING_BYTES
                    _member(tar, member, parts, dest, made)
    except _stream_errors(fmt) as exc:
        raise ArchiveError(f"the archive is not a valid {fmt} stream ({exc})") from None


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str], dest: Path, made: set[str]) -> None:
    """Create one member (its header checked already) under ``dest``."""
    if member.type == tarfile.DIRTYPE:
        _mkdirs(dest, parts, made)
    elif member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        _mkdirs(dest, parts[:-1], made)
        data = tar.extractfile(member)
        if data is None:  # pragma: no cover - tarfile gives a reader for every regular file
            raise ArchiveError(f"member {member.name!r} has no data")
        _write_file(dest, member.name, parts, data, member.size, file_mode(member.mode))
    else:
        kind = _MEMBER_KINDS.get(member.type, f"of tar type {member.type!r}")
        raise ArchiveError(f"member {member.name!r} is {kind}; only regular files and folders are extracted")


def _stream_errors(fmt: str) -> tuple[type[BaseException], ...]:
    """What a damaged stream of format ``fmt`` raises while being read."""
    errors: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeError)
    return (*errors, _zstandard().ZstdError) if fmt == ZSTD else errors


class _ForwardWriter:
    """A compressing stream as the file :class:`tarfile.TarFile` writes to: it only needs ``write`` and ``tell``.

    tarfile's own stream mode (``w|``) appends every 16 KiB write to one growing buffer, copying it each
    time; writing straight through is several times faster for a tree of a few hundred MB.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.stream.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:  # pragma: no cover - required by tarfile's file protocol only
        raise OSError("write-only stream")

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:  # pragma: no cover - as read()
        raise OSError("write-only stream")

    def close(self) -> None:
        pass  # the compressor is closed by its own context manager


class _ForwardReader:
    """A decompressing stream as the seekable file :class:`tarfile.TarFile` wants, for a reader that only
    goes forward (headers and data in order, as :func:`_extract` reads them).

    tarfile's own stream mode (``r|``) re-copies its whole buffer on every read, which costs more than
    the decompression itself for a tree of thousands of small files. Every read counts the decompressed
    bytes against ``limit`` (which the caller raises as members are admitted) and checks ``deadline``, so a
    bomb is refused while it streams, in pieces of at most one chunk, whatever size tarfile asks for.
    """

    def __init__(self, stream: Any, limit: int = MAX_UNPACKED_BYTES, deadline: float | None = None) -> None:
        self.stream = stream
        self.pos = 0
        self.limit = limit
        self.deadline = deadline

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else self.limit + 1 - self.pos
        parts: list[bytes] = []
        got = 0
        while got < want:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise DeadlinePassed("the deadline passed while unpacking")
            piece = self.stream.read(min(want - got, _CHUNK))
            if not piece:
                break
            got += len(piece)
            if self.pos + got > self.limit:
                raise too_big()
            parts.append(piece)
        self.pos += got
        return b"".join(parts)

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        target = pos if whence == os.SEEK_SET else self.pos + pos
        if whence not in (os.SEEK_SET, os.SEEK_CUR) or target < self.pos:
            raise ArchiveError("the archive's members are out of order")
        while self.pos < target and self.read(min(target - self.pos, _CHUNK)):
            pass
        return self.pos

    def write(self, data: bytes) -> int:  # pragma: no cover - required by tarfile's file protocol only
        raise OSError("read-only stream")

    def close(self) -> None:
        pass


def _mkdirs(dest: Path, parts: list[str], made: set[str]) -> None:
    """Create the folders ``parts`` under ``dest`` one level at a time (never through an existing non-folder)."""
    for i in range(1, len(parts) + 1):
        rel = "/".join(parts[:i])
        if rel in made:
            continue
        path = os.path.join(dest, rel)
        try:
            os.mkdir(path, _DIR_MODE)
        except FileExistsError:
            raise ArchiveError(f"member {rel!r} clashes with another member") from None
        os.chmod(path, _DIR_MODE)  # exact mode, whatever the umask
        made.add(rel)


def _write_file(dest: Path, name: str, parts: list[str], data: IO[bytes], size: int, mode: int) -> None:
    try:
        fd = os.open(os.path.join(dest, *parts), _FILE_FLAGS, mode)
    except FileExistsError:
        raise ArchiveError(f"member {name!r} clashes with another member") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, mode)  # exact mode, whatever the umask
        shutil.copyfileobj(data, out, _CHUNK)
        if out.tell() != size:
            raise ArchiveError(f"member {name!r} is truncated")


def empty(folder: Path) -> None:
    """Remove everything inside ``folder`` (which holds only what :func:`unpack` created: files and folders)."""
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as it:
        for entry in list(it):
            with contextlib.suppress(FileNotFoundError):
                delete(Path(entry.path))
