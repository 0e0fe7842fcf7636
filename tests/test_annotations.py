"""Warnings are CDK annotations on the function or layer: shown by `cdk synth` with the construct path, fatal with
``--strict``, silenced by acknowledging their id, and the same on a re-synth that reuses the staged asset (they come
from the bundle's report then). The engine side (reports keep what bundling said, ``replay`` says it again) is
tested in-process; the CDK side with the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python import engine
from cdk_native_python.budget import LIMIT_BYTES
from cdk_native_python.errors import VerificationError
from cdk_native_python.options import BundlingOptions
from cdk_native_python.records import BuildReport, loads
from cdk_native_python.reporter import Reporter, silent
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target
from tests.tracerset import tracer_function, tracer_wheels

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
TARGET = Target.from_runtime("python3.12", "arm64")
_SHIPPED = ("botocore 1.35.0 (0.0 MB), which the Lambda runtime provides, is shipped, required through "
           "powerlike[tracer] → xraylike → botocore: xraylike requires botocore==1.35.0; {runtime} only guarantees "
           "botocore >= 1.38.36, below 2; the bundled copy shadows the runtime's (keep_boto3=True says you mean it)")
SHIPPED = _SHIPPED.format(runtime="python3.12")  # TARGET's
SHIPPED_313 = _SHIPPED.format(runtime="python3.13")  # the apps' and the CLI's


@pytest.fixture(scope="module")
def tracer_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tracer_wheels(tmp_path_factory.mktemp("tracer-wheels"))


def tracer_request(entry: Path, tracer_index: Path, layer_bytes: int = 0) -> engine.BuildRequest:
    options = BundlingOptions(find_links=[str(tracer_index)], no_index=True)
    return options.request(entry, TARGET, name="App/Api", layer_bytes=layer_bytes)


def said(reporter: Reporter) -> list[tuple[str, str]]:
    return [(n.code, n.message) for n in reporter.notices]


# -- the engine: reports keep what bundling said; replay says it again ----------------------------------------------

def test_the_report_keeps_what_bundling_said_and_replay_says_it_again(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    first = silent()
    plan = engine.prepare(tracer_request(tracer_function(tmp_path / "fn"), tracer_index), store, first)
    result = engine.bundle(plan, tmp_path / "out", store, first)
    assert said(first) == [("runtime-provided-shipped", SHIPPED)]
    assert [(n.code, n.message, n.level) for n in result.report.notices] == [
        ("runtime-provided-shipped", SHIPPED, "warning")]
    on_disk = loads(BuildReport, (store.root / "reports" / f"{plan.asset_hash}.json").read_text())
    assert on_disk.notices == result.report.notices

    again = silent()  # a later synth: CDK finds the staged asset and does not call the bundler
    replayed = engine.replay(engine.prepare(tracer_request(tmp_path / "fn", tracer_index), store, again), store, again)
    assert said(again) == said(first) and replayed == result.report


def test_replay_checks_the_size_against_the_layers_of_now(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn")
    engine.build(tracer_request(entry, tracer_index), tmp_path / "out", store, silent())
    # the layers grew; their size is not in the asset hash, so CDK reuses the asset: the size is checked again
    near = silent()
    plan = engine.prepare(tracer_request(entry, tracer_index, layer_bytes=int(LIMIT_BYTES * 0.95)), store, near)
    engine.replay(plan, store, near)
    codes = [n.code for n in near.notices]
    assert codes == ["runtime-provided-shipped", "size-near-limit"], codes
    assert "95% of Lambda's 250.0 MB limit" in near.notices[1].message and "in layers" in near.notices[1].message
    over = engine.prepare(tracer_request(entry, tracer_index, layer_bytes=LIMIT_BYTES), store, silent())
    with pytest.raises(VerificationError, match=r"over Lambda's 250\.0 MB limit"):
        engine.replay(over, store, silent())
    back = silent()  # and a stale size warning is never replayed
    engine.replay(engine.prepare(tracer_request(entry, tracer_index), store, back), store, back)
    assert [n.code for n in back.notices] == ["runtime-provided-shipped"]


def test_replay_without_a_report_bundles_again_to_know(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn")
    built = engine.build(tracer_request(entry, tracer_index), tmp_path / "out", store, silent())
    shutil.rmtree(store.root / "reports")
    again = silent()
    report = engine.replay(engine.prepare(tracer_request(entry, tracer_index), store, again), store, again)
    assert said(again) == [("runtime-provided-shipped", SHIPPED)]
    assert report.notices == built.report.notices and (store.root / "reports" / f"{built.asset_hash}.json").is_file()


def test_what_the_cache_says_during_bundling_is_not_part_of_the_bundle(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn")
    engine.build(tracer_request(entry, tracer_index), tmp_path / "out", store, silent())
    (record,) = (store.root / "trees").glob("*/tree.json")
    record.chmod(0o644)
    record.write_text("{")  # damaged: the store quarantines the tree while bundling, and says so
    reporter = silent()
    store = LocalStore(tmp_path / "cache", reporter=reporter)  # as the constructs and the CLI do: one reporter
    result = engine.build(tracer_request(entry, tracer_index), tmp_path / "out2", store, reporter)
    assert "cache-entry-quarantined" in [n.code for n in reporter.notices]
    assert [n.code for n in result.report.notices] == ["runtime-provided-shipped"]  # about this run, not the bundle
    assert any("failed its check" in w for w in result.report.warnings)  # still in the run's account


def test_a_reporter_for_one_step_forwards_and_remembers() -> None:
    parent = silent()
    parent.warn("before", "said before the step")
    step = parent.child()
    step.warn("before", "said before the step")  # said again by the step: it is the step's too
    step.info("during", "said by the step")
    assert [n.code for n in parent.notices] == ["before", "during"]  # forwarded, each once
    assert [n.code for n in step.notices] == ["before", "during"]


# -- the CDK side, with the real CLI --------------------------------------------------------------------------------

APP = """\
import os
import zipfile

