"""Find and read a function's dependency file, whatever its format.

Every format is one :class:`Format` in :data:`FORMATS`: its reader (one signature for all), the file names
it is detected by in an entry folder, the names it reads when given explicitly (``dependency_file=``), and
the manifest read together with it. The table's order is the detection order, first match wins:
``aws_lambda_python_alpha``'s own order first, so an app that switches over bundles the file it bundled
before, then our other formats:

1. ``Pipfile.lock``                       4. ``uv.lock`` (+ ``pyproject.toml``)
2. ``poetry.lock`` (+ ``pyproject.toml``)  5. ``pylock.toml``
3. ``requirements.txt``                   6. ``Pipfile`` (an error asking for its lock, unless
                                             ``resolve_pipfile=True``)
                                          7. ``pyproject.toml`` with ``[project] dependencies``

The manifest beside a lock decides the roots. uv.lock, poetry.lock and Pipfile.lock read theirs in their
reader; a lock that can come without one (``pylock.toml``, and a ``requirements.txt`` whose every line is
pinned with ``--hash``, as ``uv export`` and ``pip-compile --generate-hashes`` write it) takes
``[project]`` of the ``pyproject.toml`` beside it, when that declares dependencies: what the user wrote
there (``boto3`` with no version) is what stripping checks, the same as for uv.lock of the same set.

When other dependency files sit beside the chosen one, the spec carries a notice naming the file used
and the ones ignored (a manifest read with its lock, e.g. ``pyproject.toml`` of ``uv.lock``, is not
"ignored"). ``dependency_file=`` chooses explicitly; any name no format claims is a requirements file.
A name that exists but is no regular file (a FIFO, a device, a dangling link) is detected, then refused
by name, never skipped. To add a format: a reader module and one row here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packaging.requirements import InvalidRequirement, Requirement

from ..core.errors import InputError
from ..core.hints import option
from ..core.reporter import Notice
from ..core.spec import DependencySpec
from . import _lockutil as lu
from . import pipfile, poetry, pylock, pyproject, requirements, uvlock, workspace
from ._read import check_regular
from ._toml import load_toml


class Reader(Protocol):
    """What every format's reader is: a file (and the user's selection of groups and extras) → a spec."""

    def __call__(self, path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
        ...


@dataclass(frozen=True)
class Format:
    """One dependency format: how it is recognised and read."""

    name: str
    read: Reader
    #: the file names it is detected by in an entry folder
    detect: tuple[str, ...] = ()
    #: whether an explicitly chosen file's name is this format (default: one of ``detect``)
    claims: Callable[[str], bool] | None = None
    #: the manifest read together with it (never "ignored" beside it)
    manifest: str | None = None
    #: detected only when this holds of the file (a pyproject.toml that declares dependencies)
    when: Callable[[Path], bool] | None = None
    #: detected, but used only with ``resolve_pipfile=True`` (otherwise an error asking for its lock)
    opt_in: bool = False

    def is_named(self, name: str) -> bool:
        return self.claims(name) if self.claims is not None else name in self.detect

    def found_in(self, entry: Path) -> Path | None:
        for name in self.detect:
            path = entry / name
            if _present(path) and (self.when is None or self.when(path)):
                return path
        return None


def _has_project_dependencies(path: Path) -> bool:
    project = load_toml(path).get("project", {})
    return isinstance(project, dict) and bool(project.get("dependencies") or project.get("optional-dependencies"))


REQUIREMENTS = Format("requirements.txt", requirements.read, ("requirements.txt",))

#: every format, in detection order (requirements files also take every name no other format claims)
FORMATS: tuple[Format, ...] = (
    Format("Pipfile.lock", pipfile.read, ("Pipfile.lock",), manifest="Pipfile"),
    Format("poetry.lock", poetry.read, ("poetry.lock",), manifest="pyproject.toml"),
    REQUIREMENTS,
    Format("uv.lock", uvlock.read, ("uv.lock",), manifest="pyproject.toml"),
    Format("pylock.toml", pylock.read, ("pylock.toml",),
           claims=lambda name: name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml"))),
    Format("Pipfile", pipfile.read_pipfile, ("Pipfile",), opt_in=True),
    Format("pyproject.toml", pyproject.read, ("pyproject.toml",), when=_has_project_dependencies),
)
_ORDER = ", ".join(f.name for f in FORMATS)


def format_of(path: Path) -> Format:
    """The format of an explicitly chosen dependency file, by its name."""
    return next((f for f in FORMATS if f is not REQUIREMENTS and f.is_named(path.name)), REQUIREMENTS)


def read_file(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """Read one dependency file, choosing the reader by its name."""
    if not _present(path):
        raise InputError(
            f"dependency file {path} does not exist",
            f"fix {option('dependency_file')} (relative paths are relative to the entry folder)",
            code="input-missing",
        )
    check_regular(path)
    return _manifest_beside(format_of(path).read(path, groups=groups, extras=extras), groups, extras)


def _manifest_beside(spec: DependencySpec, groups: Sequence[str], extras: Sequence[str]) -> DependencySpec:
    """``spec`` with the roots and ``requested`` of the pyproject.toml beside it, when it is a lock that
    carries no manifest of its own (see the module's docstring); unchanged otherwise."""
    hashed = spec.kind == "requirements.txt" and bool(spec.requirements) and not spec.constraints and all(
        " --hash=" in line for line in spec.requirements)
    if spec.requested or not (spec.kind == "pylock.toml" or hashed):
        return spec
    path = spec.source.parent / "pyproject.toml"
    if not _present(path) or not _has_project_dependencies(path):
        return spec
    data = load_toml(path)
    # the lock chose its groups; a group the manifest does not define is not the manifest's to refuse
    defined = pyproject.table(data, "dependency-groups", path)
    wanted = pyproject.project_requirements(data, path, extras=extras, groups=[g for g in groups if g in defined])
    locked = _names(spec.requirements)
    return dataclasses.replace(
        spec, roots=tuple(sorted({lu.name(req.name) for req, _ in wanted} & locked)),
        requested=tuple(lu.declared(req.name, str(req.specifier), str(req.marker) if req.marker else None)
                        for req, _ in wanted))


def _names(lines: Sequence[str]) -> set[str]:
    """The package names of requirement lines (``name==1.0 ; marker --hash=...``)."""
    found = set()
    for line in lines:
        try:
            found.add(lu.name(Requirement(line.split(" --hash=", 1)[0]).name))
        except InvalidRequirement:
            continue
    return found


def choose(entry: Path, *, resolve_pipfile: bool = False) -> tuple[Path | None, tuple[str, ...]]:
    """(the dependency file of ``entry`` by the documented order, the other dependency files beside it)."""
    found = [(f, path) for f in FORMATS if (path := f.found_in(entry)) is not None]
    if not found:
        return None, ()
    chosen, path = found[0]
    ignored = tuple(p.name for f, p in found[1:] if p.name != chosen.manifest)
    if chosen.opt_in and not resolve_pipfile:
        raise InputError(
            f"{path} has no Pipfile.lock next to it",
            f"run 'pipenv lock' and commit Pipfile.lock, or set {option('resolve_pipfile', True)} to resolve "
            "[packages] for the target at every change", code="pipfile-not-locked",
        )
    return path, ignored


def load(entry: Path, dependency_file: Path | None = None, *, groups: Sequence[str] = (),
         extras: Sequence[str] = (), resolve_pipfile: bool = False) -> DependencySpec | None:
    """The function's dependencies, or None when it declares none (source-only bundle)."""
    ignored: tuple[str, ...] = ()
    notices: list[Notice] = []
    project: Path | None = None  # the project whose dependencies are bundled, when it is not the file's own
    if dependency_file is not None:
        path: Path | None = dependency_file if dependency_file.is_absolute() else entry / dependency_file
        if path is not None and format_of(path).name == "uv.lock" and _present(path):
            project = _explicit_lock_project(entry, path)
    else:
        path, ignored = choose(entry, resolve_pipfile=resolve_pipfile)
        if path is None or path == entry / "pyproject.toml":
            found = _member_of_workspace(entry)
            if found is not None:
                path, project, space = found
                notices.append(Notice(
                    "workspace-member", f"{entry} is the member {_name(project)!r} of {space.describe()}: "
                    f"its dependencies come from {path}, walked from that member", "info"))
    if path is None:
        return None
    if project is not None:
        check_regular(path)
        spec = uvlock.read_member(path, project, groups=groups, extras=extras)
    else:
        spec = read_file(path, groups=groups, extras=extras)
    _require_some(spec, entry, project)
    if spec.requested and spec.kind in ("pylock.toml", "requirements.txt"):  # its manifest was read with it
        ignored = tuple(n for n in ignored if n != "pyproject.toml")
    if ignored:
        notices.append(Notice("dependency-file-chosen",
                              f"using {path.name}, ignoring {', '.join(ignored)} beside it (order: {_ORDER}; the first "
                              f"four as aws_lambda_python_alpha); {option('dependency_file')} chooses another", "info"))
    return dataclasses.replace(spec, notices=(*spec.notices, *notices)) if notices else spec


def _member_of_workspace(entry: Path) -> tuple[Path, Path, workspace.Workspace] | None:
    """(the workspace's uv.lock, the member's folder, the workspace) when the entry folder holds a project that
    is a member (not the root) of a uv workspace with a lock, found as uv finds it (:func:`.workspace.find`).

    Only the entry's own ``pyproject.toml`` counts: handler code in a folder below some project (``infra/lambda``
    under the CDK app's project) stays plain handler code, as before; ``dependency_file`` says otherwise."""
    folder = entry.resolve()
    if not (folder / "pyproject.toml").is_file() or not _is_project(folder):
        return None
    space = workspace.find(folder)
    if space is None or space.root == folder or not _present(space.lock):
        return None
    return space.lock, folder, space


def _explicit_lock_project(entry: Path, lock: Path) -> Path | None:
    """The workspace member to walk ``lock`` from, for an entry given a uv.lock explicitly: the entry's project
    (the nearest ``pyproject.toml`` from the entry up to the lock's folder). None: the lock's own root project,
    as for an entry that is not a project (plain handler code sharing a lock)."""
    root = lock.parent.resolve()
    inside = workspace.project_folder(entry, root)
    folder = inside if inside is not None else (entry.resolve() if (entry / "pyproject.toml").is_file() else None)
    if folder is None or folder == root or not _is_project(folder):
        return None
    space = workspace.find(folder)
    if space is None or space.root != root:
        manifest = root / "pyproject.toml"
        declared = workspace.declared(load_toml(manifest), manifest) if manifest.is_file() else None
        what = declared.describe() if declared is not None else f"{root}, which declares no [tool.uv.workspace]"
        rel = os.path.relpath(folder, root)
        fix = "point dependency_file at the entry's own lock"
        if declared is None or not folder.is_relative_to(root):
            hint = f"{fix} (this lock is not a workspace that can hold {folder})"
        elif declared.excluded(folder):
            hint = f"remove {rel} from [tool.uv.workspace] exclude in {manifest} and run 'uv lock' there, or {fix}"
        elif not declared.matched(folder):
            hint = f"add {rel} to [tool.uv.workspace] members in {manifest} and run 'uv lock' there, or {fix}"
        else:  # matched, but uv's walk up from the project stops at another pyproject.toml first
            hint = (f"uv stops at the first pyproject.toml above {folder}, which is not {manifest}: move the project "
                    f"out of the project around it, or {fix}")
        raise InputError(
            f"entry {entry} (project {folder}) is not a member of the workspace whose lock it uses: {what}",
            hint, code="not-a-workspace-member")
    return folder


def _is_project(folder: Path) -> bool:
    """A ``pyproject.toml`` with a ``[project]`` table: not one that only configures tools (ruff, pytest)."""
    return bool(_table(load_toml(folder / "pyproject.toml"), "project"))


def _require_some(spec: DependencySpec, entry: Path, project: Path | None) -> None:
    """A lock that yields nothing for a project that declares dependencies is a wrong or stale lock, never an
    empty bundle (the handler would fail on its first import in Lambda)."""
    if not (spec.locked and spec.empty):
        return
    manifest = (project or entry) / "pyproject.toml"
    names = _declared_names(manifest) if manifest.is_file() else []
    if names:
        tool = _LOCKERS.get(spec.kind, "the tool that made it")
        raise InputError(
            f"{spec.source} yields no packages for {entry}, but {manifest} declares {', '.join(names)}",
            f"the lock does not hold that project's dependencies: lock again ({tool} in {spec.source.parent}), or "
            "point dependency_file at the lock that holds them", code="lock-yields-nothing")


#: what makes each lock, for the hint of an empty one
_LOCKERS = {"uv.lock": "'uv lock'", "poetry.lock": "'poetry lock'", "Pipfile.lock": "'pipenv lock'"}


def _name(project: Path) -> str:
    return str(_table(load_toml(project / "pyproject.toml"), "project").get("name", project.name))


def _declared_names(manifest: Path) -> list[str]:
    """The dependencies ``manifest`` declares: PEP 621 ``[project] dependencies``, or poetry's (without python)."""
    data = load_toml(manifest)
    names = [str(Requirement(r).name) for r in _list(_table(data, "project").get("dependencies"))
             if isinstance(r, str) and _valid(r)]
    poetry = _table(_table(_table(data, "tool"), "poetry"), "dependencies")
    return names + [str(n) for n in poetry if str(n).lower() != "python"]


def _present(path: Path) -> bool:
    """Something is there under that name (a file, or what must be refused as not being one)."""
    return path.exists() or path.is_symlink()


def _table(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _valid(text: str) -> bool:
    try:
        Requirement(text)
    except InvalidRequirement:
        return False
    return True


__all__ = ["FORMATS", "Format", "Reader", "choose", "format_of", "load", "read_file"]
