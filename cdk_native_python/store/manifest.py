"""What a published entry holds, so that any later change to it is noticed before it is reused.

When an entry is published its files are made read-only and listed in ``manifest.json``: relative
path, size, mode and sha256, plus ``mtime_ns`` as a cheap fingerprint. Before every reuse the store
compares size, mode and mtime of each file with one ``lstat`` (an edit through a hard link in
``cdk.out``, a formatter, a ``chmod``, a truncation all change one of them); ``cache verify`` re-hashes
the contents as well.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..core import records
from ..core._fs import sha256_file

NAME = "manifest.json"
#: files are published read-only: an accidental write through a hard link fails instead of spreading
_READ_ONLY = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mode: int
    sha256: str
    mtime_ns: int

    def check_loaded(self) -> None:
        """A path inside the entry (a manifest is read back from disk: it never makes us look elsewhere) and a
        digest in its grammar (or a link's target)."""
        parts = self.path.split("/")
        if self.path.startswith("/") or "" in parts or "." in parts or ".." in parts or "\0" in self.path:
            raise records.RecordError(f"{NAME}: {self.path[:60]!r} is not a path inside the entry")
        if not self.sha256.startswith("link:"):
            records.check_hash("sha256:" + self.sha256, NAME)


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def _files(entry: Path) -> list[tuple[str, str]]:
    """(relative posix path, absolute path) of every file under ``entry`` except the manifest."""
    out = []
    base = len(str(entry)) + 1
    for dirpath, dirnames, filenames in os.walk(entry):
        dirnames.sort()
        rel_dir = dirpath[base:]
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel != NAME:
                out.append((rel, os.path.join(dirpath, name)))
    return out


def seal(entry: Path) -> Manifest:
    """Make every file of ``entry`` read-only and write its manifest (the last file of an entry)."""
    files = []
    for rel, path in _files(entry):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            files.append(FileEntry(rel, st.st_size, st.st_mode, "link:" + target, st.st_mtime_ns))
            continue
        os.chmod(path, st.st_mode & _READ_ONLY)
        st = os.lstat(path)
        files.append(FileEntry(rel, st.st_size, st.st_mode, sha256_file(path), st.st_mtime_ns))
    manifest = Manifest(tuple(files))
    (entry / NAME).write_text(records.dumps(manifest))
    return manifest


def load(entry: Path) -> Manifest:
    """The entry's manifest; :class:`records.RecordError` when missing or damaged."""
    try:
        text = (entry / NAME).read_text()
    except OSError as exc:
        raise records.RecordError(f"no readable {NAME} ({exc.strerror})") from None
    return records.loads(Manifest, text)


def changed(entry: Path, manifest: Manifest) -> str | None:
    """The first difference between ``entry`` and ``manifest`` by stat alone (``None``: unchanged)."""
    for f in manifest.files:
        try:
            st = os.lstat(os.path.join(entry, f.path))
        except OSError:
            return f"{f.path} is missing"
        if st.st_size != f.size:
            return f"{f.path} changed size ({f.size} -> {st.st_size} bytes)"
        if st.st_mode != f.mode:
            return f"{f.path} changed mode ({stat.filemode(f.mode)} -> {stat.filemode(st.st_mode)})"
        if st.st_mtime_ns != f.mtime_ns:
            return f"{f.path} was modified"
    return None


def corrupted(entry: Path, manifest: Manifest) -> str | None:
    """Like :func:`changed`, then re-hash every file and look for files the manifest does not list."""
    problem = changed(entry, manifest)
    if problem:
        return problem
    listed = {f.path for f in manifest.files}
    for rel, _ in _files(entry):
        if rel not in listed:
            return f"{rel} was added"
    for f in manifest.files:
        path = os.path.join(entry, f.path)
        digest = "link:" + os.readlink(path) if f.sha256.startswith("link:") else sha256_file(path)
        if digest != f.sha256:
            return f"{f.path} has other contents than when it was published"
    return None
