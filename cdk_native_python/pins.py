"""The pinned set: the exact, hashed requirements one target installs, and the text operations on it.

A :class:`Resolution` is what the resolve step hands to the install step (and what the store keeps under
``resolutions/<key>/``): ``pins.txt`` in pip's requirements syntax (``name==1.0 ; marker --hash=...``),
and ``resolution.json`` with who requires whom (from the resolver's annotations) and the user's roots.

Pins never hold a path of this machine: wheels built from local packages are referenced as
``{store}/wheels/<key>/<file>`` and made absolute only in the file handed to the installer, so a
resolution is the same text in every checkout and every cache, and can be shared through a remote store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .distributions import normalize
from .records import RecordError, loads

PINS_FILE = "pins.txt"
RECORD_FILE = "resolution.json"
#: stands for the store's root in pins; replaced by the real path only when installing
STORE_PLACEHOLDER = "{store}"


@dataclass(frozen=True)
class ResolutionRecord:
    """``resolution.json``: the parts of a resolution that are not pins."""

    #: name -> names that require it on the target (None: the pins came from a lock file as they are)
    required_by: Mapping[str, tuple[str, ...]] | None = None
    #: the names the user asked for directly (kept when stripping)
    roots: tuple[str, ...] = ()
    #: store-relative folders of wheels built here (allowed sdists), searched when installing
    find_links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """The pinned set for one target: ``pins`` text plus its record, as found in the store."""

    key: str
    pins: str
    record: ResolutionRecord = field(default_factory=ResolutionRecord)

    @classmethod
    def load(cls, key: str, entry: Path) -> Resolution:
        """Read an entry; a damaged one raises ``records.RecordError`` (the store quarantines it)."""
        pins = (entry / PINS_FILE).read_text(encoding="utf-8")
        names = check_pins(pins)
        record = loads(ResolutionRecord, (entry / RECORD_FILE).read_text(encoding="utf-8"))
        if record.required_by is not None and set(record.required_by) != names:
            raise RecordError(f"{PINS_FILE} and {RECORD_FILE} name different packages")
        return cls(key, pins, record)

    @property
    def roots(self) -> tuple[str, ...]:
        return self.record.roots

    @property
    def graph(self) -> dict[str, set[str]] | None:
        """``name -> names it requires`` on the target, when the resolver recorded it."""
        if self.record.required_by is None:
            return None
        edges: dict[str, set[str]] = {name: set() for name in self.record.required_by}
        for dep, users in self.record.required_by.items():
            for user in users:
                if user in edges:
                    edges[user].add(dep)
        return edges


def with_store(text: str, root: Path) -> str:
    """``text`` with the store placeholder replaced by this machine's store (in URIs and in plain paths)."""
    return text.replace(f"file://{STORE_PLACEHOLDER}", root.as_uri()).replace(STORE_PLACEHOLDER, str(root))


def portable(text: str, root: Path) -> str:
    """The inverse of :func:`with_store`: no path of this machine's store left in ``text``."""
    return text.replace(root.as_uri(), f"file://{STORE_PLACEHOLDER}").replace(str(root), STORE_PLACEHOLDER)


_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==|@)")
_OPTION = re.compile(r"\s--hash=[a-z0-9]+:[0-9a-fA-F]+")


def check_pins(text: str) -> set[str]:
    """Every line of stored pins is a pinned requirement (``name==1.0``, ``name @ url``) with hashes: a damaged
    file is a :class:`~cdk_native_python.records.RecordError`, never a resolver error blaming the user's pins.
    Returns the pinned names."""
    names: set[str] = set()
    for number, line in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        body = _OPTION.sub("", " " + line).strip()
        try:
            Requirement(body)
        except InvalidRequirement:
            raise RecordError(f"{PINS_FILE} line {number} is not a pinned requirement") from None
        pinned = _PINNED.match(body)
        if not pinned:
            raise RecordError(f"{PINS_FILE} line {number} is not pinned")
        names.add(normalize(pinned.group(1)))
    return names
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_VERSION = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")
#: a requirement line's hash option, its value captured
HASH_OPTION = re.compile(r"--hash=(\S+)")


def name_of(line: str) -> str | None:
    """The normalized project name a requirement line starts with (``None`` for paths and options)."""
    m = _NAME.match(line)
    return normalize(m.group(1)) if m and not line.lstrip().startswith(("-", "/", ".")) else None


def roots_of(requirements: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({n for n in map(name_of, requirements) if n}))


def split_annotations(text: str) -> tuple[str, dict[str, tuple[str, ...]]]:
    """uv's annotated output → (the pins without comments, ``name -> names that require it``).

    ``# via -r requirements.in`` (a root) and ``-c`` constraints are not packages and are dropped.
    """
    lines: list[str] = []
    required_by: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            via = stripped.lstrip("#").strip()
            via = via[len("via"):].strip() if via.startswith("via") else via
            for user in filter(None, (u.strip() for u in via.split(","))):
                if current and not user.startswith("-"):
                    required_by[current].append(normalize(user.split("[")[0]))
            continue
        m = _PINNED.match(line)
        if m:
            current = normalize(m.group(1))
            required_by.setdefault(current, [])
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else ""), {k: tuple(v) for k, v in required_by.items()}


def without(text: str, names: Iterable[str]) -> str:
    """The pins minus the requirement blocks (a pin and its indented ``--hash`` lines) of ``names``."""
    drop = {normalize(n) for n in names}
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line and not line[0].isspace():
            m = _PINNED.match(line)
            skipping = m is not None and normalize(m.group(1)) in drop
        if not skipping:
            out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def pinned_versions(text: str) -> dict[str, str]:
    """name -> version of every ``name==version`` pin (a wheel referenced by path has no version here)."""
    found = (_VERSION.match(line) for line in text.splitlines())
    return {normalize(m.group(1)): m.group(2) for m in found if m}


def count_requirements(text: str) -> int:
    """Requirement lines (not comments, not continuation lines such as ``--hash=...``)."""
    return sum(1 for line in text.splitlines() if line.strip() and not line[0].isspace()
               and not line.lstrip().startswith("#"))


def has_requirements(text: str) -> bool:
    return count_requirements(text) > 0


def user_hashes(lines: Sequence[str]) -> dict[str, list[str]]:
    """name -> the ``--hash`` values the user pinned for it."""
    pinned: dict[str, list[str]] = {}
    for line in lines:
        hashes = HASH_OPTION.findall(line)
        name = name_of(line)
        if hashes and name:
            pinned.setdefault(name, []).extend(hashes)
    return pinned


def apply_user_hashes(pins: str, pinned: Mapping[str, Sequence[str]]) -> str:
    """Pin the user's own ``--hash`` values in place of the resolver's.

    ``uv pip compile --generate-hashes`` writes the hashes the index *currently* serves; a user who
    pinned hashes wants the opposite check (the file must be the one they recorded), so their hashes
    replace the generated ones and the installer rejects any other file as a hash mismatch.
    """
    if not pinned:
        return pins
    out: list[str] = []
    for entry in pins.replace("\\\n", " ").splitlines():
        name = name_of(entry) or ""
        if name in pinned and not entry.lstrip().startswith("#"):
            head = HASH_OPTION.sub("", entry).rstrip()
            entry = " ".join([head, *(f"--hash={h}" for h in pinned[name])])
        out.append(entry)
    return "\n".join(out) + "\n"
