"""The CDK layer: props map onto lambda.Function, errors are clear, bundling follows CDK's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from cdk_native_python import BundlingOptions, NativePythonFunction
from cdk_native_python.errors import ConfigurationError


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    fn = tmp_path / "fn"
    (fn / "app").mkdir(parents=True)
    (fn / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (fn / "app" / "main.py").write_text("def run(event, context):\n    return 'ok'\n")
    (fn / ".venv").mkdir()
    (fn / ".venv" / "junk.py").write_text("")
    (fn / "notes.md").write_text("not shipped")
    return fn


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "cache"))


def stack(tmp_path: Path, context: dict[str, object] | None = None) -> cdk.Stack:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"), context=context or {})
    return cdk.Stack(app, "S")


def test_props_map_onto_the_function(tmp_path: Path, entry: Path) -> None:
    s = stack(tmp_path)
    NativePythonFunction(
        s, "Fn", entry=str(entry), runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.ARM_64, memory_size=256,
        environment={"MODE": "test"}, bundling=BundlingOptions(asset_excludes=["*.md"]),
    )
    NativePythonFunction(s, "Nested", entry=str(entry), index="app/main.py", handler="run",
                         runtime=lambda_.Runtime.PYTHON_3_14)
    t = Template.from_stack(s)
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "index.handler", "Runtime": "python3.12", "Architectures": ["arm64"], "MemorySize": 256,
        "Environment": {"Variables": {"MODE": "test"}},
    })
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "app.main.run", "Runtime": "python3.14", "Architectures": Match.absent(),
    })
    # the asset holds the source (bundled locally, no Docker) minus excluded files
    assets = [p for p in (tmp_path / "cdk.out").iterdir() if p.name.startswith("asset.")]
    assert assets
    for asset in assets:
        assert (asset / "index.py").is_file() and (asset / "app" / "main.py").is_file()
        assert not (asset / ".venv").exists()
    # asset_excludes applies to the first function only, so the two assets differ by notes.md
    assert sorted((a / "notes.md").exists() for a in assets) == [False, True]


def test_asset_hash_is_content_addressed(tmp_path: Path, entry: Path) -> None:
    def asset_hash() -> str:
        s = stack(tmp_path)
        NativePythonFunction(s, "Fn", entry=str(entry))
        code = Template.from_stack(s).find_resources("AWS::Lambda::Function")
        (fn,) = code.values()
        return str(fn["Properties"]["Code"]["S3Key"])

    first = asset_hash()
    assert asset_hash() == first
    (entry / "index.py").write_text("def handler(event, context):\n    return 'changed'\n")
    assert asset_hash() != first


def test_missing_entry_and_index_are_clear(tmp_path: Path, entry: Path) -> None:
    with pytest.raises(ConfigurationError, match="does-not-exist") as err:
        NativePythonFunction(stack(tmp_path), "Fn", entry=str(tmp_path / "does-not-exist"))
    assert err.value.hint
    with pytest.raises(ConfigurationError, match=r"main\.py") as err:
        NativePythonFunction(stack(tmp_path), "Fn", entry=str(entry), index="main.py")
    assert "index=" in str(err.value.hint)


def test_non_python_runtime_is_rejected(tmp_path: Path, entry: Path) -> None:
    with pytest.raises(ConfigurationError, match="nodejs"):
        NativePythonFunction(stack(tmp_path), "Fn", entry=str(entry), runtime=lambda_.Runtime.NODEJS_20_X)


def test_code_cannot_be_overridden(tmp_path: Path, entry: Path) -> None:
    with pytest.raises(ConfigurationError, match="code"):
        NativePythonFunction(stack(tmp_path), "Fn", entry=str(entry),
                             code=lambda_.Code.from_inline("x"))  # type: ignore[call-arg]


def test_no_bundling_when_cdk_says_it_is_not_required(tmp_path: Path, entry: Path) -> None:
    # a broken requirements file would fail if it were read: with bundling skipped it is not
    (entry / "requirements.txt").write_text("this is not a requirement ===\n")
    s = stack(tmp_path, {"aws:cdk:bundling-stacks": []})
    NativePythonFunction(s, "Fn", entry=str(entry))
    Template.from_stack(s).resource_count_is("AWS::Lambda::Function", 1)
    assert not list((tmp_path / "cache").glob("locks/*"))
    # and with bundling required, the same file is reported with file:line
    with pytest.raises(Exception, match=r"requirements.txt:1"):
        NativePythonFunction(stack(tmp_path / "b"), "Fn", entry=str(entry))


def test_same_inputs_give_the_same_asset_in_another_cache_and_cdk_out(
        tmp_path: Path, entry: Path, wheel_index: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cdk deploy` must see no change when nothing changed, whoever synthesizes (issue #4, reproducible)."""
    (entry / "requirements.txt").write_text("purepkg\nnativepkg\nboto3\n")
    synthesized = []
    for i in (1, 2):
        monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / f"cache-{i}"))
        app = cdk.App(outdir=str(tmp_path / f"cdk.out-{i}"))
        s = cdk.Stack(app, "S")
        NativePythonFunction(s, "Fn", entry=str(entry), architecture=lambda_.Architecture.ARM_64,
                             bundling=BundlingOptions(index_url=wheel_index.url))
        (fn,) = Template.from_stack(s).find_resources("AWS::Lambda::Function").values()
        key = str(fn["Properties"]["Code"]["S3Key"])
        asset = tmp_path / f"cdk.out-{i}" / f"asset.{key.removesuffix('.zip')}"
        files = {p.relative_to(asset).as_posix(): p.read_bytes() for p in sorted(asset.rglob("*")) if p.is_file()}
        synthesized.append((key, files))
    (key1, files1), (key2, files2) = synthesized
    assert key1 == key2
    assert files1 == files2 and "nativepkg/_native.abi3.so" in files1 and "boto3/__init__.py" not in files1
