"""Running the uv binary (the resolver/installer engine) with a hermetic, target-aware environment."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError
from .spec import redact


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        raise ConfigurationError(
            "the uv binary (cdk-native-python's resolver) was not found",
            "reinstall cdk-native-python in this environment: pip install --force-reinstall cdk-native-python",
        ) from None


@dataclass(frozen=True)
class Call:
    """One finished uv run, as observers see it: the subcommand's arguments, the time it took, its exit code."""

    args: tuple[str, ...]
    offline: bool
    seconds: float
    returncode: int

    @property
    def kind(self) -> str:
        """``pip compile``, ``pip install --offline``, ``build``, ..."""
        words = [a for a in self.args[:2] if not a.startswith("-")]
        return " ".join(words) + (" --offline" if self.offline else "")


Observer = Callable[[Call], None]
_observers: list[Observer] = []


@contextlib.contextmanager
def observed(observer: Observer) -> Iterator[None]:
    """Call ``observer`` after every uv run while the block runs (the benchmark and tests count calls)."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """uv's diagnostics without the noise that does not concern a target build, secrets removed."""
        keep = [
            line
            for line in self.stderr.splitlines()
            if line.strip() and "will be used to build dependencies instead" not in line
        ]
        return redact("\n".join(keep))


def run(args: Sequence[str], cache_dir: Path, *, cwd: Path | None = None, offline: bool = False) -> Result:
    env = dict(os.environ)
    # Never read the user's uv.toml/pip.conf: the bundle must depend only on the declared inputs.
    env["UV_NO_CONFIG"] = "1"
    env["UV_CACHE_DIR"] = str(cache_dir)
    env.setdefault("UV_NO_PROGRESS", "1")
    # --python-version describes the *target*: uv must not download a host interpreter of that version
    # (it would try, and wait on retries, when the host lacks it); the host's Python serves any build.
    env["UV_PYTHON_DOWNLOADS"] = "never"
    # build backends stamp wheel entries with this: a local package rebuilt elsewhere gives the same bytes
    env.setdefault("SOURCE_DATE_EPOCH", "315532800")
    env.pop("VIRTUAL_ENV", None)
    for var in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_INDEX", "UV_DEFAULT_INDEX",
                "UV_OFFLINE", "UV_NO_INDEX", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_SYSTEM_PYTHON"):
        env.pop(var, None)
    cmd = [uv_binary(), *args] + (["--offline"] if offline else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    call = Call(tuple(args), offline, time.perf_counter() - start, proc.returncode)
    for observer in list(_observers):
        observer(call)
    return Result(proc.returncode, proc.stdout, proc.stderr)


_NO_WHEELS = re.compile(r"(?:Because |and |, )([A-Za-z0-9._-]+)==([^\s,]+) has no (?:usable )?wheels")
_NO_WHEELS_ANY = re.compile(r"Wheels are required for `([^`]+)`")
_NOT_FOUND = re.compile(r"([A-Za-z0-9._-]+) was not found in the (?:package registry|provided package locations)")
_UNREACHABLE = re.compile(
    r"(Connect|tcp connect error|dns error|Connection refused|failed to lookup address|"
    r"error sending request|Could not connect|timed out|Failed to fetch)",
    re.IGNORECASE,
)
_AUTH = re.compile(r"(401 Unauthorized|403 Forbidden|Missing credentials)", re.IGNORECASE)
_HASH = re.compile(r"Hash mismatch for `([^`]+)`", re.IGNORECASE)
_NO_SPACE = re.compile(r"(No space left on device|os error 28|Disk quota exceeded|os error 122)", re.IGNORECASE)


def no_wheels(message: str) -> tuple[str, str | None] | None:
    """(package, version) when uv failed because a package has no wheel for the platform."""
    m = _NO_WHEELS.search(message)
    if m:
        return m.group(1), m.group(2)
    m = _NO_WHEELS_ANY.search(message)
    if m:
        return m.group(1), None
    return None


def not_found(message: str) -> str | None:
    m = _NOT_FOUND.search(message)
    return m.group(1) if m else None


def unreachable(message: str) -> bool:
    return bool(_UNREACHABLE.search(message))


def unauthorized(message: str) -> bool:
    return bool(_AUTH.search(message))


def no_space(message: str) -> bool:
    """uv failed because the disk (of the cache or the output) is full."""
    return bool(_NO_SPACE.search(message))


def hash_mismatch(message: str) -> str | None:
    m = _HASH.search(message)
    return m.group(1) if m else None
