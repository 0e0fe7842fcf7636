"""The S3 remote tier: entries shared by a team or a CI fleet through any S3-compatible bucket.

Layout (as Bazel's remote cache), under ``s3://bucket/prefix``:

* ``<prefix>/v1/ac/<kind>/<key>.json``: a small JSON *pointer* from one of our cache keys to a digest;
* ``<prefix>/v1/cas/sha256/<aa>/<digest>``: the *content*, one compressed tar of the entry's folder,
  stored at the sha256 of its bytes.

Reading (:meth:`RemoteCache.fetch`) goes pointer → digest → content; the sha256 is checked while the
content streams to a private temporary file, before anything is extracted, and extraction
(:mod:`.archive`) refuses links, devices and any path that could leave the destination.

Writing (:meth:`RemoteCache.push`) happens only when the configuration says so (trusted CI on main),
content first and pointer last, both create-only (``If-None-Match: *``): the first writer of a key wins
and a later one that gets HTTP 412 counts it as success. Entries are therefore immutable. A writer that
finds a pointer whose content is gone (lifecycle rules expire content by its own age) uploads the
content again when its archive has the same digest, so a shared entry heals on the next CI run.

The remote tier never fails a build. Any problem (unreachable, denied, missing or corrupt object, boto3
not installed) is one warning per kind of failure per process, then the caller builds locally; after a
connection failure the endpoint is not tried again in this process. boto3 is imported only on first
use, so warm builds, which never reach the remote, never pay for importing it.

Trust. Every pointer records the kind and key it stands for, and a reader refuses one recorded under
another name (a pointer copied from another key). A team that lists trusted public keys
(:mod:`.signing`) accepts only pointers one of them signed; CI signs with its private key. An unsigned,
wrongly signed or wrongly bound pointer is a miss with one warning, and the build goes on from the index.

Limits. One deadline (``$CDK_NATIVE_PYTHON_REMOTE_CACHE_TIMEOUT``, default :data:`DEFAULT_TIMEOUT` seconds)
covers a whole fetch: the pointer, the content's download and its unpacking. It is checked between reads and
enforced inside a read too: the socket's timeout never exceeds the time left, and a timer shuts the socket
down at the deadline, so a server trickling a byte every few seconds cannot hold a build. What an entry
unpacks to is capped while it streams (:data:`.archive.MAX_UNPACKED_BYTES`).

Credentials come from the standard AWS chain and the endpoint from the standard ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3`` variables (boto3 reads both): nothing here invents another way, and no message
ever contains a credential (a ``user:password@`` in an endpoint or URL is removed from every message).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._version import __version__
from ..core import settings
from ..core.errors import ConfigurationError, excerpt
from ..core.reporter import Reporter
from ..core.spec import redact
from . import archive, signing
from .signing import KeyMaterial, PublicKey

LAYOUT = "v1"
#: /2: the pointer records its kind and key (and may be signed); a /1 pointer is refused as unbound
POINTER_SCHEMA = "cdk-native-python/remote-pointer/2"
_UNBOUND_SCHEMA = "cdk-native-python/remote-pointer/1"
TIMEOUT_ENV = settings.REMOTE_CACHE_TIMEOUT.name
#: seconds one fetch (pointer, download, unpack) may take: a tree of a few hundred MB over a slow link fits
DEFAULT_TIMEOUT = 120.0
INSTALL_HINT = "pip install 'cdk-native-python[s3]'"
#: an unreachable endpoint costs at most ATTEMPTS x CONNECT_TIMEOUT, once per process
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 10.0
ATTEMPTS = 2
MAX_POINTER_BYTES = 64 << 10
#: the compressed content cannot be larger than what it unpacks to, plus the tar framing
MAX_CONTENT_BYTES = archive.MAX_UNPACKED_BYTES + (64 << 20)
_CHUNK = 1 << 20

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=+-]+")
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_TOOL = re.compile(r"[A-Za-z0-9 ._;:+-]{0,200}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_URL_HINT = ("use s3://BUCKET or s3://BUCKET/PREFIX (a lower-case S3 bucket name); credentials come from the "
             "standard AWS chain and another endpoint from AWS_ENDPOINT_URL_S3, never from this URL")
_CONTENT_TYPES = {archive.ZSTD: "application/zstd", archive.GZIP: "application/gzip"}


def _shown(url: str) -> str:
    """``url`` fit for a message: anything before an ``@`` (a credential) is hidden, and it is cut short."""
    return excerpt(re.sub(r"^([A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", url), 80)


def _split(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of an ``s3://bucket/prefix`` URL, or a :class:`ConfigurationError` naming it."""

    def bad(why: str) -> ConfigurationError:
        return ConfigurationError(f"remote cache URL {_shown(url)!r} is not valid: {why}", _URL_HINT,
                                  code="remote-cache-url")

    if not url.startswith("s3://"):
        raise bad("it must start with s3://")
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        raise bad("credentials and ports do not belong in it")
    if "?" in rest or "#" in rest:
        raise bad("it has a query or a fragment")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise bad(f"{excerpt(bucket, 70)!r} is not an S3 bucket name")
    parts = prefix.strip("/").split("/") if prefix.strip("/") else []
    for part in parts:
        if part in (".", "..") or not _SEGMENT.fullmatch(part):
            raise bad(f"its prefix has the part {excerpt(part, 40)!r} (letters, digits and !_.*'()=+- only)")
    return bucket, "/".join(parts)


