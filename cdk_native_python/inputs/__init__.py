"""Find and read a function's dependency file, whatever its format.

Detection order in the ``entry`` folder, first match wins: ``aws_lambda_python_alpha``'s own order
first, so an app that switches over bundles the file it bundled before, then our other formats:

1. ``Pipfile.lock``                       4. ``uv.lock`` (+ ``pyproject.toml``)
2. ``poetry.lock`` (+ ``pyproject.toml``)  5. ``pylock.toml``
3. ``requirements.txt``                   6. ``Pipfile`` (an error asking for its lock, unless
                                             ``resolve_pipfile=True``)
                                          7. ``pyproject.toml`` with ``[project] dependencies``

When other dependency files sit beside the chosen one, the spec carries a notice naming the file used
and the ones ignored (a manifest read with its lock, e.g. ``pyproject.toml`` of ``uv.lock``, is not
"ignored"). ``dependency_file=`` chooses explicitly. A name that exists but is no regular file (a FIFO, a
device, a dangling link) is detected, then refused by name, never skipped.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..reporter import Notice
from ..spec import DependencySpec
from ._read import check_regular

#: file name -> reader module (each exposes ``read(path, groups=..., extras=...)``), in detection order
SOURCES: tuple[tuple[str, str], ...] = (
    ("Pipfile.lock", "pipfile"),
    ("poetry.lock", "poetry"),
    ("requirements.txt", "requirements"),
    ("uv.lock", "uvlock"),
    ("pylock.toml", "pylock"),
)
#: a lock's manifest, read together with it (never "ignored" beside it)
_MANIFEST = {"Pipfile.lock": "Pipfile", "poetry.lock": "pyproject.toml", "uv.lock": "pyproject.toml"}


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
    return choose(entry, resolve_pipfile=resolve_pipfile)[0]


def choose(entry: Path, *, resolve_pipfile: bool = False) -> tuple[Path | None, tuple[str, ...]]:
    """(the dependency file of ``entry`` by the documented order, the other dependency files beside it)."""
    candidates = [name for name, _ in SOURCES if _present(entry / name)]
    if _present(entry / "Pipfile"):
        candidates.append("Pipfile")
    pyproject = entry / "pyproject.toml"
    if _present(pyproject) and _has_project_dependencies(pyproject):
        candidates.append("pyproject.toml")
    if not candidates:
        return None, ()
    chosen = candidates[0]
    ignored = tuple(n for n in candidates[1:] if n != _MANIFEST.get(chosen))
    if chosen == "Pipfile":
        return _bare_pipfile(entry, resolve_pipfile), ignored
    return entry / chosen, ignored


def _bare_pipfile(entry: Path, resolve_pipfile: bool) -> Path:
    if resolve_pipfile:
        return entry / "Pipfile"
    raise InputError(
        f"{entry / 'Pipfile'} has no Pipfile.lock next to it",
        "run 'pipenv lock' and commit Pipfile.lock, or set resolve_pipfile=True to resolve "
        "[packages] for the target at every change",
    )


def load(
    entry: Path,
    dependency_file: Path | None = None,
    *,
    groups: Sequence[str] = (),
    extras: Sequence[str] = (),
    resolve_pipfile: bool = False,
) -> DependencySpec | None:
    """The function's dependencies, or None when it declares none (source-only bundle)."""
    ignored: tuple[str, ...] = ()
    if dependency_file is not None:
        path: Path | None = dependency_file if dependency_file.is_absolute() else entry / dependency_file
    else:
        path, ignored = choose(entry, resolve_pipfile=resolve_pipfile)
    if path is None:
        return None
    spec = read_file(path, groups=groups, extras=extras)
    if ignored:
        notice = Notice("dependency-file-chosen",
                        f"using {path.name}, ignoring {', '.join(ignored)} beside it (order: Pipfile.lock, "
                        "poetry.lock, requirements.txt, uv.lock as aws_lambda_python_alpha, then pylock.toml, "
                        "Pipfile, pyproject.toml); dependency_file= chooses another", "info")
        spec = dataclasses.replace(spec, notices=(*spec.notices, notice))
    return spec


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
