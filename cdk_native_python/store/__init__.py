"""The store under the pipeline: content-addressed entries that steps get, or create and publish.

The engine talks to one small interface, :class:`Store`:

* :meth:`Store.get_or_create` returns a complete entry for ``(kind, key)``: found locally (after its
  fingerprint and record were checked), fetched from the remote tier (after its digest and the step's
  admission check), or built now in a scratch folder and published atomically;
* :meth:`Store.scratch` gives a private temporary folder that is removed afterwards and that no other
  process deletes while this one holds it;
* :meth:`Store.write_record` writes a small file (a build report) atomically.

:class:`~cdk_native_python.store.local.LocalStore` is the implementation; the S3 tier
(:mod:`~cdk_native_python.store.remote`) sits behind it, consulted on a local miss and written after a
local build. A new backend is another ``RemoteTier`` (``fetch``/``push``) plugged into the local store.

Kinds of entries: ``resolutions`` (a pinned, hashed requirements file and who requires what),
``trees`` (an installed, verified dependency tree and its record), ``wheels`` (wheels built from the
user's local packages or allowed sdists).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..core.errors import CacheError

#: fills an empty folder with a new entry's files
Build = Callable[[Path], None]
#: raises (e.g. ``records.RecordError``, ``errors.VerificationError``) when an entry must not be used
Check = Callable[[Path], object]

Origin = Literal["local", "remote", "built"]


@dataclass(frozen=True)
class Entry:
    """A complete entry of the store."""

    kind: str
    key: str
    path: Path
    origin: Origin

    @property
    def hit(self) -> bool:
        """Found (locally or in the remote tier) rather than built by this call."""
        return self.origin != "built"


class CorruptEntry(Exception):
    """An entry's files do not match what was published (raised by checks; never reaches the user)."""


class RemoteTier(Protocol):
    """A shared tier behind the local store (e.g. S3): never raises, warns and answers "miss" instead."""

    def fetch(self, kind: str, key: str, dest: Path) -> bool: ...

    def push(self, kind: str, key: str, src: Path) -> None: ...


class Store(Protocol):
    @property
    def root(self) -> Path: ...

    def get_or_create(self, kind: str, key: str, build: Build, *, check: Check | None = None,
                      admit: Check | None = None, refresh: bool = False) -> Entry:
        """The entry for ``(kind, key)``.

        ``check`` runs on every reuse (cheap: parse the entry's record); ``admit`` runs on an entry that
        comes from outside this machine (the remote tier) before it is published locally (e.g. the
        native-code verification of an installed tree). ``refresh`` builds anew even when an entry exists.
        """
        ...

    def scratch(self, label: str) -> AbstractContextManager[Path]: ...

    def trash(self) -> AbstractContextManager[Path]:
        """A folder to move unwanted files into; emptied in the background afterwards."""
        ...

    def write_report(self, asset_hash: str, text: str) -> Path | None:
        """Keep the report of the bundle ``asset_hash`` (atomic, not fsynced: a report is nice to have);
        ``None`` when it could not be written."""
        ...

    def report_path(self, asset_hash: str) -> Path:
        """Where the report of the bundle ``asset_hash`` is kept (it may not exist)."""
        ...

    def full(self, doing: str) -> CacheError:
        """The error for a disk that filled up while ``doing`` something in the store."""
        ...

    @property
    def uv_cache(self) -> Path:
        """uv's own cache of downloaded wheels (shared by every build using this store)."""
        ...


__all__ = ["Build", "Check", "CorruptEntry", "Entry", "Origin", "RemoteTier",
           "Store"]
