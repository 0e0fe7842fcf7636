"""Command hooks (``hooks.py``): one shell per hook joined with ``&&``, real paths, a layer's ``python/`` folder."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python import BundlingOptions, NativePythonLayerVersion, hooks
from cdk_native_python.errors import HookError
from tests.cdkhelpers import PY312, function_entry, stack, staged

pytestmark = pytest.mark.usefixtures("cache_env")


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
        s, "L", entry=function_entry(tmp_path, "purepkg\n", "layer"), compatible_runtimes=[PY312],
        bundling=BundlingOptions(index_url=wheel_index.url, command_hooks=Scripted([], ["touch {output}/marker"])))
    assert (staged(layer) / "python" / "marker").is_file()
