"""The function construct (``function.py``): props map onto lambda.Function, errors are clear, bundling follows
CDK's rules; a function leaves out what its layers hold (and fails on a version clash), layers count against
the size budget, and ten functions with one dependency set resolve and install once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from cdk_native_python import BundlingOptions, NativePythonFunction
from cdk_native_python.core import budget
from cdk_native_python.core.errors import (
    ConfigurationError,
)
from cdk_native_python.pipeline import engine
from tests import treehelpers
from tests.cdkhelpers import (
    ARM,
    PY312,
    PY313,
    X86,
    app_stack,
    assembly_notices,
    folder,
    make_layer,
    noisy_function,
    opts,
    said_on,
    says_every_notice,
    stack,
    staged,
    tracer_options,
)
from tests.helpers import build_later, build_request, fails, says, write_function
from tests.uvcalls import observed

pytestmark = pytest.mark.usefixtures("cache_env")


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    fn = tmp_path / "fn"
    (fn / "app").mkdir(parents=True)
    (fn / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (fn / "app" / "main.py").write_text("def run(event, context):\n    return 'ok'\n")
    (fn / ".venv").mkdir()
    (fn / ".venv" / "junk.py").write_text("")
    (fn / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtualenv: left out by default
    (fn / "notes.md").write_text("not shipped")
    return fn


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


def test_the_entrys_tests_and_data_ship_and_what_is_left_out_is_said_on_the_function(tmp_path: Path) -> None:
    fn = write_function(tmp_path, None, files={
        "index.py": "import json, pathlib\nfrom tests.fixtures import EXPECTED\n\ndef handler(event, context):\n"
                    "    return json.loads((pathlib.Path(__file__).parent / 'tests/golden.json').read_text()), "
                    "EXPECTED\n",
        "tests/__init__.py": "", "tests/fixtures/__init__.py": "EXPECTED = 'ok'\n", "tests/golden.json": "[42]",
        "venv/settings.py": "", ".venv/pyvenv.cfg": "home = /usr/bin\n", ".venv/bin/python": ""})
    s = stack(tmp_path)
    function = NativePythonFunction(s, "Fn", entry=str(fn), runtime=lambda_.Runtime.PYTHON_3_12)
    asset = staged(function)
    code = f"import sys; sys.path.insert(0, {str(asset)!r}); import index; print(index.handler(None, None))"
    ran = subprocess.run([sys.executable, "-I", "-c", code], cwd=asset, capture_output=True, text=True, check=False)
    assert ran.stdout == "([42], 'ok')\n", ran.stderr  # the asset alone runs it, as Lambda would
    assert (asset / "tests" / "fixtures" / "__init__.py").is_file() and (asset / "venv" / "settings.py").is_file()
    assert not (asset / ".venv").exists()
    (info,) = [m for m in said_on(function, "info") if "left out of the asset" in m]
    assert ".venv/ (a virtualenv: it holds pyvenv.cfg)" in info and "venv/settings" not in info
    assert not [m for m in said_on(function) if "left out" in m]  # information, not a warning


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
        files = treehelpers.files(asset)
        synthesized.append((key, files))
    (key1, files1), (key2, files2) = synthesized
    assert key1 == key2
    assert files1 == files2 and "nativepkg/_native.abi3.so" in files1 and "boto3/__init__.py" not in files1


def reports(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "cache" / "reports").glob("*.json"))]


def function_report(tmp_path: Path) -> dict[str, Any]:
    """The report of the one function (a layer's source files are under python/)."""
    (found,) = [r for r in reports(tmp_path) if r["source_files"] and not r["source_files"][0].startswith("python/")]
    return found


def test_01_missing_entry(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    err = fails(ConfigurationError, build_later(build_request(missing), tmp_path))
    says(err, str(missing), hint="point entry at the folder")
    # and through the construct
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    err = fails(ConfigurationError, lambda: NativePythonFunction(stack, "Fn", entry=str(missing)))
    says(err, str(missing), "does not exist", hint="point entry at the folder")


def test_02_missing_index_file(tmp_path: Path) -> None:
    entry = write_function(tmp_path, None)
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    err = fails(ConfigurationError, lambda: NativePythonFunction(stack, "Fn", entry=str(entry), index="main.py"))
    says(err, "Fn", str(entry / "main.py"), hint="set index=")


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

    with observed(lambda call: calls.append(call.kind)):
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


def test_a_cache_dir_that_is_not_ours_is_left_as_it_was_and_said_on_the_function(tmp_path: Path) -> None:
    project = tmp_path / "project"  # cache_dir: "." in a project: its own folders, one named like our scratch one
    for rel in ("app.py", "tmp/work/draft.txt", "trees/oak.txt"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("the user's")
    project.chmod(0o700)
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    s = stack(tmp_path)
    fn = NativePythonFunction(s, "Fn", entry=folder(tmp_path, "fn", None), runtime=lambda_.Runtime.PYTHON_3_12,
                              bundling=BundlingOptions(cache_dir=str(project)))
    assert (staged(fn) / "index.py").is_file()  # built, from a private temporary cache
    (said,) = [w for w in said_on(fn) if "is not a cdk-native-python cache (no CACHEDIR.TAG)" in w]
    assert str(project) in said and "cache-not-ours" in said
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before


# -- every notice on every path (see docs/warnings.md) -------------------------------------------------------


def noisy_synth(tmp_path: Path, tracer_index: Path, outdir: str, **kw: Any) -> list[tuple[str, str]]:
    """One app with :func:`noisy_function` as ``S/Fn``, synthesized into ``tmp_path/<outdir>``: what the
    assembly says about the function."""
    app = cdk.App(outdir=str(tmp_path / outdir))
    NativePythonFunction(cdk.Stack(app, "S"), "Fn", entry=str(tmp_path / "fn"), runtime=PY312,
                         bundling=tracer_options(tracer_index, **kw))
    return assembly_notices(app)["/S/Fn"]


def test_every_notice_reaches_the_function_cold(tmp_path: Path, tracer_index: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    noisy_function(tmp_path)
    says_every_notice(noisy_synth(tmp_path, tracer_index, "out"), "python3.12")
    # `python app.py` has no cdk CLI to print annotations: each is printed as the CLI prints it, once
    err = capsys.readouterr().err
    for line in ("[cdk-native-python] S/Fn: warning: source file .env looks like",
                 "[cdk-native-python] S/Fn: warning: source link shared.py leads outside the entry",
                 "[cdk-native-python] S/Fn: warning: source link gone.py -> ",
                 "[cdk-native-python] S/Fn: warning: botocore 1.35.0"):
        assert err.count(line) == 1, (line, err)


def test_under_the_cdk_cli_notices_are_annotations_only(tmp_path: Path, tracer_index: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_CLI_VERSION", "2.1000.0")  # the cdk CLI prints the annotations itself
    noisy_function(tmp_path)
    says_every_notice(noisy_synth(tmp_path, tracer_index, "out"), "python3.12")
    assert "warning:" not in capsys.readouterr().err


def test_every_notice_reaches_the_function_warm(tmp_path: Path, tracer_index: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A second app with the same store and another cdk.out: CDK bundles, every step is a store hit."""
    noisy_function(tmp_path)
    noisy_synth(tmp_path, tracer_index, "cold")
    capsys.readouterr()
    says_every_notice(noisy_synth(tmp_path, tracer_index, "warm"), "python3.12")
    assert "(resolve cached, install cached" in capsys.readouterr().err  # it was warm


@pytest.mark.parametrize("reports", ["kept", "cleared"])
def test_every_notice_reaches_the_function_replayed(tmp_path: Path, tracer_index: Path,
                                                    capsys: pytest.CaptureFixture[str], reports: str) -> None:
    """The same cdk.out: CDK finds the staged asset and does not bundle; what bundling said comes from its
    report (or, when the cache was cleared of reports, from bundling again in a scratch folder)."""
    noisy_function(tmp_path)
    noisy_synth(tmp_path, tracer_index, "out")
    if reports == "cleared":
        for report in (tmp_path / "cache" / "reports").iterdir():
            report.unlink()
    capsys.readouterr()
    says_every_notice(noisy_synth(tmp_path, tracer_index, "out"), "python3.12")
    assert "Bundling asset" not in capsys.readouterr().err  # CDK reused the staged asset
