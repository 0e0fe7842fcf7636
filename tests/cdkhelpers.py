"""What a construct says as CDK annotations (the way every warning and notice of ours reaches the user)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import BundlingOptions, NativePythonLayerVersion
from tests.helpers import PYTHON, ROOT, write_function

CDK = ROOT / "node_modules" / ".bin" / "cdk"
#: the tests that run the real ``cdk`` CLI (marked ``synth`` too)
needs_cdk = pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
ARM = lambda_.Architecture.ARM_64
X86 = lambda_.Architecture.X86_64
PY312 = lambda_.Runtime.PYTHON_3_12
PY313 = lambda_.Runtime.PYTHON_3_13

LEVELS = {"warning": "aws:cdk:warning", "info": "aws:cdk:info", "error": "aws:cdk:error"}


def said_on(construct: Any, level: str = "warning") -> list[str]:
    """The messages of ``level`` annotated on ``construct`` itself (a warning's ends with ``[ack: <id>]``)."""
    kind = LEVELS[level]
    return [str(entry.data) for entry in construct.node.metadata if entry.type == kind]


def staged(construct: Any) -> Path:
    """The asset folder CDK staged for a function or layer."""
    from cdk_native_python.cdk.bundling import staged_asset

    path = staged_asset(construct)
    assert path is not None and path.is_dir()
    return path


def function_entry(root: Path, requirements: str = "purepkg\n", name: str = "fn") -> str:
    return str(write_function(root, requirements, files={"notes.md": "not shipped"}, name=name))


def stack(root: Path, context: dict[str, Any] | None = None) -> cdk.Stack:
    return cdk.Stack(cdk.App(outdir=str(root / "cdk.out"), context=context or {}), "S")


def folder(root: Path, name: str, requirements: str | None, handler: str = "return 'ok'") -> str:
    return str(write_function(root, requirements, files={"index.py": f"def handler(event, context):\n    {handler}\n"},
                              name=name))


def app_stack(tmp_path: Path) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    return app, cdk.Stack(app, "S")


def opts(index: Any, **kw: Any) -> BundlingOptions:
    return BundlingOptions(index_url=index.url, **kw)


def make_layer(scope: Any, construct_id: str, entry: str, index: Any, runtimes: tuple[Any, ...] = (PY312,),
               arches: tuple[Any, ...] = (X86,), **kw: Any) -> NativePythonLayerVersion:
    return NativePythonLayerVersion(scope, construct_id, entry=entry, compatible_runtimes=list(runtimes),
                                    compatible_architectures=list(arches), bundling=opts(index), **kw)


# -- an app run by python or by the real cdk CLI -----------------------------------------------------------------

BAD_APP = '''\
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_native_python import BundlingOptions, NativePythonFunction

app = cdk.App()
stack = cdk.Stack(app, "Bad")
NativePythonFunction(stack, "Fn", {props})
app.synth()
'''


def bad_app(tmp_path: Path, props: str, requirements: str | None) -> Path:
    """An app whose one function is ``NativePythonFunction(stack, "Fn", <props>)``."""
    app = tmp_path / "app"
    write_function(app, requirements)
    (app / "app.py").write_text(BAD_APP.format(props=props))
    (app / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    return app


def cdk_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(tmp_path / "cache"), "CDK_DISABLE_CLI_TELEMETRY": "1",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def cdk_synth(tmp_path: Path, app: Path, *args: str, out: Path | None = None,
              timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``cdk synth`` of ``app`` into ``out`` (``tmp_path/cdk.out``) with the store ``tmp_path/cache``."""
    return subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(out or tmp_path / "cdk.out"),
                           *args], cwd=app, env=cdk_env(tmp_path), capture_output=True, text=True, timeout=timeout,
                          check=False)


def only_asset(tmp_path: Path) -> Path:
    assets = [p for p in (tmp_path / "cdk.out").glob("asset.*") if p.is_dir()]
    assert len(assets) == 1, assets
    return assets[0]


def clean_failure(proc: subprocess.CompletedProcess[str], *culprits: str) -> None:
    """A failed app or synth that shows the message and its hint, without a Python or JavaScript stack."""
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "\n    at " not in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr, proc.stderr
    for culprit in culprits:
        assert culprit in proc.stderr, proc.stderr


# -- every notice on every path -----------------------------------------------------------------------------------

#: what :func:`noisy_function`'s bundle says, by code: its source (a secret, a link out, a dangling link), its
#: dependency files (an info), its install (a runtime package shipped; the message names the target's runtime)
NOISY_WARNINGS = ("source-secret", "source-link-outside", "source-link-dangling", "runtime-provided-shipped")
NOISY_INFO = "using requirements.txt, ignoring pyproject.toml beside it"


def noisy_function(root: Path, name: str = "fn") -> Path:
    """A function folder that makes one notice of each kind: the tracer set's requirements (botocore ships),
    a ``.env``, a link to a file outside it, a dangling link and a second dependency file."""
    from tests.tracerset import tracer_function

    entry = tracer_function(root / name)
    (entry / ".env").write_text("TOKEN=not-a-real-one\n")
    (root / "shared.py").write_text("SHARED = 1\n")
    (entry / "shared.py").symlink_to(root / "shared.py")
    (entry / "gone.py").symlink_to(root / "nowhere.py")
    (entry / "pyproject.toml").write_text('[project]\nname = "fn"\nversion = "0"\ndependencies = ["wrapt"]\n')
    return entry


def tracer_options(tracer_index: Path, **kw: Any) -> BundlingOptions:
    return BundlingOptions(find_links=[str(tracer_index)], no_index=True, **kw)


def assembly_notices(app: cdk.App, stack_name: str = "S") -> dict[str, list[tuple[str, str]]]:
    """construct path -> [(level, message)] in the synthesized cloud assembly (what ``cdk synth`` prints)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for message in app.synth().get_stack_by_name(stack_name).messages:
        level = {v: k for k, v in LEVELS.items()}[message.entry.type]
        found.setdefault(message.id, []).append((level, str(message.entry.data)))
    return found


def codes(said: list[tuple[str, str]]) -> list[str]:
    """The codes of the warnings in ``said`` (each ends with ``[ack: cdk-native-python:<code>]``), sorted."""
    return sorted(text.rsplit("[ack: cdk-native-python:", 1)[1].rstrip("]") for level, text in said
                  if level == "warning" and "[ack: cdk-native-python:" in text)


def says_every_notice(said: list[tuple[str, str]], *runtimes: str) -> None:
    """``said`` holds every notice of :func:`noisy_function` once (the shipped one once per runtime)."""
    expected = sorted([c for c in NOISY_WARNINGS if c != "runtime-provided-shipped"]
                      + ["runtime-provided-shipped"] * len(runtimes))
    assert codes(said) == expected, said
    for runtime in runtimes:
        assert any(f"{runtime} only guarantees botocore" in text for _, text in said), (runtime, said)
    assert [text for level, text in said if level == "info" and NOISY_INFO in text], said
