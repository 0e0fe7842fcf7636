"""``Pipfile.lock`` (a *locked* spec) and, on request, a bare ``Pipfile`` (an *open* one).

Pipenv writes each package once with its marker and hashes, so the lock is read as-is: ``default``
always, ``develop`` (or a custom category) only when chosen as a group. Markers stay on the lines
because pipenv evaluated nothing for Lambda: a lock made on a Mac still says
``appnope ; sys_platform == "darwin"`` and the installer drops it for the Linux target.

A package whose marker is false on the machine that locked is written by pipenv (2024+) as
``"version": "*"`` with no hashes, and its marker only when the Pipfile gave it as ``markers = ...``
(``sys_platform = "== 'darwin'"`` is lost). Such entries become the spec's *unpinned* requirements, with
the marker taken from the lock or else from the Pipfile beside it (and the Pipfile's version and
extras): the target decides them before resolution (:meth:`DependencySpec.for_target`).

Source URLs may hold ``${VAR}`` placeholders (pipenv's way to keep tokens out of the file); they are
expanded from the environment here, and the spec's key() strips the credentials again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ..core.errors import InputError
from ..core.spec import DependencySpec
from . import _lockutil as lu
from ._read import read_text
from ._toml import load_toml

_HINT = "run 'pipenv lock' and commit Pipfile.lock"
_GROUP_ALIASES = {"dev": "develop", "dev-packages": "develop", "packages": "default"}
#: lock section -> the Pipfile table it was locked from
_MANIFEST_SECTIONS = {"default": "packages", "develop": "dev-packages"}
#: Pipfile keys that are PEP 508 marker variables (``sys_platform = "== 'win32'"``)
_MARKER_KEYS = (
    "os_name", "sys_platform", "platform_machine", "platform_python_implementation", "platform_release",
    "platform_system", "platform_version", "python_version", "python_full_version", "implementation_name",
    "implementation_version",
)  # fmt: skip


def read(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """``Pipfile.lock``: the ``default`` section plus chosen categories, pinned with hashes."""
    lock = _load_json(path)
    _no_extras(path, extras)
    sections = ["default", *(_GROUP_ALIASES.get(g, g) for g in groups)]
    pipfile = path.parent / "Pipfile"
    manifest = load_toml(pipfile) if pipfile.is_file() else {}
    roots: tuple[str, ...] | None = None  # without its Pipfile, a lock (no graph) cannot tell roots apart
    requested: tuple[str, ...] = ()
    if manifest:
        _check_fresh(path, lock, manifest, pipfile, sections)
        requested, roots = _declared(manifest, pipfile, sections)

    sources = lu.Sources(project=lu.project_root(path))
    lines: dict[str, str] = {}
    unpinned: dict[str, str] = {}
    for section in dict.fromkeys(sections):
        entries = lock.get(section)
        if not isinstance(entries, dict):
            available = [k for k, v in lock.items() if k != "_meta" and isinstance(v, dict)]
            raise InputError(
                f"{path} has no {section!r} section", f"choose groups among: {', '.join(available)}; or {_HINT}"
            )
        declared = manifest.get(_MANIFEST_SECTIONS.get(section, section), {})
        for package, entry in entries.items():
            key = lu.name(package)
            if key in lines or key in unpinned:
                continue  # default wins over a category that repeats a package
            if isinstance(entry, dict) and str(entry.get("version", "")).strip() == "*":
                unpinned[key] = _unpinned_line(package, entry, declared, path)
            else:
                lines[key] = _locked_line(package, entry, path, sources)
    return DependencySpec(
        source=path,
        requirements=tuple(lines.values()),
        indexes=lu.indexes(_sources(lock.get("_meta", {}).get("sources", []), path)),
        locked=True,
        kind="Pipfile.lock",
        path_fingerprints=tuple(sources.fingerprints),
        unpinned=tuple(unpinned.values()),
        credentials=tuple(sources.credentials),
        roots=roots,
        requested=requested,
    )


def _declared(manifest: dict[str, Any], pipfile: Path,
              sections: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The Pipfile's own requirements of the chosen sections ([packages] for ``default``), and their names."""
    # what the user asked for, not what is installed: a local folder is fingerprinted by the lock's line
    sources = lu.Sources(project=lu.project_root(pipfile), fingerprint=False)
    lines: list[str] = []
    names: set[str] = set()
    for section in dict.fromkeys(sections):
        table = manifest.get(_MANIFEST_SECTIONS.get(section, section), {})
        for package, spec in (table.items() if isinstance(table, dict) else ()):
            lines.append(_open_line(package, spec, pipfile, sources))
            names.add(lu.name(package))
    return tuple(lines), tuple(sorted(names))


