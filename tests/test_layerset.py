"""One layer asset for several targets (``layerset.py``): shared pure packages in ``python/``, per-runtime
folders for the rest, and an error where one zip cannot serve every declared architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from cdk_native_python import NativePythonFunction
from cdk_native_python.core.errors import ConfigurationError
from tests.cdkhelpers import ARM, PY312, PY313, X86, app_stack, folder, make_layer, opts, staged
from tests.helpers import elf_machine

pytestmark = pytest.mark.usefixtures("cache_env")


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
        assert elf_machine(so.read_bytes()) == 183
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
