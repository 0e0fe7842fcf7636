"""``poetry.lock`` (+ the ``pyproject.toml`` beside it): a *locked* spec, markers kept for the target.

A poetry lock holds every package any platform or group could need, so we walk it from the project's
selected roots (main dependencies, plus chosen groups and extras) through ``[package.dependencies]``,
combining edge markers along the way: the installer then evaluates each package's marker for the
Lambda target. Both lock formats are read:

* poetry 1.x: ``category = "main"|"dev"`` (older) or nothing (1.5+), hashes inline in ``files`` or in
  ``[metadata.files]`` (lock-version 1.x); the walk decides reachability and markers.
* poetry 2.x (lock-version 2.1): ``groups = [...]`` and ``markers`` (a string or a table per group),
  which poetry computed with its own resolver; a reachable package is kept when one of its groups is
  selected, under the lock's markers for the selected groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..core.errors import InputError
from ..core.spec import DependencySpec, strip_credentials
from . import _lockutil as lu
from ._toml import load_toml
from .pyproject import dependency_group, table

_Key = tuple[str, str]  # (normalised name, version)
_EXTRA_ITEM = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(?:\(([^)]*)\))?\s*(?:;\s*(.+))?$")


@dataclass(frozen=True)
class _Dep:
    """One dependency edge as poetry writes it (in pyproject or in the lock)."""

    name: str
    constraint: str
    marker: str | None
    extras: tuple[str, ...]
    optional: bool


def read(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    pyproject = path.parent / "pyproject.toml"
    hint = f"run 'poetry lock' in {path.parent} and commit poetry.lock"
    if not pyproject.is_file():
        raise InputError(
            f"{path} has no pyproject.toml next to it", "keep poetry.lock beside the pyproject.toml it was locked from"
        )
    manifest = load_toml(pyproject)
    lock = load_toml(path)
    packages = _index(lock, path, hint)
    roots = _roots(manifest, pyproject, groups, extras)
    for dep in roots:
        if not any(key[0] == dep.name for key in packages):
            raise InputError(f"{path} is out of date: {dep.name} (in {pyproject}) is not in the lock", hint)

    decide = lu.selection_decider(extras, ())
    walk: lu.MarkerWalk[_Key] = lu.MarkerWalk(lambda node, extra: _edges(packages, node, extra))
    for dep in roots:
        for key in _candidates(packages, dep):
            walk.add_root(key, dep.marker, dep.extras)

    selected_groups = {"main", *(lu.name(g) for g in groups)}
    files = lock.get("metadata", {}).get("files", {})
    old_files = {lu.name(k): v for k, v in files.items()} if isinstance(files, dict) else {}
    sources = lu.Sources(project=lu.project_root(path))
    lines: list[str] = []
    registries: list[dict[str, Any]] = []
    for key, walked_marker in sorted(walk.packages().items()):
        package = packages[key]
        marker: bool | str | None = walked_marker
        if "groups" in package:
            marker = _group_marker(package, selected_groups, decide, path)
            if marker is False:
                continue
        text = lu.marker_text(marker) if marker is not None else None
        lines.append(_line(package, text, path, sources, old_files.get(key[0], []), registries))
    return DependencySpec(
        source=path,
        requirements=tuple(lines),
        indexes=_indexes(manifest, pyproject, registries),
        locked=True,
        kind="poetry.lock",
        path_fingerprints=tuple(sources.fingerprints),
        credentials=tuple(sources.credentials),
        roots=tuple(sorted({dep.name for dep in roots})),
        requested=tuple(lu.declared(dep.name, _pep440(dep.constraint), dep.marker) for dep in roots),
    )


def _pep440(constraint: str) -> str:
    """poetry's ``^1.2`` / ``~1.2`` / ``1.2.3`` / ``*`` / ``>=1,<2`` as a PEP 440 specifier; a form it cannot
    translate becomes one no version is guaranteed to meet (``===``), so nothing is stripped on a guess."""
    out: list[str] = []
    for piece in (p.strip() for p in re.split(r",|\s+(?=[<>=!~^])", constraint.strip())):
        m = re.fullmatch(r"(\^|~=|~|>=|<=|>|<|==|!=)?\s*(\d+(?:\.\d+)*)((?:\.\*)?)", piece)
        if piece in ("", "*"):
            continue
        if not m or "||" in constraint:
            return f"==={constraint.replace(' ', '')}"
        op, version, star = m.group(1) or "==", m.group(2), m.group(3)
        release = [int(x) for x in version.split(".")]
        if op == "^":  # up to the next change of the first non-zero component
            first = next((i for i, x in enumerate(release) if x), len(release) - 1)
            upper = [*release[:first], release[first] + 1]
            out += [f">={version}", "<" + ".".join(map(str, upper))]
        elif op == "~":  # ~1.2.3 -> <1.3; ~1 -> <2
            upper = [*release[:1], release[1] + 1] if len(release) > 1 else [release[0] + 1]
            out += [f">={version}", "<" + ".".join(map(str, upper))]
        else:
            out.append(f"{op}{version}{star}")
    return ",".join(out)


def _index(lock: dict[str, Any], path: Path, hint: str) -> dict[_Key, dict[str, Any]]:
    out: dict[_Key, dict[str, Any]] = {}
    for package in lock.get("package", []):
        if not isinstance(package, dict) or "name" not in package or "version" not in package:
            raise InputError(f"{path}: a [[package]] entry has no name or version", hint)
        out[(lu.name(package["name"]), str(package["version"]))] = package
    return out


# -- roots from pyproject.toml ---------------------------------------------------------------------


def _roots(manifest: dict[str, Any], pyproject: Path, groups: Sequence[str], extras: Sequence[str]) -> list[_Dep]:
    project = table(manifest, "project", pyproject)
    tool = table(table(manifest, "tool", pyproject), "poetry", pyproject)
    chosen = {lu.name(e) for e in extras}
    roots: list[_Dep] = []
    if "dependencies" in project:
        roots += [_pep508(item, pyproject, "[project] dependencies") for item in project["dependencies"]]
    else:
        roots += [d for d in _poetry_table(table(tool, "dependencies", pyproject)) if not d.optional]
    # extras: PEP 621 optional-dependencies, or poetry's [tool.poetry.extras] naming optional deps
    optional = table(project, "optional-dependencies", pyproject)
    poetry_extras = table(tool, "extras", pyproject)
    available = {lu.name(k) for k in (*optional, *poetry_extras)}
    for extra in extras:
        if lu.name(extra) not in available:
            raise InputError(
                f"{pyproject}: extra {extra!r} is not defined",
                f"choose one of: {', '.join(sorted(available)) or '(none defined)'}",
            )
    for extra, items in optional.items():
        if lu.name(extra) in chosen:
            roots += [_pep508(item, pyproject, f"[project.optional-dependencies] {extra}") for item in items]
    optional_deps = {d.name: d for d in _poetry_table(table(tool, "dependencies", pyproject)) if d.optional}
    for extra, names in poetry_extras.items():
        if lu.name(extra) in chosen:
            roots += [optional_deps[lu.name(n)] for n in names if lu.name(n) in optional_deps]
    for group in groups:
        roots += _group(manifest, tool, group, pyproject)
    return roots


def _group(manifest: dict[str, Any], tool: dict[str, Any], group: str, pyproject: Path) -> list[_Dep]:
    poetry_groups = {lu.name(k): v for k, v in table(tool, "group", pyproject).items()}
    key = lu.name(group)
    if key in poetry_groups:
        return _poetry_table(table(poetry_groups[key], "dependencies", pyproject))
    if key == "dev" and "dev-dependencies" in tool:
        return _poetry_table(table(tool, "dev-dependencies", pyproject))
    if key in {lu.name(k) for k in table(manifest, "dependency-groups", pyproject)}:
        where = f"[dependency-groups] {group}"
        return [_pep508(item, pyproject, where) for item in dependency_group(manifest, group, pyproject)]
    raise InputError(
        f"{pyproject}: dependency group {group!r} is not defined",
        f"choose one of: {', '.join(sorted(poetry_groups)) or '(none defined)'} ([tool.poetry.group.<name>])",
    )


def _pep508(item: Any, pyproject: Path, where: str) -> _Dep:
    try:
        req = Requirement(str(item))
    except InvalidRequirement as exc:
        raise lu.invalid_requirement(f"{pyproject}: {where}", str(item), exc, "fix it (PEP 508)") from None
    marker = lu.reduce_marker(str(req.marker), lu.selection_decider((), ()), str(pyproject)) if req.marker else True
    return _Dep(lu.name(req.name), str(req.specifier), lu.marker_text(marker), tuple(sorted(req.extras)), False)


def _poetry_table(deps: dict[str, Any]) -> list[_Dep]:
    """``name = "^1.0"`` / ``{version, markers, python, platform, extras, optional}`` / a list of those."""
    out: list[_Dep] = []
    for raw_name, value in deps.items():
        if lu.name(raw_name) == "python":
            continue
        for item in value if isinstance(value, list) else [value]:
            spec = item if isinstance(item, dict) else {"version": str(item)}
            markers = [str(spec["markers"])] if spec.get("markers") else []
            if spec.get("python"):
                markers.append(_python_marker(str(spec["python"])) or "")
            if spec.get("platform"):
                markers.append(f'sys_platform == "{spec["platform"]}"')
            out.append(
                _Dep(
                    lu.name(raw_name),
                    str(spec.get("version", "*")),
                    lu.and_markers(*markers),
                    tuple(str(e) for e in spec.get("extras", [])),
                    bool(spec.get("optional", False)),
                )
            )
    return out


def _python_marker(constraint: str) -> str | None:
    """poetry's ``python = "^3.9"`` / ``">=3.8,<3.12"`` as a marker; unknown forms restrict nothing."""
    parts = []
    for piece in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", constraint.strip()):
        m = re.fullmatch(r"(\^|~|>=|<=|>|<|==|!=)?\s*(\d+(?:\.\d+)*)(\.\*)?", piece)
        if not m:
            return None
        op, version = m.group(1) or "==", m.group(2)
        if op in ("^", "~"):
            parts.append(f'python_version >= "{version}"')
        elif m.group(3):
            parts.append(f'python_version {op} "{version}"')
        else:
            parts.append(f'python_full_version {op} "{version}"' if version.count(".") == 2 else
                         f'python_version {op} "{version}"')  # fmt: skip
    return " and ".join(parts) or None


