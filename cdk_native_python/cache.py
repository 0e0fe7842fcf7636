"""A content-addressed store shared by concurrent ``cdk synth`` processes.

An entry is a directory ``<root>/<kind>/<key>/`` that is *complete or absent*: it is built in a
private temporary directory under ``<root>/tmp`` and published with one atomic ``rename``, so a
process killed at any moment leaves at most a temporary directory, which no reader trusts and which
later runs delete once it is old. A per-key ``flock`` makes concurrent builders of the same key wait
for the first one instead of doing the work twice.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import CacheError

ENV_VAR = "CDK_NATIVE_PYTHON_CACHE_DIR"
#: temporary build directories older than this are leftovers of killed processes
STALE_TMP_SECONDS = 6 * 3600


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


class Cache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).absolute()
        try:
            for sub in ("tmp", "locks"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root / "tmp"):
                pass
        except OSError as exc:
            raise CacheError(
                f"cache directory {self.root} is not usable: {exc.strerror or exc}",
                f"make it writable, free space on its disk, or point {ENV_VAR} at another directory",
            ) from None
        self._clean_stale()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        entry = self.path(kind, key)
        return entry if entry.is_dir() else None

    @contextlib.contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        with open(self.root / "locks" / f"{kind}-{key}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get_or_create(self, kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return ``(entry, hit)``; on a miss ``build(tmpdir)`` fills a temp dir that is then published."""
        entry = self.get(kind, key)
        if entry is not None:
            return entry, True
        with self.lock(kind, key):
            entry = self.get(kind, key)  # another process may have published it while we waited
            if entry is not None:
                return entry, True
            return self.publish(kind, key, build), False

    def publish(self, kind: str, key: str, build: Callable[[Path], None]) -> Path:
        (self.root / kind).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{kind}-{key[:12]}-", dir=self.root / "tmp"))
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
        try:
            for child in (self.root / "tmp").iterdir():
                with contextlib.suppress(OSError):
                    if now - child.lstat().st_mtime > STALE_TMP_SECONDS:
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child, ignore_errors=True)
                        else:
                            child.unlink()
        except OSError:
            pass
