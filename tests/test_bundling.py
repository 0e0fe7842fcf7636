"""`bundling=` accepts what users of aws_lambda_python_alpha already write: our BundlingOptions, the alpha
module's object or a dict; each upstream option works or says (once) why it has no effect without Docker;
cdk.json holds team defaults that props override. Warnings become CDK annotations (fatal with ``--strict``,
silenced by acknowledging, repeated on a re-synth from the report); a user's mistake reaches ``python app.py``
and ``cdk synth`` without a stack dump. Hermetic, except the ``synth`` tier."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
import pytest
from aws_cdk.assertions import Template

from cdk_native_python import BundlingOptions, NativePythonFunction
from cdk_native_python.core.errors import (
    ConfigurationError,
)
from cdk_native_python.core.reporter import silent
from cdk_native_python.pipeline import hooks
from cdk_native_python.pipeline.options import DOCKER_ONLY, from_context
from tests.cdkhelpers import (
    CDK,
    PY312,
    bad_app,
    cdk_env,
    cdk_synth,
    clean_failure,
    function_entry,
    needs_cdk,
    noisy_function,
    said_on,
    says_every_notice,
    stack,
    staged,
)
from tests.helpers import PYTHON, closed_port
from tests.tracerset import SHIPPED_313, SHIPPED_313_CLI, tracer_function

pytestmark = pytest.mark.usefixtures("cache_env")

alpha = pytest.importorskip("aws_cdk.aws_lambda_python_alpha")


def s3_key(s: cdk.Stack, kind: str = "AWS::Lambda::Function") -> str:
    (resource,) = Template.from_stack(s).find_resources(kind).values()
    props = resource["Properties"]
    return str((props.get("Code") or props.get("Content"))["S3Key"])


@jsii.implements(alpha.ICommandHooks)
class Hooks:
    def before_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [f"test -d {shlex.quote(input_dir)}"]

    def after_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        # one shell: the cd carries over; real paths: quoting works; the environment entry arrives
        return ["mkdir -p sub", "cd sub", "", f'echo "$STAGE" > {shlex.quote(output_dir)}/stage.txt',
                "pwd > where.txt"]


DOCKER = dict(image=cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"), command=["bash"],
              entrypoint=["/bin/sh"], platform="linux/arm64", network="host", user="1000:1000",
              security_opt="no-new-privileges", volumes=[cdk.DockerVolume(host_path="/tmp", container_path="/x")],
              volumes_from=["other"], working_directory="/asset-input",
              bundling_file_access=cdk.BundlingFileAccess.VOLUME_COPY)


@pytest.mark.parametrize("style", ["alpha", "dict", "ours"])
def test_every_upstream_keyword_is_accepted_and_means_what_it_says(
        tmp_path: Path, wheel_index: Any, capsys: pytest.CaptureFixture[str], style: str) -> None:
    values: dict[str, Any] = dict(
        asset_excludes=["*.md"], command_hooks=Hooks(), poetry_include_hashes=True, poetry_without_urls=True,
        environment={"PIP_INDEX_URL": wheel_index.url, "STAGE": "prod"}, build_args={"HTTPS_PROXY": ""},
        asset_hash_type=cdk.AssetHashType.SOURCE, **DOCKER)
    bundling = {"alpha": lambda: alpha.BundlingOptions(**values), "dict": lambda: values,
                "ours": lambda: BundlingOptions(**values)}[style]()
    s = stack(tmp_path)
    fn = NativePythonFunction(s, "Fn", entry=function_entry(tmp_path), runtime=PY312, bundling=bundling)
    asset = staged(fn)
    # PIP_INDEX_URL became the package source (purepkg exists only in the local index)
    assert (asset / "purepkg" / "__init__.py").is_file() and not (asset / "notes.md").exists()
    assert (asset / "stage.txt").read_text() == "prod\n"
    where = Path((asset / "sub" / "where.txt").read_text().strip())  # CDK bundles into <asset>-building first
    assert where.is_absolute() and where.name == "sub" and where.parent.name.startswith(asset.name)
    warnings, infos = said_on(fn, "warning"), said_on(fn, "info")
    for name in DOCKER:  # one annotation each on the function, acknowledgeable by its id
        line = (f"bundling option {name} has no effect without Docker: {DOCKER_ONLY[name]} "
                "[ack: cdk-native-python:docker-option-ignored]")
        assert warnings.count(line) == 1, (name, warnings)
    assert sum("bundling option poetry_include_hashes is accepted and not needed" in i for i in infos) == 1, infos
    assert "Traceback" not in capsys.readouterr().err


def test_dict_keys_may_be_camel_case_and_mistakes_are_clear(tmp_path: Path) -> None:
    assert BundlingOptions.of({"assetExcludes": ["*.md"], "outputPathSuffix": "python"}).asset_excludes == ("*.md",)
    with pytest.raises(ConfigurationError, match="unknown option 'asset_exclude'") as err:
        BundlingOptions.of({"asset_exclude": ["*.md"]})
    assert err.value.hint == "did you mean 'asset_excludes'?"
    with pytest.raises(ConfigurationError, match="asset_excludes must be a list of strings, not str"):
        BundlingOptions.of({"asset_excludes": "*.md"})
    with pytest.raises(ConfigurationError, match="bundling must be BundlingOptions or a dict, not int"):
        NativePythonFunction(stack(tmp_path), "Fn", entry=function_entry(tmp_path), bundling=3)


def test_sources_from_environment_and_build_args() -> None:
    options = BundlingOptions(
        build_args={"PIP_INDEX_URL": "https://build.example/simple", "PIP_EXTRA_INDEX_URL": "https://a/s https://b/s",
                    "HTTPS_PROXY": "http://proxy:3128"},
        environment={"UV_INDEX": "corp=https://u:p@corp.example/simple", "PIP_FIND_LINKS": "wheels",
                     "UV_NO_INDEX": "0", "STAGE": "dev"})
    indexes = options.indexes(Path("/e"))
    assert indexes.index_url == "https://build.example/simple"
    assert indexes.extra_index_urls == ("https://a/s", "https://b/s", "https://u:p@corp.example/simple")
    assert indexes.find_links == ("/e/wheels",) and not indexes.no_index
    assert BundlingOptions(index_url="https://mine/simple", environment={"PIP_INDEX_URL": "x"}).indexes(
        Path("/e")).index_url == "https://mine/simple"  # the option wins over the environment
    # the rest is the hooks' environment; its values never enter the asset hash, its names do
    assert options.hooks() is None
    assert {n.code for n in options.notices(layer=False)} == {"environment-unused"}
    with_hooks = BundlingOptions(command_hooks=Hooks(), environment={"STAGE": "dev", "PIP_INDEX_URL": "x"})
    assert hooks.environment_names(with_hooks.hooks()) == ("STAGE",)
    request = with_hooks.request(Path("/e"), target())
    assert request.key()["hook_environment"] == ["STAGE"] and "dev" not in json.dumps(request.key())


def target() -> Any:
    from cdk_native_python.core.target import Target

    return Target.from_runtime("python3.12")


def test_asset_hash_and_asset_hash_type_keep_cdks_meaning(tmp_path: Path, wheel_index: Any) -> None:
    src = function_entry(tmp_path)

    def key(**kw: Any) -> str:
        s = stack(tmp_path / f"k{len(list(tmp_path.iterdir()))}")
        NativePythonFunction(s, "Fn", entry=src, runtime=PY312, bundling={"index_url": wheel_index.url, **kw})
        return s3_key(s)

    content = key()
    assert key(asset_hash_type=cdk.AssetHashType.SOURCE) == content  # SOURCE: our content hash covers the source
    custom = key(asset_hash="release-42")
    assert custom not in (content,) and key(asset_hash="release-42", asset_hash_type="CUSTOM") == custom
    assert key(asset_hash="release-43") != custom
    output = key(asset_hash_type=cdk.AssetHashType.OUTPUT)
    assert output != content and key(asset_hash_type=cdk.AssetHashType.OUTPUT) == output  # reproducible output
    with pytest.raises(ConfigurationError, match="asset_hash_type is CUSTOM but asset_hash is not set"):
        key(asset_hash_type=cdk.AssetHashType.CUSTOM)
    with pytest.raises(ConfigurationError, match="asset_hash is set, but asset_hash_type is OUTPUT"):
        key(asset_hash="x", asset_hash_type=cdk.AssetHashType.OUTPUT)


def test_team_defaults_from_cdk_json_and_props_override_them(tmp_path: Path, wheel_index: Any) -> None:
    context = {"cdk-native-python": {"index_url": wheel_index.url, "keepBoto3": True, "remote_cache": "s3://team-bucket/p"},
               "cdk-native-python:slim_keep": "purepkg/*,depa/*"}
    s = stack(tmp_path, context)
    fn = NativePythonFunction(s, "Fn", entry=function_entry(tmp_path, "purepkg\nboto3\n"), runtime=PY312)
    assert (staged(fn) / "purepkg").is_dir() and (staged(fn) / "boto3").is_dir()  # the context's index, keep
    # a prop wins over the context, whatever its value (False included)
    fn2 = NativePythonFunction(s, "Fn2", entry=str(tmp_path / "fn"), runtime=PY312, bundling={"keep_boto3": False})
    assert not (staged(fn2) / "boto3").exists() and (staged(fn2) / "purepkg").is_dir()
    from cdk_native_python.cdk.bundling import bundling_options

    merged = bundling_options(s, None, layer=False, reporter=silent())
    assert merged.remote_cache == "s3://team-bucket/p" and merged.slim_keep == ("purepkg/*", "depa/*")
    assert bundling_options(s, {"remote_cache": "s3://mine"}, layer=False, reporter=silent()).remote_cache == "s3://mine"


def test_context_mistakes_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'dependency_file' is not an option a repository can set"):
        from_context({"dependency_file": "x.txt"}, {})
    with pytest.raises(ConfigurationError, match="keep must be a list of strings"):
        from_context({"keep": "boto3"}, {})
    with pytest.raises(ConfigurationError, match="must be an object of options"):
        from_context(["x"], {})
    flat = from_context(None, {"keep_boto3": "true", "extra_index_urls": '["https://a/s"]', "find_links": "w"})
    assert flat.keep_boto3 is True and flat.extra_index_urls == ("https://a/s",)
    assert flat.find_links == (str(Path("w").absolute()),)


def test_a_misspelt_or_per_function_context_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    for key in ("cdk-native-python:dependency_file", "cdk-native-python:index-url-typo"):
        s = stack(tmp_path / key.split(":")[1], {key: "x"})
        with pytest.raises(ConfigurationError, match="is not an option a repository can set for every function"):
            NativePythonFunction(s, "Fn", entry=function_entry(tmp_path / key.split(":")[1]), runtime=PY312)


# -- hooks as upstream runs them ---------------------------------------------------------------------------


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
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
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


def _cases(index_url: str, unreachable: str) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
    idx = f"bundling=BundlingOptions(index_url={index_url!r})"
    return {
        "missing-entry": ("entry='nope'", None, ("'nope'", "entry")),
        "missing-index": ("entry='fn', index='main.py'", None, ("main.py",)),
        "nodejs-runtime": ("entry='fn', runtime=lambda_.Runtime.NODEJS_20_X", None, ("nodejs20.x",)),
        "include-loop": ("entry='fn'", "-r requirements.txt\n", ("loop",)),
        "macos-only": (f"entry='fn', {idx}", "macpkg\n", ("macpkg", "wheels that exist")),
        "sdist-only": (f"entry='fn', {idx}", "sdistonly\n", ("sdistonly", "allow_build")),
        "unreachable": (f"entry='fn', bundling=BundlingOptions(index_url={unreachable!r})", "purepkg\n",
                        (unreachable,)),
        # fails at bundling time, inside CDK's (JavaScript) call back into Python
        "hash-mismatch": (f"entry='fn', {idx}", "depa --hash=sha256:" + "0" * 64 + "\n", ("depa", "hash")),
    }


@pytest.mark.synth
@needs_cdk
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

    # the command line says the same words, naming its own flag
    cli = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.13",
                          "--source", str(app / "fn"), "--find-links", str(tracer_index), "--no-index",
                          "--zip", str(tmp_path / "fn.zip")], env={**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR":
                                                                   str(cache)},
                         capture_output=True, text=True, timeout=300, check=False)
    assert cli.returncode == 0, cli.stderr
    assert f"[cdk-native-python] fn.zip: warning: {SHIPPED_313_CLI}\n" in cli.stderr
    assert "keep_boto3" not in cli.stderr


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


def test_an_annotation_holds_no_escape_sequence() -> None:
    """The CDK CLI prints annotations as they are: a notice carrying a name from elsewhere is filtered first."""
    from cdk_native_python.cdk.bundling import annotate
    from cdk_native_python.core.reporter import Notice

    stack = cdk.Stack(cdk.App(), "App")
    annotate(stack, Notice("x", "pkg\x1b]52;c;eA==\x07 \x1b[2J1.0"))
    annotate(stack, Notice("y", "info\x1b[2J", "info"))
    data = [str(e.data) for e in stack.node.metadata if e.type in ("aws:cdk:warning", "aws:cdk:info")]
    assert len(data) == 2 and "pkg 1.0" in data[0] and not any("\x1b" in d or "\x07" in d for d in data), data


@pytest.mark.parametrize("case", ["missing-entry", "missing-index", "nodejs-runtime", "include-loop",
                                  "macos-only", "sdist-only", "unreachable", "hash-mismatch"])
def test_app_shows_the_message_without_a_stack_dump(tmp_path: Path, wheel_index: Any, case: str) -> None:
    props, requirements, culprits = _cases(wheel_index.url, f"http://127.0.0.1:{closed_port()}/simple")[case]
    app = bad_app(tmp_path, props, requirements)
    proc = subprocess.run([str(PYTHON), "app.py"], cwd=app,
                          env={**cdk_env(tmp_path), "CDK_OUTDIR": str(tmp_path / "o")},
                          capture_output=True, text=True, timeout=300, check=False)
    clean_failure(proc, *culprits)


@pytest.mark.synth
@needs_cdk
@pytest.mark.parametrize("case", ["nodejs-runtime", "macos-only", "hash-mismatch"])
def test_cdk_synth_shows_the_message_without_a_stack_dump(tmp_path: Path, wheel_index: Any, case: str) -> None:
    props, requirements, culprits = _cases(wheel_index.url, f"http://127.0.0.1:{closed_port()}/simple")[case]
    app = bad_app(tmp_path, props, requirements)
    proc = cdk_synth(tmp_path, app, timeout=600)
    clean_failure(proc, *culprits)


# -- every notice on every path, through the real cdk CLI (see docs/warnings.md) -----------------------------

NOISY_APP = """\
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import BundlingOptions, NativePythonFunction, NativePythonLayerVersion

