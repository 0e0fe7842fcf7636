"""The switching claim, proven: an app written for aws_lambda_python_alpha (PythonFunction, PythonLayerVersion,
BundlingOptions, ICommandHooks; both import styles), over our copies of the upstream test fixtures, changed
in its import lines only, synthesizes with the real cdk CLI, and every handler imports and answers 200
under a CPython of its runtime's version, layers included (as Lambda lays them out under /opt)."""

from __future__ import annotations

import difflib
import glob
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cdkhelpers import cdk_synth, needs_cdk
from tests.helpers import PYTHON

UPSTREAM = Path(__file__).parent / "fixtures" / "upstream"
#: the only edits a user makes: the import lines
SWITCH = {
    "from aws_cdk.aws_lambda_python_alpha import": "from cdk_native_python import",
    "from aws_cdk import aws_lambda_python_alpha as python_lambda": "import cdk_native_python as python_lambda",
}

pytestmark = [pytest.mark.synth, pytest.mark.pypi, needs_cdk]


def host_python(version: str) -> str | None:
    """A CPython of ``version`` for this machine's architecture (x86_64 targets run it natively)."""
    candidates = [*sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))),
                  shutil.which(f"python{version}")]
    for exe in filter(None, candidates):  # a pyenv shim may exist without the version behind it
        if subprocess.run([exe, "-c", ""], capture_output=True, check=False).returncode == 0:
            return exe
    return None


def switch(app: Path) -> None:
    for path in sorted(app.glob("*.py")):
        before = path.read_text()
        after = before
        for old, new in SWITCH.items():
            after = after.replace(old, new)
        changed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:2] in ("- ", "+ ")]
        assert len(changed) == 2, (path.name, changed)  # one line out, one line in
        path.write_text(after)


def assets(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
    """Functions of every stack ("Stack/id" -> properties, with the asset path) and layers (logical id -> path)."""
    functions: dict[str, dict[str, Any]] = {}
    layers: dict[str, Path] = {}
    for template in out.glob("*.template.json"):
        for logical, res in json.loads(template.read_text())["Resources"].items():
            metadata = res.get("Metadata", {})
            asset = out / str(metadata.get("aws:asset:path"))
            if res["Type"] == "AWS::Lambda::Function":
                name = "/".join(metadata["aws:cdk:path"].split("/")[:2])
                functions[name] = {**res["Properties"], "asset": asset}
            elif res["Type"] == "AWS::Lambda::LayerVersion":
                layers[logical] = asset
    return functions, layers


def app_runtimes(app: Path) -> set[str]:
    """The Python versions the app's functions run on ("3.12"), read from its source before any synth."""
    found = set()
    for path in app.glob("*.py"):
        found |= {f"3.{m}" for m in re.findall(r"Runtime\.PYTHON_3_(\d+)", path.read_text())}
    return found


def invoke(function: dict[str, Any], layers: dict[str, Path], python: str) -> str:
    runtime = function["Runtime"].removeprefix("python")
    paths = [str(function["asset"])]
    for ref in function.get("Layers", []):
        opt = layers[ref["Ref"]]
        paths += [str(opt / f"python/lib/python{runtime}/site-packages"), str(opt / "python")]
    module, handler = function["Handler"].rsplit(".", 1)
    # -I -S: nothing of this machine's site-packages, only the bundle and its layers, as /var/task and /opt
    code = (f"import sys; sys.path[:0] = {paths!r}; import importlib; "
            f"print(importlib.import_module({module!r}).{handler}({{}}, None))")
    proc = subprocess.run([python, "-I", "-S", "-c", code], capture_output=True, text=True, check=False,
                          cwd=function["asset"])
    return proc.stdout.strip() or proc.stderr.strip()[-400:]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="handlers of x86_64 bundles are called natively")
def test_an_upstream_app_switched_by_its_import_lines_synthesizes_and_its_handlers_answer(tmp_path: Path) -> None:
    fixtures = tmp_path / "upstream"
    shutil.copytree(UPSTREAM, fixtures)
    app = fixtures / "app"
    switch(app)
    # which interpreters can call the handlers is known before the (long) synth; the asset and annotation
    # checks below run whatever the answer, only the calls wait for an interpreter
    pythons = {version: host_python(version) for version in sorted(app_runtimes(app))}
    assert pythons, "no runtime found in the app's source"
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    out = tmp_path / "cdk.out"
    proc = cdk_synth(tmp_path, app, out=out, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    functions, layers = assets(out)
    assert len(functions) == 17 and len(layers) == 1
    assert {fn["Runtime"].removeprefix("python") for fn in functions.values()} <= set(pythons)

    def files(name: str) -> set[str]:
        asset = functions[name if "/" in name else f"integ-lambda-python-functions/{name}"]["asset"]
        return {p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()}

    # .python-version never ships (as upstream); asset_excludes applies; hooks ran with real paths
    assert not any(".python-version" in files(n) for n in ("uv_311", "uv_312", "uv_313"))
    assert ".ignorefile" in files("uv_312") and ".ignorefile" not in files("uv_313")
    assert ".ignorefile" not in files("poetry_hashes_excludes_312")
    assert "copied_by_hook.py" in files("hooks")
    assert "inner/custom_index.py" in files("sub")
    layer = next(iter(layers.values()))
    assert (layer / "python" / "shared.py").is_file() and (layer / "python" / "requests").is_dir()
    project = files("cdk-integ-lambda-function-project/my_handler")
    assert "index.py" in project and not any(p.startswith("requests/") for p in project)  # from the layer
    # upstream options without effect here are said, once each, as annotations on the function (with its path)
    err = proc.stderr
    assert len(re.findall(r"WARNING bundling option image has no effect without Docker[^\n]*\n   [^\n]*custom_build",
                          err)) == 1, err[-3000:]
    assert re.search(r"INFO bundling option poetry_include_hashes is accepted and not needed[^\n]*\n   "
                     r"[^\n]*poetry_hashes_311", err), err[-3000:]
    # every handler imports and answers 200 (uv_versions_312 checks its bundle's versions against uv.lock:
    # urllib3 2.8.0 as locked, not the runtime's)
    callable_ = {name: fn for name, fn in functions.items() if pythons[fn["Runtime"].removeprefix("python")]}
    answers = {name: invoke(fn, layers, str(pythons[fn["Runtime"].removeprefix("python")]))
               for name, fn in callable_.items()}
    assert answers == dict.fromkeys(callable_, "200"), answers
    missing = sorted(v for v, exe in pythons.items() if exe is None)
    if missing:  # everything else was checked; say what was not
        pytest.skip(f"handlers of python{', python'.join(missing)} not called: no such CPython on this machine")
