"""Every bundling option that decides a bundle's bytes decides its asset hash (and nothing else does).

CDK reuses a staged asset whose hash it already knows: an option that changes the bundle without changing
the hash would ship a stale asset. Each option gets a scenario in which it matters; the test fails when a new
option is added to ``BundlingOptions`` without one.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.reporter import silent
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import prepare
from cdk_native_python.pipeline.options import DOCKER_ONLY, BundlingOptions
from cdk_native_python.store.local import LocalStore
from tests.wheelfactory import WheelIndex, build_wheel

PY311 = Target.from_runtime("python3.11", "x86_64")  # the host's version: compile_bytecode finds an interpreter

PYPROJECT = """\
[project]
name = "fn"
version = "1.0"
dependencies = ["purepkg", "boto3"]
[project.optional-dependencies]
x = ["usesattrs"]
[dependency-groups]
g = ["six"]
"""


class Hooks:
    def before_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [f"echo hello > {output_dir}/hello.txt"]

    def after_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return []


@pytest.fixture(scope="module")
def other_index(wheel_index: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    """The standard packages plus a newer purepkg: another source gives another bundle."""
    folder = tmp_path_factory.mktemp("other-index")
    for f in Path(wheel_index.root).iterdir():
        shutil.copy(f, folder)
    build_wheel(folder, "purepkg", "1.1", requires=("depa",), files={"purepkg/__init__.py": b"NEWER = 1\n"})
    with WheelIndex(folder) as index:
        yield index


def scenarios(other: WheelIndex) -> dict[str, Any]:
    """option -> the value under test (each in an entry where it matters; some are compared specially below)."""
    return {
        "asset_excludes": ("README.md",),
        "dependency_file": "other-requirements.txt",
        "groups": ("g",),
        "extras": ("x",),
        "resolve_pipfile": True,
        "index_url": other.url,
        "extra_index_urls": (other.url,),  # uv searches extra indexes first
        "find_links": (other.find_links,),
        "no_index": True,
        "allow_build": ("sdistonly",),
        "keep_boto3": True,
        "strip": ("depa",),
        "keep": ("jmespath",),
        "slim": False,
        "slim_keep": ("purepkg/tests/*",),
        "compile_bytecode": True,
        "verify_exclude": ("*.so",),
        "command_hooks": Hooks(),
        # the hooks' environment: its names enter the hash (its values may be secrets, and never do)
        "environment": {"STAGE": "prod"},
        "build_args": {"STAGE": "prod"},
        "output_path_suffix": "python/lib/python3.11/site-packages",  # a layer's: compared as a layer below
    }


#: options that say where things happen, not what the bundle holds: the hash must not depend on them
LOCATION_ONLY = {"cache_dir": "elsewhere", "refresh": True, "remote_cache": "s3://team-bucket/prefix",
                 "remote_cache_trusted_keys": ("ed25519:" + "A" * 43 + "=",)}
#: upstream options without effect here (a notice says why: tests/test_bundling.py): nor may they change it
NO_EFFECT = {**{name: "something" for name in DOCKER_ONLY}, "local": object(), "poetry_include_hashes": True,
             "poetry_without_urls": True}
#: decided at the CDK level (the asset's own hash), tested with CDK in tests/test_bundling.py
CDK_LEVEL = {"asset_hash", "asset_hash_type"}


def entry_for(root: Path) -> Path:
    entry = root / "fn"
    if entry.exists():
        shutil.rmtree(entry)
    entry.mkdir(parents=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (entry / "README.md").write_text("# notes\n")
    (entry / "pyproject.toml").write_text(PYPROJECT)
    (entry / "other-requirements.txt").write_text("purepkg\nsix\n")
    return entry


def test_every_option_that_decides_the_bundle_decides_the_asset_hash(tmp_path: Path, wheel_index: Any,
                                                                       other_index: WheelIndex) -> None:
    fields = {f.name for f in dataclasses.fields(BundlingOptions)}
    cases = scenarios(other_index)
    assert fields == set(cases) | set(LOCATION_ONLY) | set(NO_EFFECT) | CDK_LEVEL, \
        "give every new BundlingOptions field a scenario here"
    store = LocalStore(tmp_path / "cache", reporter=silent())
    entry = entry_for(tmp_path)
    base = BundlingOptions(index_url=wheel_index.url)

    def asset_hash(options: BundlingOptions, at: Path = entry) -> str:
        return prepare(options.request(at, PY311), store, silent()).asset_hash

    default = asset_hash(base)
    # find-links holds purepkg 1.0, the other index 1.1: --no-index leaves only the find-links folder
    older_links = dataclasses.replace(base, index_url=other_index.url, find_links=(wheel_index.find_links,))
    special: dict[str, Callable[[], tuple[str, str]]] = {
        "no_index": lambda: (asset_hash(older_links), asset_hash(dataclasses.replace(older_links, no_index=True))),
        "resolve_pipfile": lambda: pipfile_case(tmp_path, base, asset_hash),
        # without command hooks the environment is unused (and said so): compared with hooks
        "environment": lambda: (asset_hash(dataclasses.replace(base, command_hooks=Hooks())), asset_hash(
            dataclasses.replace(base, command_hooks=Hooks(), environment=cases["environment"]))),
        "build_args": lambda: (asset_hash(dataclasses.replace(base, command_hooks=Hooks())), asset_hash(
            dataclasses.replace(base, command_hooks=Hooks(), build_args=cases["build_args"]))),
        "output_path_suffix": lambda: (
            prepare(base.request(entry, PY311, layer=True), store, silent()).asset_hash,
            prepare(dataclasses.replace(base, output_path_suffix=cases["output_path_suffix"]).request(
                entry, PY311, layer=True), store, silent()).asset_hash),
        "allow_build": lambda: sdist_case(tmp_path, base, asset_hash),
    }
    hashes = {}
    for name, value in cases.items():
        before, after = special[name]() if name in special else (default, asset_hash(
            dataclasses.replace(base, **{name: value})))
        assert before != after, f"{name}={value!r} leaves the asset hash unchanged"
        hashes[name] = after
    for name, value in {**LOCATION_ONLY, **NO_EFFECT}.items():
        if name == "cache_dir":
            value = str(tmp_path / "other-cache")
        assert asset_hash(dataclasses.replace(base, **{name: value})) == default, f"{name} changed the hash"


def pipfile_case(tmp_path: Path, base: BundlingOptions, asset_hash: Callable[..., str]) -> tuple[str, str]:
    """A Pipfile without its lock is an error unless resolve_pipfile: compare it with the same set as requirements."""
    entry = tmp_path / "pipfile" / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (entry / "Pipfile").write_text('[packages]\npurepkg = "*"\nsix = "*"\n')
    with pytest.raises(Exception, match=r"Pipfile\.lock"):
        asset_hash(base, entry)
    resolved = asset_hash(dataclasses.replace(base, resolve_pipfile=True), entry)
    (entry / "Pipfile").unlink()
    (entry / "requirements.txt").write_text("purepkg\n")
    return asset_hash(base, entry), resolved


def sdist_case(tmp_path: Path, base: BundlingOptions, asset_hash: Callable[..., str]) -> tuple[str, str]:
    """Without allow_build the sdist-only package is an error; allowed, it is built and in the bundle."""
    entry = tmp_path / "sdist" / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (entry / "requirements.txt").write_text("purepkg\nsdistonly\n")
    with pytest.raises(Exception, match="sdistonly"):
        asset_hash(base, entry)
    allowed = asset_hash(dataclasses.replace(base, allow_build=("sdistonly",)), entry)
    (entry / "requirements.txt").write_text("purepkg\n")
    return asset_hash(base, entry), allowed


@pytest.mark.parametrize("change", ["content", "executable-bit", "rename", "new-empty-file", "move-bytes"])
def test_every_change_to_the_source_changes_the_asset_hash(tmp_path: Path, wheel_index: Any, change: str) -> None:
    store = LocalStore(tmp_path / "cache", reporter=silent())
    entry = entry_for(tmp_path)
    (entry / "a.py").write_text("AB")
    (entry / "b.py").write_text("C")
    options = BundlingOptions(index_url=wheel_index.url)
    before = prepare(options.request(entry, PY311), store, silent()).asset_hash
    if change == "content":
        (entry / "index.py").write_text("def handler(event, context):\n    return 'changed'\n")
    elif change == "executable-bit":
        (entry / "index.py").chmod(0o755)
    elif change == "rename":
        (entry / "a.py").rename(entry / "c.py")
    elif change == "new-empty-file":
        (entry / "empty.py").write_text("")
    else:  # the same bytes in total, split differently between two files
        (entry / "a.py").write_text("A")
        (entry / "b.py").write_text("BC")
    assert prepare(options.request(entry, PY311), store, silent()).asset_hash != before


# -- the options are stated once: the dataclass's fields --------------------------------------------------------

def test_every_option_describes_itself_and_what_derives_from_it_agrees() -> None:
    """Validation (the kinds), the cdk.json list and the docs come from each field's ``Option``; a field whose
    description disagrees with its annotation, or a flag that the command line does not have, fails here."""
    import argparse
    import typing

    from cdk_native_python.cli import main as cli
    from cdk_native_python.pipeline import options as module

    hints = typing.get_type_hints(BundlingOptions)
    expected = {"str | None": "str", "bool | None": "bool", "Sequence[str] | None": "strs",
                "Mapping[str, str] | None": "map"}
    build = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["build"]
    flags = {s for a in build._actions for s in a.option_strings}
    for name, spec in module.options():
        shown = str(hints[name]).replace("typing.", "").replace("collections.abc.", "").replace("Optional[", "")
        shown = {"Union[str, NoneType]": "str | None"}.get(shown, shown)
        kind = expected.get(shown, "any")
        assert spec.kind == kind or spec.kind == "any", (name, shown, spec.kind)
        assert spec.origin == "docker" or spec.meaning, name
        for flag in (w.strip("`,") for w in spec.flag.split() if w.strip("`,").startswith("--")):
            assert flag in flags, (name, flag)
    assert {n for n, s in module.options() if s.origin == "docker"} == set(module.DOCKER_ONLY)
    assert set(module.CONTEXT_OPTIONS) == {n for n, s in module.options() if s.team}
    assert "dependency_file" not in module.CONTEXT_OPTIONS and "remote_cache" in module.CONTEXT_OPTIONS
