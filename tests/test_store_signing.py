"""Keys and signatures of the remote cache (store/signing.py): the text forms users write, the errors that
name where a bad key came from, and that a signature covers every field of a pointer. The signed remote
entries themselves are tested against a real S3 server in tests/test_store_remote.py."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cdk_native_python.core.errors import ConfigurationError
from cdk_native_python.pipeline.options import from_context
from cdk_native_python.store import signing
from cdk_native_python.store.remote import Pointer
from cdk_native_python.store.signing import (
    SIGNING_KEY_ENV,
    SIGNING_KEY_FILE_ENV,
    TRUSTED_KEYS_ENV,
    KeyMaterial,
    PublicKey,
    signing_key_from_env,
    trusted_from_env,
)
from tests.helpers import ROOT

DIGEST = "ab" * 32


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_the_private_key_is_read_as_pem_raw_base64_or_a_file(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    key_file = tmp_path / "k.pem"
    key_file.write_text(pem(key))
    for environ in ({SIGNING_KEY_ENV: pem(key)}, {SIGNING_KEY_ENV: base64.b64encode(raw).decode()},
                    {SIGNING_KEY_FILE_ENV: str(key_file)}):
        material = signing_key_from_env(environ)
        assert material is not None and material.signer().public.raw == public
    assert signing_key_from_env({}) is None
    assert "k.pem" in signing_key_from_env({SIGNING_KEY_FILE_ENV: str(key_file)}).where  # type: ignore[union-attr]


@pytest.mark.parametrize("environ, culprit, why", [
    ({SIGNING_KEY_ENV: "not-base64!"}, f"${SIGNING_KEY_ENV}", "neither a PEM"),
    ({SIGNING_KEY_ENV: base64.b64encode(b"x" * 31).decode()}, f"${SIGNING_KEY_ENV}", "neither a PEM"),
    ({SIGNING_KEY_ENV: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}, f"${SIGNING_KEY_ENV}",
     "is not an Ed25519 private key"),
    ({SIGNING_KEY_FILE_ENV: "/nonexistent/key.pem"}, f"${SIGNING_KEY_FILE_ENV}", "No such file"),
    ({SIGNING_KEY_ENV: "x", SIGNING_KEY_FILE_ENV: "y"}, f"${SIGNING_KEY_ENV}", "both"),
])
def test_a_bad_private_key_is_one_line_naming_the_variable(environ: dict[str, str], culprit: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        material = signing_key_from_env(environ)
        assert material is not None
        material.signer()
    assert err.value.code == "remote-signing-key-invalid"
    assert culprit in err.value.message and why in err.value.message and "\n" not in err.value.message


def test_a_key_of_another_algorithm_is_refused_by_name() -> None:
    ec = generate_private_key(SECP256R1()).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()).decode()
    material = signing_key_from_env({SIGNING_KEY_ENV: ec})
    assert material is not None
    with pytest.raises(ConfigurationError) as err:
        material.signer()
    assert "not an Ed25519 key" in err.value.message and SIGNING_KEY_ENV in err.value.message


def test_trusted_keys_are_parsed_with_their_ids() -> None:
    one = PublicKey(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    two = PublicKey(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    assert PublicKey.parse(one.line, "x") == one and len(one.id) == 16
    assert trusted_from_env({TRUSTED_KEYS_ENV: f"{one.line}, {two.line}\n{one.line}"}) == (one, two)
    assert trusted_from_env({}) == ()
    for bad in ("ssh-ed25519 AAAA", "ed25519:abc", "ed25519:" + base64.b64encode(b"x" * 31).decode()):
        with pytest.raises(ConfigurationError) as err:
            trusted_from_env({TRUSTED_KEYS_ENV: bad})
        assert err.value.code == "remote-cache-trusted-key" and TRUSTED_KEYS_ENV in err.value.message


@pytest.mark.parametrize("context", [
    {"remoteCacheSigningKey": "-----BEGIN PRIVATE KEY-----\nMC4CAQ\n-----END PRIVATE KEY-----"},
    {"remoteCacheTrustedKeys": ["-----BEGIN PRIVATE KEY-----\nMC4CAQ\n-----END PRIVATE KEY-----"]},
    {"remote_cache_private_key": "c2VjcmV0"},
])
def test_a_private_key_in_cdk_json_is_an_error_naming_it(context: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as err:
        from_context(context, {})
    assert err.value.code == "remote-signing-key-exposed"
    assert repr(next(iter(context))) in err.value.message and "MC4CAQ" not in str(err.value)
    assert SIGNING_KEY_ENV in (err.value.hint or "")


def test_trusted_keys_are_a_team_default_in_cdk_json() -> None:
    line = PublicKey(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).line
    assert from_context({"remoteCacheTrustedKeys": [line]}, {}).remote_cache_trusted_keys == (line,)
    flat = from_context(None, {"remoteCacheTrustedKeys": f"{line},{line}"})
    assert flat.remote_cache_trusted_keys == (line, line)


def test_the_signature_covers_every_field() -> None:
    material = KeyMaterial(Ed25519PrivateKey.generate().private_bytes_raw(), "test")
    signer = material.signer()
    pointer = Pointer("trees", "k1", DIGEST, 10, "tar+zstd", "cdk-native-python 1.0; uv 0.5").signed(signer)
    assert Pointer.parse(pointer.to_bytes(), "x") == pointer
    pointer.check("trees", "k1", (signer.public,), "x")
    changes = {"kind": "wheels", "key": "k2", "digest": "cd" * 32, "size": 11, "format": "tar+gzip", "tool": "other"}
    for name, value in changes.items():
        forged = dataclasses.replace(pointer, **{name: value})
        assert signing.verify((signer.public,), forged.signer, forged.signature,
                              signing.signed_bytes(forged.fields())) is not None, name


def test_parsing_keys_never_imports_cryptography() -> None:
    code = ("import sys, base64; from cdk_native_python.store import signing; "
            "signing.trusted_from_env({signing.TRUSTED_KEYS_ENV: 'ed25519:' + 'A' * 43 + '='}); "
            "signing.signing_key_from_env({signing.SIGNING_KEY_ENV: base64.b64encode(bytes(32)).decode()}); "
            "print('cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
