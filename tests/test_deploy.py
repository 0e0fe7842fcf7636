"""`cdk deploy` of our assets against moto's server on 127.0.0.1, and proof that the deployed code is our zip and runs.

The tier (marker ``deploy``) uses the real aws-cdk CLI and moto's server, both installed by ``scripts/bootstrap``;
the server is started per test module (per xdist worker) and stopped after it. What ``prove`` checks is described in
``scripts/deploy_local.py``. Bundling shares one cache across the tier's tests (and xdist workers), so each set of
requirements is resolved from PyPI once per run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cdk_native_python.core.budget import DIRECT_UPLOAD_BYTES, LIMIT_BYTES, Budget
from tests.helpers import PYTHON, ROOT, closed_port, write_files
from tests.wheelfactory import build_wheel

sys.path.insert(0, str(ROOT / "scripts"))
import deploy_local

F = TypeVar("F", bound=Callable[..., Any])
EXAMPLE = "NativePythonExample"
BUCKET = "cdk-hnb659fds-assets-123456789012-us-east-1"

TIER_MARKS = (pytest.mark.deploy, pytest.mark.synth, pytest.mark.pypi,
              pytest.mark.skipif(not deploy_local.CDK.exists(), reason="run scripts/bootstrap (npm ci) first"))


def tier(test: F) -> F:
    """The marks of a test that deploys (real CLI, real PyPI); the command's own tests carry only ``deploy``."""
    for mark in TIER_MARKS:
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[deploy_local.Endpoint]:
    with deploy_local.moto_endpoint(tmp_path_factory.mktemp("moto")) as ep:
        deploy_local.bootstrap(ep)
        yield ep


@pytest.fixture(scope="session")
def tier_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bundling cache for the tier; under xdist the workers share it too (the cache is safe for concurrent
    processes), so each dependency set is resolved and installed once per run."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    path = base / "deploy-tier-cache"
    path.mkdir(exist_ok=True)
    return path


def env_with(cache: Path) -> dict[str, str]:
    return {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(cache)}


