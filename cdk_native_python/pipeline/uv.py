"""Running the uv binary (the resolver/installer engine) with a hermetic, target-aware environment.

Credentials of direct URL requirements never appear in uv's arguments or input files (those hold the
URLs without them, and end up in the cache). They reach uv through a netrc built in memory for one run
(:func:`_netrc`): the user's own netrc (``$NETRC`` or ``~/.netrc``, which uv would otherwise read
itself) followed by the spec's credentials, so a credential written in a URL wins over the netrc's for
that host, as in pip. On Linux the file is a ``memfd`` passed to uv as ``/dev/fd/N``: it is never on
disk. Elsewhere it is a 0600 temporary file outside the cache, deleted when uv exits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..core.errors import ConfigurationError
from ..core.spec import Credential, redact

#: uv's path is looked up once: the lookup reads ``sysconfig``, whose first read is not safe across threads
#: (``prefetch`` builds on several)
_binary_lock = threading.Lock()


def uv_binary() -> str:
    with _binary_lock:
        return _uv_binary()


@functools.cache
def _uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        raise ConfigurationError(
            "the uv binary (cdk-native-python's resolver) was not found",
            "reinstall cdk-native-python in this environment: pip install --force-reinstall cdk-native-python",
        ) from None


@functools.cache
def tools() -> str:
    """The versions that decide what a store entry holds, part of every entry's key: after an upgrade of
    cdk-native-python or uv, entries (local, or in a remote shared by a team on mixed versions) are made
    afresh rather than reused from another version. Asset hashes do not include them: an upgrade that
    bundles the same bytes does not redeploy every function."""
    return f"cdk-native-python {__version__}; uv {_uv_version()}"


def _uv_version() -> str:
    # The dist-info folder next to the uv package names its version: a glob instead of importlib.metadata,
    # which scans every sys.path entry (~10 ms inside a CDK app) on each warm build
    try:
        import uv

        folder = Path(uv.__file__).resolve().parent.parent
        for info in folder.glob("uv-*.dist-info"):
            return info.name[len("uv-"):-len(".dist-info")]
    except ImportError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("uv")
    except PackageNotFoundError:
        return "unknown"


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


def run(args: Sequence[str], cache_dir: Path, *, cwd: Path | None = None, offline: bool = False,
        credentials: Sequence[Credential] = ()) -> Result:
    """Run uv; ``credentials`` (of direct URLs) are handed over in a private netrc, never in ``args``."""
    env = _environment(cache_dir)
    cmd = [uv_binary(), *args] + (["--offline"] if offline else [])
    with _netrc(credentials) as (netrc_path, fds):
        if netrc_path is not None:
            env["NETRC"] = netrc_path
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, check=False, pass_fds=fds)
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Background:
    """A uv run going on beside other work, whose output nobody reads (see :mod:`.warm`): its owner waits for
    it a while, then stops it. Its netrc lives as long as it does."""

    def __init__(self, args: Sequence[str], cache_dir: Path, credentials: Sequence[Credential]) -> None:
        env = _environment(cache_dir)
        self._held = contextlib.ExitStack()  # released once by :meth:`stop`, however often it is called
        netrc_path, fds = self._held.enter_context(_netrc(credentials))
        if netrc_path is not None:
            env["NETRC"] = netrc_path
        try:
            self._proc = subprocess.Popen([uv_binary(), *args], env=env, pass_fds=fds, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except BaseException:
            self._held.close()
            raise

    def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for uv to exit by itself."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=max(0.0, seconds))

    def stop(self) -> None:
        """End the run (if it still runs) and release its netrc.

        uv writes each cache entry to a temporary file and renames it into place, so one stopped mid-download
        leaves nothing a later run would trust."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._held.close()


def _environment(cache_dir: Path) -> dict[str, str]:
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
    # uv wraps its diagnostics at the terminal's width (COLUMNS): one line per message keeps them parseable
    env["COLUMNS"] = "10000"
    for var in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_INDEX", "UV_DEFAULT_INDEX",
                "UV_OFFLINE", "UV_NO_INDEX", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_SYSTEM_PYTHON"):
        env.pop(var, None)
    return env