app = cdk.App()
stack = cdk.Stack(app, "App")
options = BundlingOptions(find_links=[{tracer_index!r}], no_index=True)
NativePythonFunction(stack, "Fn", entry="fn", runtime=lambda_.Runtime.PYTHON_3_12, bundling=options)
NativePythonLayerVersion(stack, "Layer", entry="layer", bundling=options,
                         compatible_runtimes=[lambda_.Runtime.PYTHON_3_12, lambda_.Runtime.PYTHON_3_13])
app.synth()
"""


def said_in(metadata: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """[(level, message)] the cloud assembly records on the construct ``path``."""
    levels = {"aws:cdk:warning": "warning", "aws:cdk:info": "info"}
    return [(levels[e["type"]], e["data"]) for e in metadata.get(path, []) if e["type"] in levels]


@pytest.mark.synth
@needs_cdk
def test_cdk_synth_says_every_notice_cold_and_replayed_and_python_app_prints_them(
        tmp_path: Path, tracer_index: Path) -> None:
    app = tmp_path / "app"
    noisy_function(app, "fn")
    noisy_function(app, "layer")
    (app / "app.py").write_text(NOISY_APP.format(tracer_index=str(tracer_index)))
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    for run in ("cold", "replayed"):
        proc, metadata = synth(app, tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert ("Bundling asset" in proc.stderr) == (run == "cold"), proc.stderr[-3000:]
        says_every_notice(said_in(metadata, "/App/Fn"), "python3.12")
        says_every_notice(said_in(metadata, "/App/Layer"), "python3.12", "python3.13")
        # printed by the cdk CLI, once, with the construct path; never a second time by us
        assert proc.stderr.count("WARNING source file .env looks like") == 2, proc.stderr[-3000:]
        assert ": warning: " not in proc.stderr, proc.stderr[-3000:]
    plain = subprocess.run([str(PYTHON), "app.py"], cwd=app, capture_output=True, text=True, timeout=600,
                           check=False, env={**cdk_env(tmp_path), "CDK_OUTDIR": str(tmp_path / "plain.out")})
    assert plain.returncode == 0, plain.stderr[-3000:]
    for construct in ("App/Fn", "App/Layer"):
        lines = [line for line in plain.stderr.splitlines() if line.startswith(f"[cdk-native-python] {construct}: ")]
        for words in ("source file .env looks like", "leads outside the entry", "leads nowhere",
                      "which the Lambda runtime provides"):
            assert [line for line in lines if ": warning: " in line and words in line], (words, lines)