def write_app(root: Path, stack: str, body: str, files: dict[str, str | bytes]) -> Path:
    """A CDK app in ``root`` whose stack ``stack`` is built by ``body`` (Python using ``stack``)."""
    write_files(root, files)
    (root / "app.py").write_text(
        "import aws_cdk as cdk\nfrom aws_cdk import aws_lambda as lambda_\n"
        "from cdk_native_python import BundlingOptions, NativePythonFunction, NativePythonLayerVersion\n"
        f"app = cdk.App()\nstack = cdk.Stack(app, {stack!r})\n{body}\napp.synth()\n")
    (root / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    return root


def by_path(proofs: list[deploy_local.FunctionProof]) -> dict[str, deploy_local.FunctionProof]:
    return {p.path: p for p in proofs}


def zip_names(endpoint: deploy_local.Endpoint, s3_uri: str) -> set[str]:
    bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
    data = endpoint.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return set(zf.namelist())


def assert_proven(proofs: list[deploy_local.FunctionProof]) -> None:
    assert proofs
    for proof in proofs:
        assert proof.sha_match and not proof.mismatches and proof.ok, proof.line()


# -- the example app, then three incremental deploys --------------------------------------------------------------


@tier
def test_example_app_deploys_runs_and_redeploys_only_what_changed(
        endpoint: deploy_local.Endpoint, tier_cache: Path, tmp_path: Path) -> None:
    app = deploy_local.copy_example(tmp_path / "app")
    events = json.loads((app / "integ" / "events.json").read_text())
    env, out = env_with(tier_cache), app / "cdk.out"

    first = deploy_local.deploy(app, endpoint, env=env)
    assert first.returncode == 0, first.output[-3000:]
    assert sorted(first.bundled) == [f"{EXAMPLE}/Api", f"{EXAMPLE}/Worker"]
    assert sorted(first.published) == ["Api/Code", "Worker/Code"]
    proofs = by_path(deploy_local.prove(endpoint, EXAMPLE, cdk_out=out, events=events))
    assert_proven(list(proofs.values()))
    api, worker = proofs[f"{EXAMPLE}/Api"], proofs[f"{EXAMPLE}/Worker"]
    assert (api.runtime, api.architecture, worker.runtime, worker.architecture) == (
        "python3.13", "arm64", "python3.11", "x86_64")
    # the handler ran under Debian's arm64 CPython 3.13 and imported its compiled dependencies from the zip
    assert api.run.interpreter == "tools/target-python arm64 3.13" and api.run.ok, api.line()
    assert json.loads(json.loads(api.run.detail)["body"])["order"] == {"id": 7, "item": "book", "quantity": 2}
    assert {"pydantic", "pydantic_core", "cryptography", "index"} <= set(api.run.from_bundle)
    assert worker.run.interpreter == "tools/target-python x86_64 3.11" and worker.run.ok, worker.line()
    assert json.loads(json.loads(worker.run.detail)) == {"mean": 4.0, "max": 10.0}
    assert {"numpy", "orjson", "worker"} <= set(worker.run.from_bundle)

    # 1. nothing changed: nothing bundled, nothing published, the stack untouched
    objects, state = deploy_local.bucket_objects(endpoint, BUCKET), deploy_local.stack_state(endpoint, EXAMPLE)
    again = deploy_local.deploy(app, endpoint, env=env)
    assert again.returncode == 0, again.output[-3000:]
    assert again.unchanged and not again.bundled and not again.published and not again.summaries
    assert deploy_local.bucket_objects(endpoint, BUCKET) == objects
    assert deploy_local.stack_state(endpoint, EXAMPLE) == state

    # 2. one handler edited: only that function's asset is rebuilt (from the cache) and published
    handler = app / "integ" / "functions" / "api" / "index.py"
    handler.write_text(handler.read_text().replace('"sig":', '"edited": True, "sig":'))
    edit = deploy_local.deploy(app, endpoint, env=env)
    assert edit.returncode == 0, edit.output[-3000:]
    assert edit.bundled == (f"{EXAMPLE}/Api",) and edit.published == ("Api/Code",)
    assert edit.resolved(f"{EXAMPLE}/Api") is False and "install cached" in edit.summaries[0]
    new = set(deploy_local.bucket_objects(endpoint, BUCKET)) - set(objects)
    assert len([k for k in new if k.endswith(".zip")]) == 1, new
    after_edit = by_path(deploy_local.prove(endpoint, EXAMPLE, cdk_out=out, events=events))
    assert_proven(list(after_edit.values()))
    assert json.loads(json.loads(after_edit[f"{EXAMPLE}/Api"].run.detail)["body"])["edited"] is True
    assert after_edit[f"{EXAMPLE}/Api"].code_sha256 != api.code_sha256
    assert after_edit[f"{EXAMPLE}/Worker"].code_sha256 == worker.code_sha256

    # 3. a dependency added: only that function is resolved again, rebuilt and published
    objects = deploy_local.bucket_objects(endpoint, BUCKET)
    requirements = app / "integ" / "functions" / "worker" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "six\n")
    dep = deploy_local.deploy(app, endpoint, env=env)
    assert dep.returncode == 0, dep.output[-3000:]
    assert dep.bundled == (f"{EXAMPLE}/Worker",) and dep.published == ("Worker/Code",)
    assert dep.resolved(f"{EXAMPLE}/Worker") is True
    new = set(deploy_local.bucket_objects(endpoint, BUCKET)) - set(objects)
    assert len([k for k in new if k.endswith(".zip")]) == 1, new
    after_dep = by_path(deploy_local.prove(endpoint, EXAMPLE, cdk_out=out, events=events))
    assert_proven(list(after_dep.values()))
    assert after_dep[f"{EXAMPLE}/Api"].code_sha256 == after_edit[f"{EXAMPLE}/Api"].code_sha256
    assert after_dep[f"{EXAMPLE}/Worker"].code_sha256 != worker.code_sha256
    assert "six.py" in zip_names(endpoint, after_dep[f"{EXAMPLE}/Worker"].s3_uri)


