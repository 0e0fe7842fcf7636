"""``uv.lock`` (+ the ``pyproject.toml`` beside it): a *locked* spec, markers kept for the target.

uv.lock is universal: it holds every package for every platform and Python, sometimes several
versions of one package split by markers. We walk it from the project's dependencies (plus
chosen extras and groups; the project is the root one beside the lock, or a workspace member, found by its
folder in the lock: a workspace's one lock serves each member as uv's ``--package`` does) and emit each
reachable package with the combined marker of the paths that reach it, so the installer keeps
``appnope ; sys_platform == "darwin"`` off a Linux bundle even when the lock was made on a Mac. The project
itself is not emitted: it is the function's own code, which is bundled from the entry folder. Other workspace
members and path sources become ``name @ file://`` lines with content fingerprints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.spec import DependencySpec
from . import _lockutil as lu
from ._toml import load_toml
from .pyproject import project_requirements, table, workspace_indexes
from .workspace import Workspace, declared

_STALE_HINT = "run 'uv lock' in {folder} and commit uv.lock"
_Key = tuple[str, str]  # (normalised name, version)


def read(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """The lock's root project (the ``pyproject.toml`` beside it), walked for the selected extras and groups."""
    return read_member(path, path.parent, groups=groups, extras=extras)


def read_member(path: Path, project: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """The project in folder ``project`` (the lock's root, or a member of its workspace), walked through the
    lock from that project: its own dependencies, extras and groups, not the root's."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        raise InputError(
            f"{path} has no pyproject.toml next to it" if project == path.parent
            else f"{project} has no pyproject.toml",
            "keep uv.lock beside the pyproject.toml it was locked from",
        )
    manifest = load_toml(pyproject)
    lock = _parsed(path)
    hint = _STALE_HINT.format(folder=path.parent)
    if not isinstance(lock.get("version"), int) or lock["version"] != 1:
        raise InputError(
            f"{path}: unsupported uv.lock version {lock.get('version')!r}",
            f"this reader knows version 1; upgrade cdk-native-python or {hint}",
        )
    packages = _index(lock, path)
    own = Path(os.path.relpath(project.resolve(), path.parent.resolve())).as_posix()
    root_key, root = _root(packages, manifest, pyproject, path, hint, own)
    _check_fresh(root, manifest, pyproject, path, groups, extras, hint)

    decide = lu.selection_decider(extras, groups)
    walk: lu.MarkerWalk[_Key] = lu.MarkerWalk(lambda node, extra: _edges(packages, node, extra, path, decide))
    roots: list[str] = []
    for dep in _root_edges(root, groups, extras, path, hint):
        reduced = lu.reduce_marker(dep.get("marker"), decide, str(path))
        if reduced is not False:
            key = _target(packages, dep, path)
            walk.add_root(key, lu.marker_text(reduced), _extras(dep))
            roots.append(key[0])

    sources = lu.Sources(project=lu.project_root(path))
    lines: list[str] = []
    registries: list[str] = []
    for key, marker in sorted(walk.packages().items()):
        if key == root_key:
            continue  # a cycle back to the project: its code is the entry folder, copied as the handler's source
        lines.append(_line(packages[key], marker, path, sources, registries))
    return DependencySpec(
        source=path,
        requirements=tuple(lines),
        indexes=lu.add_registries(workspace_indexes(manifest, pyproject, _workspace(path, project)), registries),
        locked=True,
        kind="uv.lock",
        path_fingerprints=tuple(sources.fingerprints),
        credentials=tuple(sources.credentials),
        roots=tuple(sorted(set(roots))),
        requested=_requested(root, groups, decide, path),
    )


def _requested(root: dict[str, Any], groups: Sequence[str], decide: lu.AtomDecider, path: Path) -> tuple[str, ...]:
    """The root project's own requirements as pyproject.toml declares them (kept in the lock's metadata)."""
    metadata = root.get("metadata", {})
    entries = list(metadata.get("requires-dist", []))
    dev = {lu.name(k): v for k, v in metadata.get("requires-dev", {}).items()}
    for group in groups:
        entries += dev.get(lu.name(group), [])
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry:
            continue
        reduced = lu.reduce_marker(entry.get("marker"), decide, str(path))
        if reduced is not False:
            out.append(lu.declared(str(entry["name"]), str(entry.get("specifier", "")), lu.marker_text(reduced)))
    return tuple(out)


def _index(lock: dict[str, Any], path: Path) -> dict[_Key, dict[str, Any]]:
    out: dict[_Key, dict[str, Any]] = {}
    for package in lock.get("package", []):
        if not isinstance(package, dict) or "name" not in package:
            raise InputError(f"{path}: a [[package]] entry has no name", _STALE_HINT.format(folder=path.parent))
        out[(lu.name(package["name"]), str(package.get("version", "")))] = package
    return out


def _root(
    packages: dict[_Key, dict[str, Any]], manifest: dict[str, Any], pyproject: Path, path: Path, hint: str, own: str
) -> tuple[_Key, dict[str, Any]]:
    """The lock entry of the project: its name, and its folder (``own``, relative to the lock) as its source."""
    project_name = table(manifest, "project", pyproject).get("name")
    if not project_name:
        raise InputError(f"{pyproject} has no [project] name", "add [project] name = \"...\" and run 'uv lock'")
    for (name, version), package in packages.items():
        source = package.get("source", {})
        if name == lu.name(str(project_name)) and own in (source.get("editable"), source.get("virtual")):
            return (name, version), package
    raise InputError(f"{path} does not contain the project {project_name!r} of {pyproject}", hint)


def _workspace(path: Path, project: Path) -> Workspace | None:
    """The workspace whose root holds the lock, when ``project`` is one of its members."""
    if project.resolve() == path.parent.resolve():
        return None
    manifest = path.parent / "pyproject.toml"
    return declared(load_toml(manifest), manifest) if manifest.is_file() else None


#: parsed locks by (path, identity of the file): several functions of one workspace read one lock once
_LOCKS: dict[tuple[str, int, int, int], dict[str, Any]] = {}


def _parsed(path: Path) -> dict[str, Any]:
    """The lock's TOML, parsed once per process while the file is unchanged (never mutated by the readers)."""
    try:
        st = path.stat()
    except OSError:
        return load_toml(path)  # load_toml names the problem
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _LOCKS:
        if len(_LOCKS) > 16:
            _LOCKS.clear()
        _LOCKS[key] = load_toml(path)
    return _LOCKS[key]


