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

When other dependency files sit beside the chosen one, the spec carries a notice naming the file used
and the ones ignored (a manifest read with its lock, e.g. ``pyproject.toml`` of ``uv.lock``, is not
"ignored"). ``dependency_file=`` chooses explicitly; any name no format claims is a requirements file.
A name that exists but is no regular file (a FIFO, a device, a dangling link) is detected, then refused
by name, never skipped. To add a format: a reader module and one row here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import InputError
from ..reporter import Notice
from ..spec import DependencySpec
from . import pipfile, poetry, pylock, pyproject, requirements, uvlock
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
            "fix the dependency_file option (relative paths are relative to the entry folder)",
            code="input-missing",
        )
    check_regular(path)
    return format_of(path).read(path, groups=groups, extras=extras)


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
            "run 'pipenv lock' and commit Pipfile.lock, or set resolve_pipfile=True to resolve "
            "[packages] for the target at every change", code="pipfile-not-locked",
        )
    return path, ignored


def load(entry: Path, dependency_file: Path | None = None, *, groups: Sequence[str] = (),
         extras: Sequence[str] = (), resolve_pipfile: bool = False) -> DependencySpec | None:
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
                        f"using {path.name}, ignoring {', '.join(ignored)} beside it (order: {_ORDER}; the first four "
                        "as aws_lambda_python_alpha); dependency_file= chooses another", "info")
        spec = dataclasses.replace(spec, notices=(*spec.notices, notice))
    return spec


def _present(path: Path) -> bool:
    """Something is there under that name (a file, or what must be refused as not being one)."""
    return path.exists() or path.is_symlink()


__all__ = ["FORMATS", "Format", "Reader", "choose", "format_of", "load", "read_file"]
