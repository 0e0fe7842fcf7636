"""Command hooks (``hooks.py``): one shell per hook joined with ``&&``, real paths, a layer's ``python/`` folder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python import BundlingOptions, NativePythonFunction, NativePythonLayerVersion
from cdk_native_python.core.errors import HookError
from cdk_native_python.pipeline import hooks
from cdk_native_python.pipeline.engine import build
from cdk_native_python.store.local import LocalStore
from tests.cdkhelpers import PY312, function_entry, stack, staged
from tests.helpers import build_request, write_function

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


# -- hooks written for the alpha module paste the paths unquoted (issue 22) ------------------------------------------

class Unquoted:
    """Hooks as written for the Docker-based alpha module, where the folders were constants: paths pasted as
    they are, as ``commandHooks`` in its README does."""

    def before_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [f"cp {input_dir}/data.txt {output_dir}/before.txt", f"echo {output_dir} > {output_dir}/where.txt",
                f"stat -c %F {output_dir} > {output_dir}/kind.txt",
                f"stat -c %a $(dirname $(dirname {output_dir})) > {output_dir}/links-mode.txt"]

    def after_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [f"cp {input_dir}/data.txt {output_dir}/after.txt", f"test -f {output_dir}/index.py",
                f"find {input_dir} -name data.txt > {output_dir}/found.txt", f"cp -r {input_dir} {output_dir}/entry"]


#: folder names that break or inject through an unquoted path: a space, `;`, `$(...)`, backticks, quotes, globs
HOSTILE = ["a b;$(touch x)", "a b;`touch x`", "$(touch x)`touch x`;touch x&&touch x|'\"*?<>"]


def hostile_entry(root: Path, name: str) -> Path:
    parent = root / name
    entry = write_function(parent, None)
    (entry / "data.txt").write_text("the user's data")
    return entry


def nothing_injected(tmp: Path, cwd: Path) -> None:
    """No ``x`` under the test's own folder (hooks run in the asset folder inside it) nor in the process's
    working folder. The latter is looked at, not walked: other tests running beside this one may create and
    remove folders there while a walk is under way."""
    assert not [p for p in tmp.rglob("x")], f"a hook command was injected under {tmp}"
    assert not (cwd / "x").exists(), f"a hook command was injected in {cwd}"


@pytest.mark.parametrize("name", HOSTILE)
def test_unquoted_hook_paths_work_and_inject_nothing_through_the_engine(tmp_path: Path, name: str) -> None:
    entry = hostile_entry(tmp_path, name)
    out = tmp_path / name / "out"
    build(build_request(entry, hooks=Unquoted()), out, LocalStore(tmp_path / "cache"))
    assert (out / "before.txt").read_text() == (out / "after.txt").read_text() == "the user's data"
    assert (out / "found.txt").read_text().strip().endswith("/data.txt")
    assert not (out / "entry").is_symlink() and (out / "entry" / "data.txt").is_file()
    given = (out / "where.txt").read_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9/_.-]+", given) and given.endswith("/asset-output/out"), given
    assert (out / "kind.txt").read_text().strip() == "directory"  # not a link: find descends, cp -r copies it
    assert (out / "links-mode.txt").read_text().strip() == "700"  # the links are in a private folder
    links = Path(given).parent.parent
    assert not links.exists()  # the private folder of links is removed afterwards
    nothing_injected(tmp_path, Path.cwd())


def test_a_safe_real_path_is_handed_as_it_is(tmp_path: Path) -> None:
    entry = hostile_entry(tmp_path, "plain")
    out = tmp_path / "plain-out"
    build(build_request(entry, hooks=Unquoted()), out, LocalStore(tmp_path / "cache"))
    assert (out / "where.txt").read_text().strip() == str(out.resolve())


@pytest.mark.parametrize("name", HOSTILE[:2])
def test_unquoted_hook_paths_work_and_inject_nothing_through_the_constructs(tmp_path: Path, wheel_index: Any,
                                                                            name: str) -> None:
    root = tmp_path / name
    entry = hostile_entry(root, "src")
    s = stack(root)  # cdk.out, so the output folder CDK hands us, is under the hostile name too
    fn = NativePythonFunction(s, "Fn", entry=str(entry), runtime=PY312,
                              bundling=BundlingOptions(command_hooks=Unquoted()))
    layer = NativePythonLayerVersion(s, "L", entry=str(entry), compatible_runtimes=[PY312],
                                     bundling=BundlingOptions(index_url=wheel_index.url, command_hooks=Unquoted()))
    for asset in (staged(fn), staged(layer) / "python"):
        assert (asset / "before.txt").read_text() == (asset / "after.txt").read_text() == "the user's data"
    nothing_injected(tmp_path, Path.cwd())