def read_pipfile(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """A ``Pipfile`` without its lock: ``[packages]`` (plus chosen categories) resolved for the target.

    Only used when the user opts in; the caller raises the "run pipenv lock" error otherwise.
    """
    data = load_toml(path)
    _no_extras(path, extras)
    sources = lu.Sources()
    lines: list[str] = []
    for section in dict.fromkeys(["packages", *({"develop": "dev-packages", "dev": "dev-packages"}.get(g, g)
                                                for g in groups)]):  # fmt: skip
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise InputError(f"{path}: [{section}] must be a table", "fix the Pipfile")
        if section != "packages" and section not in data:
            raise InputError(f"{path} has no [{section}] category", "choose an existing category as a group")
        for package, spec in table.items():
            lines.append(_open_line(package, spec, path, sources))
    return DependencySpec(
        source=path,
        requirements=tuple(lines),
        indexes=lu.indexes(_sources(data.get("source", []), path)),
        locked=False,
        kind="Pipfile",
        path_fingerprints=tuple(sources.fingerprints),
        credentials=tuple(sources.credentials),
    )


def _load_json(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno} is not valid JSON ({exc.msg})", _HINT) from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a Pipfile.lock (no JSON object at the top)", _HINT)
    return data


def _no_extras(path: Path, extras: Sequence[str]) -> None:
    if extras:
        raise InputError(
            f"{path}: extras {', '.join(extras)} cannot be chosen for a Pipfile",
            "pipenv locks extras into the package entries; remove the extras option or use groups (categories)",
        )


def _sources(sources: Any, path: Path) -> list[str]:
    """``[[source]]`` URLs in order, ``${VAR}`` expanded; ``verify_ssl`` has no uv equivalent per index."""
    if not isinstance(sources, list):
        raise InputError(f"{path}: sources must be a list of tables", "fix the file")
    urls = []
    for source in sources:
        if not isinstance(source, dict) or "url" not in source:
            raise InputError(f"{path}: a source has no url", "give every [[source]] a url")
        urls.append(lu.expand_env(str(source["url"]), f"{path}: source {source.get('name', source['url'])!r}"))
    return urls


def _locked_line(package: str, entry: Any, path: Path, sources: lu.Sources) -> str:
    where = f"{path}: package {package}"
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not an object", _HINT)
    marker = str(lu.marker_or_error(entry["markers"], where)) if entry.get("markers") else None
    if "git" in entry or any(k in entry for k in ("hg", "svn", "bzr")):
        raise lu.vcs_error(where, package, str(entry.get("git") or entry))
    if "path" in entry:
        return sources.local(package, path.parent / str(entry["path"]), marker, where)
    hashes = [lu.hash_of(str(h), where) for h in entry.get("hashes", [])]
    if "file" in entry:
        return _file(package, str(entry["file"]), marker, hashes, path, where, sources)
    version = str(entry.get("version", ""))
    if not version.startswith("=="):
        raise InputError(f"{where} has no pinned version ({version or 'none'})", _HINT)
    if not hashes:
        raise InputError(f"{where} has no hashes", _HINT)
    return lu.pin(package, version[2:], marker, hashes)


