"""Nothing runs by surprise: a dependency's build code (setup.py) never runs unless the user allowed that package.

``sdistonly`` is published only as an sdist whose ``setup.py`` writes the file named by
``$WHEELFACTORY_SENTINEL`` when it runs, so the sentinel's existence tells whether its code ran on this host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.engine import BuildRequest, build, prepare
from cdk_native_python.errors import ResolutionError
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

TARGET = Target.from_runtime("python3.12", "arm64")


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "setup-py-ran"
    monkeypatch.setenv("WHEELFACTORY_SENTINEL", str(path))
    return path


def _entry(tmp_path: Path, requirements: str) -> Path:
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("import sdistonly\n\ndef handler(event, context):\n    return 'ok'\n")
    (entry / "requirements.txt").write_text(requirements)
    return entry


def _request(entry: Path, index: Any, via: str, **kw: Any) -> BuildRequest:
    indexes = (IndexOptions(index_url=index.url) if via == "http"
               else IndexOptions(no_index=True, find_links=(index.find_links,)))
    return BuildRequest(entry=entry, target=TARGET, indexes=indexes, **kw)


@pytest.mark.parametrize("via", ["http", "find-links"])
@pytest.mark.parametrize("allowed", [(), ("purepkg",)], ids=["nothing-allowed", "another-package-allowed"])
def test_setup_py_never_runs_unless_its_package_is_allowed(tmp_path: Path, wheel_index: Any, sentinel: Path,
                                                            via: str, allowed: tuple[str, ...]) -> None:
    entry = _entry(tmp_path, "purepkg\nsdistonly\n")
    cache = LocalStore(tmp_path / "cache")
    with pytest.raises(ResolutionError) as info:
        build(_request(entry, wheel_index, via, allow_build=allowed), tmp_path / "out", cache)
    message = str(info.value)
    assert "sdistonly" in message and "no wheel" in message
    assert "allow_build=['sdistonly']" in message  # says how to opt in
    assert not sentinel.exists(), "sdistonly's setup.py ran although it was not allowed to build"
    assert not list((cache.root / "wheelhouse").rglob("sdistonly-*")) if (cache.root / "wheelhouse").exists() else True
    assert not (cache.root / "trees").exists() or not any((cache.root / "trees").iterdir())


def test_setup_py_runs_when_the_user_allows_that_package(tmp_path: Path, wheel_index: Any, sentinel: Path) -> None:
    entry = _entry(tmp_path, "purepkg\nsdistonly\n")
    cache = LocalStore(tmp_path / "cache")
    result = build(_request(entry, wheel_index, "http", allow_build=("sdistonly",)), tmp_path / "out", cache)
    assert sentinel.exists(), "allowed, yet sdistonly's setup.py did not run"
    assert "sdistonly" in result.packages
    assert (tmp_path / "out" / "sdistonly").exists() or list((tmp_path / "out").glob("sdistonly*.py"))
    # the wheel it built is reused: a second resolution of the same inputs runs no setup code again
    sentinel.unlink()
    plan = prepare(_request(entry, wheel_index, "http", allow_build=("sdistonly",)), cache)
    assert plan.resolve_hit and not sentinel.exists()
