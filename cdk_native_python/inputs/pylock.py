"""``pylock.toml`` / ``pylock.<name>.toml`` (PEP 751): a *locked* spec.

A PEP 751 lock already lists every package with its marker; there is no graph to walk. Extras and
dependency groups are chosen through the ``extras`` / ``dependency_groups`` marker variables: those
atoms are decided here (they depend on the caller's choice, not on the target) and dropped, the
rest of each marker is kept for the installer to evaluate on the target.

The roots come from the ``pyproject.toml`` beside the lock when there is one (:func:`..inputs.load`);
otherwise from the lock's own graph (its packages' ``dependencies``), their pins standing in for what the
user wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.spec import DependencySpec
from . import _lockutil as lu
from ._toml import load_toml

_HINT = "regenerate it (for example 'uv export --format pylock.toml -o pylock.toml')"


def read(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    data = load_toml(path)
    version = str(data.get("lock-version", ""))
    if version.split(".")[0] != "1":
        raise InputError(f"{path}: lock-version {version or '(missing)'} is not supported", f"PEP 751 1.x; {_HINT}")
    _check_choice(data, "extras", extras, path)
    _check_choice(data, "dependency-groups", groups, path)
    chosen_groups = list(groups) if groups else [str(g) for g in data.get("default-groups", [])]
    decide = lu.selection_decider(extras, chosen_groups)

    sources = lu.Sources(project=lu.project_root(path))
    lines: list[str] = []
    indexes: list[str] = []
    selected: list[dict[str, Any]] = []
    for number, package in enumerate(data.get("packages", []), 1):
        if not isinstance(package, dict) or not package.get("name"):
            raise InputError(f"{path}: [[packages]] entry #{number} has no name", _HINT)
        where = f"{path}: package {package['name']}"
        reduced = lu.reduce_marker(package.get("marker"), decide, where)
        if reduced is not False:
            lines.append(_line(package, lu.marker_text(reduced), path, where, sources, indexes))
            selected.append(package)
    return DependencySpec(
        source=path,
        requirements=tuple(lines),
        indexes=lu.indexes(indexes),
        locked=True,
        kind="pylock.toml",
        path_fingerprints=tuple(sources.fingerprints),
        credentials=tuple(sources.credentials),
        roots=_roots(selected),
    )


def _roots(packages: list[dict[str, Any]]) -> tuple[str, ...] | None:
    """Packages nothing else depends on, when every package records its ``dependencies`` (the lock's
    graph); None (every package counts as asked for) when the lock has no graph."""
    if not packages or not all(isinstance(p.get("dependencies"), list) for p in packages):
        return None
    needed = {lu.name(str(d.get("name", ""))) for p in packages for d in p["dependencies"] if isinstance(d, dict)}
    return tuple(sorted({lu.name(str(p["name"])) for p in packages} - needed))


def _check_choice(data: dict[str, Any], key: str, chosen: Sequence[str], path: Path) -> None:
    available = {lu.name(str(v)) for v in data.get(key, [])}
    for item in chosen:
        if lu.name(item) not in available:
            raise InputError(
                f"{path}: {key.rstrip('s').replace('-', ' ')} {item!r} is not in the lock's {key} list",
                f"choose one of: {', '.join(sorted(available)) or '(none)'}; or {_HINT} including it",
            )


def _line(
    package: dict[str, Any], marker: str | None, path: Path, where: str, sources: lu.Sources, indexes: list[str]
) -> str:
    name = str(package["name"])
    if "vcs" in package:
        vcs = package["vcs"]
        raise lu.vcs_error(where, name, str(vcs.get("url") or vcs.get("path") if isinstance(vcs, dict) else vcs))
    if isinstance(package.get("directory"), dict):
        return sources.local(name, path.parent / str(package["directory"].get("path", "")), marker, where)
    hashes: list[str] = []
    for wheel in package.get("wheels", []) or []:
        hashes += lu.hashes_table(wheel.get("hashes"), where)
    if isinstance(package.get("sdist"), dict):
        hashes += lu.hashes_table(package["sdist"].get("hashes"), where)
    archive = package.get("archive")
    if isinstance(archive, dict):
        hashes = lu.hashes_table(archive.get("hashes"), where)
        if archive.get("path"):
            return sources.local(name, path.parent / str(archive["path"]), marker, where, hashes)
        return sources.url(name, str(archive.get("url", "")), marker, where, hashes)
    if not package.get("version"):
        raise InputError(f"{where} has no version and no directory/archive source", _HINT)
    if not hashes:
        raise InputError(f"{where} has no hashes", _HINT)
    if package.get("index"):
        indexes.append(str(package["index"]))
    return lu.pin(name, str(package["version"]), marker, hashes)
