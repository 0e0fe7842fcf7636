"""Typed records: what travels between the pipeline's steps, into the store and into reports.

Every record is a frozen dataclass. :func:`to_json` and :func:`from_json` convert them to and from JSON
by their field types, so a record read back from disk (or from a remote cache) is checked field by field:
a damaged file is a :class:`RecordError`, which the store treats as a corrupt entry, never as a crash.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar

from .reporter import Notice

T = TypeVar("T")


class RecordError(ValueError):
    """A record on disk does not have the shape its type promises."""


# -- what a name, a version, a digest may be ----------------------------------------------------------------
# One grammar for every record read back from a store or a report (they are data from another machine, or from
# a file anyone may have written): a value outside it makes the record a RecordError, never text we pass on.

#: a PEP 503 normalized project name (what ``packaging.utils.canonicalize_name`` returns for a valid name)
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
#: what a PEP 440 version is spelled with (``packaging`` also accepts surrounding whitespace: we do not)
_VERSION_CHARS = re.compile(r"[A-Za-z0-9.+!_-]{1,128}")
#: the digest algorithms pip's ``--hash`` accepts, each with its exact length, lowercase
_HASH = re.compile(r"sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}")
#: a requirement as a report prints the user's roots: a name, maybe with extras (``aws-lambda-powertools[tracer]``)
_ROOT = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\[[a-z0-9-]+(?:,[a-z0-9-]+)*\])?")


def check_name(value: str, where: str) -> str:
    """``value`` if it is a normalized project name; else a :class:`RecordError`."""
    from packaging.utils import canonicalize_name

    if not _NAME.fullmatch(value) or canonicalize_name(value) != value:
        raise RecordError(f"{where}: {value[:40]!r} is not a normalized package name")
    return value


def check_version(value: str, where: str, *, exact: bool = False) -> str:
    """``value`` if it is a PEP 440 version (``exact``: spelled as ``packaging`` normalizes it, as pins are)."""
    from packaging.version import InvalidVersion, Version

    try:
        ok = bool(_VERSION_CHARS.fullmatch(value)) and (str(Version(value)) == value or not exact)
    except InvalidVersion:
        ok = False
    if not ok:
        raise RecordError(f"{where}: {value[:40]!r} is not a PEP 440 version")
    return value


def check_hash(value: str, where: str) -> str:
    """``value`` if it is ``sha256:<64 lowercase hex>`` (or sha384/sha512 at their lengths)."""
    if not _HASH.fullmatch(value):
        raise RecordError(f"{where}: {value[:40]!r} is not a sha256/sha384/sha512 digest")
    return value


def check_names(values: Iterable[str], where: str) -> None:
    for value in values:
        check_name(value, where)


def _check_packages(packages: Mapping[str, PackageRecord], graph: Mapping[str, DependencyRecord],
                    removed: Iterable[str], where: str) -> None:
    """The names and versions of a tree or a report: what ``report``, ``explain`` and ``build -v`` print."""
    for name, package in packages.items():
        check_version(package.version, f"{where}.packages.{check_name(name, where + '.packages')}")
    for name, dep in graph.items():
        check_name(name, f"{where}.graph")
        check_names(dep.requires, f"{where}.graph.{name}.requires")
        if dep.version:
            check_version(dep.version, f"{where}.graph.{name}.version")
    check_names(removed, f"{where}.stripped")


# -- the records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRecord:
    """One installed distribution of a tree."""

    version: str
    wheel_tags: tuple[str, ...] = ()
    bytes: int = 0

    @property
    def pure(self) -> bool:
        """Installed from a pure-Python wheel (``*-none-any``): the same file serves every target."""
        return bool(self.wheel_tags) and all(tag.endswith("-none-any") for tag in self.wheel_tags)


@dataclass(frozen=True)
class StripResult:
    """What stripping removed (name -> why) and which seeds a kept package pulled back (seed -> who)."""

    removed: Mapping[str, str] = field(default_factory=dict)
    kept_seeds: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SlimResult:
    """What slimming removed (per rule, in bytes) and what bytecode was written for the target."""

    files_removed: int = 0
    bytes_removed: int = 0
    by_rule: Mapping[str, int] = field(default_factory=dict)
    compiled: int = 0
    compiler: str = ""


@dataclass(frozen=True)
class Violation:
    file: str
    package: str
    problem: str


@dataclass(frozen=True)
class VerificationResult:
    """The native-code check of a tree: files looked at, native files found, what they need."""

    files_checked: int = 0
    native_files: int = 0
    max_glibc_needed: str = ""
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class DependencyRecord:
    """One package of the resolved set for the target, whether it ended in the bundle or was stripped."""

    version: str = ""
    #: the names it requires on the target (markers and requested extras evaluated)
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreeRecord:
    """An installed, stripped, slimmed and verified dependency tree (``trees/<key>/tree.json``)."""

    target: str
    packages: Mapping[str, PackageRecord] = field(default_factory=dict)
    #: who requires whom in the whole resolved set, stripped packages included (empty in trees installed
    #: before this was recorded)
    graph: Mapping[str, DependencyRecord] = field(default_factory=dict)
    stripped: StripResult = field(default_factory=StripResult)
    slimmed: SlimResult = field(default_factory=SlimResult)
    verification: VerificationResult = field(default_factory=VerificationResult)
    size_bytes: int = 0
    zipped_estimate_bytes: int = 0

    @property
    def versions(self) -> dict[str, str]:
        return {name: p.version for name, p in self.packages.items()}

    def check_loaded(self) -> None:
        _check_packages(self.packages, self.graph, self.stripped.removed, "TreeRecord")
        check_names(self.stripped.kept_seeds, "TreeRecord.stripped.kept_seeds")


@dataclass(frozen=True)
class SizeRecord:
    unzipped_bytes: int = 0
    zipped_estimate_bytes: int = 0
    layers_bytes: int = 0
    limit_bytes: int = 0


@dataclass(frozen=True)
class OutputRecord:
    """The file or folder ``cdk-native-python build`` wrote."""

    path: str
    kind: str  # "zip" | "folder"
    layer: bool = False
    entries: int = 0
    bytes: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class BuildReport:
    """The account of one bundle (``<cache>/reports/<asset hash>.json``, ``--report``).

    ``graph`` and ``roots`` answer "why is this package here?" (``cdk-native-python explain``);
    ``notices`` are what preparing and bundling said about these files (not what the store said about the run),
    shown again when CDK reuses the staged asset.
    """

    target: str
    runtime: str
    architecture: str
    glibc: str
    asset_hash: str
    packages: Mapping[str, PackageRecord] = field(default_factory=dict)
    stripped: Mapping[str, str] = field(default_factory=dict)
    kept_seeds: Mapping[str, str] = field(default_factory=dict)
    slimmed: SlimResult = field(default_factory=SlimResult)
    verification: VerificationResult = field(default_factory=VerificationResult)
    size: SizeRecord = field(default_factory=SizeRecord)
    source_files: tuple[str, ...] = ()
    #: "resolve" / "install" -> "hit" | "miss"
    cache: Mapping[str, str] = field(default_factory=dict)
    placement: str = "none"
    seconds: float = 0.0
    #: every warning said while building (preparation, bundling, the cache), as printed
    warnings: tuple[str, ...] = ()
    #: the construct path or output name, and whether it is a layer (dependencies under ``python/``)
    name: str = ""
    layer: bool = False
    #: what the user asked for directly, as written (``aws-lambda-powertools[tracer]``), sorted
    roots: tuple[str, ...] = ()
    #: the whole resolved set for the target, stripped packages included: name -> version and requirements
    graph: Mapping[str, DependencyRecord] = field(default_factory=dict)
    #: what bundling said about the bundle's files (warnings and information, with their codes)
    notices: tuple[Notice, ...] = ()
    #: what the command line wrote (``build --report``); none for a synth's report
    output: OutputRecord | None = None

    def check_loaded(self) -> None:
        _check_packages(self.packages, self.graph, self.stripped, "BuildReport")
        check_names(self.kept_seeds, "BuildReport.kept_seeds")
        for root in self.roots:
            if not _ROOT.fullmatch(root):
                raise RecordError(f"BuildReport.roots: {root[:40]!r} is not a package name")


def digest(description: object, length: int = 32) -> str:
    """A stable key (``length`` hex digits of sha256) for any JSON-serialisable description."""
    text = json.dumps(to_json(description), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# -- JSON ---------------------------------------------------------------------------------------------


def to_json(record: Any) -> Any:
    """A record (or a value inside one) as JSON-ready data; mappings keep their keys."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_json(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, Mapping):
        return {str(k): to_json(v) for k, v in record.items()}
    if isinstance(record, (tuple, list)):
        return [to_json(v) for v in record]
    if isinstance(record, PurePath):
        return str(record)
    return record