@tier
def test_the_proof_fails_when_the_deployed_code_or_properties_are_not_the_templates(
        endpoint: deploy_local.Endpoint, tier_cache: Path, tmp_path: Path) -> None:
    """Tamper with a deployment behind CloudFormation's back: the proof must say so, per function."""
    app = write_app(tmp_path / "app", "Tampered", """
NativePythonFunction(stack, "Fn", entry="fn", runtime=lambda_.Runtime.PYTHON_3_13, memory_size=256,
                     environment={"MODE": "prod"})
""", {"fn/index.py": "def handler(event, context):\n    return {'ok': True}\n"})
    run = deploy_local.deploy(app, endpoint, env=env_with(tier_cache))
    assert run.returncode == 0, run.output[-3000:]
    (proof,) = deploy_local.prove(endpoint, "Tampered", cdk_out=app / "cdk.out")
    assert proof.ok and proof.run.ok and json.loads(proof.run.detail) == {"ok": True}, proof.line()

    lam = endpoint.client("lambda")
    (name,) = [f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("Tampered")]
    lam.update_function_configuration(FunctionName=name, MemorySize=1024, Environment={"Variables": {"MODE": "dev"}})
    (changed,) = deploy_local.prove(endpoint, "Tampered", cdk_out=app / "cdk.out")
    assert not changed.ok and changed.sha_match
    assert any(m.startswith("memory: template 256, deployed 1024") for m in changed.mismatches), changed.mismatches
    assert any(m.startswith("environment:") for m in changed.mismatches), changed.mismatches

    bucket, key = proof.s3_uri.removeprefix("s3://").split("/", 1)
    endpoint.client("s3").put_object(Bucket=bucket, Key=key, Body=b"PK\x05\x06" + bytes(18))  # an empty zip
    (swapped,) = deploy_local.prove(endpoint, "Tampered")
    assert not swapped.sha_match and not swapped.ok and "!= CodeSha256" in swapped.line()


# -- a layer, and two functions sharing one dependency set ------------------------------------------------------


