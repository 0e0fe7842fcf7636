"""pyproject.toml without a lock (``inputs/pyproject.py``): open requirements, path sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.core.errors import InputError
from cdk_native_python.inputs import pyproject
from tests.inputhelpers import write


def test_pyproject_without_lock_is_open(tmp_path: Path) -> None:
    project = write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "fn"
        version = "1"
        dependencies = ["orjson>=3.10", "appnope; sys_platform == 'darwin'"]
        [project.optional-dependencies]
        fast = ["ujson"]
        all = ["fn[fast]", "click"]
        [dependency-groups]
        test = ["iniconfig"]
        dev = [{include-group = "test"}, "six"]
        [[tool.uv.index]]
        name = "corp"
        url = "https://corp.example/simple"
        default = true
        [[tool.uv.index]]
        name = "extra"
        url = "https://extra.example/simple"
        """,
    )
    spec = pyproject.read(project, extras=["all"], groups=["dev"])
    assert not spec.locked and spec.kind == "pyproject.toml"
    assert spec.requirements == (
        "orjson>=3.10",
        'appnope; sys_platform == "darwin"',
        "ujson",
        "click",
        "iniconfig",
        "six",
    )
    assert spec.indexes.index_url == "https://corp.example/simple"
    assert spec.indexes.extra_index_urls == ("https://extra.example/simple",)
    with pytest.raises(InputError, match="extra 'nope' is not defined"):
        pyproject.read(project, extras=["nope"])
    with pytest.raises(InputError, match="dependency group 'nope'"):
        pyproject.read(project, groups=["nope"])


def test_pyproject_path_source(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "lib" / "__init__.py", "")
    write(tmp_path / "lib" / "pyproject.toml", "[project]\nname = 'lib'\nversion = '1'\n")  # a buildable project
    project = write(
        tmp_path / "fn" / "pyproject.toml",
        """
        [project]
        name = "fn"
        version = "1"
        dependencies = ["lib; python_version >= '3.9'"]
        [tool.uv.sources]
        lib = { path = "../lib", editable = true }
        """,
    )
    spec = pyproject.read(project)
    assert spec.requirements == (f'lib @ {(tmp_path / "lib").resolve().as_uri()} ; python_version >= "3.9"',)
    assert spec.path_fingerprints
