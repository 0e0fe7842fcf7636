"""The local store: a private, content-addressed folder shared by concurrent processes and containers.

Layout under the root (``$CDK_NATIVE_PYTHON_CACHE_DIR`` or the user cache directory)::

    resolutions/<key>/  trees/<key>/  wheels/<key>/   entries: complete or absent, files read-only,
                                                      manifest.json written last
    reports/<asset hash>.json                         build reports
    uv/                                               uv's download cache
    tmp/                                              scratch folders, each held by an flock while used
    mutex/<kind>-<key>                                per-key flock files: one builder per key
    quarantine/                                       entries that changed after publishing, kept for a look
    CACHEDIR.TAG                                      the standard cache tag: this folder is ours

Trust rules:

* The root must belong to the current user and be writable by nobody else; otherwise another local user
  could plant an entry that our next bundle ships. A root that fails this, or cannot be written, is
  replaced for the run by a fresh private folder (``mkdtemp``), with a one-line warning.
* An entry is built in a scratch folder, sealed (files read-only, manifest) and published with one
  atomic rename, so a killed process never leaves an entry that a later run trusts.
* Before every reuse the manifest's fingerprint is compared with the files (one ``lstat`` each) and
  the step's record is parsed; an entry that fails is moved to ``quarantine/`` with a warning, and built
  again.
* Maintenance (``cache info/prune/verify`` and the cleanup at every start) touches only a root that carries
  our ``CACHEDIR.TAG`` (https://bford.info/cachedir/: backup tools skip the folder too). The tag is written,
  atomically and before anything else, into a root that is missing or empty; a root from a version before
  the tag is adopted only when it holds nothing but our layout (:func:`ownership_problem`). Any other root
  (``--cache-dir ~``) is never written to nor cleaned: a build falls back to a private temporary cache with
  a warning, the ``cache`` command refuses (both ``cache-not-ours``).
* A scratch folder is alive while its owner holds an ``flock`` on it; the kernel drops the lock when the
  owner dies, in whatever PID namespace or container it ran. Only unlocked scratch folders are removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core import settings
from ..core._fs import atomic_write, delete, held_tempdir, remove_dead, tmp_prefix
from ..core.errors import CacheError, ConfigurationError, excerpt
from ..core.records import RecordError
from ..core.reporter import Reporter
from . import Build, Check, CorruptEntry, Entry, RemoteTier, manifest
from .backends import open_remote

ENV_VAR = settings.CACHE_DIR.name
KINDS = ("resolutions", "trees", "wheels")
#: the folder of build reports, ``<asset hash>.json`` (only the store knows it: callers use ``report_path``)
REPORTS = "reports"
#: the standard cache directory tag (https://bford.info/cachedir/), naming us on its comment line
TAG_NAME = "CACHEDIR.TAG"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
TAG = (f"{TAG_SIGNATURE}\n# This file is a cache directory tag created by cdk-native-python.\n"
       "# For information about cache directory tags, see https://bford.info/cachedir/\n")
#: every name the store puts at the top of its root (a root from before the tag holds only these)
LAYOUT = (*KINDS, REPORTS, "uv", "deflated", "tmp", "mutex", "quarantine")
_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_MUTEX = re.compile(rf"^(?:{'|'.join(KINDS)})-[0-9a-f]{{16,128}}$")
#: a scratch folder is locked microseconds after it is made: one without its lock this old was never locked
_LOCKLESS_SECONDS = 60
#: quarantined entries are kept this long for a look, then removed by the next start
QUARANTINE_SECONDS = 7 * 86400


def default_root() -> Path:
    """``$CDK_NATIVE_PYTHON_CACHE_DIR``, else the platform's user cache directory."""
    configured = settings.CACHE_DIR.path()
    if configured is not None:
        return configured
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cdk-native-python"


