"""Ed25519 signatures on the remote tier's pointers: trusted CI signs, readers accept only what it signed.

A pointer (``ac/<kind>/<key>.json``) says which content holds an entry. Without signatures anyone who can
write to the bucket decides what readers unpack; with them, a reader that lists trusted public keys accepts
a pointer only when one of those keys signed :func:`signed_bytes` of it: the schema, the kind, the key, the
content's digest, size and format and the tool versions. The signature is therefore bound to its key: a
signed pointer copied under another key, or with any field changed, fails.

Keys, as the user writes them:

* a **public key** (cdk.json context ``remoteCacheTrustedKeys``, ``--remote-cache-trusted-key``,
  ``$CDK_NATIVE_PYTHON_REMOTE_CACHE_TRUSTED_KEYS``): ``ed25519:<base64 of the raw 32 bytes>``; its id is the
  first 16 hex digits of the sha256 of those bytes;
* the **private key** of a writer, never in cdk.json: ``$CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY`` (PKCS#8
  PEM, or the base64 of the raw 32-byte seed) or ``$CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY_FILE`` (a path
  to either). ``cdk-native-python cache keygen FILE`` makes one.

Parsing the text forms needs nothing but base64; the ``cryptography`` module (the ``[s3]`` extra) is
imported only to sign a pointer or check a signature, i.e. on the remote path, never on a warm build.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import settings
from ..core.errors import ConfigurationError, excerpt

TRUSTED_KEYS_ENV = settings.REMOTE_CACHE_TRUSTED_KEYS.name
SIGNING_KEY_ENV = settings.REMOTE_CACHE_SIGNING_KEY.name
SIGNING_KEY_FILE_ENV = settings.REMOTE_CACHE_SIGNING_KEY_FILE.name
PUBLIC_PREFIX = "ed25519:"
#: what a signature covers starts with this, so it can never be mistaken for another message of ours
DOMAIN = b"cdk-native-python remote pointer signature v1\n"
INSTALL_HINT = "pip install 'cdk-native-python[s3]'"
_PEM_PRIVATE = b"-----BEGIN PRIVATE KEY-----"
_MAX_KEY_FILE = 16 << 10
_PUBLIC_HINT = ("write each trusted key as ed25519:<base64 of the raw 32-byte public key>, as "
                "`cdk-native-python cache keygen` prints it")


def key_id(raw: bytes) -> str:
    """The id of a public key: the first 16 hex digits of the sha256 of its raw 32 bytes."""
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """A trusted public key (raw 32 bytes)."""

    raw: bytes = field(repr=False)

    @property
    def id(self) -> str:
        return key_id(self.raw)

    @property
    def line(self) -> str:
        """How cdk.json, the flag and the environment variable write it."""
        return PUBLIC_PREFIX + base64.b64encode(self.raw).decode()

    @classmethod
    def parse(cls, text: str, where: str) -> PublicKey:
        """``ed25519:<base64>`` or a :class:`ConfigurationError` naming ``where`` (never echoing a private key)."""
        value = text.strip()
        if "PRIVATE" in value.upper():
            raise private_key_error(where)
        if not value.startswith(PUBLIC_PREFIX):
            raise ConfigurationError(f"{where}: {excerpt(value, 20)!r} is not a trusted key (it must start with "
                                     f"{PUBLIC_PREFIX})", _PUBLIC_HINT, code="remote-cache-trusted-key")
        raw = _b64(value[len(PUBLIC_PREFIX):])
        if raw is None or len(raw) != 32:
            raise ConfigurationError(f"{where}: {excerpt(value, 20)!r} is not an Ed25519 public key (base64 of "
                                     "32 bytes)", _PUBLIC_HINT, code="remote-cache-trusted-key")
        return cls(raw)


def private_key_error(where: str) -> ConfigurationError:
    return ConfigurationError(
        f"{where} holds a private key: a signing key never belongs in cdk.json, options or trusted keys",
        f"remove it (and make a new key: this one is exposed); give CI the private key through {SIGNING_KEY_ENV} "
        f"or {SIGNING_KEY_FILE_ENV}, and list only its public key (ed25519:...) as trusted",
        code="remote-signing-key-exposed")


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_trusted(values: Sequence[str], where: str) -> tuple[PublicKey, ...]:
    """Every key of ``values`` (each may hold several, separated by commas or white space), in order, once."""
    keys: dict[bytes, PublicKey] = {}
    for value in values:
        for part in value.replace(",", " ").split():
            key = PublicKey.parse(part, where)
            keys.setdefault(key.raw, key)
    return tuple(keys.values())


def trusted_from_env(environ: Mapping[str, str] = os.environ) -> tuple[PublicKey, ...]:
    return parse_trusted([settings.REMOTE_CACHE_TRUSTED_KEYS.raw(environ) or ""], f"${TRUSTED_KEYS_ENV}")


@dataclass(frozen=True)
class KeyMaterial:
    """A writer's private key as read (PEM or raw seed) and where it came from; turned into a key on first use."""

    data: bytes = field(repr=False)
    where: str

    def signer(self) -> Signer:
        """The key, or a :class:`ConfigurationError` naming where it came from. Imports ``cryptography``."""
        ed25519, serialization = _crypto(f"signing remote cache entries ({self.where})")
        try:
            if self.data.startswith(_PEM_PRIVATE):
                key = serialization.load_pem_private_key(self.data, password=None)
            else:
                key = ed25519.Ed25519PrivateKey.from_private_bytes(self.data)
        except (ValueError, TypeError) as exc:
            raise _bad_key(self.where, excerpt(str(exc).splitlines()[0] if str(exc) else "unreadable", 80)) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise _bad_key(self.where, f"it is a {type(key).__name__.removeprefix('_')}, not an Ed25519 key")
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Signer(key, PublicKey(raw))


