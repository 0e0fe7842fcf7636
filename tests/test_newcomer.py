"""A newcomer's first hour, end to end: an empty folder, `cdk init app --language python` (the real CLI, which also
creates the project's virtualenv and installs aws-cdk-lib from PyPI), the package added from its built wheel, a
NativePythonFunction with a requirements.txt, `cdk synth`; then `cdk-native-python explain` on what was built."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cdkhelpers import CDK, needs_cdk
from tests.helpers import ROOT

pytestmark = [pytest.mark.synth, pytest.mark.pypi, needs_cdk]

STACK = '''\
from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_native_python import NativePythonFunction


class NewcomerStack(Stack):

    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        NativePythonFunction(self, "Hello", entry="lambda/hello", runtime=lambda_.Runtime.PYTHON_3_13,
                             architecture=lambda_.Architecture.ARM_64)
'''

HANDLER = '''\
from aws_lambda_powertools import Tracer

tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event, context):
    return {"statusCode": 200}
'''


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_a_newcomer_gets_a_bundle_a_summary_and_the_warnings_the_cdk_way(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDK_NATIVE_PYTHON_", "VIRTUAL_ENV"))}
    env.update(CDK_DISABLE_CLI_TELEMETRY="1", JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
               CDK_NATIVE_PYTHON_CACHE_DIR=str(tmp_path / "cache"))
    # the wheel, as a release builds it: from a copy of what it is made of, since setuptools writes its work
    # folders (build/, *.egg-info, <name>-<version>/) into the source tree and other tests read the checkout
    source = tmp_path / "source"
    shutil.copytree(ROOT / "cdk_native_python", source / "cdk_native_python",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(source)], source, env)
    (wheel,) = (tmp_path / "dist").glob("cdk_native_python-*-py3-none-any.whl")

    project = tmp_path / "newcomer"
    project.mkdir()
    run([str(CDK), "init", "app", "--language", "python"], project, env)
    venv = project / ".venv"
    assert (venv / "bin" / "python").exists(), "cdk init creates the project's virtualenv"
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], project, env)

    # what the README tells a newcomer to write
    (project / "newcomer" / "newcomer_stack.py").write_text(STACK)
    hello = project / "lambda" / "hello"
    hello.mkdir(parents=True)
    (hello / "index.py").write_text(HANDLER)
    (hello / "requirements.txt").write_text("aws-lambda-powertools[tracer]\n")

    activated = {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}
    synth = run([str(CDK), "synth", "--no-notices"], project, activated)  # cdk.json runs `python3 app.py`
    stderr = synth.stderr
    summary = [line for line in stderr.splitlines() if line.startswith("[cdk-native-python] NewcomerStack/Hello: ")]
    assert summary and re.match(r"\[cdk-native-python\] NewcomerStack/Hello: python3\.13 / manylinux_2_34 aarch64 "
                                r"— \d+ packages, [\d.]+ MB \(≈[\d.]+ MB zipped\), [\d.]+s \(resolve done, install "
                                r"done, hardlink\)$", summary[-1]), stderr[-3000:]
    # powertools needs jmespath>=1.0.1, newer than what the runtime guarantees: shipped, and said the CDK way
    notice = re.search(r"INFO (jmespath [^\n]*, which the Lambda runtime provides, is shipped, required through "
                       r"aws-lambda-powertools\[tracer\] → jmespath: aws-lambda-powertools requires jmespath[^\n]*)"
                       r" \([^\n]*\)\n   NewcomerStack/Hello", stderr)
    assert notice, stderr[-3000:]
    template = synth.stdout
    assert "AWS::Lambda::Function" in template and "index.handler" in template and "arm64" in template

    (asset,) = [p for p in (project / "cdk.out").glob("asset.*") if (p / "index.py").is_file()]
    names = {p.name.split("-")[0].lower() for p in asset.glob("*.dist-info")}
    assert {"aws_lambda_powertools", "aws_xray_sdk", "jmespath", "wrapt"} <= names, names
    # aws-xray-sdk needs botocore>=1.11.3: every botocore the runtime may ship satisfies it, so it is not shipped
    assert not names & {"boto3", "botocore", "s3transfer", "aws_cdk_lib", "constructs", "jsii",
                        "cdk_native_python"}, names

    # "why is botocore in my bundle?": the installed command answers from the synth's report
    (report,) = (tmp_path / "cache" / "reports").glob("*.json")
    why = run([str(venv / "bin" / "cdk-native-python"), "explain", "botocore", "--report", str(report)], project,
              activated).stdout.splitlines()
    assert re.fullmatch(r"botocore [\d.]+ is not in the bundle of NewcomerStack/Hello \(python3\.13/arm64\): it was "
                        r"stripped \(provided by the Lambda runtime \(python3\.13 guarantees botocore >= [\d.]+, "
                        r"below 2\)\)\.", why[0]), why
    assert "  required through: aws-lambda-powertools[tracer] → aws-xray-sdk → botocore" in why, why
