"""The real aws-cdk CLI synthesizes the example app in integ/ with Docker-free bundling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cdkhelpers import cdk_synth, needs_cdk
from tests.helpers import PYTHON, ROOT, elf_machine, write_function

ELF = {62: "x86_64", 183: "aarch64"}

pytestmark = [pytest.mark.synth, pytest.mark.pypi, needs_cdk]


def functions(out: Path) -> dict[str, dict[str, object]]:
    template = json.loads((out / "NativePythonExample.template.json").read_text())
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


def test_example_app_synth_cold_then_warm(tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "cdk.out"
    cold = cdk_synth(tmp_path, ROOT, out=out)
    assert cold.returncode == 0, cold.stderr[-3000:]
    ours = [line for line in cold.stderr.splitlines() if "[cdk-native-python]" in line]
    assert len([line for line in ours if not line.endswith(" …")]) == 2  # a summary each (and slow steps shown)

    fns = functions(out)
    api = next(v for k, v in fns.items() if k.startswith("Api"))
    asset = out / str(api["Metadata"]["aws:asset:path"])  # type: ignore[index]
    assert api["Properties"]["Architectures"] == ["arm64"]  # type: ignore[index]
    names = {p.name.split("-")[0].lower() for p in asset.glob("*.dist-info")}
    assert {"pydantic", "pydantic_core", "cryptography"} <= names
    assert not names & {"boto3", "botocore", "s3transfer", "aws_cdk_lib", "constructs", "jsii", "appnope"}
    shared = [p for p in asset.rglob("*") if p.is_file() and ".so" in p.name]
    assert shared
    machines = {ELF.get(elf_machine(p.read_bytes()), "?") for p in shared}
    assert machines == {"aarch64"}, machines
    # the Worker: python3.11 / x86_64; its boto3>=1.26 is guaranteed by the runtime (stripped), pyarrow is arm64-only
    worker = next(v for k, v in fns.items() if k.startswith("Worker"))
    worker_names = {p.name.split("-")[0].lower()
                    for p in (out / str(worker["Metadata"]["aws:asset:path"])).glob("*.dist-info")}  # type: ignore[index]
    assert {"numpy", "orjson"} <= worker_names
    assert not worker_names & {"boto3", "botocore", "s3transfer", "pyarrow"}, worker_names
    assert all(p.read_bytes()[:4] == b"\x7fELF" for p in shared)

    # nothing changed: same asset hashes and no bundling, hence no resolution and no install
    locks_before = sorted(p.name for p in (cache / "resolutions").iterdir())
    trees_before = sorted(p.name for p in (cache / "trees").iterdir())
    warm = cdk_synth(tmp_path, ROOT, out=out)
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert "Bundling asset" not in warm.stderr and "[cdk-native-python]" not in warm.stderr
    assert functions(out) == fns
    assert sorted(p.name for p in (cache / "resolutions").iterdir()) == locks_before
    assert sorted(p.name for p in (cache / "trees").iterdir()) == trees_before

    # a fresh cdk.out with a warm cache re-stages from the cache without resolving or installing
    shutil.rmtree(out)
    restaged = cdk_synth(tmp_path, ROOT, out=out)
    assert restaged.returncode == 0, restaged.stderr[-3000:]
    assert restaged.stderr.count("resolve cached, install cached") == 2, restaged.stderr[-2000:]


def test_user_mistake_reaches_the_user_without_a_stack_dump(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write_function(app, "six\nrequests>=>2\n", files={"index.py": "def handler(e, c):\n    return 1\n"})
    (app / "app.py").write_text(
        "import aws_cdk as cdk\nfrom cdk_native_python import NativePythonFunction\n"
        "app = cdk.App()\nstack = cdk.Stack(app, 'Bad')\n"
        "NativePythonFunction(stack, 'Fn', entry='fn')\napp.synth()\n"
    )
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    result = cdk_synth(tmp_path, app, out=tmp_path / "out")
    assert result.returncode != 0
    assert "requirements.txt:2" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "\n    at " not in result.stderr