def private_problem(root: Path) -> str | None:
    """Why ``root`` is not a folder only the current user controls (``None``: it is)."""
    if not hasattr(os, "getuid"):
        return None  # no POSIX ownership to check (Windows)
    try:
        st = os.lstat(root)
    except OSError as exc:
        return str(exc.strerror or exc)
    if not os.path.isdir(root) or os.path.islink(root):
        return "it is not a folder" if not os.path.islink(root) else "it is a symbolic link"
    if st.st_uid != os.getuid():
        return f"it belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    if st.st_mode & 0o022:
        who = " and ".join(w for w, bit in (("its group", 0o020), ("other users", 0o002)) if st.st_mode & bit)
        return f"{who} can write to it (mode {oct(st.st_mode & 0o777)})"
    return None


def _writable_problem(root: Path) -> str | None:
    try:
        for sub in ("tmp", "mutex"):
            (root / sub).mkdir(exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix="probe-", dir=root / "tmp")
        try:
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
            # another process starting on this cache may have cleaned tmp/ meanwhile (a file is never held)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(probe)
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


@dataclass(frozen=True)
class EntryInfo:
    """An entry as ``cache info``/``prune`` see it."""

    kind: str
    key: str
    path: Path
    bytes: int
    last_used: float
    #: what the entry holds (empty when its manifest could not be read)
    sealed: manifest.Manifest


