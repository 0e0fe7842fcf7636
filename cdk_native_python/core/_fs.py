"""Writing files and folders so that a reader sees the old version or the new one, never half of one.

Everything is first written inside a temporary folder next to its destination, then renamed into place.
The folder holds a lock file on which its writer keeps an exclusive ``flock`` for as long as it lives; the
kernel drops the lock when the process dies, however it dies. A later run can so tell a dead writer's
leftovers from a live writer's work without trusting pids (reused, meaningless on another host of a
shared file system) or ages (a slow build is not a dead one), and removes them (:func:`remove_dead`).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: the lock file that marks a temporary folder as ours and tells whether its writer is alive
LOCK_NAME = ".cdk-native-python.lock"
#: how temporary folders are named: ``.<destination name>.tmp-<random>``
TMP_GLOB = ".*.tmp-*"
#: a folder holding nothing but a half-created lock file is a writer killed while creating it (a window of
#: microseconds): it is removed once this old. Any other folder without the lock file is not ours: never touched
ORPHAN_SECONDS = 3600
#: an empty folder without a lock file this old is no writer's (creating and locking takes microseconds)
EMPTY_SECONDS = 5


def tmp_prefix(dest: Path) -> str:
    return f".{dest.name}.tmp-"


@contextlib.contextmanager
def held_tempdir(parent: Path, prefix: str, *, background: bool = False) -> Iterator[Path]:
    """A new folder in ``parent``, locked by this process until the block ends, then removed with what it
    still holds (whatever the block renamed out of it stays where it went). ``background``: removed by a
    detached ``rm`` instead, off the critical path (if that never finishes, the folder is a dead writer's
    leftover for :func:`remove_dead`)."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        fd = _hold(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        yield tmp
    finally:
        if not (background and _remove_in_background(tmp)):
            _remove_held(tmp)
        os.close(fd)  # releases the lock only once nothing is left to clean up


def _remove_held(folder: Path) -> None:
    """Remove a held folder, its lock file last: a process killed while doing this leaves a folder that still
    says whose it was (the lock file, no longer held), which the next run removes."""
    with contextlib.suppress(OSError):
        for child in folder.iterdir():
            if child.name != LOCK_NAME:
                delete(child)
    shutil.rmtree(folder, ignore_errors=True)


def _remove_in_background(folder: Path) -> bool:
    try:
        subprocess.Popen(["rm", "-rf", str(folder)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    return True


def _hold(folder: Path) -> int:
    """Create the lock file already locked: it is made under another name, locked, then renamed, so no
    cleaner can ever find it unlocked while its writer lives."""
    pending = folder / f"{LOCK_NAME}.new"
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(pending, folder / LOCK_NAME)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def replacing(dest: Path) -> Iterator[Path]:
    """A path to write ``dest``'s new content to (a file, or a folder to create); when the block succeeds it
    replaces ``dest`` in one rename (a folder replaces only a missing or empty one). A failure or a kill
    leaves ``dest`` as it was and nothing a later run trusts."""
    with held_tempdir(dest.parent, tmp_prefix(dest)) as tmp:
        part = tmp / dest.name
        yield part
        os.replace(part, dest)


def atomic_write(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically; ``durable``: flushed to disk
    before the rename (an fsync, several milliseconds: skipped for what may be lost in a power cut)."""
    with replacing(path) as part:
        with open(part, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(part, 0o644)


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's contents, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def delete(path: Path) -> None:
    """Remove a file, a link or a whole folder (a link to a folder is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink()


def remove_dead(parent: Path, pattern: str = TMP_GLOB, *, lockless_after: float | None = None) -> list[Path]:
    """Remove the temporary folders in ``parent`` whose writer is gone; returns what was removed.

    A folder is removed only when its lock can be taken (its writer died: the kernel released the lock), or
    when it holds nothing but a half-created lock file and is older than :data:`ORPHAN_SECONDS`. Anything
    else (not a folder matching ``pattern``, or without our lock file) is never touched, unless
    ``lockless_after`` says that in ``parent`` every folder is ours (made by :func:`held_tempdir`): then a
    folder with content and no lock file at all is dead at once, an empty one after :data:`EMPTY_SECONDS`, and
    one whose lock file is still being created after ``lockless_after`` seconds.
    """
    removed: list[Path] = []
    try:
        children = [c for c in parent.iterdir() if fnmatch.fnmatchcase(c.name, pattern)]
    except OSError:
        return removed
    for child in children:
        with contextlib.suppress(OSError):
            if child.is_symlink() or not child.is_dir():
                continue
            if _dead(child, lockless_after):
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
    return removed


def _dead(folder: Path, lockless_after: float | None = None) -> bool:
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        age = time.time() - folder.lstat().st_mtime
        names = [c.name for c in folder.iterdir()]
        if lockless_after is not None:
            if not names:  # between its creation and its lock, or its last entry removed: seconds suffice
                return age > min(lockless_after, EMPTY_SECONDS)
            if f"{LOCK_NAME}.new" in names:  # a writer creating its lock (microseconds) or killed doing it
                return age > lockless_after
            # Content and no lock at all: a live writer always has one of the two lock names from before its
            # first file until after its last is gone (held_tempdir), so this writer is gone. It is what a
            # process killed mid-teardown leaves, or a killed build's orphaned uv writing into a folder
            # being removed; waiting would only keep it around for the next run.
            return True
        return age > ORPHAN_SECONDS and names == [f"{LOCK_NAME}.new"]
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its writer holds it: alive
    finally:
        os.close(fd)  # a dead writer's folder is removed right after; nobody else creates that name
    return True
