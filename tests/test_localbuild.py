"""Nothing runs by surprise: a dependency's build code (setup.py) never runs unless the user allowed that package.

``sdistonly`` is published only as an sdist whose ``setup.py`` writes the file named by
``$WHEELFACTORY_SENTINEL`` when it runs, so the sentinel's existence tells whether its code ran on this host.
A native sdist the user allowed is refused clearly; a local path dependency is built into a wheel (``pypi``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import (
    ResolutionError,
)
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.pipeline.engine import BuildRequest, build, prepare
from cdk_native_python.store.local import LocalStore
from tests.helpers import ARM312, build_later, build_request, fails, says, write_function


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "setup-py-ran"
    monkeypatch.setenv("WHEELFACTORY_SENTINEL", str(path))
    return path


def _entry(tmp_path: Path, requirements: str) -> Path:
    return write_function(tmp_path, requirements,
                          files={"index.py": "import sdistonly\n\ndef handler(event, context):\n    return 'ok'\n"})


def _request(entry: Path, index: Any, via: str, **kw: Any) -> BuildRequest:
    indexes = (IndexOptions(index_url=index.url) if via == "http"
               else IndexOptions(no_index=True, find_links=(index.find_links,)))
    return BuildRequest(entry=entry, target=ARM312, indexes=indexes, **kw)


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


# -- build requirements of the user's own local packages (issue 16, case 4) ---------------------------------------

# A PEP 517 backend in the local package itself (no index needed for the backend): it imports its build
# requirement, so the wheel exists only if that requirement really was installed into the build environment.
_LOCAL_BACKEND = '''
import os, zipfile
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import sdistonly  # the declared build requirement
    name = "locallib-0.1-py3-none-any.whl"
    files = {"locallib/__init__.py": b"VALUE = 1\\n",
             "locallib-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: locallib\\nVersion: 0.1\\n",
             "locallib-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = "locallib-0.1.dist-info/RECORD"
    files[record] = "".join(k + ",,\\n" for k in [*files, record]).encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return name
'''


def _local_package(tmp_path: Path) -> Path:
    lib = tmp_path / "libs" / "locallib"
    lib.mkdir(parents=True)
    (lib / "pyproject.toml").write_text('[project]\nname = "locallib"\nversion = "0.1"\n[build-system]\n'
                                        'requires = ["sdistonly"]\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (lib / "backend.py").write_text(_LOCAL_BACKEND)
    return lib


@pytest.mark.parametrize("line", ["../libs/locallib", "-e ../libs/locallib"])
def test_a_local_packages_sdist_only_build_requirement_never_runs_unless_allowed(
        tmp_path: Path, wheel_index: Any, sentinel: Path, line: str) -> None:
    _local_package(tmp_path)
    entry = _entry(tmp_path, f"{line}\n")
    cache = LocalStore(tmp_path / "cache")
    with pytest.raises(ResolutionError) as info:
        build(_request(entry, wheel_index, "http"), tmp_path / "out", cache)
    message, hint = str(info.value), info.value.hint or ""
    assert "sdistonly" in message and "locallib" in message  # names the requirement and whose build needs it
    assert "allow_build=['sdistonly']" in hint + message
    assert not sentinel.exists(), "the build requirement's setup.py ran although it was not allowed to build"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not (cache.root / "wheels").exists() or not any((cache.root / "wheels").iterdir())


def test_a_local_packages_build_requirement_is_built_when_allowed(tmp_path: Path, wheel_index: Any,
                                                                 sentinel: Path) -> None:
    _local_package(tmp_path)
    entry = _entry(tmp_path, "../libs/locallib\n")
    result = build(_request(entry, wheel_index, "http", allow_build=("sdistonly",)), tmp_path / "out",
                   LocalStore(tmp_path / "cache"))
    assert sentinel.read_text() == "sdistonly\n"
    assert "locallib" in result.packages and "sdistonly" not in result.packages  # a build-time need only
    assert (tmp_path / "out" / "locallib" / "__init__.py").read_text() == "VALUE = 1\n"


NATIVE_SETUP = '''\
from setuptools import Extension, setup
setup(name="brokennative", version="1.0", packages=["brokennative"],
      ext_modules=[Extension("brokennative._speedups", ["brokennative/_speedups.c"])])
'''


def _native_sdist(folder: Path, c_source: str) -> Path:
    import tarfile

    src = folder / "brokennative-1.0"
    (src / "brokennative").mkdir(parents=True)
    (src / "brokennative" / "__init__.py").write_text("")
    (src / "brokennative" / "_speedups.c").write_text(c_source)
    (src / "setup.py").write_text(NATIVE_SETUP)
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: brokennative\nVersion: 1.0\n")
    (src / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\n'
                                        'build-backend = "setuptools.build_meta"\n')
    out = folder / "dist" / "brokennative-1.0.tar.gz"
    out.parent.mkdir()
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return out.parent


@pytest.mark.pypi  # the sdist's build backend (setuptools) comes from PyPI
@pytest.mark.parametrize("c_source", ["#error this extension does not build\n",
                                      "#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "
                                      "\"_speedups\"};\nPyMODINIT_FUNC PyInit__speedups(void) "
                                      "{ return PyModule_Create(&m); }\n"],
                         ids=["build-fails", "builds-native-for-the-host"])
def test_09_native_sdist_allowed_is_refused_clearly(tmp_path: Path, c_source: str) -> None:
    dist = _native_sdist(tmp_path / "pkg", c_source)
    entry = write_function(tmp_path, "brokennative\n")
    req = build_request(entry, indexes=IndexOptions(find_links=(str(dist),)), allow_build=("brokennative",))
    err = fails(ResolutionError, build_later(req, tmp_path))
    says(err, "brokennative-1.0.tar.gz", hint="brokennative")
    assert not list((tmp_path / "cache").glob("wheelhouse/*/brokennative-*.whl"))


@pytest.mark.pypi
def test_local_path_dependency_is_built_and_included(tmp_path: Path, pypi_store: LocalStore) -> None:
    lib = tmp_path / "libs" / "shared_lib"
    (lib / "shared_lib").mkdir(parents=True)
    (lib / "shared_lib" / "__init__.py").write_text("VALUE = 1\n")
    (lib / "pyproject.toml").write_text(
        '[project]\nname = "shared-lib"\nversion = "0.1"\ndependencies = ["six"]\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n')
    entry = write_function(tmp_path, "../libs/shared_lib\n", files={"index.py": ""})
    target = ARM312
    first = build(BuildRequest(entry=entry, target=target), tmp_path / "o1", pypi_store)
    assert {"shared-lib", "six"} <= set(first.packages)
    assert (tmp_path / "o1" / "shared_lib" / "__init__.py").read_text() == "VALUE = 1\n"
    # editing the local package invalidates the caches: the new content is bundled
    (lib / "shared_lib" / "__init__.py").write_text("VALUE = 2\n")
    second = build(BuildRequest(entry=entry, target=target), tmp_path / "o2", pypi_store)
    assert not second.resolve_hit
    assert (tmp_path / "o2" / "shared_lib" / "__init__.py").read_text() == "VALUE = 2\n"
