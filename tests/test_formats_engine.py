"""Every dependency format, bundled end to end by the engine for two targets, yields the same set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

pytestmark = pytest.mark.pypi
FORMATS = Path(__file__).parent / "fixtures" / "formats"
LOCKED = ["uv", "poetry1", "poetry2", "pipfile", "pylock"]
TARGETS = [Target.from_runtime("python3.12", "arm64"), Target.from_runtime("python3.11", "x86_64")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("formats-cache"))


def bundle(fmt: str, target: Target, root: Path, cache: LocalStore) -> dict[str, str]:
    entry = root / fmt
    shutil.copytree(FORMATS / fmt, entry)
    (entry / "index.py").write_text("def handler(event, context):\n    return 1\n")
    result = build(BuildRequest(entry=entry, target=target), root / f"out-{fmt}", cache)
    so = [p for p in (root / f"out-{fmt}").rglob("*.so")]
    assert so, "orjson's extension module should be there"
    machine = 183 if target.machine == "aarch64" else 62
    assert all(int.from_bytes(p.read_bytes()[18:20], "little") == machine for p in so)
    return result.packages


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_all_lock_formats_install_the_same_set(tmp_path: Path, cache: LocalStore, target: Target) -> None:
    sets = {fmt: bundle(fmt, target, tmp_path, cache) for fmt in LOCKED}
    reference = sets["uv"]
    assert "orjson" in reference and "appnope" not in reference
    for fmt, packages in sets.items():
        assert packages == reference, fmt


def test_requirements_and_pyproject_resolve_the_same_names(tmp_path: Path, cache: LocalStore) -> None:
    target = TARGETS[0]
    reference = bundle("uv", target, tmp_path, cache)
    deps = ["orjson>=3.10", "click>=8.1", "python-dateutil>=2.9", "appnope>=0.1.4; sys_platform == 'darwin'"]
    req = tmp_path / "req"
    req.mkdir()
    (req / "index.py").write_text("")
    (req / "requirements.txt").write_text("\n".join(deps) + "\n")
    pyproj = tmp_path / "pyproj"
    pyproj.mkdir()
    (pyproj / "index.py").write_text("")
    (pyproj / "pyproject.toml").write_text(
        '[project]\nname = "fn"\nversion = "0"\ndependencies = [' + ", ".join(f'"{d}"' for d in deps) + "]\n")
    from_requirements = build(BuildRequest(entry=req, target=target), tmp_path / "o1", cache).packages
    from_pyproject = build(BuildRequest(entry=pyproj, target=target), tmp_path / "o2", cache).packages
    assert set(from_requirements) == set(from_pyproject) == set(reference)
    assert "appnope" not in from_pyproject


def test_local_path_dependency_is_built_and_included(tmp_path: Path, cache: LocalStore) -> None:
    lib = tmp_path / "libs" / "shared_lib"
    (lib / "shared_lib").mkdir(parents=True)
    (lib / "shared_lib" / "__init__.py").write_text("VALUE = 1\n")
    (lib / "pyproject.toml").write_text(
        '[project]\nname = "shared-lib"\nversion = "0.1"\ndependencies = ["six"]\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n')
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("")
    (entry / "requirements.txt").write_text("../libs/shared_lib\n")
    target = TARGETS[0]
    first = build(BuildRequest(entry=entry, target=target), tmp_path / "o1", cache)
    assert {"shared-lib", "six"} <= set(first.packages)
    assert (tmp_path / "o1" / "shared_lib" / "__init__.py").read_text() == "VALUE = 1\n"
    # editing the local package invalidates the caches: the new content is bundled
    (lib / "shared_lib" / "__init__.py").write_text("VALUE = 2\n")
    second = build(BuildRequest(entry=entry, target=target), tmp_path / "o2", cache)
    assert not second.resolve_hit
    assert (tmp_path / "o2" / "shared_lib" / "__init__.py").read_text() == "VALUE = 2\n"
