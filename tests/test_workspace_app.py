"""The uv workspace example (integ/workspace/): two functions and one shared package over one real uv.lock,
synthesized by the real ``cdk`` CLI with each function's entry set to its member folder, and its handlers
called under the target's own interpreter (tools/target-python: Debian's CPython for arm64 under qemu)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.store.local import LocalStore
from tests.cdkhelpers import cdk_synth, needs_cdk
from tests.helpers import PYTHON, ROOT

EXAMPLE = ROOT / "integ" / "workspace"
TARGET_PYTHON = ROOT / "tools" / "target-python"
ARM313 = Target.from_runtime("python3.13", "arm64")


def example_copy(tmp_path: Path) -> Path:
    """The example where a test may edit it, its app run by this checkout's interpreter."""
    app = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("cdk.out", "__pycache__", ".venv"))
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    return app


def assets(out: Path) -> dict[str, Path]:
    """Construct id -> staged asset folder of each function in the synthesized template."""
    template = json.loads((out / "NativePythonWorkspace.template.json").read_text())
    return {key.rstrip("0123456789ABCDEF"): out / str(v["Metadata"]["aws:asset:path"])
            for key, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


def dists(asset: Path) -> set[str]:
    return {p.name.split("-")[0].lower() for p in asset.glob("*.dist-info")}


@pytest.mark.synth
@pytest.mark.pypi
@needs_cdk
def test_workspace_example_synthesizes_each_member_and_an_edit_in_shared_rebundles_only_its_user(
        tmp_path: Path) -> None:
    app = example_copy(tmp_path)
    first = cdk_synth(tmp_path, app, out=tmp_path / "cdk.out")
    assert first.returncode == 0, first.stderr[-3000:]
    built = assets(tmp_path / "cdk.out")
    api, worker = built["Api"], built["Worker"]
    # the api member: its dependencies, and the workspace package it uses installed as a wheel (non-editable)
    assert dists(api) == {"shared", "attrs", "orjson"}, dists(api)
    assert (api / "shared" / "__init__.py").is_file() and not list(api.glob("*.pth"))
    assert (api / "index.py").is_file() and not (api / "src").exists()
    assert next((api / "orjson").glob("*aarch64-linux-gnu.so"))
    # the worker member: only its own, nothing of shared
    assert dists(worker) == {"six"}, dists(worker)
    assert not (worker / "shared").exists()

    source = app / "packages" / "shared" / "src" / "shared" / "__init__.py"
    source.write_text(source.read_text().replace("hello, ", "hi, "))
    second = cdk_synth(tmp_path, app, out=tmp_path / "cdk.out")
    assert second.returncode == 0, second.stderr[-3000:]
    again = assets(tmp_path / "cdk.out")
    assert again["Api"] != api and again["Worker"] == worker  # exactly the user of shared is re-bundled
    assert "hi, " in (again["Api"] / "shared" / "__init__.py").read_text()


@pytest.mark.pypi
@pytest.mark.emulated
def test_workspace_example_handlers_run_on_their_target(tmp_path: Path) -> None:
    if not Path("/usr/bin/qemu-aarch64-static").exists() and shutil.which("apt-get") is None:
        pytest.skip("qemu-user-static is missing and cannot be installed here")
    store = LocalStore(tmp_path / "cache")
    calls = {"api": {"name": "lambda"}, "worker": {}}
    answers = {}
    for name, event in calls.items():
        out = tmp_path / name
        build(BuildRequest(entry=EXAMPLE / "functions" / name, target=ARM313, name=name), out, store)
        script = ("import json, sys, platform; sys.path.insert(0, sys.argv[1]); import index; "
                  f"print(json.dumps([platform.machine(), index.handler({event!r}, None)]))")
        proc = subprocess.run([str(TARGET_PYTHON), "arm64", "3.13", "-I", "-c", script, str(out)],
                              capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        answers[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answers["api"] == ["aarch64", {"statusCode": 200, "body": '{"message":"hello, lambda"}'}]
    assert answers["worker"] == ["aarch64", {"statusCode": 200, "body": "done"}]