def netrc_text(credentials: Sequence[Credential]) -> str:
    """The user's netrc, then one entry per host of ``credentials`` (the last entry for a host wins)."""
    for credential in credentials:
        if any(c.isspace() or c in "\"'" for c in credential.username + credential.password):
            raise ConfigurationError(
                f"the credentials for {credential.host} contain whitespace or quotes, which a netrc cannot hold",
                f"use a token without them, or put the credentials for {credential.host} in ~/.netrc yourself",
                code="credential-unusable",
            )
    user = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        text = user.read_text() if user.is_file() else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    entries = {c.host: f"machine {c.host} login {c.username} password {c.password}\n" for c in credentials}
    return text + ("\n" if text and not text.endswith("\n") else "") + "".join(entries.values())


@contextlib.contextmanager
def _netrc(credentials: Sequence[Credential]) -> Iterator[tuple[str | None, tuple[int, ...]]]:
    """(the ``NETRC`` value for uv, the descriptors to pass), or (None, ()) with no credentials."""
    if not credentials:
        yield None, ()
        return
    data = netrc_text(credentials).encode()
    if sys.platform.startswith("linux") and hasattr(os, "memfd_create"):
        fd = os.memfd_create("cdk-native-python-netrc", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/dev/fd/{fd}", (fd,)
        finally:
            os.close(fd)
        return
    fd, name = tempfile.mkstemp(prefix="cdk-native-python-netrc-")  # mode 0600, outside the cache
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield name, ()
    finally:
        os.unlink(name)


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


#: how uv 0.13 says a download failed: which URL (and, for a direct URL or a find-links page, what it was for),
#: then the HTTP status or the network error as the last ``cause:`` line
_DIRECT_DOWNLOAD = re.compile(r"Failed to download `([^`]+ @ [a-z+]+://[^`]+)`")
_FIND_LINKS = re.compile(r"Failed to read `--find-links` URL: (\S+)")
_FETCH = re.compile(r"Failed to fetch: (\S+)")
_HTTP_STATUS = re.compile(r"HTTP status [\w ]+ error \((\d{3})([^)]*)\)")
#: uv's hint when an index answered 401/403 (it then goes on as if the project were missing)
_INDEX_REFUSED = re.compile(r"An index URL \((\S+)\) could not be queried due to a lack of valid authentication "
                            r"credentials \((\d{3})([^)]*)\)")


@dataclass(frozen=True)
class FailedFetch:
    """A download uv reported as failed, read from its message."""

    #: the URL uv fetched (uv masks a password as ``****``; callers redact it again)
    url: str
    #: the HTTP status code, or None for a network error
    status: int | None
    #: ``"501 Not Implemented"``, or the network error (uv's last cause, e.g. ``Connection refused (os error 111)``)
    cause: str
    #: ``name @ URL`` when uv said it was downloading a direct URL requirement
    requirement: str | None = None
    #: uv said it was reading a ``--find-links`` page
    find_links: bool = False


def failed_direct_download(message: str) -> str | None:
    """``name @ URL`` when uv could not download or use a direct URL requirement."""
    m = _DIRECT_DOWNLOAD.search(message)
    return m.group(1) if m else None


def failed_fetch(message: str) -> FailedFetch | None:
    """What uv failed to download and why, or None when ``message`` is not about a download."""
    refused = _INDEX_REFUSED.search(message)
    links = _FIND_LINKS.search(message)
    fetch = _FETCH.search(message)
    direct = _DIRECT_DOWNLOAD.search(message)
    if fetch is None and links is None and refused is None:
        return None
    status = _HTTP_STATUS.search(message) or refused
    if status is not None:
        code, reason = status.groups()[-2:]
        number: int | None = int(code)
        cause = f"{code} {reason.strip()}".strip()
    else:
        number, cause = None, message.strip().splitlines()[-1].strip().removeprefix("cause: ")
    url = links or fetch or refused
    assert url is not None
    return FailedFetch(url.group(1), number, cause, direct.group(1) if direct else None, links is not None)


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
