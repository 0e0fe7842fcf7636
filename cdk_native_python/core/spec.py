"""``DependencySpec``: what the user asked for, independent of the file format it came from.

Every reader in :mod:`cdk_native_python.inputs` produces one. It is either *open* (requirements to be
resolved for the target) or *locked* (an exact set from a lock file, installed as-is; each line's
marker is still evaluated for the target by the installer, never for the host).

Readers do not know the target. What only the target can decide is carried as data and decided by
:meth:`DependencySpec.for_target` before resolution: a lock's *unpinned* entries (pipenv writes
``"version": "*"`` for a package whose marker was false on the machine that locked).

Credentials never travel inside a requirement line: a URL's ``user:password@`` is split off into
:class:`Credential` records, which reach uv only through a private netrc at run time (``uv.run``) and
are left out of ``repr()``, keys, locks and messages.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.requirements import Requirement

from .reporter import Notice

if TYPE_CHECKING:
    from .target import Target

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Remove ``user:password@`` from every URL in ``text`` (for logs, messages and cache keys)."""
    return _CREDENTIALS.sub("", text)


def strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Credential:
    """A user and password for one host, as netrc holds them (netrc matches host names, not ports)."""

    host: str
    username: str = field(repr=False)
    password: str = field(repr=False)


def split_credentials(url: str) -> tuple[str, Credential | None]:
    """``https://user:pw@host/x`` -> (``https://host/x``, the credential); URLs without one pass through."""
    parts = urlsplit(url)
    if (parts.username is None and parts.password is None) or not parts.hostname:
        return url, None
    return strip_credentials(url), Credential(parts.hostname, unquote(parts.username or ""),
                                              unquote(parts.password or ""))


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from. URLs may carry credentials; never print or hash them raw."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def merged(self, other: IndexOptions) -> IndexOptions:
        """``other`` (e.g. the construct's bundling options) wins for the primary index."""
        return IndexOptions(
            index_url=other.index_url or self.index_url,
            extra_index_urls=_unique(self.extra_index_urls + other.extra_index_urls),
            find_links=_unique(self.find_links + other.find_links),
            no_index=self.no_index or other.no_index,
        )

    def uv_args(self) -> list[str]:
        """uv's flags for these sources, without credentials: a command line is visible to every local user
        (``ps``) while it runs, so credentials go to uv through a private netrc (:meth:`credentials`)."""
        args: list[str] = []
        if self.no_index:
            args.append("--no-index")
        if self.index_url:
            args += ["--index-url", strip_credentials(self.index_url)]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", strip_credentials(url)]
        for link in self.find_links:
            args += ["--find-links", strip_credentials(link)]
        return args

    def credentials(self) -> tuple[Credential, ...]:
        """The credentials written in these URLs (``https://user:token@host/...``), one per URL that has them."""
        found = (split_credentials(u)[1] for u in (self.index_url or "", *self.extra_index_urls, *self.find_links))
        return tuple(c for c in found if c is not None)

    def key(self) -> dict[str, object]:
        """A credential-free description, for cache keys."""
        return {
            "index_url": strip_credentials(self.index_url) if self.index_url else None,
            "extra_index_urls": [strip_credentials(u) for u in self.extra_index_urls],
            "find_links": [strip_credentials(u) for u in self.find_links],
            "no_index": self.no_index,
        }

    def describe(self) -> str:
        urls = ([self.index_url] if self.index_url else ["https://pypi.org/simple"]) if not self.no_index else []
        urls += list(self.extra_index_urls) + list(self.find_links)
        return ", ".join(strip_credentials(u) for u in urls) or "(no index)"


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class DependencySpec:
    """Requirements in pip's requirements-file syntax, one requirement per entry.

    ``requirements`` entries are PEP 508 strings (``name[extra]>=1; marker``), direct references
    (``name @ file:///abs/path``) or pins with hashes (``name==1.0 ; marker --hash=sha256:...``).
    ``locked=True`` means the set is complete and pinned: it is installed without resolution.
    """

    source: Path
    requirements: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    indexes: IndexOptions = field(default_factory=IndexOptions)
    locked: bool = False
    #: the format the spec was read from ("requirements.txt", "Pipfile.lock", ...), for reports
    kind: str = "requirements.txt"
    #: content fingerprints of local path dependencies, so editing one invalidates the caches
    path_fingerprints: tuple[str, ...] = ()
    #: the names the user asked for directly, when the format tells them apart from transitive pins
    #: (a lock's root project); ``None``: every requirement is one the user asked for
    roots: tuple[str, ...] | None = None
    #: requirements a lock leaves unpinned (PEP 508, markers kept): decided by :meth:`for_target`, and
    #: those that hold resolved for the target with the locked pins as constraints
    unpinned: tuple[str, ...] = ()
    #: credentials split off the requirements' URLs, for the resolver and installer only (never keyed)
    credentials: tuple[Credential, ...] = field(default=(), repr=False)
    #: what the user should know about how the spec was read (emitted by the caller, never keyed)
    notices: tuple[Notice, ...] = ()
    #: PEP 508 requirements the user declared for the roots (specifiers, markers), when a lock keeps them
    #: apart from its pins (the manifest beside it); an open spec's requirements are the user's own
    requested: tuple[str, ...] = ()

    def user_requirements(self) -> tuple[str, ...]:
        """What the user wrote: the manifest's requirements for a lock, the requirements (and constraints)
        of an open spec. Stripping checks the runtime's packages against these rather than against a lock's
        pins (see ``strip._user_lines`` for a lock without its manifest)."""
        if self.requested or self.locked:  # a lock (or a hashed requirements file) read with its manifest
            return self.requested
        return (*self.requirements, *self.constraints)

    def requirements_text(self) -> str:
        return "".join(line + "\n" for line in self.requirements)

    def constraints_text(self) -> str:
        return "".join(line + "\n" for line in self.constraints)

    def key(self) -> dict[str, object]:
        """Everything that decides the result, credential-free (for the resolution cache key)."""
        return {
            "requirements": [redact(r) for r in self.requirements],
            "constraints": [redact(c) for c in self.constraints],
            "indexes": self.indexes.key(),
            "locked": self.locked,
            "paths": list(self.path_fingerprints),
            "roots": None if self.roots is None else sorted(self.roots),
            "unpinned": [redact(u) for u in self.unpinned],
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()

    @property
    def empty(self) -> bool:
        """Nothing to install (a source-only bundle)."""
        return not (self.requirements or self.unpinned)

    def for_target(self, target: Target) -> DependencySpec:
        """The spec as ``target`` needs it: unpinned entries whose marker is false for it are dropped; each
        one that holds stays, to be resolved, with a warning (the lock does not pin what this bundle gets)."""
        if not self.unpinned:
            return self
        kept = [line for line in self.unpinned if target.evaluate(Requirement(line).marker)]
        notices = [Notice("lock-unpinned",
                          f"{self.source} does not pin {Requirement(line).name} (\"version\": \"*\": the lock "
                          f"was made where its marker is false), so it is resolved for {target.runtime} "
                          f"{target.lambda_architecture}, constrained by the lock's pins; to pin it, lock where its "
                          f"marker holds (Linux {target.machine}, Python {target.python_version})")
                   for line in kept]
        return replace(self, unpinned=tuple(kept), notices=(*self.notices, *notices))
