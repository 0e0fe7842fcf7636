"""Proofs under real target interpreters (tools/target-python: Debian's CPython for arm64 under qemu):

* one layer declaring python3.11 and python3.13 on arm64, with a compiled package, imports on both;
* a powertools tracer + aws-encryption-sdk function bundled without boto3/botocore imports when the floor
  boto3/botocore of the runtime table sit on sys.path only as "the runtime's" (after the bundle, as on Lambda);
* lock fidelity: what a package that ships needs ships at the locked/resolved version (urllib3 2.x locked for
  requests, python-dateutil 4.0.0 resolved for opensearch-py), and the handler imports those, not the
  runtime's copies (urllib3 1.26, python-dateutil 2.9) that sit after the bundle; boto3 alone leaves with its
  whole family.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import NativePythonLayerVersion
from cdk_native_python.cdk.bundling import staged_asset
from cdk_native_python.core import runtimes
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.pipeline.install import InstallOptions
from cdk_native_python.pipeline.strip import StripOptions
from cdk_native_python.store.local import LocalStore
from tests.helpers import write_function

pytestmark = [pytest.mark.pypi, pytest.mark.emulated]
TARGET_PYTHON = Path(__file__).resolve().parents[1] / "tools" / "target-python"


def run_on_target(version: str, paths: list[Path], code: str) -> Any:
    """Run ``code`` under arm64 CPython ``version`` with exactly ``paths`` before the standard library."""
    script = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}\n{code}"
    proc = subprocess.run([str(TARGET_PYTHON), "arm64", version, "-I", "-S", "-c", script], capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def the_runtimes(tmp_path: Path, cache: LocalStore, target: Target, more: str = "") -> dict[str, runtimes.Provided]:
    """Install "the runtime's" packages into ``tmp_path/var-lang``: boto3/botocore at the table's floor for the
    target's runtime (and ``more`` requirements); returns the table."""
    floor = runtimes.provided(target.runtime)
    rt = write_function(tmp_path, f"boto3=={floor['boto3'].floor}\nbotocore=={floor['botocore'].floor}\n{more}",
                        name="runtime")
    build(BuildRequest(entry=rt, target=target, install=InstallOptions(strip=StripOptions(keep_boto3=True)),
                       excludes=("requirements.txt", "index.py")), tmp_path / "var-lang", cache)
    return floor


def test_one_layer_serves_two_runtimes_with_compiled_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_NATIVE_PYTHON_CACHE_DIR", str(tmp_path / "cache"))
    entry = tmp_path / "layer"
    entry.mkdir()
    (entry / "requirements.txt").write_text("orjson>=3.10\nattrs>=23\n")
    (entry / "shared.py").write_text("def greeting():\n    return 'hello'\n")
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "cdk.out")), "S")
    layer = NativePythonLayerVersion(stack, "Multi", entry=str(entry),
                                     compatible_runtimes=[lambda_.Runtime.PYTHON_3_11, lambda_.Runtime.PYTHON_3_13],
                                     compatible_architectures=[lambda_.Architecture.ARM_64])
    opt = staged_asset(layer)
    assert opt is not None
    assert (opt / "python" / "attrs").is_dir() and not (opt / "python" / "orjson").exists()
    probe = ("import json, orjson, attrs, shared; "
             "print(json.dumps([orjson.dumps({'a': 1}).decode(), orjson.__file__, attrs.__file__, shared.greeting()]))")
    for version in ("3.11", "3.13"):
        site = opt / f"python/lib/python{version}/site-packages"
        assert next((site / "orjson").glob(f"*cpython-{version.replace('.', '')}-aarch64-linux-gnu.so"))
        dumped, orjson_file, attrs_file, greeting = run_on_target(version, [site, opt / "python"], probe)
        assert dumped == '{"a":1}' and greeting == "hello"
        assert orjson_file.startswith(str(site)) and attrs_file.startswith(str(opt / "python" / "attrs"))
    assert set(layer.packages["python3.11/arm64"]) == set(layer.packages["python3.13/arm64"]) >= {"orjson", "attrs"}


