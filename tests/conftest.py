"""Shared fixtures: the hermetic wheel index (built once per session) and a clean environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.wheelfactory import WheelIndex, standard_index


@pytest.fixture(scope="session")
def wheel_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    index = standard_index(tmp_path_factory.mktemp("wheel-index"))
    yield index
    index.close()
