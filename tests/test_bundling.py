"""`bundling=` accepts what users of aws_lambda_python_alpha already write: our BundlingOptions, the alpha
module's object or a dict; each upstream option works or says (once) why it has no effect without Docker;
hooks run as upstream runs them; cdk.json holds team defaults that props override. Hermetic."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from cdk_native_python import BundlingOptions, NativePythonFunction, NativePythonLayerVersion, hooks
from cdk_native_python.errors import ConfigurationError, HookError
from cdk_native_python.options import DOCKER_ONLY, from_context
from cdk_native_python.reporter import silent
from tests.cdkhelpers import said_on

alpha = pytest.importorskip("aws_cdk.aws_lambda_python_alpha")

PY312 = lambda_.Runtime.PYTHON_3_12


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CDK_NATIVE_PYTHON_QUIET", raising=False)


def entry(root: Path, requirements: str = "purepkg\n", name: str = "fn") -> str:
    path = root / name
    path.mkdir(parents=True)
    (path / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (path / "requirements.txt").write_text(requirements)
    (path / "notes.md").write_text("not shipped")
    return str(path)


def stack(root: Path, context: dict[str, Any] | None = None) -> cdk.Stack:
    return cdk.Stack(cdk.App(outdir=str(root / "cdk.out"), context=context or {}), "S")


def asset_of(construct: Any) -> Path:
    from cdk_native_python.bundling import staged_asset

    path = staged_asset(construct)
    assert path is not None
    return path


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
    fn = NativePythonFunction(s, "Fn", entry=entry(tmp_path), runtime=PY312, bundling=bundling)
    asset = asset_of(fn)
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
        NativePythonFunction(stack(tmp_path), "Fn", entry=entry(tmp_path), bundling=3)


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
    from cdk_native_python.target import Target

    return Target.from_runtime("python3.12")


def test_asset_hash_and_asset_hash_type_keep_cdks_meaning(tmp_path: Path, wheel_index: Any) -> None:
    src = entry(tmp_path)

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


def test_output_path_suffix_is_honoured_for_layers(tmp_path: Path, wheel_index: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    s = stack(tmp_path)
    layer = NativePythonLayerVersion(s, "L", entry=entry(tmp_path, "purepkg\n", "layer"),
                                     compatible_runtimes=[PY312],
                                     bundling={"index_url": wheel_index.url,
                                               "output_path_suffix": "python/lib/python3.12/site-packages"})
    site = asset_of(layer) / "python/lib/python3.12/site-packages"
    assert (site / "purepkg" / "__init__.py").is_file() and (site / "index.py").is_file()
    assert layer.packages == {"python3.12/x86_64": {"purepkg": "1.0", "depa": "2.0"}}
    fn = NativePythonFunction(s, "Fn", entry=entry(tmp_path), runtime=PY312,
                              bundling={"index_url": wheel_index.url, "output_path_suffix": "python"})
    assert (asset_of(fn) / "index.py").is_file()
    assert any("bundling option output_path_suffix applies to layers only" in w for w in said_on(fn)), said_on(fn)
    with pytest.raises(ConfigurationError, match="leaves the asset folder"):
        NativePythonLayerVersion(s, "Bad", entry=str(tmp_path / "layer"), bundling={"output_path_suffix": "../x"})


def test_team_defaults_from_cdk_json_and_props_override_them(tmp_path: Path, wheel_index: Any) -> None:
    context = {"cdk-native-python": {"index_url": wheel_index.url, "keepBoto3": True, "remote_cache": "s3://team-bucket/p"},
               "cdk-native-python:slim_keep": "purepkg/*,depa/*"}
    s = stack(tmp_path, context)
    fn = NativePythonFunction(s, "Fn", entry=entry(tmp_path, "purepkg\nboto3\n"), runtime=PY312)
    assert (asset_of(fn) / "purepkg").is_dir() and (asset_of(fn) / "boto3").is_dir()  # the context's index, keep
    # a prop wins over the context, whatever its value (False included)
    fn2 = NativePythonFunction(s, "Fn2", entry=str(tmp_path / "fn"), runtime=PY312, bundling={"keep_boto3": False})
    assert not (asset_of(fn2) / "boto3").exists() and (asset_of(fn2) / "purepkg").is_dir()
    from cdk_native_python.bundling import bundling_options

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
            NativePythonFunction(s, "Fn", entry=entry(tmp_path / key.split(":")[1]), runtime=PY312)


# -- hooks as upstream runs them ---------------------------------------------------------------------------

class Scripted:
    def __init__(self, before: list[str], after: list[str]) -> None:
        self.before, self.after = before, after

    def before_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [c.format(input=shlex.quote(input_dir), output=shlex.quote(output_dir)) for c in self.before]

    def after_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [c.format(input=shlex.quote(input_dir), output=shlex.quote(output_dir)) for c in self.after]


def test_one_shell_joined_with_and_real_paths(tmp_path: Path) -> None:
    src, out = tmp_path / "in put", tmp_path / "out put"
    src.mkdir()
    out.mkdir()
    scripted = Scripted([], ["mkdir d", "cd d", "", "export X=1", "echo $X > x.txt", "cp -r {input} {output}/copy"])
    hooks.run(scripted, "after_bundling", src, out)
    assert (out / "d" / "x.txt").read_text() == "1\n" and (out / "copy").is_dir()
    # the first failure stops the rest
    with pytest.raises(HookError, match="exit code 3"):
        hooks.run(Scripted(["exit 3", "touch never"], []), "before_bundling", src, out)
    assert not (out / "never").exists()
    # the asset hash sees placeholders, never this machine's paths
    assert hooks.commands(scripted, "after_bundling")[-1] == "cp -r '$INPUT_DIR' '$OUTPUT_DIR'/copy"


def test_a_layers_hooks_get_its_python_folder(tmp_path: Path, wheel_index: Any) -> None:
    s = stack(tmp_path)
    layer = NativePythonLayerVersion(
        s, "L", entry=entry(tmp_path, "purepkg\n", "layer"), compatible_runtimes=[PY312],
        bundling=BundlingOptions(index_url=wheel_index.url, command_hooks=Scripted([], ["touch {output}/marker"])))
    assert (asset_of(layer) / "python" / "marker").is_file()
