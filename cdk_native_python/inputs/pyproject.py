"""``pyproject.toml`` with PEP 621 ``[project] dependencies`` and no lock: an *open* spec.

The requirements are resolved for the target like a requirements file. Extras come from
``[project.optional-dependencies]``, groups from PEP 735 ``[dependency-groups]``; ``[tool.uv.index]``
and ``[tool.uv.sources]`` are honoured because a uv project without its lock still means them.
The helpers here (project dependency lists, uv indexes) are also what the uv.lock reader checks
its lock against.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ..core.errors import InputError
from ..core.spec import DependencySpec, IndexOptions
from . import _lockutil as lu
from . import workspace
from ._toml import load_toml


def read(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """Root requirements of the project (plus selected extras and groups), to be resolved.

    A project that is a member of a uv workspace (:func:`.workspace.find`) takes the root's
    ``[tool.uv.sources]`` (its own win, as in uv), ``workspace = true`` sources from the root's members and the
    root's indexes too."""
    data = load_toml(path)
    project = table(data, "project", path)
    requirements = project_requirements(data, path, groups=groups, extras=extras)
    found = lu.Sources()
    space = workspace.find(path.parent)
    sources = uv_sources(data, path, space)
    lines = [_apply_source(req, sources, path, found, space) for req, _ in requirements]
    if not project and not lines:
        raise InputError(f"{path} has no [project] table", "add [project] dependencies = [...] (PEP 621)")
    return DependencySpec(
        source=path,
        requirements=tuple(lines),
        indexes=workspace_indexes(data, path, space),
        locked=False,
        kind="pyproject.toml",
        path_fingerprints=tuple(found.fingerprints),
        credentials=tuple(found.credentials),
    )


#: a ``[tool.uv.sources]`` entry and the folder its relative paths are relative to
_Source = tuple[Any, Path]


def uv_sources(data: dict[str, Any], path: Path, space: workspace.Workspace | None) -> dict[str, _Source]:
    """``[tool.uv.sources]`` by normalised name: the workspace root's, overridden by the project's own."""
    out: dict[str, _Source] = {}
    if space is not None and space.root != path.parent.resolve():
        root = load_toml(space.pyproject)
        out.update({lu.name(k): (v, space.root) for k, v in _sources_table(root, space.pyproject).items()})
    out.update({lu.name(k): (v, path.parent) for k, v in _sources_table(data, path).items()})
    return out


def workspace_indexes(data: dict[str, Any], path: Path, space: workspace.Workspace | None) -> IndexOptions:
    """The project's indexes, after the workspace root's (where ``uv lock`` reads them) when it is a member."""
    own = uv_indexes(data, path)
    if space is None or space.root == path.parent.resolve():
        return own
    return uv_indexes(load_toml(space.pyproject), space.pyproject).merged(own)


def _sources_table(data: dict[str, Any], path: Path) -> dict[str, Any]:
    return table(table(table(data, "tool", path), "uv", path), "sources", path)


def table(data: Any, key: str, path: Path) -> dict[str, Any]:
    """``data[key]`` as a table ({} when absent); a wrong type is the user's error, named."""
    value = data.get(key, {}) if isinstance(data, dict) else {}
    if not isinstance(value, dict):
        raise InputError(f"{path}: '{key}' must be a table, not {type(value).__name__}", "fix the TOML structure")
    return value


def project_requirements(
    data: dict[str, Any], path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()
) -> list[tuple[Requirement, str]]:
    """(requirement, where) for ``[project] dependencies`` + chosen extras + chosen dependency groups.

    Self-references (``myproject[extra]`` inside an extra) are expanded, as pip and uv do.
    """
    project = table(data, "project", path)
    own = lu.name(str(project.get("name", ""))) if project.get("name") else None
    optional = table(project, "optional-dependencies", path)
    known_extras = {lu.name(k): k for k in optional}
    out: list[tuple[Requirement, str]] = []
    seen_extras: set[str] = set()

    def add(items: Any, where: str) -> None:
        if not isinstance(items, list):
            raise InputError(f"{path}: {where} must be a list of requirement strings", "fix the TOML structure")
        for item in items:
            req = _requirement(item, path, where)
            if own and lu.name(req.name) == own:
                for extra in req.extras:
                    add_extra(extra)
                continue
            out.append((req, where))

    def add_extra(extra: str) -> None:
        key = lu.name(extra)
        if key in seen_extras:
            return
        if key not in known_extras:
            raise InputError(
                f"{path}: extra {extra!r} is not defined in [project.optional-dependencies]",
                f"choose one of: {', '.join(sorted(known_extras)) or '(none defined)'}",
            )
        seen_extras.add(key)
        add(optional[known_extras[key]], f"[project.optional-dependencies] {known_extras[key]}")

    add(project.get("dependencies", []), "[project] dependencies")
    for extra in extras:
        add_extra(extra)
    for group in groups:
        add(dependency_group(data, group, path), f"[dependency-groups] {group}")
    return out