def _check_fresh(
    root: dict[str, Any],
    manifest: dict[str, Any],
    pyproject: Path,
    path: Path,
    groups: Sequence[str],
    extras: Sequence[str],
    hint: str,
) -> None:
    """A dependency named in pyproject.toml but absent from the lock means the lock is stale."""
    metadata = root.get("metadata", {})
    locked = {lu.name(d["name"]) for d in metadata.get("requires-dist", [])}
    for members in metadata.get("requires-dev", {}).values():
        locked |= {lu.name(d["name"]) for d in members if "name" in d}
    for req, where in project_requirements(manifest, pyproject, groups=groups, extras=extras):
        if lu.name(req.name) not in locked:
            raise InputError(f"{path} is out of date: {req.name} ({where} in {pyproject}) is not in the lock", hint)


def _root_edges(
    root: dict[str, Any], groups: Sequence[str], extras: Sequence[str], path: Path, hint: str
) -> list[dict[str, Any]]:
    edges = list(root.get("dependencies", []))
    for selection, key in ((extras, "optional-dependencies"), (groups, "dev-dependencies")):
        available = {lu.name(k): v for k, v in root.get(key, {}).items()}
        for item in selection:
            if lu.name(item) not in available:
                kind = "extra" if key == "optional-dependencies" else "dependency group"
                raise InputError(
                    f"{path}: {kind} {item!r} is not in the lock for {root['name']}",
                    f"choose one of: {', '.join(sorted(available)) or '(none)'}; or {hint} if you just added it",
                )
            edges += available[lu.name(item)]
    return edges


def _extras(dep: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(e) for e in dep.get("extra", []))


def _target(packages: dict[_Key, dict[str, Any]], dep: dict[str, Any], path: Path) -> _Key:
    """The lock entry an edge points at: by name, or name+version when the name is split."""
    name = lu.name(str(dep.get("name", "")))
    if "version" in dep:
        key = (name, str(dep["version"]))
        if key in packages:
            return key
    candidates = [k for k in packages if k[0] == name]
    if len(candidates) != 1:
        raise InputError(
            f"{path}: dependency {name} has {len(candidates)} matching [[package]] entries",
            _STALE_HINT.format(folder=path.parent),
        )
    return candidates[0]


def _edges(
    packages: dict[_Key, dict[str, Any]], node: _Key, extra: str | None, path: Path, decide: lu.AtomDecider
) -> Iterable[tuple[_Key, str | None, tuple[str, ...]]]:
    package = packages[node]
    if extra is None:
        deps = package.get("dependencies", [])
    else:
        deps = {lu.name(k): v for k, v in package.get("optional-dependencies", {}).items()}.get(extra, [])
    for dep in deps:
        reduced = lu.reduce_marker(dep.get("marker"), decide, str(path))
        if reduced is not False:
            yield _target(packages, dep, path), lu.marker_text(reduced), _extras(dep)


def _line(package: dict[str, Any], marker: str | None, path: Path, sources: lu.Sources, registries: list[str]) -> str:
    name, version = str(package["name"]), str(package.get("version", ""))
    source = package.get("source", {})
    where = f"{path}: package {name}"
    base = path.parent
    for kind in ("editable", "directory", "path", "virtual"):
        if kind in source:
            if kind == "virtual":
                raise InputError(
                    f"{where} is a virtual workspace member and cannot be installed",
                    "make it a package (a [build-system]) or depend on its dependencies directly",
                )
            return sources.local(name, base / str(source[kind]), marker, where)
    if "git" in source:
        raise lu.vcs_error(where, name, str(source["git"]))
    hashes = [lu.hash_of(str(f["hash"]), where) for f in package.get("wheels", []) if "hash" in f]
    if isinstance(package.get("sdist"), dict) and "hash" in package["sdist"]:
        hashes.append(lu.hash_of(str(package["sdist"]["hash"]), where))
    if "url" in source:
        return sources.url(name, str(source["url"]), marker, where, hashes)
    if "registry" in source:
        registry = str(source["registry"])
        if "://" not in registry:  # a local find-links folder, relative to the lock
            raise InputError(
                f"{where} comes from the local registry {registry!r}, which is not supported",
                "publish it to an index, or depend on its folder with a path source",
            )
        registries.append(registry)
    if not hashes:
        raise InputError(f"{where} has no hashes in the lock", _STALE_HINT.format(folder=base))
    return lu.pin(name, version, marker, hashes)
