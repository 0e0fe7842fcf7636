"""Installed distributions in a site-packages-like tree: what each one is, owns and needs.

The one place that reads ``*.dist-info`` (``METADATA``, ``WHEEL``, ``RECORD``) and removes a distribution's
files; strip, slim, verify and the build record all ask here instead of parsing the files themselves.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from email.parser import Parser
from functools import cached_property
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def normalize(name: str) -> str:
    """PEP 503 name: files, locks and manifests spell names differently (``PyYAML``/``pyyaml``)."""
    return str(canonicalize_name(name))


@dataclass(frozen=True)
class RecordLine:
    """One line of a ``RECORD``: a file the installer wrote, relative to the tree."""

    path: str
    raw: str


@dataclass
class Distribution:
    """An installed distribution, read from its ``*.dist-info`` folder."""

    name: str
    version: str
    dist_info: Path
    requires: list[Requirement] = field(default_factory=list)

    @cached_property
    def record(self) -> tuple[RecordLine, ...]:
        """The ``RECORD`` lines inside the tree (normalized relative paths; entries pointing outside it,
        e.g. ``../../bin/x``, are never this tree's to count or delete)."""
        record = self.dist_info / "RECORD"
        if not record.is_file():
            return ()
        lines = []
        for raw in record.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
            rel = _record_path(raw)
            if raw.strip() and not rel.startswith(("..", "/")) and rel != ".":
                lines.append(RecordLine(rel, raw))
        return tuple(lines)

    def record_files(self) -> list[str]:
        return [line.path for line in self.record]

    @cached_property
    def wheel_tags(self) -> tuple[str, ...]:
        """The ``Tag:`` lines of ``WHEEL`` (e.g. ``cp312-cp312-manylinux_2_17_aarch64``)."""
        wheel = self.dist_info / "WHEEL"
        if not wheel.is_file():
            return ()
        return tuple(line.split(":", 1)[1].strip() for line in wheel.read_text(errors="replace").splitlines()
                     if line.startswith("Tag:"))

    def installed_bytes(self, tree: Path) -> int:
        """Bytes of the files its RECORD lists that are still in ``tree`` (slimmed files are not counted)."""
        size = 0
        for rel in self.record_files():
            try:
                size += os.stat(os.path.join(tree, rel)).st_size
            except OSError:
                continue
        return size

    def drop_record_lines(self, paths: set[str]) -> None:
        """Rewrite ``RECORD`` without the lines of ``paths`` (files removed on purpose)."""
        record = self.dist_info / "RECORD"
        lines = record.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        record.write_text("".join(raw for raw in lines if _record_path(raw) not in paths), encoding="utf-8")
        self.__dict__.pop("record", None)  # cached_property: read again next time


def _record_path(raw: str) -> str:
    return os.path.normpath(raw.rstrip("\r\n").rsplit(",", 2)[0].strip('"'))


def installed(tree: Path) -> dict[str, Distribution]:
    """Every distribution in ``tree`` by normalized name."""
    dists: dict[str, Distribution] = {}
    for info in sorted(tree.glob("*.dist-info")):
        meta = info / "METADATA"
        if not meta.is_file():
            continue
        msg = Parser().parsestr(meta.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        reqs = []
        for raw in msg.get_all("Requires-Dist") or []:
            try:
                reqs.append(Requirement(raw))
            except InvalidRequirement:
                continue
        name = normalize(msg.get("Name", info.name.split("-")[0]))
        dists[name] = Distribution(name, msg.get("Version", "?"), info, reqs)
    return dists


def owners(tree: Path) -> dict[str, str]:
    """relative path -> ``"name version"`` of the distribution whose RECORD lists it."""
    out: dict[str, str] = {}
    for dist in installed(tree).values():
        for rel in dist.record_files():
            out[rel] = f"{dist.name} {dist.version}"
    return out


def discard(path: Path, trash: Path | None) -> None:
    """Delete ``path``, or move it into ``trash`` (one rename) for a background delete to finish."""
    if trash is None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return
    os.rename(path, trash / f"{len(os.listdir(trash))}-{path.name}")


def remove(tree: Path, dist: Distribution, trash: Path | None = None) -> int:
    """Delete a distribution's files (from its RECORD) and return the bytes freed.

    A top-level folder holding only this distribution's files goes in one rename to ``trash``
    (botocore is 2,000+ files: unlinking them one by one costs a second on some file systems).
    """
    freed = 0
    by_top: dict[str, set[str]] = {}
    for rel in dist.record_files():
        by_top.setdefault(rel.split(os.sep, 1)[0], set()).add(rel)
    for top, listed in sorted(by_top.items()):
        if top == dist.dist_info.name:
            continue
        path = tree / top
        if path.is_dir() and not path.is_symlink():
            present = {os.path.relpath(os.path.join(d, n), tree) for d, _, names in os.walk(path) for n in names}
            if present <= listed:  # nothing else lives there: take the whole folder
                freed += sum(os.lstat(tree / f).st_size for f in present)
                discard(path, trash)
                continue
            for rel in sorted(listed & present):
                freed += os.lstat(tree / rel).st_size
                (tree / rel).unlink()
            for d in sorted({os.path.dirname(r) for r in listed}, key=len, reverse=True):
                while d and d != top and os.path.isdir(tree / d) and not os.listdir(tree / d):
                    os.rmdir(tree / d)
                    d = os.path.dirname(d)
            if not os.listdir(path):
                path.rmdir()
        elif path.is_file() or path.is_symlink():
            freed += path.lstat().st_size
            path.unlink()
    if dist.dist_info.exists():
        discard(dist.dist_info, trash)
    return freed