# -- the lock graph ---------------------------------------------------------------------------------


def _candidates(packages: dict[_Key, dict[str, Any]], dep: _Dep) -> list[_Key]:
    """Lock entries for an edge: all entries of the name, narrowed by the constraint when it is PEP 440."""
    keys = [k for k in packages if k[0] == dep.name]
    if len(keys) <= 1:
        return keys
    try:
        specifier = SpecifierSet(dep.constraint.replace(" ", "") if dep.constraint != "*" else "")
        matching = [k for k in keys if Version(k[1]) in specifier]
    except (InvalidSpecifier, InvalidVersion):
        return keys
    return matching or keys


def _edges(
    packages: dict[_Key, dict[str, Any]], node: _Key, extra: str | None
) -> Iterable[tuple[_Key, str | None, tuple[str, ...]]]:
    package = packages[node]
    deps = {d.name: d for d in _poetry_table(package.get("dependencies", {}))}
    chosen: list[tuple[_Dep, str | None]]
    if extra is None:
        chosen = [(d, None) for d in deps.values() if not d.optional]
    else:
        items = {lu.name(k): v for k, v in package.get("extras", {}).items()}.get(extra, [])
        chosen = []
        for item in items:
            m = _EXTRA_ITEM.match(str(item))
            if m and lu.name(m.group(1)) in deps:
                chosen.append((deps[lu.name(m.group(1))], m.group(4)))
    for dep, extra_marker in chosen:
        for key in _candidates(packages, dep):
            yield key, lu.and_markers(dep.marker, extra_marker), dep.extras


