"""Reading a dependency file without trusting it: regular files only, bounded size, text only.

Every reader goes through :func:`read_text` (TOML and JSON locks through :mod:`._toml` and
:mod:`.pipfile`), so ``-r /dev/zero``, a FIFO (which would block ``open()`` forever), a multi-GB or
binary file named by mistake is refused by name before it costs memory or time. The type is checked
with ``stat`` before anything is opened, and the content is read in bounded chunks even when the
size looked fine (``/proc`` files, a file growing while read).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..core.errors import InputError

#: the largest dependency file read; real ones are far smaller (a 1,000-package uv.lock is ~2 MB)
MAX_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


def check_regular(path: Path, what: str = "dependency file") -> os.stat_result:
    """``path``'s stat when it is a regular file (symlinks followed); a clear error otherwise."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist", "fix the path or create the file",
                         code="input-missing") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}",
                         "make it a readable file", code="input-unreadable") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((label for test, label in _KINDS if test(info.st_mode)), "not a regular file")
        raise InputError(f"{what} {path} is {kind}, not a file", "point it at a regular file holding the "
                         "dependencies (a device, pipe or socket is never read)", code="input-not-a-file")
    return info


def read_bytes(path: Path, what: str = "dependency file", limit: int = MAX_BYTES) -> bytes:
    """The content of regular file ``path``, at most ``limit`` bytes (more is an error, found without reading it)."""
    info = check_regular(path, what)
    if info.st_size > limit:
        raise _too_large(path, what, limit, f" ({info.st_size / 2**20:,.0f} MiB)")
    chunks: list[bytes] = []
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(path, what, limit)
                chunks.append(chunk)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}",
                         "make it a readable file", code="input-unreadable") from None
    return b"".join(chunks)


def read_text(path: Path, what: str = "dependency file", limit: int = MAX_BYTES) -> str:
    """UTF-8 text of ``path`` (a leading BOM dropped, as pip does); binary content is an error."""
    data = read_bytes(path, what, limit)
    if b"\0" in data:
        raise InputError(f"{what} {path} is binary, not text (it holds NUL bytes)",
                         "point it at the text file holding the dependencies", code="input-binary")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {exc.start} cannot be decoded)",
                         "save it as UTF-8", code="input-encoding") from None


def _too_large(path: Path, what: str, limit: int, size: str = "") -> InputError:
    return InputError(
        f"{what} {path} is too large{size}: dependency files are read up to {limit // 2**20} MiB",
        "point it at the dependency file itself: no requirements or lock file is that large",
        code="input-too-large",
    )
