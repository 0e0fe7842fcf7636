"""uv.lock (``inputs/uvlock.py``): index credentials from uv's variables, workspace members as local paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.inputs import pyproject, uvlock
from tests.inputhelpers import write

UV_WORKSPACE_LOCK = """
version = 1
revision = 3
requires-python = ">=3.12"

[manifest]
members = ["app", "shared"]

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "shared" }]

[package.metadata]
requires-dist = [{ name = "shared", editable = "libs/shared" }]

[[package]]
name = "shared"
version = "0.2.0"
source = { editable = "libs/shared" }
"""


def test_uv_index_credentials_from_uv_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "fn"
        version = "1"
        dependencies = ["orjson"]
        [[tool.uv.index]]
        name = "my-corp"
        url = "https://corp.example/simple"
        """,
    )
    monkeypatch.setenv("UV_INDEX_MY_CORP_USERNAME", "u")
    monkeypatch.setenv("UV_INDEX_MY_CORP_PASSWORD", "p")
    spec = pyproject.read(project)
    assert spec.indexes.extra_index_urls == ("https://u:p@corp.example/simple",)
    assert spec.key()["indexes"] == {
        "index_url": None,
        "extra_index_urls": ["https://corp.example/simple"],
        "find_links": [],
        "no_index": False,
    }


def test_uv_workspace_member_is_a_fingerprinted_path(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "app"
        version = "0.1.0"
        dependencies = ["shared"]
        [tool.uv.sources]
        shared = { workspace = true }
        [tool.uv.workspace]
        members = ["libs/*"]
        """,
    )
    member = tmp_path / "libs" / "shared"
    write(member / "pyproject.toml", '[project]\nname = "shared"\nversion = "0.2.0"\n')
    write(member / "shared" / "__init__.py", "X = 1\n")
    write(member / ".venv" / "junk.py", "ignored\n")
    write(member / ".venv" / "pyvenv.cfg", "home = /usr/bin\n")  # a virtualenv: never part of the fingerprint
    lock = write(tmp_path / "uv.lock", UV_WORKSPACE_LOCK)
    spec = uvlock.read(lock)
    assert spec.requirements == (f"shared @ {member.resolve().as_uri()}",)
    assert len(spec.path_fingerprints) == 1
    # the same through the no-lock reader
    assert pyproject.read(tmp_path / "pyproject.toml").requirements == spec.requirements
    (member / ".venv" / "junk.py").write_text("still ignored\n")
    assert uvlock.read(lock).digest() == spec.digest()
    (member / "shared" / "__init__.py").write_text("X = 2\n")
    assert uvlock.read(lock).digest() != spec.digest()
