"""Find and read a function's dependency file, whatever its format.

Detection order in the ``entry`` folder (first match wins, but two *different* sources side by side
are an error unless one is chosen explicitly, because silently picking one hides drift):

1. ``uv.lock`` (+ ``pyproject.toml``)      4. ``pylock.toml``
2. ``poetry.lock`` (+ ``pyproject.toml``)  5. ``requirements.txt``
3. ``Pipfile.lock``                        6. ``pyproject.toml`` with ``[project] dependencies``

A ``Pipfile`` without its lock is an error unless ``resolve_pipfile=True``. A name that exists but is
no regular file (a FIFO, a device, a dangling link) is detected, then refused by name, never skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..spec import DependencySpec
from ._read import check_regular

#: file name -> reader module (each exposes ``read(path, groups=..., extras=...)``)
SOURCES: tuple[tuple[str, str], ...] = (
    ("uv.lock", "uvlock"),
    ("poetry.lock", "poetry"),
    ("Pipfile.lock", "pipfile"),
    ("pylock.toml", "pylock"),
    ("requirements.txt", "requirements"),
)


def _reader_for(path: Path) -> str:
    name = path.name
    for file_name, module in SOURCES:
        if name == file_name:
            return module
    if name.startswith("pylock.") and name.endswith(".toml"):
        return "pylock"
    if name == "pyproject.toml":
        return "pyproject"
    if name == "Pipfile":
        return "pipfile:pipfile"
    return "requirements"  # any other name (requirements-prod.txt, deps.in, ...) is a requirements file


def read_file(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """Read one dependency file, choosing the reader by its name."""
    if not _present(path):
        raise InputError(
            f"dependency file {path} does not exist",
            "fix the dependency_file option (relative paths are relative to the entry folder)",
            code="input-missing",
        )
    check_regular(path)
    module_name = _reader_for(path)
    if module_name == "pipfile:pipfile":
        pipfile = importlib.import_module(f"{__name__}.pipfile")
        return pipfile.read_pipfile(path, groups=groups, extras=extras)  # type: ignore[no-any-return]
    module = importlib.import_module(f"{__name__}.{module_name}")
    if module_name == "requirements":
        return module.read(path)  # type: ignore[no-any-return]
    return module.read(path, groups=groups, extras=extras)  # type: ignore[no-any-return]


def detect(entry: Path, *, resolve_pipfile: bool = False) -> Path | None:
    """The dependency file of ``entry`` by the documented order, or None if it has no dependencies."""
    found = [entry / name for name, _ in SOURCES if _present(entry / name)]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(
            f"{entry} has more than one dependency source ({names}) and none was chosen",
            "pass bundling=BundlingOptions(dependency_file='<one of them>') or delete the stale file",
        )
    if found:
        return found[0]
    if _present(entry / "Pipfile"):
        if resolve_pipfile:
            return entry / "Pipfile"
        raise InputError(
            f"{entry / 'Pipfile'} has no Pipfile.lock next to it",
            "run 'pipenv lock' and commit Pipfile.lock, or set resolve_pipfile=True to resolve "
            "[packages] for the target at every change",
        )
    pyproject = entry / "pyproject.toml"
    if _present(pyproject) and _has_project_dependencies(pyproject):
        return pyproject
    return None


def load(
    entry: Path,
    dependency_file: Path | None = None,
    *,
    groups: Sequence[str] = (),
    extras: Sequence[str] = (),
    resolve_pipfile: bool = False,
) -> DependencySpec | None:
    """The function's dependencies, or None when it declares none (source-only bundle)."""
    if dependency_file is not None:
        path: Path | None = dependency_file if dependency_file.is_absolute() else entry / dependency_file
    else:
        path = detect(entry, resolve_pipfile=resolve_pipfile)
    if path is None:
        return None
    return read_file(path, groups=groups, extras=extras)


def _present(path: Path) -> bool:
    """Something is there under that name (a file, or what must be refused as not being one)."""
    return path.exists() or path.is_symlink()


def _has_project_dependencies(pyproject: Path) -> bool:
    try:
        from ._toml import load_toml

        data = load_toml(pyproject)
    except InputError:
        raise
    project = data.get("project", {})
    return isinstance(project, dict) and bool(project.get("dependencies") or project.get("optional-dependencies"))
