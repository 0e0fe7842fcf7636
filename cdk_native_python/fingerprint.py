"""Content fingerprints of source folders (handler code, local path dependencies)."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

#: never part of a Lambda asset: virtualenvs, caches, CDK output, tests and VCS metadata
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".venv", "venv", "__pycache__", "*.pyc", "cdk.out", "tests", ".git", ".pytest_cache",
    ".mypy_cache", ".ruff_cache", "node_modules", ".DS_Store", ".python-version",
)


def is_excluded(rel: str, patterns: Sequence[str]) -> bool:
    """gitignore-like: a pattern matches a path component, or the whole relative path."""
    parts = rel.split("/")
    for pattern in patterns:
        p = pattern.strip("/")
        if fnmatch.fnmatch(rel, p) or any(fnmatch.fnmatch(part, p) for part in parts):
            return True
    return False


def walk(root: Path, excludes: Sequence[str] = DEFAULT_EXCLUDES) -> Iterator[tuple[str, Path]]:
    """Yield (posix relative path, path) of the files under ``root`` in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not is_excluded(rel_dir + d, excludes))
        for name in sorted(filenames):
            rel = rel_dir + name
            if not is_excluded(rel, excludes):
                yield rel, Path(dirpath, name)


def tree_digest(root: Path, excludes: Sequence[str] = DEFAULT_EXCLUDES) -> str:
    """sha256 over relative paths, executable bits and contents: a change anywhere changes it."""
    h = hashlib.sha256()
    for rel, path in walk(root, excludes):
        h.update(rel.encode() + b"\0")
        h.update(b"x" if os.access(path, os.X_OK) else b"-")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()
