"""Shared fixtures: the hermetic wheel index (built once per session) and a clean environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