def dumps(record: Any) -> str:
    return json.dumps(to_json(record), indent=2, sort_keys=True) + "\n"


def from_json(cls: type[T], data: Any) -> T:
    """Build ``cls`` from JSON data, checking every field against its declared type."""
    return typing.cast(T, _convert(cls, data, cls.__name__))


def loads(cls: type[T], text: str) -> T:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"not JSON ({exc})") from None
    return from_json(cls, data)


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    """A record class's field types (resolving them is most of the cost of reading a report: done once)."""
    return typing.get_type_hints(kind)


_INT_LIMIT = 2**63


def _convert(kind: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object")
        hints = _hints(kind)
        unknown = set(data) - {f.name for f in dataclasses.fields(kind)}
        if unknown:
            raise RecordError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(kind):
            if f.name in data:
                values[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where}: {f.name} is missing")
        record = kind(**values)
        check = getattr(record, "check_loaded", None)
        if check is not None:
            check()  # what the fields' types cannot say (names, versions, digests): see check_name & co.
        return record
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                return _convert(option, data, where)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(data, list):
            raise RecordError(f"{where}: expected a list")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin in (dict, Mapping):
        _, value = typing.get_args(kind)
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object")
        return {str(k): _convert(value, v, f"{where}.{k}") for k, v in data.items()}
    if origin is Literal:
        if data in typing.get_args(kind):
            return data
        raise RecordError(f"{where}: expected one of {', '.join(map(repr, typing.get_args(kind)))}")
    if type(data) is int and not -_INT_LIMIT < data < _INT_LIMIT:
        raise RecordError(f"{where}: a number out of range")  # sizes and times fit in 64 bits
    if kind is float and isinstance(data, (int, float)) and not isinstance(data, bool):
        return float(data)
    if kind in (str, int, bool) and type(data) is kind:
        return data
    if kind is Path and type(data) is str:  # a request's folders (``prefetch``); no store record holds one
        return Path(data)
    raise RecordError(f"{where}: expected {getattr(kind, '__name__', kind)}, found {type(data).__name__}")
