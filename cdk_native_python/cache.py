"""A content-addressed store shared by concurrent ``cdk synth`` processes.

An entry is a directory ``<root>/<kind>/<key>/`` that is *complete or absent*: it is built in a
private temporary directory under ``<root>/tmp`` and published with one atomic ``rename``, so a
process killed at any moment leaves at most a temporary directory, which no reader trusts and which
later runs delete: at once when its name says its owner (``pid<N>@<host>``) was a process of this host
that is gone, otherwise once it is old. A per-key ``flock`` makes concurrent builders of the same key
wait for the first one instead of doing the work twice (the kernel releases it when a holder dies).

A cache directory that cannot be written (read-only, full, not permitted) is replaced by a private
temporary one with a warning, so a build still works, only colder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import CacheError

ENV_VAR = "CDK_NATIVE_PYTHON_CACHE_DIR"
#: temporary build directories older than this are leftovers of killed processes
STALE_TMP_SECONDS = 6 * 3600
_OWNER = re.compile(r"-pid(\d+)@([A-Za-z0-9_]*)-")


def default_root() -> Path:
    """``$CDK_NATIVE_PYTHON_CACHE_DIR``, else the platform's user cache directory."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cdk-native-python"


def digest(obj: object) -> str:
    """A stable key for any JSON-serialisable description."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40]


def fallback_root() -> Path:
    """Where builds go when the configured cache directory cannot be written."""
    return Path(tempfile.gettempdir()) / f"cdk-native-python-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


class Cache:
    def __init__(self, root: Path | None = None, *, fallback: bool = True) -> None:
        self.root = (root or default_root()).absolute()
        #: the configured directory when it was unusable and a temporary one is used instead
        self.fallback_from: Path | None = None
        problem = self._usable(self.root)
        if problem is not None:
            other = fallback_root()
            if not fallback or other == self.root or self._usable(other) is not None:
                raise CacheError(
                    f"cache directory {self.root} is not usable: {problem}",
                    f"make it writable, free space on its disk, or point {ENV_VAR} at another directory",
                )
            print(f"[cdk-native-python] warning: cache directory {self.root} is not usable ({problem}); "
                  f"using {other} for this run. Make it writable or set {ENV_VAR} to keep builds warm.",
                  file=sys.stderr, flush=True)
            self.fallback_from, self.root = self.root, other
        self._clean_stale()

    @staticmethod
    def _usable(root: Path) -> str | None:
        try:
            for sub in ("tmp", "locks"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=root / "tmp") as f:
                f.write(b"x" * 4096)
                f.flush()
        except OSError as exc:
            return str(exc.strerror or exc)
        return None

    def full(self, doing: str) -> CacheError:
        """The error for a disk that filled up while ``doing`` (e.g. "installing fn/requirements.txt")."""
        return CacheError(
            f"no space left on the disk of the cache directory {self.root} while {doing}",
            f"free space on its disk or point {ENV_VAR} at a directory on a larger one",
        )

    def tmp_prefix(self, label: str) -> str:
        """A temp-dir name prefix that records its owner, so leftovers of dead processes can be removed."""
        return f"{label}-pid{os.getpid()}@{_host()}-"

    def discard(self, kind: str, key: str) -> None:
        """Remove an entry without ever exposing a half-deleted one: rename it away first."""
        entry = self.path(kind, key)
        grave = Path(tempfile.mkdtemp(prefix=self.tmp_prefix(f"old-{kind}"), dir=self.root / "tmp"))
        with contextlib.suppress(FileNotFoundError):
            os.rename(entry, grave / "entry")
        shutil.rmtree(grave, ignore_errors=True)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def write_file(self, kind: str, name: str, text: str) -> Path | None:
        """Replace ``<root>/<kind>/<name>`` atomically (readers see the old file or the new one).

        For records that are nice to have (build reports): a failure to write returns ``None``.
        """
        final = self.root / kind / name
        tmp = ""
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.tmp_prefix(kind), dir=self.root / "tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, final)
        except OSError:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return None
        return final

    def get(self, kind: str, key: str, required: str | None = None) -> Path | None:
        """The entry, if published. ``required`` names a file a complete entry has: an entry without it
        (written by something other than :meth:`publish`, or damaged) is not trusted and is removed."""
        entry = self.path(kind, key)
        if not entry.is_dir():
            return None
        if required is not None and not (entry / required).is_file():
            print(f"[cdk-native-python] warning: ignoring incomplete cache entry {entry} (no {required})",
                  file=sys.stderr, flush=True)
            self.discard(kind, key)
            return None
        return entry

    @contextlib.contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        with open(self.root / "locks" / f"{kind}-{key}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get_or_create(self, kind: str, key: str, build: Callable[[Path], None],
                      required: str | None = None) -> tuple[Path, bool]:
        """Return ``(entry, hit)``; on a miss ``build(tmpdir)`` fills a temp dir that is then published."""
        entry = self.get(kind, key, required)
        if entry is not None:
            return entry, True
        with self.lock(kind, key):
            entry = self.get(kind, key, required)  # another process may have published it while we waited
            if entry is not None:
                return entry, True
            return self.publish(kind, key, build), False

    def publish(self, kind: str, key: str, build: Callable[[Path], None]) -> Path:
        (self.root / kind).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=self.tmp_prefix(f"{kind}-{key[:12]}"), dir=self.root / "tmp"))
        try:
            build(tmp)
            final = self.path(kind, key)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # someone else published the same content
            return final
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
                raise CacheError(
                    f"cannot write to cache directory {self.root}: {exc.strerror}",
                    f"free space on its disk or point {ENV_VAR} at a writable directory",
                ) from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _clean_stale(self) -> None:
        now = time.time()
        host = _host()
        try:
            for child in (self.root / "tmp").iterdir():
                with contextlib.suppress(OSError):
                    if now - child.lstat().st_mtime > STALE_TMP_SECONDS or _owner_dead(child.name, host):
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child, ignore_errors=True)
                        else:
                            child.unlink()
        except OSError:
            pass


def _owner_dead(name: str, host: str) -> bool:
    """True when ``name`` was made by a process of this host that no longer exists."""
    m = _OWNER.search(name)
    if not m or m.group(2) != host:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but is not ours (EPERM)
        return False
    return False
