"""Layers: python/ layout, one zip for several targets only when it can serve them, functions that leave out
what their layers hold (and fail on a version clash), the combined size budget, and one resolve/install
shared by many functions. Hermetic: every package comes from the local wheel index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from cdk_native_python import BundlingOptions, NativePythonFunction, NativePythonLayerVersion, budget, engine, uv
from cdk_native_python.distributions import installed
from cdk_native_python.errors import ConfigurationError
from cdk_native_python.install import strip_installed as strip
from cdk_native_python.strip import StripOptions, provided_by_layers
from cdk_native_python.target import Target
from tests.cdkhelpers import said_on
from tests.test_strip import dist

ARM = lambda_.Architecture.ARM_64
X86 = lambda_.Architecture.X86_64
PY312 = lambda_.Runtime.PYTHON_3_12
PY313 = lambda_.Runtime.PYTHON_3_13


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CDK_NATIVE_PYTHON_QUIET", "")


def folder(root: Path, name: str, requirements: str | None, handler: str = "return 'ok'") -> str:
    path = root / name
    path.mkdir(parents=True)
    if requirements is not None:
        (path / "requirements.txt").write_text(requirements)
    (path / "index.py").write_text(f"def handler(event, context):\n    {handler}\n")
    return str(path)


def app_stack(tmp_path: Path) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    return app, cdk.Stack(app, "S")


def opts(index: Any, **kw: Any) -> BundlingOptions:
    return BundlingOptions(index_url=index.url, **kw)


def make_layer(scope: Any, construct_id: str, entry: str, index: Any, runtimes: tuple[Any, ...] = (PY312,),
               arches: tuple[Any, ...] = (X86,), **kw: Any) -> NativePythonLayerVersion:
    return NativePythonLayerVersion(scope, construct_id, entry=entry, compatible_runtimes=list(runtimes),
                                    compatible_architectures=list(arches), bundling=opts(index), **kw)


def staged(construct: Any) -> Path:
    from cdk_native_python.layer import staged_asset

    path = staged_asset(construct)
    assert path is not None and path.is_dir()
    return path


def reports(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "cache" / "reports").glob("*.json"))]


def function_report(tmp_path: Path) -> dict[str, Any]:
    """The report of the one function (a layer's source files are under python/)."""
    (found,) = [r for r in reports(tmp_path) if r["source_files"] and not r["source_files"][0].startswith("python/")]
    return found


# -- the layer itself ----------------------------------------------------------------------------------------------

def test_layer_installs_under_python_and_says_what_it_holds(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    layer = make_layer(s, "Shared", folder(tmp_path, "layer", "purepkg\nnativepkg\nboto3\n"), wheel_index,
                       (PY312,), (ARM,), description="shared deps")
    asset = staged(layer)
    assert sorted(p.name for p in asset.iterdir()) == ["python"]
    site = asset / "python"
    assert (site / "purepkg" / "__init__.py").is_file() and (site / "depa" / "__init__.py").is_file()
    so = next((site / "nativepkg").glob("*.so"))
    assert int.from_bytes(so.read_bytes()[18:20], "little") == 183
    assert not (site / "boto3").exists() and not (asset / "index.py").exists()
    assert layer.packages == {"python3.12/arm64": {"purepkg": "1.0", "depa": "2.0", "nativepkg": "1.0"}}
    assert layer.unzipped_bytes == sum(p.stat().st_size for p in asset.rglob("*") if p.is_file())
    Template.from_stack(s).has_resource_properties("AWS::Lambda::LayerVersion", {
        "CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"], "Description": "shared deps"})


def test_pure_layer_serves_every_declared_target_with_one_zip(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    layer = make_layer(s, "Shared", folder(tmp_path, "layer", "purepkg\nusesattrs\n"), wheel_index,
                       (PY312, PY313), (ARM, X86))
    expected = {"purepkg": "1.0", "depa": "2.0", "usesattrs": "1.0", "attrs": "1.0"}
    assert layer.packages == {t: expected for t in
                              ("python3.12/arm64", "python3.12/x86_64", "python3.13/arm64", "python3.13/x86_64")}
    assert len(layer.targets) == 4
    t = Template.from_stack(s)
    t.resource_count_is("AWS::Lambda::LayerVersion", 1)
    t.has_resource_properties("AWS::Lambda::LayerVersion", {
        "CompatibleRuntimes": ["python3.12", "python3.13"], "CompatibleArchitectures": ["arm64", "x86_64"]})
    # every target was resolved (one lock each)
    assert len([p for p in (tmp_path / "cache" / "resolutions").iterdir() if p.is_dir()]) == 4


def test_compiled_wheels_cannot_share_one_zip(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    with pytest.raises(ConfigurationError) as err:
        make_layer(s, "Native", folder(tmp_path, "layer", "purepkg\nnativepkg\n"), wheel_index, (PY312,),
                   (ARM, X86))
    text = str(err.value)
    assert "S/Native" in text and "python3.12/arm64" in text and "python3.12/x86_64" in text
    assert "nativepkg" in text and "manylinux_2_17_aarch64" in text and "purepkg" not in text.split("hint")[0]
    assert "declare one architecture per layer" in str(err.value.hint)


def test_architectures_resolving_to_different_versions_cannot_share_one_zip(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    reqs = 'depa<2; platform_machine == "aarch64"\ndepa>=2; platform_machine == "x86_64"\n'
    with pytest.raises(ConfigurationError) as err:
        make_layer(s, "Split", folder(tmp_path, "layer", reqs), wheel_index, (PY312,), (ARM, X86))
    assert "depa: 1.0 on python3.12/arm64, 2.0 on python3.12/x86_64" in str(err.value)
    assert "S/Split" in str(err.value) and err.value.hint


def test_runtimes_of_one_architecture_share_one_zip_with_per_runtime_folders(tmp_path: Path, wheel_index: Any) -> None:
    """Compiled packages, and versions that differ per runtime, go where only their runtime looks."""
    _, s = app_stack(tmp_path)
    reqs = 'purepkg\nnativepkg\nusesattrs; python_version >= "3.13"\n'
    layer = make_layer(s, "Multi", folder(tmp_path, "layer", reqs), wheel_index, (PY312, PY313), (ARM,))
    asset = staged(layer)
    shared, v312, v313 = (asset / "python", asset / "python/lib/python3.12/site-packages",
                          asset / "python/lib/python3.13/site-packages")
    assert (shared / "purepkg" / "__init__.py").is_file() and (shared / "index.py").is_file()
    assert not (shared / "nativepkg").exists() and not (shared / "usesattrs").exists()
    for site in (v312, v313):
        so = next((site / "nativepkg").glob("*.so"))
        assert int.from_bytes(so.read_bytes()[18:20], "little") == 183
        assert list(site.glob("nativepkg-1.0.dist-info"))
    assert (v313 / "usesattrs").is_dir() and (v313 / "attrs").is_dir() and not (v312 / "usesattrs").exists()
    assert layer.packages == {
        "python3.12/arm64": {"purepkg": "1.0", "depa": "2.0", "nativepkg": "1.0"},
        "python3.13/arm64": {"purepkg": "1.0", "depa": "2.0", "nativepkg": "1.0", "usesattrs": "1.0", "attrs": "1.0"}}
    Template.from_stack(s).resource_count_is("AWS::Lambda::LayerVersion", 1)
    # a python3.13 function leaves out what the layer gives python3.13
    fn = NativePythonFunction(s, "Fn", entry=folder(tmp_path, "fn", "usesattrs\nnativepkg\n"), runtime=PY313,
                              architecture=ARM, layers=[layer], bundling=opts(wheel_index))
    assert not (staged(fn) / "usesattrs").exists() and not (staged(fn) / "nativepkg").exists()


def test_versions_that_differ_per_runtime_go_in_each_runtimes_folder(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    reqs = 'depa<2; python_version < "3.13"\ndepa>=2; python_version >= "3.13"\npurepkg\n'
    layer = make_layer(s, "Split", folder(tmp_path, "layer", reqs), wheel_index, (PY312, PY313))
    asset = staged(layer)
    assert "1.0" in (asset / "python/lib/python3.12/site-packages/depa/__init__.py").read_text()
    assert "2.0" in (asset / "python/lib/python3.13/site-packages/depa/__init__.py").read_text()
    assert not (asset / "python" / "depa").exists() and (asset / "python" / "purepkg").is_dir()
    assert layer.packages["python3.12/x86_64"]["depa"] == "1.0" and layer.packages["python3.13/x86_64"]["depa"] == "2.0"


def test_layer_ships_its_source_and_a_code_only_layer_works(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    code_only = tmp_path / "shared"
    (code_only / "models").mkdir(parents=True)
    (code_only / "shared.py").write_text("VALUE = 1\n")
    (code_only / "models" / "__init__.py").write_text("")
    (code_only / ".venv").mkdir()
    (code_only / ".venv" / "junk.py").write_text("")
    layer = make_layer(s, "Code", str(code_only), wheel_index)
    asset = staged(layer)
    assert sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()) == [
        "python/models/__init__.py", "python/shared.py"]
    assert layer.packages == {"python3.12/x86_64": {}}
    # the asset hash covers the layer's source: an edit there redeploys
    first = Template.from_stack(s).find_resources("AWS::Lambda::LayerVersion")
    (code_only / "shared.py").write_text("VALUE = 2\n")
    _, s2 = app_stack(tmp_path / "b")
    make_layer(s2, "Code", str(code_only), wheel_index)
    second = Template.from_stack(s2).find_resources("AWS::Lambda::LayerVersion")
    key = lambda t: next(iter(t.values()))["Properties"]["Content"]["S3Key"]  # noqa: E731
    assert key(first) != key(second)


# -- functions using layers ----------------------------------------------------------------------------------------

def test_function_leaves_out_what_its_layer_holds(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    layer = make_layer(s, "Shared", folder(tmp_path, "layer", "purepkg\n"), wheel_index, (PY312,), (ARM,))
    fn = NativePythonFunction(s, "Fn", entry=folder(tmp_path, "fn", "purepkg\nusesattrs\n"), runtime=PY312,
                              architecture=ARM, layers=[layer], bundling=opts(wheel_index))
    asset = staged(fn)
    assert (asset / "usesattrs").is_dir() and (asset / "attrs").is_dir() and (asset / "index.py").is_file()
    assert not (asset / "purepkg").exists() and not (asset / "depa").exists()
    assert not list(asset.glob("purepkg-*.dist-info")) and not list(asset.glob("depa-*.dist-info"))
    report = function_report(tmp_path)
    assert report["stripped"]["purepkg"] == "provided by layer S/Shared"
    assert report["stripped"]["depa"] == "provided by layer S/Shared"
    assert report["size"]["layers_bytes"] == layer.unzipped_bytes > 0
    t = Template.from_stack(s)
    fn_props = next(iter(t.find_resources("AWS::Lambda::Function").values()))["Properties"]
    assert len(fn_props["Layers"]) == 1

    # the same function without the layer ships everything
    _, s2 = app_stack(tmp_path / "b")
    alone = NativePythonFunction(s2, "Fn", entry=str(tmp_path / "fn"), runtime=PY312, architecture=ARM,
                                 bundling=opts(wheel_index))
    assert (staged(alone) / "purepkg").is_dir() and (staged(alone) / "depa").is_dir()


def test_another_version_than_the_layer_ships_the_functions_own_copy(
        tmp_path: Path, wheel_index: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """As aws_lambda_python_alpha: the function's copy comes first on sys.path and shadows the layer's."""
    _, s = app_stack(tmp_path)
    layer = make_layer(s, "Shared", folder(tmp_path, "layer", "depa==2.0\npurepkg\n"), wheel_index)
    fn = NativePythonFunction(s, "Api", entry=folder(tmp_path, "fn", "depa==1.0\npurepkg\n"), runtime=PY312,
                              layers=[layer], bundling=opts(wheel_index))
    assert "1.0" in (staged(fn) / "depa" / "__init__.py").read_text()
    assert not (staged(fn) / "purepkg").exists()  # the same version is still left out
    message = "shipping depa 1.0, which shadows depa 2.0 from layer S/Shared"
    assert any(message in w for w in said_on(fn)), said_on(fn)
    assert any(message in w for w in function_report(tmp_path)["warnings"])


def test_layer_in_a_stack_cdk_does_not_bundle_still_dedups(tmp_path: Path, wheel_index: Any) -> None:
    """`cdk synth Functions --exclusively`: the layer's stack is not bundled, the function's is."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"), context={"aws:cdk:bundling-stacks": ["Functions"]})
    layers, functions = cdk.Stack(app, "Layers"), cdk.Stack(app, "Functions")
    layer = make_layer(layers, "Shared", folder(tmp_path, "layer", "purepkg\n"), wheel_index)
    assert not (tmp_path / "cache" / "trees").exists()  # nothing installed for the skipped stack
    fn = NativePythonFunction(functions, "Fn", entry=folder(tmp_path, "fn", "purepkg\nusesattrs\n"),
                              runtime=PY312, layers=[layer], bundling=opts(wheel_index))
    asset = staged(fn)
    assert (asset / "usesattrs").is_dir() and not (asset / "purepkg").exists()
    assert layer.packages == {"python3.12/x86_64": {"purepkg": "1.0", "depa": "2.0"}}


def test_function_and_layer_targets_must_match(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    layer = make_layer(s, "Arm", folder(tmp_path, "layer", "purepkg\n"), wheel_index, (PY312,), (ARM,))
    with pytest.raises(ConfigurationError) as err:
        NativePythonFunction(s, "Fn", entry=folder(tmp_path, "fn", "purepkg\n"), runtime=PY312, architecture=X86,
                             layers=[layer], bundling=opts(wheel_index))
    assert "S/Fn (python3.12/x86_64)" in str(err.value) and "S/Arm" in str(err.value)
    assert "python3.12/arm64" in str(err.value) and "compatible_architectures" in str(err.value.hint)


def test_two_layers_holding_different_versions_are_an_error(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    one = make_layer(s, "One", folder(tmp_path, "one", "depa==1.0\n"), wheel_index)
    two = make_layer(s, "Two", folder(tmp_path, "two", "depa==2.0\n"), wheel_index)
    with pytest.raises(ConfigurationError, match=r"S/One and S/Two hold different versions of depa \(1.0 and 2.0\)"):
        NativePythonFunction(s, "Fn", entry=folder(tmp_path, "fn", None), runtime=PY312, layers=[one, two],
                             bundling=opts(wheel_index))


def test_layers_count_against_the_size_budget(tmp_path: Path, wheel_index: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, s = app_stack(tmp_path)
    layer = make_layer(s, "Big", folder(tmp_path, "layer", "purepkg\nusesdateutil\n"), wheel_index)
    plain = lambda_.LayerVersion(s, "Plain", code=lambda_.Code.from_asset(str(tmp_path / "layer")))
    # a limit the function fits alone, but not with its layer
    monkeypatch.setattr(budget, "LIMIT_BYTES", layer.unzipped_bytes)
    monkeypatch.setattr(engine, "LIMIT_BYTES", layer.unzipped_bytes)
    NativePythonFunction(s, "Alone", entry=folder(tmp_path, "fn", None), runtime=PY312)
    with pytest.raises(Exception, match=r"S/WithLayer.*in layers"):
        NativePythonFunction(s, "WithLayer", entry=str(tmp_path / "fn"), runtime=PY312, layers=[layer])
    # any asset-based layer counts, not only native ones
    monkeypatch.setattr(budget, "LIMIT_BYTES", 10**9)
    monkeypatch.setattr(engine, "LIMIT_BYTES", 10**9)
    folder(tmp_path, "fn2", None, handler="return 2")
    NativePythonFunction(s, "Both", entry=str(tmp_path / "fn2"), runtime=PY312, layers=[layer, plain, layer])
    plain_bytes = sum(p.stat().st_size for p in (tmp_path / "layer").iterdir())
    both = [r for r in reports(tmp_path) if r["size"]["layers_bytes"]]
    assert [r["size"]["layers_bytes"] for r in both] == [layer.unzipped_bytes + plain_bytes]


def test_ten_functions_with_the_same_dependencies_resolve_and_install_once(
        tmp_path: Path, wheel_index: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    def synth(root: Path, count: int) -> Path:
        app, s = app_stack(root)
        for i in range(count):  # ten distinct sources (ten assets), one dependency set
            NativePythonFunction(s, f"Fn{i}", entry=folder(root, f"fn{i}", "purepkg\nnativepkg\nboto3\n",
                                                           handler=f"return {i}"),
                                 runtime=PY313, architecture=ARM, bundling=opts(wheel_index))
        app.synth()
        return root / "cache"

    with uv.observed(lambda call: calls.append(call.kind)):
        monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "one" / "cache"))
        synth(tmp_path / "one", 1)
        one_function = list(calls)
        calls.clear()
        capsys.readouterr()
        monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "ten" / "cache"))
        cache = synth(tmp_path / "ten", 10)
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("[cdk-native-python] S/Fn") and not line.endswith(" …")]  # not progress lines

    assert calls == one_function and calls  # the same uv work as for a single function
    assert len([p for p in (cache / "resolutions").iterdir() if p.is_dir()]) == 1
    assert len([p for p in (cache / "trees").iterdir() if p.is_dir()]) == 1
    assert len(lines) == 10
    assert sum("resolve done" in line for line in lines) == 1 and sum("install done" in line for line in lines) == 1
    assert sum("resolve cached, install cached" in line for line in lines) == 9
    assets = [p for p in (tmp_path / "ten" / "cdk.out").iterdir() if p.name.startswith("asset.")]
    assert len(assets) == 10
    assert all((a / "purepkg").is_dir() and (a / "nativepkg").is_dir() and not (a / "boto3").exists() for a in assets)


# -- strip: provided packages --------------------------------------------------------------------------------------

def test_provided_packages_are_removed_exactly(tmp_path: Path) -> None:
    dist(tmp_path, "requests", ["certifi", "idna"])
    dist(tmp_path, "certifi")
    dist(tmp_path, "idna")
    dist(tmp_path, "app", ["requests"])
    options = StripOptions(provided=(("requests", "1.0", "S/L"), ("certifi", "1.0.0", "S/L"), ("other", "3", "S/L")))
    result = strip(tmp_path, Target.from_runtime("python3.12"), ["app", "requests"], options)
    # idna is only needed by requests but stays: removal is exact, not an exclusive closure
    assert set(installed(tmp_path)) == {"app", "idna"}
    assert result.removed == {"requests": "provided by layer S/L", "certifi": "provided by layer S/L"}
    assert not (tmp_path / "requests").exists() and (tmp_path / "idna" / "__init__.py").is_file()


def test_provided_mismatch_keep_and_key(tmp_path: Path) -> None:
    dist(tmp_path, "depa")
    dist(tmp_path, "boto3")
    dists = installed(tmp_path)
    clash = StripOptions(provided=(("depa", "2.0", "S/L"),))
    assert provided_by_layers(dists, clash) == {}  # another version: the function's copy stays
    assert provided_by_layers(dists, StripOptions(provided=(("depa", "1.0", "S/L"),))) == {
        "depa": "provided by layer S/L"}
    assert provided_by_layers(dists, StripOptions(keep=("depa",), provided=(("depa", "1.0", "S/L"),))) == {}
    # a package stripped anyway (the runtime's boto3) is not a clash
    assert provided_by_layers(dists, StripOptions(provided=(("boto3", "9", "S/L"),)), ["boto3"]) == {}
    assert "provided" not in StripOptions().key()
    assert StripOptions(provided=(("depa", "2.0", "S/L"),)).key() != StripOptions().key()