import aws_cdk as cdk
from aws_cdk import Annotations
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import BundlingOptions, NativePythonFunction

app = cdk.App()
stack = cdk.Stack(app, "App")
if os.environ.get("ACK"):
    Annotations.of(stack).acknowledge_warning("cdk-native-python:runtime-provided-shipped", "xray needs botocore")
    Annotations.of(stack).acknowledge_warning("cdk-native-python:size-near-limit", "measured")
options = BundlingOptions(find_links=[{tracer_index!r}], no_index=True)
NativePythonFunction(stack, "Api", entry="fn", bundling=options)
NativePythonFunction(stack, "Twin", entry="fn", bundling=options)  # the same asset: CDK bundles it once
big = lambda_.LayerVersion(stack, "Big", code=lambda_.Code.from_asset("big.zip"))
NativePythonFunction(stack, "Small", entry="small", bundling=options, layers=[big])
app.synth()
"""


def cdk_app(tmp_path: Path, tracer_index: Path) -> Path:
    app = tmp_path / "app"
    tracer_function(app / "fn")
    tracer_function(app / "small", "wrapt\n")
    with zipfile.ZipFile(app / "big.zip", "w", zipfile.ZIP_DEFLATED) as zf, zf.open("python/model.bin", "w") as f:
        for _ in range(240):  # 240 MB of zeros once unzipped: with the function, 92% of Lambda's limit
            f.write(bytes(1_000_000))
    (app / "app.py").write_text(APP.format(tracer_index=str(tracer_index)))
    (app / "cdk.json").write_text(json.dumps({"app": f"{ROOT / '.venv' / 'bin' / 'python'} app.py"}))
    return app


def synth(app: Path, cache: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CDK_NATIVE_PYTHON_")}
    environ.update(CDK_NATIVE_PYTHON_CACHE_DIR=str(cache), CDK_DISABLE_CLI_TELEMETRY="1",
                   JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1", **env)
    out = app / "cdk.out"
    result = subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(out), *args], cwd=app,
                            env=environ, capture_output=True, text=True, timeout=900, check=False)
    stack = json.loads((out / "manifest.json").read_text())["artifacts"]["App"]
    metadata = stack.get("metadata", {})
    if "additionalMetadataFile" in stack:  # newer assemblies keep it next to the manifest
        metadata = {**metadata, **json.loads((out / stack["additionalMetadataFile"]).read_text())}
    return result, metadata


def warnings_of(metadata: dict[str, Any]) -> dict[str, list[str]]:
    """construct path -> the warnings CDK recorded on it (from the cloud assembly, as `cdk synth` prints them)."""
    found: dict[str, list[str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:warning":
                found.setdefault(path, []).append(entry["data"])
    return found


@pytest.mark.synth
@pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
def test_warnings_are_annotations_strict_fails_acknowledged_silenced_and_resynth_repeats(
        tmp_path: Path, tracer_index: Path) -> None:
    app, cache = cdk_app(tmp_path, tracer_index), tmp_path / "cache"
    cold, manifest = synth(app, cache)
    assert cold.returncode == 0, cold.stderr[-3000:]
    shipped = f"{SHIPPED_313} [ack: cdk-native-python:runtime-provided-shipped]"
    found = warnings_of(manifest)
    assert found["/App/Api"] == [shipped] and found["/App/Twin"] == [shipped]
    (near,) = found["/App/Small"]
    assert "92% of Lambda's 250.0 MB limit" in near and near.endswith("[ack: cdk-native-python:size-near-limit]")
    # printed by the CDK CLI the CDK way: the message, the construct path, how to acknowledge it
    assert "WARNING " + SHIPPED_313 in cold.stderr and "   App/Api\n" in cold.stderr
    assert "Acknowledge with 'Annotation::cdk-native-python:size-near-limit'" in cold.stderr
    assert "[cdk-native-python] App/Api: warning:" not in cold.stderr  # said once, by CDK

    strict, manifest = synth(app, cache, "--strict")  # the assets are staged: CDK does not bundle again
    assert strict.returncode != 0 and "Synthesis finished with warnings (--strict mode)" in strict.stderr
    assert "Bundling asset" not in strict.stderr
    assert warnings_of(manifest) == found

    shutil.rmtree(cache / "reports")  # no report to read: bundled again in a scratch folder to know
    recomputed, manifest = synth(app, cache, "--strict")
    assert recomputed.returncode != 0 and warnings_of(manifest) == found

    acknowledged, manifest = synth(app, cache, "--strict", ACK="1")
    assert acknowledged.returncode == 0, acknowledged.stderr[-3000:]
    assert warnings_of(manifest) == {}

    # the command line says the same words
    cli = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.13",
                          "--source", str(app / "fn"), "--find-links", str(tracer_index), "--no-index",
                          "--zip", str(tmp_path / "fn.zip")], env={**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR":
                                                                   str(cache)},
                         capture_output=True, text=True, timeout=300, check=False)
    assert cli.returncode == 0, cli.stderr
    assert f"[cdk-native-python] fn.zip: warning: {SHIPPED_313}\n" in cli.stderr


def test_notices_wait_for_the_construct_then_become_annotations(tmp_path: Path, tracer_index: Path) -> None:
    """In-process, with aws-cdk-lib: warnings said before and during the Function constructor (CDK calls
    try_bundle inside it) land on the function; an equal asset CDK does not bundle twice gets them too."""
    import aws_cdk as cdk

    from cdk_native_python import NativePythonFunction

    tracer_function(tmp_path / "fn")
    app = cdk.App(outdir=str(tmp_path / "out"), context={"aws:cdk:bundling-stacks": ["**"]})
    stack = cdk.Stack(app, "App")
    options = BundlingOptions(find_links=[str(tracer_index)], no_index=True, cache_dir=str(tmp_path / "cache"))
    one = NativePythonFunction(stack, "One", entry=str(tmp_path / "fn"), bundling=options)
    two = NativePythonFunction(stack, "Two", entry=str(tmp_path / "fn"), bundling=options)
    shipped = ("aws:cdk:warning", f"{SHIPPED_313} [ack: cdk-native-python:runtime-provided-shipped]")
    for function in (one, two):
        assert [(e.type, e.data) for e in function.node.metadata if e.type == "aws:cdk:warning"] == [shipped]
    cdk.Annotations.of(two).acknowledge_warning("cdk-native-python:runtime-provided-shipped")
    assert not [e for e in two.node.metadata if e.type == "aws:cdk:warning"]
