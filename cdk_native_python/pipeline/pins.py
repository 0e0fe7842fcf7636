"""The pinned set: the exact, hashed requirements one target installs, as a typed record, and the text
operations on what uv writes.

A :class:`Resolution` is what the resolve step hands to the install step, and what the store keeps under
``resolutions/<key>/resolution.json``: one :class:`Pin` per package (name, version, hashes; or a wheel built
into our own ``wheels/`` store, or a direct URL the user's own file names), who requires whom (from the
resolver's annotations) and the user's roots.

Records are data, never a program. What uv reads (``pins.txt``) is rendered from the typed record at the
moment of use (:meth:`Resolution.for_installer`), in one grammar and nothing else::

    name==version --hash=sha256:<64 hex> ...
    name @ file://<this machine's store>/wheels/<key>/<file>.whl --hash=...
    name @ <a URL the user's requirements name, exactly>  --hash=...

A record read back from the store (local, or a remote a bucket writer controls) is checked field by field
(:meth:`Resolution.load`): a name that is not a normalized PEP 503 name, a version that is not a normalized
PEP 440 version, a digest that is not lowercase hex of its algorithm's length, a wheel that is not
``wheels/<32 hex>/<wheel file name>``, a URL the spec does not name: each makes the entry corrupt (quarantined
locally, a miss from the remote). Comments, ``\\`` continuations, options (``-e``, ``--index-url``),
``$VARIABLES`` and other URLs cannot be written in the grammar at all.

Pins never hold a path of this machine: wheels built from local packages are store-relative, so a
resolution is the same record in every checkout and every cache, and can be shared through a remote store.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from ..core.distributions import normalize
from ..core.errors import ResolutionError
from ..core.records import RecordError, check_hash, check_name, check_names, check_version, loads
from ..core.target import Target
from ..store import manifest

RECORD_FILE = "resolution.json"
#: the file rendered for uv in a scratch folder (never stored)
PINS_FILE = "pins.txt"
#: stands for the store's root in requirements built here (``name @ file://{store}/wheels/...``); replaced by the
#: real path only in what uv reads
STORE_PLACEHOLDER = "{store}"

#: a wheel built here, store-relative: ``wheels/<key>/<name>-<version>(-<build>)?-<py>-<abi>-<platform>.whl``
_WHEEL = re.compile(r"wheels/[0-9a-f]{32}/[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.+!]+){4,5}\.whl")
#: a folder of wheels built here (allowed sdists), searched when installing
_WHEEL_FOLDER = re.compile(r"wheels/[0-9a-f]{32}")
#: what a direct URL the user wrote may be rendered with: no whitespace, quotes, ``$``, ``\``, ``;``; a fragment last
_URL = re.compile(r"(?:https?|file)://[A-Za-z0-9._~:/?&=%+,@-]+(?:#[A-Za-z0-9=_.&-]*)?")


@dataclass(frozen=True)
class Pin:
    """One package the target installs: exactly one of ``version`` (from the index), ``wheel`` (built here, in
    the store) or ``url`` (a direct reference the user's own requirements name)."""

    name: str
    version: str = ""
    #: ``sha256:<hex>`` (or sha384/sha512): the files the installer accepts
    hashes: tuple[str, ...] = ()
    #: store-relative ``wheels/<key>/<file>.whl``
    wheel: str = ""
    url: str = ""

    def check(self, urls: Collection[str], where: str) -> None:
        """A :class:`RecordError` unless every field is in the grammar (``urls``: those the spec names)."""
        check_name(self.name, where)
        where = f"{where} {self.name}"
        for h in self.hashes:
            check_hash(h, where)
        if sum(map(bool, (self.version, self.wheel, self.url))) != 1:
            raise RecordError(f"{where}: a pin has exactly one of a version, a wheel of the store or a URL")
        if self.version:
            check_version(self.version, where, exact=True)
        if self.wheel and not _WHEEL.fullmatch(self.wheel):
            raise RecordError(f"{where}: {self.wheel[:60]!r} is not a wheel of this store")
        if self.url and (self.url not in urls or not _URL.fullmatch(self.url)):
            raise RecordError(f"{where}: {self.url[:60]!r} is not a URL the requirements name")

    def line(self, store_uri: str) -> str:
        """The requirement uv reads, in the one grammar (the record was checked: nothing here needs quoting)."""
        if self.version:
            head = f"{self.name}=={self.version}"
        elif self.wheel:
            head = f"{self.name} @ {store_uri}/{self.wheel}"
        else:
            head = f"{self.name} @ {self.url}"
        return " ".join([head, *(f"--hash={h}" for h in self.hashes)])


@dataclass(frozen=True)
class ResolutionRecord:
    """``resolution.json``: the pinned set of one target and what the resolver said about it."""

    pins: tuple[Pin, ...] = ()
    #: name -> names that require it on the target (None: the pins came from a lock file as they are)
    required_by: Mapping[str, tuple[str, ...]] | None = None
    #: the names the user asked for directly (kept when stripping)
    roots: tuple[str, ...] = ()
    #: store-relative folders of wheels built here (allowed sdists, ``wheels/<key>``), searched when installing
    find_links: tuple[str, ...] = ()

    def check(self, urls: Collection[str]) -> None:
        """Every field in its grammar (see the module's docstring), or a :class:`RecordError`."""
        where = RECORD_FILE
        for pin in self.pins:
            pin.check(urls, f"{where}: pin")
        names = [p.name for p in self.pins]
        if len(set(names)) != len(names):
            raise RecordError(f"{where}: a package is pinned twice")
        check_names(self.roots, f"{where}: roots")
        for folder in self.find_links:
            if not _WHEEL_FOLDER.fullmatch(folder):
                raise RecordError(f"{where}: find_links {folder[:60]!r} is not a folder of this store")
        if self.required_by is not None:
            for name, users in self.required_by.items():
                check_name(name, f"{where}: required_by")
                check_names(users, f"{where}: required_by {name}")
            if set(self.required_by) != set(names):
                raise RecordError(f"{where}: the pins and required_by name different packages")


@dataclass(frozen=True)
class Resolution:
    """The pinned set for one target, as found in the store."""

    key: str
    record: ResolutionRecord = field(default_factory=ResolutionRecord)

    @classmethod
    def load(cls, key: str, entry: Path, urls: Collection[str] = ()) -> Resolution:
        """Read and check an entry; a damaged one raises ``records.RecordError`` (the store quarantines it, a
        remote entry is a miss). ``urls``: the direct URLs the spec names, the only ones a pin may hold."""
        others = sorted(p.name for p in entry.iterdir() if p.name not in (RECORD_FILE, manifest.NAME))
        if others:  # e.g. a folder planted for an editable install: nothing here but the record
            raise RecordError(f"the entry holds {others[0][:40]!r} besides {RECORD_FILE}")
        record = loads(ResolutionRecord, (entry / RECORD_FILE).read_text(encoding="utf-8"))
        record.check(urls)
        return cls(key, record)

    @property
    def pins(self) -> str:
        """The pins as text with the store's placeholder: the same on every machine (keys, the asset hash)."""
        return self.render(f"file://{STORE_PLACEHOLDER}")

    @property
    def roots(self) -> tuple[str, ...]:
        return self.record.roots

    @property
    def versions(self) -> dict[str, str]:
        """name -> version of every pin from an index (a wheel referenced by path has no version here)."""
        return {p.name: p.version for p in self.record.pins if p.version}

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

    def without(self, names: Iterable[str]) -> Resolution:
        """This set minus the pins of ``names``."""
        drop = {normalize(n) for n in names}
        return replace(self, record=replace(self.record, pins=tuple(p for p in self.record.pins if p.name not in drop)))

    def render(self, store_uri: str) -> str:
        """The requirements file uv reads (``-r``), rendered from the record (``store_uri``: the store's root)."""
        return "".join(pin.line(store_uri) + "\n" for pin in self.record.pins)

    def for_installer(self, store_root: Path) -> str:
        """The pins with this machine's store path for the wheels built here."""
        return self.render(store_root.as_uri())


def spec_urls(lines: Iterable[str]) -> dict[str, str]:
    """name -> the direct URL a requirement line names (``name @ URL``), wheels of the store left out: the only
    URLs a stored pin may hold."""
    found: dict[str, str] = {}
    for line in lines:
        try:
            req = Requirement(_HASH_OPTION_ANY.sub("", line))
        except InvalidRequirement:
            continue
        if req.url and not req.url.startswith(f"file://{STORE_PLACEHOLDER}/"):
            found[normalize(req.name)] = req.url
    return found


def parse_pins(text: str, target: Target, urls: Mapping[str, str], source: Path) -> tuple[Pin, ...]:
    """uv's pins, or a lock's, as typed pins for ``target`` (a line whose marker is false for it is left out).
    Called on what was made here, from the user's inputs; a line outside the grammar is the user's to fix."""
    pins: list[Pin] = []
    for line in text.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        hashes = tuple(h.lower() for h in HASH_OPTION.findall(line))
        body = HASH_OPTION.sub("", line).strip()
        try:
            req = Requirement(body)
            pin = _pin(req, hashes, urls)
        except (InvalidRequirement, InvalidVersion, RecordError) as exc:
            raise ResolutionError(
                f"{source}: {body[:80]!r} cannot be installed as a pin ({exc})",
                "pin it as name==version with sha256 hashes, or as name @ URL of a wheel",
                code="pin-unsupported") from None
        if target.evaluate(req.marker):
            pins.append(pin)
    return tuple(pins)


def _pin(req: Requirement, hashes: tuple[str, ...], urls: Mapping[str, str]) -> Pin:
    name = normalize(req.name)
    store = f"file://{STORE_PLACEHOLDER}/"
    if req.url and req.url.startswith(store):
        pin = Pin(name, hashes=hashes, wheel=req.url[len(store):])
    elif req.url:
        pin = Pin(name, hashes=hashes, url=urls.get(name, req.url))
    else:
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            raise RecordError("not pinned to one version")
        pin = Pin(name, str(Version(specs[0].version)), hashes)
    pin.check(urls.values(), "pin")
    return pin


def with_store(text: str, root: Path) -> str:
    """``text`` (the user's requirements, built here) with the store placeholder replaced by this machine's store."""
    return text.replace(f"file://{STORE_PLACEHOLDER}", root.as_uri()).replace(STORE_PLACEHOLDER, str(root))


def portable(text: str, root: Path) -> str:
    """The inverse of :func:`with_store`: no path of this machine's store left in ``text`` (uv's output)."""
    return text.replace(root.as_uri(), f"file://{STORE_PLACEHOLDER}").replace(str(root), STORE_PLACEHOLDER)


_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==|@)")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
#: a requirement line's hash option, its value captured
HASH_OPTION = re.compile(r"--hash=(\S+)")
_HASH_OPTION_ANY = re.compile(r"\s*--hash=\S+")


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