def _group_marker(package: dict[str, Any], selected: set[str], decide: lu.AtomDecider, path: Path) -> bool | str | None:
    """poetry 2.x: the lock's own markers for the selected groups (False: in no selected group)."""
    groups = [lu.name(str(g)) for g in package.get("groups", [])]
    hits = [g for g in groups if g in selected]
    if not hits:
        return False
    markers = package.get("markers")
    per_group: list[str | None] = []
    for group in hits:
        raw = markers.get(group) if isinstance(markers, dict) else markers
        reduced = lu.reduce_marker(str(raw), decide, f"{path}: package {package['name']}") if raw else True
        if reduced is not False:
            per_group.append(lu.marker_text(reduced))
    if not per_group:
        return False
    return lu.or_markers(per_group)


# -- lines and sources -----------------------------------------------------------------------------


def _line(
    package: dict[str, Any],
    marker: str | None,
    path: Path,
    sources: lu.Sources,
    old_files: Any,
    registries: list[dict[str, Any]],
) -> str:
    name, version = str(package["name"]), str(package["version"])
    where = f"{path}: package {name}"
    source = package.get("source") or {}
    kind = str(source.get("type", ""))
    if kind == "git":
        raise lu.vcs_error(where, name, str(source.get("url")))
    if kind == "directory":
        return sources.local(name, path.parent / str(source.get("url", "")), marker, where)
    files = package.get("files") or old_files
    hashes = [lu.hash_of(str(f["hash"]), where) for f in files if isinstance(f, dict) and "hash" in f]
    if kind == "file":
        return sources.local(name, path.parent / str(source.get("url", "")), marker, where, hashes)
    if kind == "url":
        return sources.url(name, str(source.get("url")), marker, where, hashes)
    if kind and kind != "legacy":
        raise InputError(f"{where} has an unsupported source type {kind!r}", "publish it to an index")
    registries.append(source)
    if not hashes:
        raise InputError(f"{where} has no hashes", f"run 'poetry lock' in {path.parent}")
    return lu.pin(name, version, marker, hashes)