def dependency_group(data: dict[str, Any], group: str, path: Path, _stack: tuple[str, ...] = ()) -> list[str]:
    """PEP 735 group with ``{include-group = ...}`` expanded (and include loops reported)."""
    groups = table(data, "dependency-groups", path)
    by_name = {lu.name(k): k for k in groups}
    key = lu.name(group)
    if key in _stack:
        raise InputError(
            f"{path}: dependency group include loop: {' -> '.join((*_stack, key))}",
            "remove one of the include-group entries",
        )
    if key not in by_name:
        raise InputError(
            f"{path}: dependency group {group!r} is not defined in [dependency-groups]",
            f"choose one of: {', '.join(sorted(by_name)) or '(none defined)'}",
        )
    out: list[str] = []
    items = groups[by_name[key]]
    if not isinstance(items, list):
        raise InputError(f"{path}: [dependency-groups] {group} must be a list", "fix the TOML structure")
    for item in items:
        if isinstance(item, dict) and "include-group" in item:
            out += dependency_group(data, str(item["include-group"]), path, (*_stack, key))
        else:
            out.append(item)
    return out


def _requirement(item: Any, path: Path, where: str) -> Requirement:
    if not isinstance(item, str):
        raise InputError(f"{path}: {where}: {item!r} is not a requirement string", "write it as 'name>=1.0' (PEP 508)")
    try:
        return Requirement(item)
    except InvalidRequirement as exc:
        raise lu.invalid_requirement(f"{path}: {where}", item, exc,
                                     "write it as 'name', 'name>=1.2' or 'name; sys_platform == \"linux\"' (PEP 508)"
                                     ) from None


def _apply_source(req: Requirement, sources: dict[str, _Source], path: Path, found: lu.Sources,
                  space: workspace.Workspace | None) -> str:
    """A ``[tool.uv.sources]`` entry turns a name into a local path (or is rejected for VCS); a direct URL
    loses its credentials."""
    source, base = sources.get(lu.name(req.name), (None, path.parent))
    marker = str(req.marker) if req.marker else None
    if req.url:
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        return found.url(f"{req.name}{extras}", req.url, marker, f"{path}: {req.name}")
    if not isinstance(source, dict):
        return str(req)
    where = f"{path}: [tool.uv.sources] {req.name}"
    if "git" in source:
        raise lu.vcs_error(where, req.name, str(source["git"]))
    if "path" in source:
        return found.local(req.name, base / str(source["path"]), marker, where)
    if source.get("workspace"):
        return found.local(req.name, workspace_member(space, req.name, path), marker, where)
    if "url" in source:
        return found.url(req.name, str(source["url"]), marker, where)
    return str(req)  # {index = "..."}: the index is in IndexOptions already


def workspace_member(space: workspace.Workspace | None, package: str, path: Path) -> Path:
    """The folder of workspace member ``package`` of the workspace ``path`` belongs to."""
    folder = space.member_folders().get(lu.name(package)) if space is not None else None
    if folder is not None:
        return folder
    where = space.describe() if space is not None else f"no uv workspace (no [tool.uv.workspace] in {path} or " \
        "the first pyproject.toml above it)"
    raise InputError(
        f"{path}: {package} is a workspace source but no member of {where} is named {package}",
        'add its folder to [tool.uv.workspace] members, or use { path = "..." } in [tool.uv.sources]',
        code="workspace-member-missing",
    )


def uv_indexes(data: dict[str, Any], path: Path) -> IndexOptions:
    """``[[tool.uv.index]]`` (default = true is the primary), plus the older ``index-url`` keys.

    Credentials come from ``UV_INDEX_<NAME>_USERNAME``/``_PASSWORD`` like uv itself takes them.
    """
    uv = table(table(data, "tool", path), "uv", path)
    entries = uv.get("index", [])
    if isinstance(entries, dict):
        entries = [entries]
    primary: list[str] = []
    extra: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or "url" not in entry:
            raise InputError(f"{path}: every [[tool.uv.index]] needs a url", 'add url = "https://.../simple"')
        url = lu.expand_env(str(entry["url"]), f"{path}: [[tool.uv.index]]")
        if entry.get("name"):
            var = lu.env_name(str(entry["name"]))
            url = lu.with_credentials(url, f"UV_INDEX_{var}_USERNAME", f"UV_INDEX_{var}_PASSWORD")
        (primary if entry.get("default") else extra).append(url)
    if isinstance(uv.get("index-url"), str):
        primary.append(str(uv["index-url"]))
    extra += [str(u) for u in uv.get("extra-index-url", []) or []]
    find_links = tuple(
        str(u) if "://" in str(u) else str((path.parent / str(u)).resolve()) for u in uv.get("find-links", []) or []
    )
    return IndexOptions(
        # uv searches its named indexes before PyPI, so without a default one PyPI stays primary last
        index_url=primary[0] if primary else None,
        extra_index_urls=tuple(dict.fromkeys(primary[1:] + extra)),
        find_links=find_links,
        no_index=bool(uv.get("no-index", False)),
    )