HANDLER = """
from aws_lambda_powertools import Tracer
import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy
from aws_xray_sdk.core import patch

tracer = Tracer(service="probe", disabled=True)
patch(["botocore"])  # aws-xray-sdk wraps the runtime's botocore


def handler(event, context):
    import boto3, botocore
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    kms = boto3.session.Session(region_name="eu-west-1").client("kms")
    return {"boto3": boto3.__version__, "botocore": botocore.__version__, "boto3_from": boto3.__file__,
            "kms": type(kms).__name__, "client": type(client).__name__}
"""


def test_powertools_and_encryption_sdk_run_on_the_runtimes_floor_boto3(tmp_path: Path) -> None:
    target = Target.from_runtime("python3.13", "arm64")
    cache = LocalStore(tmp_path / "cache")
    entry = write_function(tmp_path, "aws-lambda-powertools[tracer]\naws-encryption-sdk\n", {"index.py": HANDLER})
    result = build(BuildRequest(entry=entry, target=target), tmp_path / "task", cache)
    assert not {"boto3", "botocore", "s3transfer"} & set(result.packages)
    assert {"aws-lambda-powertools", "aws-xray-sdk", "aws-encryption-sdk", "cryptography"} <= set(result.packages)
    assert result.report.stripped["botocore"].startswith("provided by the Lambda runtime (python3.13 guarantees")
    # "the runtime's": boto3/botocore at the table's floor for python3.13, installed apart, after the bundle
    floor = the_runtimes(tmp_path, cache, target)
    code = ("import json, index; print(json.dumps(index.handler({}, None)))")
    answer = run_on_target("3.13", [tmp_path / "task", tmp_path / "var-lang"], code)
    assert answer["boto3"] == floor["boto3"].floor and answer["botocore"] == floor["botocore"].floor
    assert answer["boto3_from"].startswith(str(tmp_path / "var-lang"))
    assert answer["kms"] == "KMS" and answer["client"] == "EncryptionSDKClient"


FIDELITY_HANDLER = """
from importlib.metadata import version
import boto3, dateutil, opensearchpy, requests, urllib3


def handler(event, context):
    names = ("boto3", "urllib3", "python-dateutil", "requests", "opensearch-py")
    return {"versions": {n: version(n) for n in names}, "urllib3_from": urllib3.__file__,
            "dateutil_from": dateutil.__file__, "boto3_from": boto3.__file__}
"""


def test_what_shipped_packages_need_ships_at_the_locked_version(tmp_path: Path) -> None:
    target = Target.from_runtime("python3.13", "arm64")
    cache = LocalStore(tmp_path / "cache")
    alone = write_function(tmp_path, "boto3\n", name="alone")
    only = build(BuildRequest(entry=alone, target=target), tmp_path / "alone-task", cache)
    # boto3 alone: the whole family and its dependencies leave (each inside the runtime's range)
    assert only.packages == {}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"} <= set(
        only.report.stripped)

    # urllib3 2.5.0 locked for requests; opensearch-py takes any python-dateutil, so 4.0.0 resolves (above the
    # runtime's "< 3"; no botocore in the set caps it); the handler imports boto3 from the runtime
    entry = write_function(tmp_path, "requests==2.32.5\nurllib3==2.5.0\nopensearch-py==3.0.0\n",
                           {"index.py": FIDELITY_HANDLER})
    result = build(BuildRequest(entry=entry, target=target), tmp_path / "task", cache)
    assert not {"boto3", "botocore", "s3transfer", "jmespath"} & set(result.packages)
    assert result.packages["urllib3"] == "2.5.0" and result.packages["python-dateutil"] == "4.0.0"
    assert result.report.kept_seeds["urllib3"].endswith("need it, and ships")
    # "the runtime's": boto3/botocore at the floor with an older urllib3 and python-dateutil, after the bundle
    floor = the_runtimes(tmp_path, cache, target, "urllib3==1.26.20\npython-dateutil==2.9.0.post0\n")
    code = "import json, index; print(json.dumps(index.handler({}, None)))"
    answer = run_on_target("3.13", [tmp_path / "task", tmp_path / "var-lang"], code)
    assert answer["versions"] == {"boto3": floor["boto3"].floor, "urllib3": "2.5.0", "python-dateutil": "4.0.0",
                                  "requests": "2.32.5", "opensearch-py": "3.0.0"}
    assert answer["urllib3_from"].startswith(str(tmp_path / "task"))
    assert answer["dateutil_from"].startswith(str(tmp_path / "task"))
    assert answer["boto3_from"].startswith(str(tmp_path / "var-lang"))