def _indexes(manifest: dict[str, Any], pyproject: Path, used: list[dict[str, Any]]) -> Any:
    """Declared primaries first, PyPI if a locked package came from it, then supplemental/explicit ones."""
    tool = table(table(manifest, "tool", pyproject), "poetry", pyproject)
    declared = tool.get("source", [])
    by_url: dict[str, str] = {}
    primary: list[str] = []
    later: list[str] = []
    used_urls = {strip_credentials(str(s.get("url", ""))).rstrip("/") for s in used if s}
    for source in declared if isinstance(declared, list) else []:
        if not isinstance(source, dict) or "url" not in source:
            continue
        url = lu.expand_env(str(source["url"]), f"{pyproject}: [[tool.poetry.source]]")
        var = lu.env_name(str(source.get("name", "")))
        url = lu.with_credentials(url, f"POETRY_HTTP_BASIC_{var}_USERNAME", f"POETRY_HTTP_BASIC_{var}_PASSWORD")
        plain = strip_credentials(url).rstrip("/")
        by_url[plain] = url
        priority = str(source.get("priority", "secondary" if source.get("secondary") else "primary"))
        if priority in ("primary", "default"):
            primary.append(url)
        elif priority != "explicit" or plain in used_urls:
            later.append(url)
    if any(not s for s in used):
        primary.append(lu.PYPI)
    later += [by_url.get(u, u) for u in sorted(used_urls - {""} - set(by_url))]
    return lu.indexes([*primary, *later])
