"""uv.lock (``inputs/uvlock.py``): index credentials from uv's variables, workspace members as local paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.target import Target
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


def test_markers_on_transitive_edges_of_a_uv_lock_are_decided_for_each_target(tmp_path: Path, wheel_index: Any) -> None:
    """A uv.lock made by the real ``uv lock`` whose root needs ``markerdeps``, whose own edges carry
    ``platform_machine == 'aarch64'`` and ``python_version >= '3.13'``: bundled on this (x86_64) machine for
    arm64/python3.12 and for x86_64/python3.13, each target gets its packages and only those."""
    import os
    import subprocess

    from tests.helpers import ARM312, engine_build, write_function
    from tests.wheelfactory import find_uv

    entry = write_function(tmp_path, None, files={"pyproject.toml": (
        '[project]\nname = "fn"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["markerdeps"]\n\n'
        f'[tool.uv]\npackage = false\n\n[[tool.uv.index]]\nurl = "{wheel_index.url}"\ndefault = true\n')})
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    made = subprocess.run([find_uv(), "lock", "--quiet", "--python", "3.11"], cwd=entry,
                          capture_output=True, text=True, check=False,
                          env={**env, "UV_PYTHON_DOWNLOADS": "never", "UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    assert made.returncode == 0, made.stderr
    lock = (entry / "uv.lock").read_text()
    # the markers sit on markerdeps' own edges, not on the root's
    assert "platform_machine == 'aarch64'" in lock and "python_full_version >= '3.13'" in lock
    arm = engine_build(tmp_path, entry, ARM312, index=wheel_index)
    assert set(arm.packages) == {"markerdeps", "armonly"}, arm.packages
    x86 = engine_build(tmp_path, entry, Target.from_runtime("python3.13", "x86_64"), index=wheel_index, out="out2")
    assert set(x86.packages) == {"markerdeps", "x86only", "py313only"}, x86.packages
