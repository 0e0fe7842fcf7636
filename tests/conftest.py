"""Shared fixtures: the hermetic wheel index (built once per session), a real S3 server, a clean environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import s3server
from tests.s3server import S3Server
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
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh empty bucket on the test server; the remote tier's per-process memory starts clean."""
    from cdk_native_python.store.remote import reset_process_state

    reset_process_state()
    return s3_server.new_bucket()