def _unpinned_line(package: str, entry: Mapping[str, Any], declared: Any, path: Path) -> str:
    """A ``"version": "*"`` entry as a requirement: the Pipfile's version, extras and marker (pipenv drops
    ``sys_platform = ...`` style markers from the lock), and the lock's marker."""
    where = f"{path}: package {package}"
    spec = {lu.name(k): v for k, v in declared.items()}.get(lu.name(package)) if isinstance(declared, dict) else None
    spec = {"version": spec} if isinstance(spec, str) else spec if isinstance(spec, dict) else {}
    if any(k in spec for k in ("path", "file", "git", "hg", "svn", "bzr")):
        raise InputError(f"{where} is not pinned (version \"*\") and not a version requirement", _HINT)
    markers = [str(lu.marker_or_error(m, where)) for m in (_marker(spec), entry.get("markers")) if m]
    extras = [str(e) for e in entry.get("extras", spec.get("extras", []))]
    return _requirement_text(package, {**spec, "extras": extras}, lu.and_markers(*dict.fromkeys(markers)), where)


def _file(package: str, value: str, marker: str | None, hashes: list[str], path: Path, where: str,
          sources: lu.Sources) -> str:
    """pipenv's ``file``: a URL, or a local archive relative to the Pipfile."""
    if "://" in value or value.startswith("file:"):
        return sources.url(package, value, marker, where, hashes)
    return sources.local(package, path.parent / value, marker, where, hashes)


def _marker(spec: Mapping[str, Any]) -> str | None:
    """A Pipfile entry's marker: ``markers = ...`` and the ``sys_platform = "== 'linux'"`` style keys."""
    markers = [str(spec["markers"])] if spec.get("markers") else []
    markers += [f"{key} {spec[key]}" for key in _MARKER_KEYS if key in spec]
    return lu.and_markers(*markers)


def _requirement_text(package: str, spec: Mapping[str, Any], marker: str | None, where: str) -> str:
    extras = ",".join(str(e) for e in spec.get("extras", []))
    version = str(spec.get("version", "*")).strip()
    text = f"{package}{f'[{extras}]' if extras else ''}{'' if version == '*' else version}"
    if marker:
        text += f" ; {marker}"
    try:
        return str(Requirement(text))
    except InvalidRequirement as exc:
        raise lu.invalid_requirement(where, text, exc, "fix the Pipfile entry") from None


def _open_line(package: str, spec: Any, path: Path, sources: lu.Sources) -> str:
    where = f"{path}: [packages] {package}"
    if isinstance(spec, str):
        spec = {"version": spec}
    if not isinstance(spec, dict):
        raise InputError(f"{where}: {spec!r} is not a version string or table", 'write it as "*" or ">=1.0"')
    marker = _marker(spec)
    if any(k in spec for k in ("git", "hg", "svn", "bzr")):
        raise lu.vcs_error(where, package, str(spec.get("git") or spec))
    if "path" in spec:
        return sources.local(package, path.parent / str(spec["path"]), marker, where)
    if "file" in spec:
        return _file(package, str(spec["file"]), marker, [], path, where, sources)
    return _requirement_text(package, spec, marker, where)


def _check_fresh(path: Path, lock: dict[str, Any], pipfile: dict[str, Any], pipfile_path: Path,
                 sections: Sequence[str]) -> None:  # fmt: skip
    """A package in the Pipfile but not in the lock means the lock is stale (pipenv would re-lock)."""
    for section in sections:
        manifest_section = _MANIFEST_SECTIONS.get(section, section)
        locked = {lu.name(k) for k in (lock.get(section) or {})}
        for package in pipfile.get(manifest_section, {}) or {}:
            if lu.name(package) not in locked:
                raise InputError(
                    f"{path} is out of date: {package} ([{manifest_section}] in {pipfile_path}) is not locked", _HINT
                )
