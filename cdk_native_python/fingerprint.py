"""What is left out of source folders, and their content fingerprints (handler code, local path dependencies)."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

#: never part of a Lambda asset: virtualenvs, caches, CDK output, tests and VCS metadata
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".venv", "venv", "__pycache__", "*.pyc", "cdk.out", "tests", ".git", ".pytest_cache",
    ".mypy_cache", ".ruff_cache", "node_modules", ".DS_Store", ".python-version",
)


def is_excluded(rel: str, patterns: Sequence[str]) -> bool:
    """gitignore-like: a pattern matches a path component, or the whole relative path."""
    matches = _matcher(tuple(patterns))
    return matches is not None and (matches(rel) is not None or any(matches(part) for part in rel.split("/")))


@functools.lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None] | None:
    """All patterns as one compiled regex (what ``fnmatch`` does one pattern at a time): the source walk asks
    once per file on every synth, and 12 ``fnmatch`` calls per path part were most of its time."""
    if not patterns:
        return None
    joined = "|".join(f"(?:{fnmatch.translate(os.path.normcase(p.strip('/')))})" for p in patterns)
    return re.compile(joined).match


def tree_digest(root: Path, excludes: Sequence[str] = DEFAULT_EXCLUDES) -> str:
    """sha256 over relative paths, executable bits and contents, each length-prefixed: a change anywhere
    changes it, two different folders never share it. Walked like a function's source (links followed,
    special files and loops refused, never hangs): see :mod:`cdk_native_python.source`."""
    from .source import tree_digest as digest  # source builds on the exclusion rules above

    return digest(root, excludes)