def timeout_from_env(environ: Mapping[str, str] = os.environ) -> float:
    """``$CDK_NATIVE_PYTHON_REMOTE_CACHE_TIMEOUT`` (seconds; :data:`DEFAULT_TIMEOUT` when unset) or an error."""
    name = settings.REMOTE_CACHE_TIMEOUT.name
    text = settings.REMOTE_CACHE_TIMEOUT.raw(environ)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise ConfigurationError(f"{name}={excerpt(text, 20)!r} is not a number of seconds",
                                 f"set {name} to the seconds one remote entry may take to fetch and unpack "
                                 f"(default {DEFAULT_TIMEOUT:.0f}), or unset it", code="remote-cache-timeout-value")
    return value


@dataclass(frozen=True)
class RemoteConfig:
    """Where the remote cache is (``s3://bucket/prefix``, prefix optional), whether we may write to it, the
    public keys whose signatures readers require (none: unsigned pointers are accepted), the writer's signing
    key and the deadline of one fetch."""

    url: str
    write: bool = False
    trusted_keys: tuple[PublicKey, ...] = ()
    signing_key: KeyMaterial | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        _split(self.url)
        if self.write and self.trusted_keys and self.signing_key is None:
            raise ConfigurationError(
                f"remote cache {self.location}: this machine writes to it, and its readers trust only signed "
                f"entries, but no signing key is set", f"give trusted CI its private key through "
                f"{signing.SIGNING_KEY_ENV} or {signing.SIGNING_KEY_FILE_ENV} (`cdk-native-python cache keygen` "
                f"makes one), or turn writing off", code="remote-signing-key-missing")

    @property
    def bucket(self) -> str:
        return _split(self.url)[0]

    @property
    def prefix(self) -> str:
        """The key prefix without leading or trailing slashes (``""`` for the bucket's root)."""
        return _split(self.url)[1]

    @property
    def location(self) -> str:
        """The normalised URL, as messages show it."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, url: str | None = None, write: bool | None = None,
                 trusted_keys: Sequence[str] | None = None) -> RemoteConfig | None:
        """The configuration from explicit values (a construct option, cdk.json or a flag), each falling back to
        its variable: ``$CDK_NATIVE_PYTHON_REMOTE_CACHE`` (``None`` when neither gives a URL), ``..._WRITE``,
        ``..._TRUSTED_KEYS``, ``..._SIGNING_KEY[_FILE]`` and ``..._TIMEOUT``. Every variable is checked even when
        an explicit value wins, so a typo in one is said, never read as "off"."""
        url = url or settings.REMOTE_CACHE.raw(environ)
        if not url:
            return None
        env_write = settings.REMOTE_CACHE_WRITE.on(environ)
        keys = (signing.parse_trusted(trusted_keys, "remote cache trusted keys") if trusted_keys
                else signing.trusted_from_env(environ))
        return cls(url, env_write if write is None else write, keys, signing.signing_key_from_env(environ),
                   timeout_from_env(environ))


@dataclass(frozen=True)
class Pointer:
    """The action entry ``<prefix>/v1/ac/<kind>/<key>.json``: which content holds the entry ``(kind, key)``.

    ``signer`` (a key id) and ``signature`` are empty for an unsigned pointer; the signature covers
    :meth:`fields`, so it binds the digest to this kind and key.
    """

    kind: str
    key: str
    digest: str
    size: int
    format: str
    tool: str = f"cdk-native-python {__version__}"
    signer: str = ""
    signature: str = ""

    def fields(self) -> dict[str, object]:
        """What the signature covers (everything but the signature)."""
        return {"schema": POINTER_SCHEMA, "kind": self.kind, "key": self.key, "digest": f"sha256:{self.digest}",
                "size": self.size, "format": self.format, "tool": self.tool}

    def signed(self, signer: signing.Signer) -> Pointer:
        return dataclasses.replace(self, signer=signer.public.id,
                                   signature=signer.sign(signing.signed_bytes(self.fields())))

    def to_bytes(self) -> bytes:
        doc = self.fields()
        if self.signature:
            doc.update(signer=self.signer, signature=self.signature)
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, data: bytes, where: str) -> Pointer:
        try:
            doc = json.loads(data)
            if isinstance(doc, dict) and doc.get("schema") == _UNBOUND_SCHEMA:
                raise Problem("unbound", f"pointer {where} was written by an earlier cdk-native-python and is not "
                                         "bound to its key")
            if not isinstance(doc, dict) or doc.get("schema") != POINTER_SCHEMA:
                raise ValueError("not a pointer of this version")
            algo, _, digest = str(doc["digest"]).partition(":")
            kind, key, size, fmt, tool = doc["kind"], doc["key"], doc["size"], doc["format"], doc["tool"]
            signer, signature = doc.get("signer", ""), doc.get("signature", "")
            if not isinstance(kind, str) or not _KIND.fullmatch(kind) or not isinstance(key, str) or \
                    not _KEY.fullmatch(key):
                raise ValueError("bad kind or key")
            if algo != "sha256" or not _DIGEST.fullmatch(digest):
                raise ValueError("bad digest")
            if type(size) is not int or not 0 < size <= MAX_CONTENT_BYTES:
                raise ValueError("bad size")
            if fmt not in archive.FORMATS:
                raise ValueError(f"unknown format {excerpt(str(fmt), 20)!r}")
            if not isinstance(tool, str) or not _TOOL.fullmatch(tool):
                raise ValueError("bad tool")
            if not isinstance(signer, str) or not isinstance(signature, str) or bool(signer) != bool(signature) \
                    or (signer and not _KEY_ID.fullmatch(signer)) or len(signature) > 128:
                raise ValueError("bad signature fields")
            if set(doc) - {"schema", "kind", "key", "digest", "size", "format", "tool", "signer", "signature"}:
                raise ValueError("unknown fields")
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise Problem("corrupt", f"pointer {where} is not valid ({excerpt(str(exc), 60)})") from None
        return cls(kind, key, digest, size, fmt, tool, signer, signature)

    def check(self, kind: str, key: str, trusted: Sequence[PublicKey], where: str) -> None:
        """Refuse a pointer recorded for another entry, and (with trusted keys) one no trusted key signed."""
        if (self.kind, self.key) != (kind, key):
            raise Problem("unbound", f"pointer {where} was written for {self.kind}/{self.key[:16]}, not for "
                                     f"{kind}/{key[:16]} (copied under another key)")
        if not trusted:
            return
        if not self.signature:
            raise Problem("untrusted", f"pointer {where} is not signed, and only signed entries are trusted")
        try:
            why = signing.verify(trusted, self.signer, self.signature, signing.signed_bytes(self.fields()))
        except signing.CryptoMissing as exc:
            raise Problem("unavailable", f"{exc.message}: {exc.hint}") from None
        if why is not None:
            raise Problem("untrusted", f"pointer {where} is refused: {why}")


class Problem(Exception):
    """A remote failure we detected ourselves; ``kind`` picks the warning code and what is disabled."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class _ProcessState:
    """What every :class:`RemoteCache` of this process shares: warnings said, endpoints given up, clients."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    warned: set[tuple[str, str]] = field(default_factory=set)
    #: (endpoint or location, operation) pairs not to try again, with the reason
    off: dict[tuple[str, str], str] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)


#: the process's own (a RemoteCache may be given another, e.g. to start as a fresh process would)
_STATE = _ProcessState()


def _default_client(state: _ProcessState | None = None) -> Any:
    """A boto3 S3 client from the standard chain, made once per process (and per AWS_* environment)."""
    state = _STATE if state is None else state
    aws = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    ident = hashlib.sha256(repr(aws).encode()).hexdigest()  # never keep credentials in a key
    with state.lock:
        if ident in state.clients:
            return state.clients[ident]
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise Problem("unavailable", f"boto3 is not installed: {INSTALL_HINT}") from None
    config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                    retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
                    user_agent_extra=f"cdk-native-python/{__version__}")
    client = boto3.session.Session().client("s3", config=config)
    with state.lock:
        return state.clients.setdefault(ident, client)


def _error(exc: BaseException) -> tuple[str, int]:
    """``(error code, HTTP status)`` of a botocore ``ClientError`` (``("", 0)`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code, status if isinstance(status, int) else 0


_CREDENTIALS_REJECTED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                         "TokenRefreshRequired", "InvalidClientTokenId"}
_ALREADY_THERE = {412, 409}  # 409: a conditional write of the same key is in flight


class RemoteCache:
    """Fetch entries from, and (when configured to write) push entries to, one S3 remote cache."""

    def __init__(self, config: RemoteConfig, reporter: Reporter | None = None, *, client: Any = None,
                 tools: Callable[[], str] | None = None, state: _ProcessState | None = None) -> None:
        self.config = config
        self.reporter = reporter if reporter is not None else Reporter()
        self._client = client
        #: warnings said, endpoints given up, clients made: shared by the process's caches unless given
        self._state = _STATE if state is None else state
        self._bucket, self._prefix = config.bucket, config.prefix
        #: the tool versions a pointer records (ours and uv's, as the caller's keys include them)
        self._tools = tools
        self._signer: signing.Signer | None = None

    # -- layout -----------------------------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return "/".join((self._prefix, LAYOUT, *parts) if self._prefix else (LAYOUT, *parts))

    def pointer_key(self, kind: str, key: str) -> str:
        if not _KIND.fullmatch(kind) or not _KEY.fullmatch(key):
            raise ValueError(f"not a cache kind and key: {kind!r}, {key!r}")
        return self._key("ac", kind, f"{key}.json")

    def content_key(self, digest: str) -> str:
        return self._key("cas", "sha256", digest[:2], digest)

    # -- reading ----------------------------------------------------------------------------------------
    def fetch(self, kind: str, key: str, dest: Path) -> bool:
        """Fill the empty folder ``dest`` with the entry ``(kind, key)`` if the remote has it.

        Returns ``False`` on a miss and on any failure (after one warning per kind of failure per
        process); never raises for a remote problem, and never leaves anything in ``dest`` then.
        """
        pointer_key = self.pointer_key(kind, key)
        if any(dest.iterdir()):
            raise ValueError(f"{dest} is not empty")
        try:
            return self._fetch(kind, key, pointer_key, dest, time.monotonic() + self.config.timeout)
        except Exception as exc:  # the remote tier never fails a build (and unpack left dest empty)
            self._failed(exc, "read", f"reading {kind}/{key}", "building locally")
            return False

    def _fetch(self, kind: str, key: str, pointer_key: str, dest: Path, deadline: float) -> bool:
        client = self._client_for("read")
        if client is None:
            return False
        pointer = self._read_pointer(client, pointer_key, deadline)
        if pointer is None:
            return False  # a plain miss
        pointer.check(kind, key, self.config.trusted_keys, pointer_key)
        content_key = self.content_key(pointer.digest)
        with tempfile.TemporaryFile(dir=dest.parent) as spool:
            self._download(client, pointer, pointer_key, content_key, spool, deadline)
            spool.seek(0)
            try:
                archive.unpack(spool, pointer.format, dest, deadline=deadline)
            except archive.CodecMissing as exc:
                raise Problem("unavailable", f"{exc}: {INSTALL_HINT}") from None
            except archive.DeadlinePassed:
                raise self._late(content_key) from None
            except archive.ArchiveError as exc:
                raise Problem("corrupt", f"{content_key} refused: {exc}") from None
        return True

    def _late(self, object_key: str) -> Problem:
        return Problem("timeout", f"{object_key} took longer than {self.config.timeout:g} s to fetch and unpack "
                                  f"({TIMEOUT_ENV})")

    def _read_pointer(self, client: Any, pointer_key: str, deadline: float | None = None) -> Pointer | None:
        """The pointer stored at ``pointer_key``, ``None`` if there is none."""
        try:
            response = client.get_object(Bucket=self._bucket, Key=pointer_key)
        except Exception as exc:
            if _error(exc)[0] in ("NoSuchKey", "404"):
                return None
            raise
        with _Deadline(response["Body"], deadline, lambda: self._late(pointer_key)) as clock:
            data = clock.read_all(MAX_POINTER_BYTES + 1)
        return Pointer.parse(data if len(data) <= MAX_POINTER_BYTES else b"", pointer_key)

    def _download(self, client: Any, pointer: Pointer, pointer_key: str, content_key: str, spool: IO[bytes],
                  deadline: float | None = None) -> None:
        """Stream the content into ``spool``, checking its size and sha256 against the pointer."""
        try:
            response = client.get_object(Bucket=self._bucket, Key=content_key)
        except Exception as exc:
            if _error(exc)[0] in ("NoSuchKey", "404"):
                raise Problem("missing", f"{pointer_key} points at {content_key}, which is missing "
                                         "(expired by a lifecycle rule?)") from None
            raise
        if response.get("ContentLength", pointer.size) != pointer.size:
            response["Body"].close()
            raise Problem("corrupt", f"{content_key} has {response['ContentLength']} bytes, "
                                     f"its pointer says {pointer.size}")
        sha, size = hashlib.sha256(), 0
        with _Deadline(response["Body"], deadline, lambda: self._late(content_key)) as clock:
            for chunk in clock.chunks():
                size += len(chunk)
                if size > pointer.size:
                    break
                sha.update(chunk)
                spool.write(chunk)
        if size != pointer.size or sha.hexdigest() != pointer.digest:
            raise Problem("corrupt", f"{content_key} does not match its sha256 (tampered with or damaged)")

    # -- writing ----------------------------------------------------------------------------------------
    def push(self, kind: str, key: str, src: Path) -> None:
        """Share the folder ``src`` as the entry ``(kind, key)``; does nothing unless ``config.write``.

        Create-only: when the remote already has the key (or the content), that counts as success.
        Any remote failure is one warning; a signing key that cannot be used is a ``ConfigurationError``,
        raised before anything is uploaded.
        """
        if not self.config.write:
            return
        pointer_key = self.pointer_key(kind, key)
        signer = self._signing()
        try:
            self._push(kind, key, pointer_key, src, signer)
        except Exception as exc:  # the remote tier never fails a build
            self._failed(exc, "write", f"sharing {kind}/{key}", "not shared")

    def _signing(self) -> signing.Signer | None:
        """The writer's key, loaded once (importing ``cryptography``); it must be one the readers trust."""
        material = self.config.signing_key
        if material is None or self._signer is not None:
            return self._signer
        signer = material.signer()
        trusted = self.config.trusted_keys
        if trusted and signer.public.id not in {k.id for k in trusted}:
            raise ConfigurationError(
                f"the signing key of {material.where} (id {signer.public.id}) is not among the trusted keys of "
                f"remote cache {self.config.location}: its readers would refuse every entry it signs",
                f"add its public key {signer.public.line} to remoteCacheTrustedKeys in cdk.json, or use a trusted "
                "key", code="remote-signing-key-untrusted")
        self._signer = signer
        return signer

    def _push(self, kind: str, key: str, pointer_key: str, src: Path, signer: signing.Signer | None) -> None:
        client = self._client_for("write")
        if client is None:
            return
        existing = self._read_pointer(client, pointer_key, time.monotonic() + self.config.timeout)
        if existing is not None:
            try:
                existing.check(kind, key, self.config.trusted_keys, pointer_key)
            except Problem as exc:  # planted, or from before signing: create-only writes cannot replace it
                raise Problem(exc.kind, f"{exc.detail}; it blocks sharing this entry until an administrator "
                                        f"deletes {pointer_key}") from None
        if existing is not None and self._exists(client, self.content_key(existing.digest)):
            return  # shared already: nothing to archive
        fmt = archive.DEFAULT_FORMAT if archive.has_codec(archive.DEFAULT_FORMAT) else archive.GZIP
        with tempfile.TemporaryFile() as spool:
            packed = archive.pack(src, spool, fmt)
            if packed.size > MAX_CONTENT_BYTES:
                raise Problem("failed", f"{src} archives to more than {MAX_CONTENT_BYTES >> 20} MiB")
            if existing is not None and existing.digest != packed.digest:
                # the pointer is create-only: only its own bytes can repair it
                raise Problem("missing", f"{pointer_key} points at {self.content_key(existing.digest)}, which is "
                                         "missing, and this machine archives the entry differently; it stays a "
                                         "miss until a lifecycle rule expires the pointer")
            spool.seek(0)
            self._put_create_only(client, self.content_key(packed.digest), spool, packed.size, packed.digest,
                                  _CONTENT_TYPES[fmt])
        if existing is None:
            pointer = Pointer(kind, key, packed.digest, packed.size, fmt,
                              self._tools() if self._tools is not None else Pointer.tool)
            body = (pointer.signed(signer) if signer is not None else pointer).to_bytes()
            self._put_create_only(client, pointer_key, body, len(body), hashlib.sha256(body).hexdigest(),
                                  "application/json")

    def _exists(self, client: Any, object_key: str) -> bool:
        try:
            client.head_object(Bucket=self._bucket, Key=object_key)
        except Exception as exc:
            if _error(exc)[1] == 404:
                return False
            raise
        return True

    def _put_create_only(self, client: Any, object_key: str, body: IO[bytes] | bytes, size: int, digest: str,
                         content_type: str) -> None:
        checksum = base64.b64encode(bytes.fromhex(digest)).decode()
        try:
            client.put_object(Bucket=self._bucket, Key=object_key, Body=body, ContentLength=size,
                              ChecksumSHA256=checksum, IfNoneMatch="*", ContentType=content_type)
        except Exception as exc:
            if _error(exc)[1] in _ALREADY_THERE:
                return  # another writer got there first: for content-addressed objects, the same bytes
            raise

    # -- failures ---------------------------------------------------------------------------------------
    def _client_for(self, operation: str) -> Any:
        """The client, or ``None`` when this process gave up on the remote (for ``operation``)."""
        state = self._state
        with state.lock:
            if (self.config.location, operation) in state.off or (self.config.location, "all") in state.off:
                return None
        client = self._client if self._client is not None else _default_client(state)
        self._client = client
        with state.lock:
            if (_endpoint(client), "all") in state.off:
                return None
        return client

    def _failed(self, exc: Exception, operation: str, doing: str, fallback: str) -> None:
        kind, detail = self._classify(exc, operation)
        off = {"unreachable": (_endpoint(self._client), "all"), "credentials": (self.config.location, "all"),
               "unavailable": (self.config.location, "all"),
               "write-denied": (self.config.location, "write"), "timeout": (self.config.location, "read")}.get(kind)
        code = f"remote-cache-{kind}"
        with self._state.lock:
            if off is not None:
                self._state.off.setdefault(off, detail)
            if (self.config.location, code) in self._state.warned:
                return
            self._state.warned.add((self.config.location, code))
        message = f"remote cache {self.config.location}: {detail} while {doing}; {fallback}"
        self.reporter.warn(code, _scrub(redact(message)))

    def _classify(self, exc: Exception, operation: str) -> tuple[str, str]:
        """``(failure kind, what happened)`` for any exception a fetch or push can meet."""
        if isinstance(exc, Problem):
            return exc.kind, exc.detail
        name = type(exc).__name__
        code, status = _error(exc)
        endpoint = _endpoint(self._client)
        if code in _CREDENTIALS_REJECTED:
            return "credentials", f"the credentials were rejected ({code})"
        if code == "AccessDenied" or status == 403:
            if operation == "write":
                return "write-denied", (f"access denied ({code or status}; writers need s3:PutObject and "
                                        "s3:GetObject on the prefix)")
            return "denied", (f"access denied ({code or status}; readers need s3:GetObject on the prefix and "
                              "s3:ListBucket, without which a miss is a 403 too)")
        if code == "NoSuchBucket":
            return "failed", f"the bucket {self._bucket} does not exist"
        if code or status:
            return "failed", f"the server answered {code or status}"
        if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
            return "credentials", "no usable AWS credentials were found (standard AWS chain)"
        if name == "ConnectTimeoutError":
            return "unreachable", f"connect timeout to {endpoint}"
        if name == "ReadTimeoutError":
            return "unreachable", f"read timeout from {endpoint}"
        if name in ("EndpointConnectionError", "ConnectionClosedError", "ProxyConnectionError",
                    "ResponseStreamingError", "HTTPClientError", "SSLError") or isinstance(exc, ConnectionError):
            return "unreachable", f"cannot connect to {endpoint} ({name})"
        if isinstance(exc, OSError):
            return "failed", f"a local error: {exc.strerror or exc}"
        if isinstance(exc, archive.ArchiveError):
            return "failed", str(exc)
        return "failed", f"{name}: {excerpt(str(exc), 100)}"


def _endpoint(client: Any) -> str:
    """The endpoint a client talks to, without any credential in it."""
    url = str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "the S3 endpoint")
    return _shown(url)


class _Deadline:
    """Reads of one response body that end at ``deadline`` (``time.monotonic()``), however slowly it comes.

    The time left is checked between reads and bounds the socket's timeout, and a timer shuts the socket down
    at the deadline, which ends a read blocked inside ``recv`` (a server sending a byte now and then never lets
    a per-read timeout fire). ``late()`` is the :class:`Problem` to raise then.
    """

    def __init__(self, body: Any, deadline: float | None, late: Callable[[], Problem]) -> None:
        self.body, self.deadline, self.late = body, deadline, late
        self.sock = _socket_of(body)
        self.fired = threading.Event()
        self.timer: threading.Timer | None = None

    def __enter__(self) -> _Deadline:
        if self.deadline is not None:
            self.timer = threading.Timer(max(self.deadline - time.monotonic(), 0), self._fire)
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.fired.is_set() or exc is not None:
            with contextlib.suppress(Exception):  # a half-read response never goes back to the connection pool
                self.body.close()
        if self.fired.is_set() and (exc is None or isinstance(exc, Exception)):
            raise self.late() from None

    def _fire(self) -> None:
        self.fired.set()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def _tick(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0 or self.fired.is_set():
            self.fired.set()
            raise self.late()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.settimeout(min(READ_TIMEOUT, left))

    def chunks(self) -> Iterator[bytes]:
        while True:
            self._tick()
            chunk = self.body.read(_CHUNK)
            if not chunk:
                return
            yield chunk

    def read_all(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < limit:
            self._tick()
            chunk = self.body.read(min(_CHUNK, limit - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)


def _socket_of(body: Any) -> socket.socket | None:
    """The socket under a botocore ``StreamingBody`` (urllib3 2: ``_raw_stream._connection.sock``), if found."""
    raw = getattr(body, "_raw_stream", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # the connection may already be detached: the socket file behind http.client's response
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _scrub(text: str) -> str:
    """``text`` with any credential of the environment blanked out (belt and braces: none should be there)."""
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        secret = os.environ.get(name, "")
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
