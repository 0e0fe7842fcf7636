"""uv workspaces: which workspace a project belongs to, found the way uv finds it, and its members.

uv (``crates/uv-workspace/src/workspace.rs``, ``find_workspace``) looks at the project's own ``pyproject.toml``
first: with ``[tool.uv.workspace]`` the project is its own workspace root. Otherwise it walks up, one parent
at a time, to the first folder with a ``pyproject.toml`` and stops there whatever it finds:

* ``[tool.uv.workspace]``: that folder is the root when a ``members`` glob matches the project's folder and
  no ``exclude`` glob does; otherwise the project is on its own;
* a ``[project]`` without a workspace (the project is an example or test folder of another project), or
  neither: the project is on its own.

Globs are relative to the root and matched per path component (``packages/*`` never matches
``packages/a/b``), as uv's ``glob`` crate and :meth:`pathlib.Path.glob` both do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from . import _lockutil as lu
from ._toml import load_toml


@dataclass(frozen=True)
class Workspace:
    """A uv workspace: its root folder and the globs of ``[tool.uv.workspace]``."""

    root: Path
    members: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def lock(self) -> Path:
        return self.root / "uv.lock"

    def includes(self, project: Path) -> bool:
        """Is folder ``project`` a member (matched by ``members`` and not by ``exclude``), as uv decides?"""
        folder = project.resolve()
        if folder == self.root:
            return True  # the root project is always a member of its own workspace
        return self.matched(folder) and not self.excluded(folder)

    def matched(self, folder: Path) -> bool:
        """Does a ``members`` glob match ``folder``?"""
        return folder.resolve() in self._matches(self.members)

    def excluded(self, folder: Path) -> bool:
        """Does an ``exclude`` glob match ``folder``?"""
        return folder.resolve() in self._matches(self.exclude)

    def member_folders(self) -> dict[str, Path]:
        """Normalised project name -> folder, for every member that is a project (the root's too)."""
        out: dict[str, Path] = {}
        excluded = set(self._matches(self.exclude))
        for folder in (self.root, *self._matches(self.members)):
            manifest = folder / "pyproject.toml"
            if folder in excluded or not manifest.is_file():
                continue
            name = _project(load_toml(manifest), manifest).get("name")
            if name:
                out.setdefault(lu.name(str(name)), folder)
        return out

    def describe(self) -> str:
        """The root and its globs, as an error names them."""
        text = f"the uv workspace at {self.root} (members = {list(self.members)}"
        return text + (f", exclude = {list(self.exclude)})" if self.exclude else ")")

    def _matches(self, globs: tuple[str, ...]) -> list[Path]:
        found: list[Path] = []
        for pattern in globs:
            try:
                found += sorted(p.resolve() for p in self.root.glob(pattern) if p.is_dir())
            except (ValueError, NotImplementedError):  # an absolute or otherwise unusable pattern
                raise InputError(f"{self.pyproject}: [tool.uv.workspace] glob {pattern!r} is not usable",
                                 "write members and exclude as globs relative to the workspace root",
                                 code="workspace-glob") from None
        return found


def declared(data: dict[str, Any], manifest: Path) -> Workspace | None:
    """The ``[tool.uv.workspace]`` that ``manifest`` (already read as ``data``) declares, if any."""
    tool = data.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, dict) else {}
    table = uv.get("workspace") if isinstance(uv, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise InputError(f"{manifest}: [tool.uv.workspace] must be a table", "fix the TOML structure")
    globs = []
    for key in ("members", "exclude"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{manifest}: [tool.uv.workspace] {key} must be a list of globs",
                             f'write {key} = ["packages/*"]')
        globs.append(tuple(value))
    return Workspace(manifest.parent.resolve(), globs[0], globs[1])


def find(project: Path) -> Workspace | None:
    """The workspace the project in folder ``project`` (which holds its ``pyproject.toml``) belongs to, found as
    uv finds it; None when the project is on its own (then it is its own root)."""
    project = project.resolve()
    own = declared(load_toml(project / "pyproject.toml"), project / "pyproject.toml")
    if own is not None:
        return own
    for folder in project.parents:
        manifest = folder / "pyproject.toml"
        if not manifest.is_file():
            continue
        # the first pyproject.toml above decides, whatever it holds (uv stops there too)
        workspace = declared(load_toml(manifest), manifest)
        return workspace if workspace is not None and workspace.includes(project) else None
    return None


def project_folder(entry: Path, within: Path) -> Path | None:
    """The project an entry belongs to, as uv finds the current project from a folder: the nearest folder
    from ``entry`` up to ``within`` (inclusive) that holds a ``pyproject.toml``; None when ``entry`` is not
    inside ``within``."""
    entry, within = entry.resolve(), within.resolve()
    if not entry.is_relative_to(within):
        return None
    for folder in (entry, *entry.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
        if folder == within:
            break
    return None


def _project(data: dict[str, Any], manifest: Path) -> dict[str, Any]:
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise InputError(f"{manifest}: 'project' must be a table", "fix the TOML structure")
    return project