def _bad_key(where: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"{where} is not an Ed25519 private key ({why})",
                              "use a key made by `cdk-native-python cache keygen FILE` (PKCS#8 PEM) or the base64 "
                              "of a raw 32-byte Ed25519 seed", code="remote-signing-key-invalid")


def signing_key_from_env(environ: Mapping[str, str] = os.environ) -> KeyMaterial | None:
    """The writer's key from ``$CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY`` or ``..._FILE`` (``None`` if neither).

    Checks its form (PEM, or base64 of 32 bytes) without importing ``cryptography``; errors name the variable.
    """
    inline = settings.REMOTE_CACHE_SIGNING_KEY.raw(environ) or ""
    path = settings.REMOTE_CACHE_SIGNING_KEY_FILE.raw(environ) or ""
    if inline and path:
        raise ConfigurationError(f"both ${SIGNING_KEY_ENV} and ${SIGNING_KEY_FILE_ENV} are set",
                                 "set one of them", code="remote-signing-key-invalid")
    if path:
        where = f"${SIGNING_KEY_FILE_ENV} ({excerpt(path, 80)})"
        try:
            with open(path, "rb") as f:
                text = f.read(_MAX_KEY_FILE + 1).decode("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
            raise ConfigurationError(f"cannot read the signing key file {where}: {why}",
                                     f"point {SIGNING_KEY_FILE_ENV} at the file `cdk-native-python cache keygen` "
                                     "wrote", code="remote-signing-key-invalid") from None
    elif inline:
        where, text = f"${SIGNING_KEY_ENV}", inline
    else:
        return None
    if text.startswith(_PEM_PRIVATE.decode()):
        return KeyMaterial(text.encode() + b"\n", where)
    raw = _b64(text)
    if raw is None or len(raw) != 32:
        raise _bad_key(where, "neither a PEM 'PRIVATE KEY' block nor the base64 of 32 bytes")
    return KeyMaterial(raw, where)


@dataclass(frozen=True)
class Signer:
    """A loaded private key and its public half."""

    key: Any = field(repr=False)
    public: PublicKey

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.key.sign(message)).decode()


def signed_bytes(fields: Mapping[str, object]) -> bytes:
    """The canonical bytes a pointer's signature covers: the domain line, then its fields as sorted, compact
    JSON (every field is a plain string or integer, so the bytes are the same on every machine)."""
    return DOMAIN + json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def verify(trusted: Sequence[PublicKey], signer_id: str, signature: str, message: bytes) -> str | None:
    """``None`` when the trusted key ``signer_id`` signed ``message``, else why not (imports ``cryptography``)."""
    key = next((k for k in trusted if k.id == signer_id), None)
    if key is None:
        return f"signed by key {signer_id}, which is not a trusted key"
    sig = _b64(signature)
    if sig is None or len(sig) != 64:
        return "its signature is not an Ed25519 signature"
    ed25519, _ = _crypto("checking remote cache signatures")
    from cryptography.exceptions import InvalidSignature

    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key.raw).verify(sig, message)
    except InvalidSignature:
        return f"its signature does not match its fields (key {signer_id})"
    return None


class CryptoMissing(ConfigurationError):
    """``cryptography`` is not installed."""


def _crypto(doing: str) -> tuple[Any, Any]:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise CryptoMissing(f"{doing} needs the cryptography module", INSTALL_HINT,
                            code="remote-signing-unavailable") from None
    return ed25519, serialization


def keygen(path: Path) -> PublicKey:
    """Write a new private key (PKCS#8 PEM, mode 0600) to the new file ``path``; return its public key.

    Refuses to overwrite anything (``O_EXCL``), so an existing key is never lost.
    """
    ed25519, serialization = _crypto("making a signing key")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists already: keygen never overwrites a key",
                                 "pass the path of a new file", code="remote-signing-key-exists") from None
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, 0o600)  # exact mode, whatever the umask
        f.write(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(raw)
