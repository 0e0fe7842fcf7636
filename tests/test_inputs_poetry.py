"""poetry.lock (``inputs/poetry.py``): sources and credentials from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_native_python.inputs import poetry
from tests.inputhelpers import FIXTURES


def test_poetry_sources_and_env_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    lock = (FIXTURES / "poetry2" / "poetry.lock").read_text()
    lock = lock.replace(
        'name = "orjson"\nversion = "3.13.0"\n',
        'name = "orjson"\nversion = "3.13.0"\nsource = {type = "legacy", url = "https://corp.example/simple", '
        'reference = "corp"}\n',
    )
    (folder / "poetry.lock").write_text(lock)
    manifest = (FIXTURES / "poetry2" / "pyproject.toml").read_text()
    manifest += (
        '\n[[tool.poetry.source]]\nname = "corp"\nurl = "https://corp.example/simple"\npriority = "supplemental"\n'
    )
    manifest += (
        '\n[[tool.poetry.source]]\nname = "unused"\nurl = "https://unused.example/simple"\npriority = "explicit"\n'
    )
    (folder / "pyproject.toml").write_text(manifest)
    monkeypatch.setenv("POETRY_HTTP_BASIC_CORP_USERNAME", "bob")
    monkeypatch.setenv("POETRY_HTTP_BASIC_CORP_PASSWORD", "pa ss")
    spec = poetry.read(folder / "poetry.lock")
    assert spec.indexes.index_url == "https://pypi.org/simple"
    assert spec.indexes.extra_index_urls == ("https://bob:pa%20ss@corp.example/simple",)
    assert "bob" not in json.dumps(spec.key())
