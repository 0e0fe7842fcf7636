"""Shared fixtures: the hermetic wheel index (built once per session), the tracer wheel set, real servers on
127.0.0.1 (S3, an index that wants credentials), tiny file systems, a store for the real-PyPI tier, a clean
environment for the constructs."""

from __future__ import annotations

import base64
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cdk_native_python.store.local import LocalStore
from tests import s3server
from tests.s3server import S3Server
from tests.tracerset import tracer_wheels
from tests.treehelpers import empty_dir, installed_tree
from tests.wheelfactory import WheelIndex, standard_index


@pytest.fixture(scope="session")
def wheel_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    index = standard_index(tmp_path_factory.mktemp("wheel-index"))
    yield index
    index.close()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mount tiny tmpfs file systems (root only): ``small_fs(name, options)``; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        if os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("needs root to mount a small or read-only file system")
        point = tmp_path / name
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) on 127.0.0.1, one per pytest process (see tests/s3server.py)."""
    server = s3server.start(tmp_path_factory.mktemp("s3server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh empty bucket on the test server; the remote tier's per-process memory starts clean (as a new
    process's: every RemoteCache made during the test shares this one, as the process's caches do)."""
    from cdk_native_python.store import remote

    monkeypatch.setattr(remote, "_STATE", remote._ProcessState())
    return s3_server.new_bucket()


@pytest.fixture(scope="session")
def tracer_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of ``tests/tracerset.py`` (a find-links folder): every way a package ends up in a bundle."""
    return tracer_wheels(tmp_path_factory.mktemp("tracer-wheels"))


@pytest.fixture(scope="session")
def pypi_store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    """One store for the tests that download from real PyPI (``pypi``): each wheel is fetched once."""
    return LocalStore(tmp_path_factory.mktemp("pypi-store"))


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The constructs' store in the test's own folder, progress lines as a user sees them by default."""
    monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CDK_NATIVE_PYTHON_QUIET", raising=False)


@pytest.fixture
def locked_index() -> Iterator[str]:
    """An index on 127.0.0.1 that wants basic auth ``alice:the-right-one`` (and has no package); yields its URL."""
    good = "Basic " + base64.b64encode(b"alice:the-right-one").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404 if self.headers.get("Authorization") == good else 401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.end_headers()

        do_HEAD = do_GET  # uv asks for a direct URL's headers first

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


@pytest.fixture
def attacker_server() -> Iterator[tuple[int, list[str]]]:
    """An attacker's HTTP server on 127.0.0.1 that records every path asked of it (and serves nothing);
    yields (its port, the paths)."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], paths
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tree_template(tmp_path_factory: pytest.TempPathFactory, wheel_index: WheelIndex) -> Path:
    return installed_tree(empty_dir(tmp_path_factory.mktemp("remote") / "entry"), wheel_index)


@pytest.fixture
def tree_entry(tree_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a real installed store entry (``tree/`` and ``meta.json``; tests may change it)."""
    return Path(shutil.copytree(tree_template, tmp_path / "entry"))