@tier
def test_app_with_a_layer_deploys_and_the_handler_imports_from_the_layer(
        endpoint: deploy_local.Endpoint, tier_cache: Path, tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", "WithLayer", """
shared = NativePythonLayerVersion(stack, "Shared", entry="layer", compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
                                  compatible_architectures=[lambda_.Architecture.ARM_64])
NativePythonFunction(stack, "Fn", entry="fn", runtime=lambda_.Runtime.PYTHON_3_13,
                     architecture=lambda_.Architecture.ARM_64, layers=[shared], memory_size=256,
                     environment={"GREETING": "hello"})
""", {"layer/requirements.txt": "orjson\n", "fn/requirements.txt": "orjson\n",
      "fn/index.py": "import os\n\nimport orjson\n\n\ndef handler(event, context):\n"
                     "    return orjson.dumps({'greeting': os.environ['GREETING'], 'event': event}).decode()\n"})
    run = deploy_local.deploy(app, endpoint, env=env_with(tier_cache))
    assert run.returncode == 0, run.output[-3000:]
    assert sorted(run.published) == ["Fn/Code", "Shared/Code"]
    (proof,) = deploy_local.prove(endpoint, "WithLayer", cdk_out=app / "cdk.out", events={"WithLayer/Fn": {"n": 1}})
    assert_proven([proof])
    assert proof.layers == ("WithLayer/Shared",)
    assert proof.run.interpreter == "tools/target-python arm64 3.13"
    assert json.loads(json.loads(proof.run.detail)) == {"greeting": "hello", "event": {"n": 1}}
    # orjson (compiled, arm64) came from the layer's zip: the function's own zip does not ship it
    assert "orjson" in proof.run.from_bundle
    assert not any(n.startswith("orjson") for n in zip_names(endpoint, proof.s3_uri))


@tier
def test_two_functions_sharing_one_dependency_set_resolve_once_and_both_run(
        endpoint: deploy_local.Endpoint, tier_cache: Path, tmp_path: Path) -> None:
    handler = ("import attrs\nimport orjson\n\n\n@attrs.frozen\nclass Reply:\n    who: str\n\n\n"
               "def handler(event, context):\n    return orjson.dumps(attrs.asdict(Reply({who!r}))).decode()\n")
    app = write_app(tmp_path / "app", "SharedDeps", """
for name in ("One", "Two"):
    NativePythonFunction(stack, name, entry=name.lower(), runtime=lambda_.Runtime.PYTHON_3_13,
                         bundling=BundlingOptions(dependency_file="../requirements.txt"))
""", {"requirements.txt": "attrs\norjson\n", "one/index.py": handler.format(who="one"),
      "two/index.py": handler.format(who="two")})
    # a cache of its own, so the first function's resolution is this run's (the tier's may hold it already)
    run = deploy_local.deploy(app, endpoint, env=env_with(tmp_path / "cache"))
    assert run.returncode == 0, run.output[-3000:]
    assert sorted(run.bundled) == ["SharedDeps/One", "SharedDeps/Two"]
    assert [run.resolved("SharedDeps/One"), run.resolved("SharedDeps/Two")].count(True) == 1, run.summaries
    assert sum("install cached" in line for line in run.summaries) == 1, run.summaries
    assert sorted(run.published) == ["One/Code", "Two/Code"]
    proofs = by_path(deploy_local.prove(endpoint, "SharedDeps", cdk_out=app / "cdk.out"))
    assert_proven(list(proofs.values()))
    for who in ("one", "two"):
        proof = proofs[f"SharedDeps/{who.title()}"]
        assert json.loads(json.loads(proof.run.detail)) == {"who": who}
        assert {"attrs", "orjson"} <= set(proof.run.from_bundle)
    assert proofs["SharedDeps/One"].code_sha256 != proofs["SharedDeps/Two"].code_sha256


# -- sizes ------------------------------------------------------------------------------------------------------


def test_budget_notice_only_over_the_direct_upload_limit() -> None:
    assert Budget(60_000_000, DIRECT_UPLOAD_BYTES).notices() == ()
    (notice,) = Budget(60_000_000, DIRECT_UPLOAD_BYTES + 1).notices()
    assert notice.level == "info" and notice.code == "zip-over-direct-upload"
    assert notice.message.startswith("≈50.0 MB zipped, over the 50.0 MB Lambda accepts as a direct upload")
    assert "250.0 MB unzipped (57.2 MB here)" in notice.message


@tier
def test_zip_over_the_direct_upload_limit_deploys_through_s3_and_the_summary_says_the_sizes(
        endpoint: deploy_local.Endpoint, tier_cache: Path, tmp_path: Path) -> None:
    blob = random.Random(15).randbytes(DIRECT_UPLOAD_BYTES + 2 * 1048576)  # incompressible: zips to ~52 MB
    app = write_app(tmp_path / "app", "BigZip", """
NativePythonFunction(stack, "Fn", entry="fn", runtime=lambda_.Runtime.PYTHON_3_13)
""", {"fn/blob.bin": blob,
      "fn/index.py": "import os\n\n\ndef handler(event, context):\n"
                     "    return os.path.getsize(os.path.join(os.path.dirname(__file__), 'blob.bin'))\n"})
    run = deploy_local.deploy(app, endpoint, env=env_with(tier_cache))
    assert run.returncode == 0, run.output[-3000:]
    # an info annotation on the function, shown by cdk with its construct path
    lines = run.output.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "direct upload" in line] or [run.output[-3000:]]
    assert re.search(r"INFO ≈5[23]\.\d MB zipped, over the 50\.0 MB Lambda accepts as a direct upload: fine for CDK, "
                     r"which deploys it from the bootstrap bucket in S3; the limit that applies is 250\.0 MB unzipped "
                     r"\(52\.0 MB here\)", lines[at]), lines[at]
    assert "BigZip/Fn" in lines[at + 1], lines[at:at + 2]
    (proof,) = deploy_local.prove(endpoint, "BigZip", cdk_out=app / "cdk.out")
    assert_proven([proof])
    assert proof.zip_bytes > DIRECT_UPLOAD_BYTES and json.loads(proof.run.detail) == len(blob)


@tier
def test_function_over_250_mb_is_refused_at_synth_before_anything_is_published(
        endpoint: deploy_local.Endpoint, tier_cache: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "bigmodel", "1.0", files={"bigmodel/__init__.py": b"",
                                                  "bigmodel/weights.bin": bytes(LIMIT_BYTES + 1048576)})
    app = write_app(tmp_path / "app", "TooBig", f"""
NativePythonFunction(stack, "Fn", entry="fn", runtime=lambda_.Runtime.PYTHON_3_13,
                     bundling=BundlingOptions(find_links=[{str(wheels)!r}], no_index=True))
""", {"fn/requirements.txt": "bigmodel\n", "fn/index.py": "def handler(event, context):\n    return 1\n"})
    objects = deploy_local.bucket_objects(endpoint, BUCKET)
    run = deploy_local.deploy(app, endpoint, env=env_with(tier_cache))
    assert run.returncode != 0
    assert "cdk-native-python: TooBig/Fn could not be bundled: " in run.output
    assert "251.0 MB unzipped, over Lambda's 250.0 MB limit" in run.output
    assert "Traceback" not in run.output
    assert "Publishing" not in run.output and not run.published
    assert deploy_local.bucket_objects(endpoint, BUCKET) == objects
    stacks = endpoint.client("cloudformation").list_stacks()["StackSummaries"]
    assert "TooBig" not in {s["StackName"] for s in stacks}


# -- the command: its one-line errors, and the server stopped however it ends ----------------------------------


def deploy_local_cmd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy_local.py"), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.deploy
def test_no_endpoint_or_credentials_is_said_in_one_line() -> None:
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    url = f"http://localhost:{closed_port()}"
    cases = [
        ((), {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}, "no endpoint: "),
        ((url,), {}, "no credentials for " + url + ": AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set"),
        ((url,), {"AWS_ACCESS_KEY_ID": "x"}, "no credentials for " + url + ": AWS_SECRET_ACCESS_KEY not set"),
        (("http://192.0.2.10:4566",), {}, "is not on this machine"),
        ((url,), {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}, f"nothing answers at {url}"),
    ]
    for args, extra, expected in cases:
        result = deploy_local_cmd("--endpoint", *args, env={**bare, **extra})
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1, result.stderr
        assert len(lines) == 2 and lines[0].startswith("deploy-local: error: ") and expected in lines[0], lines
        assert lines[1].startswith("  hint: ") and "Traceback" not in result.stderr


def port_open(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.deploy
def test_the_server_listens_on_loopback_only_and_is_stopped_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), deploy_local.moto_endpoint(tmp_path) as ep:
        url = ep.url
        assert url.startswith("http://localhost:") and port_open(url)
        assert ep.env({})["AWS_ENDPOINT_URL"] == url and "--dns-result-order=ipv4first" in ep.env({})["NODE_OPTIONS"]
        # bound to 127.0.0.1 only: another address of this machine does not answer on that port
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as s:  # (a host may lack IPv6)
            assert s.connect_ex(("::1", int(url.rsplit(":", 1)[1]))) != 0
        raise RuntimeError("a failed deploy")
    assert not port_open(url)


@pytest.mark.deploy
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_command_stops_the_server_when_interrupted(sig: signal.Signals, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "deploy_local.py"), "--app-dir", str(tmp_path)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    try:
        line = proc.stderr.readline()
        assert "listening on 127.0.0.1 as http://localhost:" in line, line
        url = line.rsplit(" ", 1)[1].strip()
        assert port_open(url)
        proc.send_signal(sig)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "interrupted (moto's server stopped)" in rest and "Traceback" not in rest
    assert not port_open(url)


@pytest.mark.deploy
def test_a_312_target_is_run_only_by_a_312_of_its_architecture() -> None:
    import platform

    other = "arm64" if platform.machine() in ("x86_64", "AMD64") else "x86_64"
    argv, why = deploy_local.interpreter_for("python3.12", other)
    assert argv == [] and "no CPython 3.12 for " + other in why and "this host is" in why
    argv, why = deploy_local.interpreter_for("python3.13", other)
    assert argv[1:] == [other, "3.13"] and why == f"tools/target-python {other} 3.13"