class LocalStore:
    """The :class:`~cdk_native_python.store.Store` on this machine (with an optional remote tier behind it)."""

    def __init__(self, root: Path | None = None, *, remote: RemoteTier | None = None,
                 reporter: Reporter | None = None, fallback: bool = True) -> None:
        self.reporter = reporter or Reporter()
        self.remote = remote
        configured = (root or default_root()).absolute()
        #: the configured root when it could not be used and a private temporary one serves this run
        self.fallback_from: Path | None = None
        self._root = configured
        try:
            problem = self._prepare(configured)
        except _NotOurs:
            if not fallback:
                # a usage error (the CLI's exit code 2): the folder given is the wrong one
                raise ConfigurationError(f"{configured} is not a cdk-native-python cache (no {TAG_NAME}) and is "
                                         "not empty: refusing to touch it", _NOT_OURS_FIX,
                                         code="cache-not-ours") from None
            self._fall_back(configured)
            self.reporter.warn("cache-not-ours", f"{configured} is not a cdk-native-python cache (no {TAG_NAME}) "
                               "and is not empty: nothing there is written or cleaned; using a private temporary "
                               f"cache for this run. {_NOT_OURS_FIX[0].upper()}{_NOT_OURS_FIX[1:]}, to keep builds "
                               "warm")
        else:
            if problem is not None:
                if not fallback:
                    raise CacheError(f"cache directory {configured} cannot be used: {problem}",
                                     f"fix it (chmod go-w, chown, free space) or point {ENV_VAR} at a private "
                                     "directory", code="cache-unusable")
                self._fall_back(configured)
                self.reporter.warn("cache-fallback", f"cache directory {configured} cannot be used ({problem}); "
                                   f"using a private temporary cache for this run. Fix it or set {ENV_VAR} "
                                   "to a directory only you can write, to keep builds warm")
        self._clean()

    def _fall_back(self, configured: Path) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="cdk-native-python-")).absolute()
        self.fallback_from = configured
        self._prepare(self._root)

    @staticmethod
    def _prepare(root: Path) -> str | None:
        """Create or claim ``root``; why it cannot be used (``None``: it can). A root that is not ours raises
        :class:`_NotOurs` before anything is written in it."""
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            return str(exc.strerror or exc)
        problem = private_problem(root)
        if problem is not None:
            return problem
        try:
            claim(root)
        except OSError as exc:
            return str(exc.strerror or exc)
        return _writable_problem(root)

    # -- the Store interface ------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self._root

    @property
    def uv_cache(self) -> Path:
        return self._root / "uv"

    def path(self, kind: str, key: str) -> Path:
        return self._root / kind / key

    def get_or_create(self, kind: str, key: str, build: Build, *, check: Check | None = None,
                      admit: Check | None = None, refresh: bool = False) -> Entry:
        if not refresh and (found := self._get(kind, key, check)) is not None:
            return found
        with self.mutex(kind, key):
            if refresh:
                self._remove(kind, key)
            elif (found := self._get(kind, key, check)) is not None:
                return found  # another process published it while we waited
            if self.remote is not None and not refresh and (fetched := self._fetch(kind, key, check, admit)):
                return fetched
            return Entry(kind, key, self._publish(kind, key, build), "built")

    def scratch(self, label: str) -> contextlib.AbstractContextManager[Path]:
        """A private folder under ``tmp/``, held (flock) while in use and removed afterwards."""
        return held_tempdir(self._root / "tmp", f"{label}-")

    def trash(self) -> contextlib.AbstractContextManager[Path]:
        """A folder to move unwanted files into with one rename each; emptied by a detached ``rm`` so the
        deletion (botocore: 2,000+ files) is off the critical path."""
        return held_tempdir(self._root / "tmp", "trash-", background=True)

    @property
    def reports_dir(self) -> Path:
        return self._root / REPORTS

    def report_path(self, asset_hash: str) -> Path:
        return self.reports_dir / f"{asset_hash}.json"

    def write_report(self, asset_hash: str, text: str) -> Path | None:
        return self.write_record(REPORTS, f"{asset_hash}.json", text)

    def write_record(self, kind: str, name: str, text: str) -> Path | None:
        """Replace ``<root>/<kind>/<name>`` atomically; ``None`` when it could not be written (reports are
        nice to have: a full disk must not fail a build that succeeded)."""
        final = self._root / kind / name
        try:
            atomic_write(final, text, durable=False)
        except OSError:
            return None
        return final

    # -- entries ------------------------------------------------------------------------------------

    def _get(self, kind: str, key: str, check: Check | None) -> Entry | None:
        path = self.path(kind, key)
        if not path.is_dir():
            return None
        try:
            sealed = manifest.load(path)
            problem = manifest.changed(path, sealed)
            if problem:
                raise CorruptEntry(problem)
            if check is not None:
                check(path)
        except (CorruptEntry, RecordError, OSError, UnicodeDecodeError) as exc:
            self.quarantine(kind, key, str(exc) or type(exc).__name__)
            return None
        with contextlib.suppress(OSError):
            os.utime(path / manifest.NAME)  # last use, for `cache prune` (least recently used first)
        return Entry(kind, key, path, "local")

    def quarantine(self, kind: str, key: str, why: str) -> Path | None:
        """Move an entry aside (it is never deleted in place: a reader may be linking from it)."""
        where = self._root / "quarantine"
        where.mkdir(exist_ok=True)
        dest = where / f"{kind}-{key}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        try:
            os.rename(self.path(kind, key), dest)
        except FileNotFoundError:
            return None  # another process moved it first
        self.reporter.warn("cache-entry-quarantined",
                           f"cache entry {kind}/{key[:16]} failed its check ({why}); moved to {dest} and rebuilt")
        return dest

    def _remove(self, kind: str, key: str) -> None:
        """Take an entry away without exposing a half-deleted one: rename it away first."""
        with self.trash() as grave, contextlib.suppress(FileNotFoundError):
            os.rename(self.path(kind, key), grave / "entry")

    def _fetch(self, kind: str, key: str, check: Check | None, admit: Check | None) -> Entry | None:
        assert self.remote is not None
        with self.scratch(f"fetch-{kind}") as tmp:
            dest = tmp / "entry"
            dest.mkdir()
            if not self.remote.fetch(kind, key, dest):
                return None
            try:
                for step in (admit, check):
                    if step is not None:
                        step(dest)
            except Exception as exc:  # a remote entry that fails a check is a miss, never a failed build
                self.reporter.warn("remote-entry-rejected",
                                   f"remote cache entry {kind}/{key[:16]} was rejected ({_reason(exc)}); building "
                                   "locally")
                return None
            path = self._seal_and_rename(kind, key, dest)
        return Entry(kind, key, path, "remote")

    def _publish(self, kind: str, key: str, build: Build) -> Path:
        with self.scratch(f"{kind}-{key[:12]}") as tmp:
            dest = tmp / "entry"
            dest.mkdir()
            try:
                build(dest)
                if self.remote is not None:
                    # shared as built, before the manifest (which records this machine's mtimes) is written
                    self.remote.push(kind, key, dest)
                return self._seal_and_rename(kind, key, dest)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise self.full(f"writing {kind}/{key[:16]}") from None
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise CacheError(f"cannot write to cache directory {self._root}: {exc.strerror}",
                                     f"make it writable or point {ENV_VAR} at a writable directory") from None
                raise

    def _seal_and_rename(self, kind: str, key: str, dest: Path) -> Path:
        manifest.seal(dest)
        final = self.path(kind, key)
        final.parent.mkdir(exist_ok=True)
        try:
            os.rename(dest, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise  # ENOTEMPTY/EEXIST: someone else published the same content first, which is as good
        return final

    def full(self, doing: str) -> CacheError:
        """The error for a disk that filled up while ``doing`` (e.g. "installing fn/requirements.txt")."""
        return CacheError(f"no space left on the disk of the cache directory {self._root} while {doing}",
                          f"free space on its disk or point {ENV_VAR} at a directory on a larger one",
                          code="cache-disk-full")

    # -- locks and scratch folders ------------------------------------------------------------------

    @contextlib.contextmanager
    def mutex(self, kind: str, key: str) -> Iterator[None]:
        """One builder per key: others wait, then find the entry the first one published."""
        with open(self._root / "mutex" / f"{kind}-{key}", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _clean(self) -> None:
        """Remove scratch folders no live process holds, and quarantined entries past their time (the root
        carries our tag: :meth:`_prepare` claimed it or refused it)."""
        # everything in tmp/ is the store's: a folder without its lock file is a writer killed before locking it
        remove_dead(self._root / "tmp", "*", lockless_after=_LOCKLESS_SECONDS)
        remove_dead(self._root, f"{tmp_prefix(self._root / TAG_NAME)}*")  # a tag writer killed mid-write
        now = time.time()
        for child in _children(self._root / "quarantine"):
            with contextlib.suppress(OSError):
                if now - child.lstat().st_mtime > QUARANTINE_SECONDS:
                    delete(child)

    # -- maintenance (the `cache` command) ------------------------------------------------------------

    def entries(self) -> list[EntryInfo]:
        out = []
        for kind in KINDS:
            for path in _children(self._root / kind):
                if not _KEY.match(path.name) or path.is_symlink() or not path.is_dir():
                    continue  # not an entry we published (their names are keys): never pruned nor quarantined
                try:
                    sealed = manifest.load(path)
                    used = (path / manifest.NAME).stat().st_mtime
                except (RecordError, OSError):
                    sealed, used = manifest.Manifest(()), 0.0
                out.append(EntryInfo(kind, path.name, path, sealed.bytes, used, sealed))
        return out

    def verify(self, info: EntryInfo) -> str | None:
        """Re-hash an entry against its manifest; a mismatch is quarantined and returned."""
        try:
            problem = manifest.corrupted(info.path, manifest.load(info.path))
        except (RecordError, OSError) as exc:
            problem = str(exc)
        if problem:
            self.quarantine(info.kind, info.key, problem)
        return problem

    def remove(self, info: EntryInfo) -> None:
        with self.mutex(info.kind, info.key):
            self._remove(info.kind, info.key)
        with contextlib.suppress(OSError):
            (self._root / "mutex" / f"{info.kind}-{info.key}").unlink()


class _NotOurs(Exception):
    """The root is neither ours (tagged), nor empty, nor a cache of ours from before the tag."""


_NOT_OURS_FIX = (f"point --cache-dir (cache_dir, ${ENV_VAR}) at an empty or cdk-native-python folder (a cache of "
                 "an earlier version that holds anything else: delete it once)")


def claim(root: Path) -> None:
    """Make sure ``root`` carries our tag: it does, or it is empty or holds only our earlier layout (then the
    tag is written, atomically, before anything else); otherwise :class:`_NotOurs`, with nothing written."""
    if is_tagged(root):
        return
    problem = ownership_problem(root)
    if problem is not None and not is_tagged(root):  # tagged meanwhile by another process starting on it
        raise _NotOurs(problem)
    atomic_write(root / TAG_NAME, TAG)


def is_tagged(root: Path) -> bool:
    """``root`` holds a regular ``CACHEDIR.TAG`` with the standard signature that names us (another tool's
    tag says the folder is a cache, not that it is ours)."""
    try:
        fd = os.open(root / TAG_NAME, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, 512)
    finally:
        os.close(fd)
    return head.startswith(TAG_SIGNATURE.encode()) and b"cdk-native-python" in head


def ownership_problem(root: Path) -> str | None:
    """Why an untagged ``root`` cannot be claimed (``None``: it is empty, or a store of ours from before the
    tag: only :data:`LAYOUT` names at the top, ``tmp/`` and ``mutex/`` among them, as every earlier version
    made them at start, only lock files in ``mutex/``, and every entry folder sealed with its manifest)."""
    names = {child.name for child in _children(root)}
    names = {n for n in names if not n.startswith(tmp_prefix(root / TAG_NAME))}  # another process tagging it
    if not names:
        return None
    strangers = sorted(names - set(LAYOUT))
    if strangers:
        return f"it holds {', '.join(strangers[:3])}{', ...' if len(strangers) > 3 else ''}"
    if not {"tmp", "mutex"} <= names:
        return "it holds no mutex/ and tmp/, which every cdk-native-python cache has"
    for path in (root / "mutex", *(root / kind for kind in KINDS if kind in names)):
        if path.is_symlink() or not path.is_dir():
            return f"{path.name} is not a folder"
    for lock in _children(root / "mutex"):
        if not _MUTEX.match(lock.name) or lock.is_symlink() or not lock.is_file():
            return f"mutex/{lock.name} is not one of its lock files"
    for kind in KINDS:
        for entry in _children(root / kind):
            if not _KEY.match(entry.name) or entry.is_symlink() or not (entry / manifest.NAME).is_file():
                return f"{kind}/{entry.name} is not one of its entries (no {manifest.NAME})"
    return None


def open_store(root: Path | None = None, *, remote_url: str | None = None, remote_write: bool | None = None,
               trusted_keys: Sequence[str] | None = None, tools: Callable[[], str] | None = None,
               reporter: Reporter | None = None) -> LocalStore:
    """The local store, with a remote tier behind it when one is configured (by its URL's scheme,
    ``store/backends.py``; ``s3://`` today): ``remote_url`` (a construct option or
    ``--remote-cache``) or ``$CDK_NATIVE_PYTHON_REMOTE_CACHE``; writing when ``remote_write`` (``--remote-cache-write``)
    or ``$CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE`` says so; requiring signatures by ``trusted_keys`` (cdk.json,
    an option, ``--remote-cache-trusted-key``) or ``$CDK_NATIVE_PYTHON_REMOTE_CACHE_TRUSTED_KEYS``. ``tools``
    gives the tool versions a pointer records. A malformed URL, flag or key is a ``ConfigurationError``, and so
    is a writer without a signing key when signatures are required: all before anything is built."""
    reporter = reporter or Reporter()
    url = remote_url or settings.REMOTE_CACHE.value()
    if not url:
        return LocalStore(root, reporter=reporter)
    return LocalStore(root, remote=open_remote(url, reporter, write=remote_write, trusted_keys=trusted_keys,
                                               tools=tools), reporter=reporter)


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (a verification error lists its findings on the lines after)."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return excerpt(" ".join(line.strip() for line in text.splitlines()), 300)


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


