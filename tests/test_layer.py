"""The layer construct (``layer.py``): dependencies under ``python/``, its source shipped, a code-only layer,
``output_path_suffix``. Hermetic: every package comes from the local wheel index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from cdk_native_python import NativePythonFunction, NativePythonLayerVersion
from cdk_native_python.core.errors import ConfigurationError
from tests.cdkhelpers import (
    ARM,
    PY312,
    PY313,
    X86,
    app_stack,
    assembly_notices,
    folder,
    function_entry,
    make_layer,
    noisy_function,
    said_on,
    says_every_notice,
    stack,
    staged,
    tracer_options,
)
from tests.helpers import elf_machine

pytestmark = pytest.mark.usefixtures("cache_env")


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
    assert elf_machine(so.read_bytes()) == 183
    assert not (site / "boto3").exists() and not (asset / "index.py").exists()
    assert layer.packages == {"python3.12/arm64": {"purepkg": "1.0", "depa": "2.0", "nativepkg": "1.0"}}
    assert layer.unzipped_bytes == sum(p.stat().st_size for p in asset.rglob("*") if p.is_file())
    Template.from_stack(s).has_resource_properties("AWS::Lambda::LayerVersion", {
        "CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"], "Description": "shared deps"})


def test_layer_ships_its_source_and_a_code_only_layer_works(tmp_path: Path, wheel_index: Any) -> None:
    _, s = app_stack(tmp_path)
    code_only = tmp_path / "shared"
    (code_only / "models").mkdir(parents=True)
    (code_only / "shared.py").write_text("VALUE = 1\n")
    (code_only / "models" / "__init__.py").write_text("")
    (code_only / ".venv").mkdir()
    (code_only / ".venv" / "junk.py").write_text("")
    (code_only / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtualenv: left out by default
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


# -- strip: provided packages --------------------------------------------------------------------------------------


def test_output_path_suffix_is_honoured_for_layers(tmp_path: Path, wheel_index: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    s = stack(tmp_path)
    layer = NativePythonLayerVersion(s, "L", entry=function_entry(tmp_path, "purepkg\n", "layer"),
                                     compatible_runtimes=[PY312],
                                     bundling={"index_url": wheel_index.url,
                                               "output_path_suffix": "python/lib/python3.12/site-packages"})
    site = staged(layer) / "python/lib/python3.12/site-packages"
    assert (site / "purepkg" / "__init__.py").is_file() and (site / "index.py").is_file()
    assert layer.packages == {"python3.12/x86_64": {"purepkg": "1.0", "depa": "2.0"}}
    fn = NativePythonFunction(s, "Fn", entry=function_entry(tmp_path), runtime=PY312,
                              bundling={"index_url": wheel_index.url, "output_path_suffix": "python"})
    assert (staged(fn) / "index.py").is_file()
    assert any("bundling option output_path_suffix applies to layers only" in w for w in said_on(fn)), said_on(fn)
    with pytest.raises(ConfigurationError, match="leaves the asset folder"):
        NativePythonLayerVersion(s, "Bad", entry=str(tmp_path / "layer"), bundling={"output_path_suffix": "../x"})


# -- every notice on every path (see docs/warnings.md) -------------------------------------------------------


def noisy_layer_synth(tmp_path: Path, tracer_index: Path, outdir: str,
                      runtimes: tuple[Any, ...]) -> list[tuple[str, str]]:
    """One app with :func:`noisy_function`'s folder as the layer ``S/Layer`` of ``runtimes`` (x86_64), synthesized
    into ``tmp_path/<outdir>``: what the assembly says about the layer."""
    app = cdk.App(outdir=str(tmp_path / outdir))
    NativePythonLayerVersion(cdk.Stack(app, "S"), "Layer", entry=str(tmp_path / "fn"),
                             compatible_runtimes=list(runtimes), compatible_architectures=[X86],
                             bundling=tracer_options(tracer_index))
    return assembly_notices(app)["/S/Layer"]


@pytest.mark.parametrize("path", ["cold", "warm", "replayed"])
def test_every_notice_reaches_a_layer(tmp_path: Path, tracer_index: Path, path: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    noisy_function(tmp_path)
    if path != "cold":
        noisy_layer_synth(tmp_path, tracer_index, "first", (PY312,))
    capsys.readouterr()
    says_every_notice(noisy_layer_synth(tmp_path, tracer_index, "first" if path == "replayed" else "out", (PY312,)),
                      "python3.12")
    assert ("Bundling asset" in capsys.readouterr().err) == (path != "replayed")


@pytest.mark.parametrize("path", ["cold", "replayed"])
def test_every_notice_of_every_target_reaches_a_layer_of_several_runtimes(
        tmp_path: Path, tracer_index: Path, path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One asset holds a bundle per target: replayed, each target's report is said again, not the first's only."""
    noisy_function(tmp_path)
    if path == "replayed":
        noisy_layer_synth(tmp_path, tracer_index, "out", (PY312, PY313))
    capsys.readouterr()
    says_every_notice(noisy_layer_synth(tmp_path, tracer_index, "out", (PY312, PY313)), "python3.12", "python3.13")
    assert ("Bundling asset" in capsys.readouterr().err) == (path == "cold")


def test_a_layer_without_compatible_runtimes_serves_python313(tmp_path: Path, wheel_index: Any) -> None:
    """The documented default (upstream's python3.7 no longer runs on Lambda): python3.13 on x86_64, in the
    template and in what is built."""
    from tests.cdkhelpers import opts

    _, s = app_stack(tmp_path)
    layer = NativePythonLayerVersion(s, "Default", entry=folder(tmp_path, "layer", "purepkg\n"),
                                     bundling=opts(wheel_index))
    assert set(layer.packages) == {"python3.13/x86_64"}
    Template.from_stack(s).has_resource_properties("AWS::Lambda::LayerVersion", {
        "CompatibleRuntimes": ["python3.13"]})
