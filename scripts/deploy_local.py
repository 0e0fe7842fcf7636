#!/usr/bin/env python3
"""Deploy a CDK app to a local AWS emulator and prove that what was deployed is our bundle and runs.

    .venv/bin/python scripts/deploy_local.py [--app-dir DIR] [--events FILE] [--endpoint URL]

Without ``--endpoint`` it starts moto's server (``moto[server]``, installed by ``scripts/bootstrap``) on
127.0.0.1 only, on a free port, and always stops it again (on success, failure, Ctrl-C or SIGTERM). The
real aws-cdk CLI then bootstraps and deploys the app with dummy credentials that only its child processes
see, and :func:`prove` checks every ``AWS::Lambda::Function`` of every deployed stack:

* the zip CloudFormation was told to use (the template's ``Code.S3Bucket``/``S3Key`` in the bootstrap
  bucket) is downloaded, and its sha256 (base64, as Lambda writes it) must equal the function's
  ``CodeSha256``: the function holds exactly the zip CDK published;
* that zip holds exactly the files of the asset folder CDK staged (``cdk.out/asset.<hash>``), and each of
  its native files is an ELF for the template's architecture (the emulator drops ``Architectures``);
* runtime, handler, memory, timeout, environment and layers as deployed equal the template's;
* the handler is called, from the unzipped code (and its layers, as in ``/opt``), under a real CPython of
  the target's version and architecture: ``tools/target-python`` (Debian's CPython under qemu), or the
  host's Python when it is exactly the target (3.12 has no Debian build). With neither, the run is
  skipped and the line says why: importing under another version would prove nothing.

The same module is used by ``scripts/deploy-local``, the ``deploy`` test tier and ``bench/deploy.py``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import io
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
TARGET_PYTHON = ROOT / "tools" / "target-python"
#: the versions tools/target-python has a Debian CPython for
TARGET_PYTHON_VERSIONS = ("3.11", "3.13", "3.14")
REGION = "us-east-1"
#: moto's credentials are never checked; these only make the SDKs sign requests
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
PREFIX = "[cdk-native-python]"
RESULT_MARK = "@@deploy-local-result@@"


class DeployError(Exception):
    """A problem the person running the script can fix: one line saying what, and a hint saying how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


# -- the endpoint ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """An AWS endpoint on this machine and the environment the CDK CLI and the SDKs use to reach it."""

    url: str
    #: AWS_* variables for child processes only (credentials never leave this record but to them; not in repr)
    aws: Mapping[str, str] = field(default_factory=dict, repr=False)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) without the caller's AWS settings, plus ours."""
        base = os.environ if base is None else base
        env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
        env.update(self.aws)
        env["AWS_ENDPOINT_URL"] = self.url
        # Node resolves "localhost" in the resolver's order, which may put ::1 first where nothing
        # listens (the server binds 127.0.0.1 only): ask for IPv4 first.
        env["NODE_OPTIONS"] = " ".join(filter(None, (base.get("NODE_OPTIONS", ""), "--dns-result-order=ipv4first")))
        env.setdefault("CDK_DISABLE_CLI_TELEMETRY", "1")
        env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
        return env

    def client(self, service: str) -> Any:
        import boto3  # installed with moto[server] (the test extra); imported late so --help needs nothing

        return boto3.client(service, endpoint_url=self.url, region_name=self.aws.get("AWS_REGION", REGION),
                            aws_access_key_id=self.aws.get("AWS_ACCESS_KEY_ID"),
                            aws_secret_access_key=self.aws.get("AWS_SECRET_ACCESS_KEY"),
                            aws_session_token=self.aws.get("AWS_SESSION_TOKEN"))


def aws_env(credentials: Mapping[str, str], region: str = REGION) -> dict[str, str]:
    """AWS settings for an emulator: these credentials, one region, none of the user's files (a profile in
    ~/.aws could point the CLI at a real account or an SSO login) and no instance metadata."""
    return {**credentials, "AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}


def external_endpoint(url: str | None, environ: Mapping[str, str] = os.environ) -> Endpoint:
    """An endpoint someone else started (``--endpoint``): it must be on this machine and answer, and the
    environment must hold credentials (any values work for an emulator)."""
    url = url or environ.get("AWS_ENDPOINT_URL", "")
    if not url:
        raise DeployError("no endpoint: --endpoint was given no URL and AWS_ENDPOINT_URL is not set",
                          "leave out --endpoint to start a local moto server, or pass --endpoint http://localhost:PORT")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise DeployError(f"endpoint {url!r} is not a URL like http://localhost:4566",
                          "pass the emulator's URL with its port")
    if not _is_loopback(parts.hostname):
        raise DeployError(f"endpoint {url} is not on this machine: deploy-local only deploys to a local emulator",
                          "use http://localhost:PORT; deploy to AWS with `cdk deploy` itself")
    missing = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not environ.get(k)]
    if missing:
        raise DeployError(f"no credentials for {url}: {' and '.join(missing)} not set",
                          "any values work for a local emulator, e.g. AWS_ACCESS_KEY_ID=testing "
                          "AWS_SECRET_ACCESS_KEY=testing")
    credentials = {k: v for k, v in environ.items()
                   if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    _require_answer(url)
    return Endpoint(url, aws_env(credentials, environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or REGION))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def _require_answer(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=5):
            pass
    except urllib.error.HTTPError:
        pass  # it answered (an emulator's root may well be a 404)
    except OSError as exc:
        raise DeployError(f"nothing answers at {url} ({getattr(exc, 'reason', exc)})",
                          "start the emulator first, or leave out --endpoint to start a local moto server") from None


def _localhost_is_ipv4() -> None:
    """The emulator's CloudFormation reads template URLs only from an endpoint named ``localhost``, and our
    server listens on 127.0.0.1 only: "localhost" must resolve to it here."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)}
    except OSError as exc:
        raise DeployError(f"'localhost' does not resolve on this machine ({exc})",
                          "add '127.0.0.1 localhost' to /etc/hosts") from None
    if "127.0.0.1" not in addresses:
        raise DeployError(f"'localhost' resolves to {', '.join(sorted(addresses))}, not 127.0.0.1",
                          "add '127.0.0.1 localhost' to /etc/hosts")


#: moto's server, with one fix: CloudFormation keeps a parameter's default when an update says
#: ``UsePreviousValue`` for a parameter that took its default, while moto raises KeyError (a 500). CDK's
#: templates have such a parameter (``BootstrapVersion``), so without the fix every stack update fails; the
#: only other way round it (``--no-previous-parameters``) makes CDK redeploy unchanged stacks.
_SERVER = r"""
import sys
from moto.cloudformation.models import CloudFormationBackend
from moto.server import main

_resolve = getattr(CloudFormationBackend, "_resolve_update_parameters", None)


def _resolve_update_parameters(self, instance, incoming_params):
    kept = [p for p in incoming_params
            if not (p.get("UsePreviousValue") and p["ParameterKey"] not in instance.parameters)]
    return _resolve(self, instance, kept)


if _resolve is not None:  # (a moto that reshaped this code is run as it is: the deploy tier tells)
    CloudFormationBackend._resolve_update_parameters = _resolve_update_parameters
main(sys.argv[1:])
"""


def _require_moto() -> None:
    import importlib.util

    missing = [m for m in ("moto", "flask", "werkzeug") if importlib.util.find_spec(m) is None]
    if missing:
        raise DeployError(f"moto's server is not installed in this environment ({', '.join(missing)} missing)",
                          "run scripts/bootstrap: it installs moto[server] with the test tools")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM if we are killed without a chance to stop it (SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def moto_endpoint(log_dir: Path | None = None, *, timeout: float = 60) -> Iterator[Endpoint]:
    """moto's server on 127.0.0.1 and a free port (the kernel picks it: no race with other processes),
    addressed as ``http://localhost:PORT``; stopped when the block exits, however it exits."""
    _localhost_is_ipv4()
    _require_moto()
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="moto-")))
        log_path = log_dir / "moto-server.log"
        log = stack.enter_context(open(log_path, "w+b"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        proc = subprocess.Popen([sys.executable, "-c", _SERVER, "-H", "127.0.0.1", "-p", "0"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        stack.callback(_stop, proc)
        port = _wait_for_port(proc, log_path, timeout)
        url = f"http://localhost:{port}"
        _require_answer(url)
        yield Endpoint(url, aws_env(DUMMY_CREDENTIALS))


def _wait_for_port(proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        found = re.search(r"Running on http://127\.0\.0\.1:(\d+)", text)
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            tail = " | ".join(text.strip().splitlines()[-3:])
            raise DeployError(f"moto's server exited with code {proc.returncode} before listening: {tail[-300:]}",
                              "scripts/bootstrap reinstalls moto[server]")
        time.sleep(0.05)
    raise DeployError(f"moto's server did not listen within {timeout:.0f} s (log: {log_path})",
                      "the machine may be overloaded; try again")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the CDK CLI ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CdkRun:
    """One run of the CDK CLI and what its output says it did."""

    args: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    #: CPU time of the CLI and everything it ran (the app, our bundler, uv): unlike wall time, not inflated
    #: by other work on a shared machine
    cpu_seconds: float = 0.0

    @property
    def synth_seconds(self) -> float | None:
        """CDK's own figure for running the app ("Synthesis time: 3.28s")."""
        found = re.search(r"Synthesis time: ([\d.]+)s", self.output)
        return float(found.group(1)) if found else None

    @property
    def bundled(self) -> tuple[str, ...]:
        """Construct paths of the assets CDK called a bundler for ("Bundling asset Stack/Api/Code/Stage...")."""
        return tuple(m.group(1) for m in re.finditer(r"^Bundling asset (\S+?)/Code/Stage", self.output, re.M))

    @property
    def summaries(self) -> tuple[str, ...]:
        """Our one-line bundle summaries (and notices), as printed during synth."""
        return tuple(line for line in self.output.splitlines() if line.startswith(PREFIX))

    @property
    def published(self) -> tuple[str, ...]:
        """Assets CDK published (built and uploaded), by display name ("Api/Code"), templates left out."""
        names = re.findall(r"^\S+: success: Published (.+?) \(", self.output, re.M)
        return tuple(n for n in names if not n.endswith(" Template"))

    @property
    def unchanged(self) -> bool:
        return bool(re.search(r"^\s*✅\s+\S+ \(no changes\)", self.output, re.M))

    def resolved(self, construct: str) -> bool | None:
        """Did our bundler resolve ``construct``'s dependencies in this run (None: it did not bundle it)?"""
        for line in self.summaries:
            if line.startswith(f"{PREFIX} {construct}: ") and "resolve " in line:
                return "resolve done" in line
        return None


def cdk(args: Sequence[str], cwd: Path, env: Mapping[str, str], *, echo: bool = False, timeout: float = 1800) -> CdkRun:
    """Run the real aws-cdk CLI; its output is kept (and shown live with ``echo``)."""
    if not CDK.exists():
        raise DeployError(f"the aws-cdk CLI is not installed ({CDK} is missing)", "run scripts/bootstrap")
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.Popen((str(CDK), *args), cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace")
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            if echo:
                sys.stderr.write(line)
            if time.perf_counter() - start > timeout:
                raise DeployError(f"cdk {args[0]} did not finish within {timeout:.0f} s", "see the CDK output")
        proc.wait()
    finally:
        _stop(proc)  # interrupted (Ctrl-C, SIGTERM, timeout): the CLI does not outlive us
    return CdkRun(tuple(args), proc.returncode, "".join(lines), time.perf_counter() - start, _children_cpu() - cpu)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bootstrap(endpoint: Endpoint, *, echo: bool = False) -> CdkRun:
    """``cdk bootstrap aws://ACCOUNT/REGION`` (run outside any app: nothing is synthesized for it)."""
    account = endpoint.client("sts").get_caller_identity()["Account"]
    region = endpoint.aws.get("AWS_REGION", REGION)
    with tempfile.TemporaryDirectory(prefix="cdk-bootstrap-") as empty:
        run = cdk(["bootstrap", f"aws://{account}/{region}", "--no-notices"], Path(empty), endpoint.env(), echo=echo)
    if run.returncode != 0:
        raise DeployError(f"cdk bootstrap aws://{account}/{region} failed (exit {run.returncode}): "
                          f"{_last_error(run.output)}", "see the CDK output above")
    return run


def deploy(app_dir: Path, endpoint: Endpoint, *, out: Path | None = None, env: Mapping[str, str] | None = None,
           echo: bool = False) -> CdkRun:
    """``cdk deploy --all --require-approval never`` of the app whose ``cdk.json`` is in ``app_dir``.

    ``--method direct`` (CreateStack/UpdateStack instead of a change set): the emulator fails to update a
    stack through a change set ("Stack with id cdk-deploy-change-set does not exist"). Assets are built
    and published the same way by both methods, and an unchanged stack is skipped by both.
    """
    args = ["deploy", "--all", "--require-approval", "never", "--no-notices", "--method", "direct"]
    if out is not None:
        args += ["-o", str(out)]
    return cdk(args, app_dir, endpoint.env(env), echo=echo)


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith(("b'", "(node"))]
    failing = [line for line in lines if "❌" in line or "error" in line.lower() or "could not be bundled" in line]
    return (failing or lines or ["no output"])[-1][:300]


def stacks(cdk_out: Path) -> list[str]:
    """Names of the CloudFormation stacks in a cloud assembly."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    return sorted(a.get("displayName", name) for name, a in manifest["artifacts"].items()
                  if a["type"] == "aws:cloudformation:stack")


def bucket_objects(endpoint: Endpoint, bucket: str) -> dict[str, str]:
    """key -> ETag of every object in ``bucket`` (to see what a deploy published)."""
    s3 = endpoint.client("s3")
    objects: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return objects


def stack_state(endpoint: Endpoint, stack: str) -> tuple[str, str, int]:
    """(status, last update time, number of events): equal before and after means the stack did not change."""
    cfn = endpoint.client("cloudformation")
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return described["StackStatus"], str(described.get("LastUpdatedTime", "")), len(events)


# -- the proof -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """The handler called under a target interpreter; ``interpreter`` empty means it was skipped (``detail``)."""

    interpreter: str
    ok: bool
    detail: str
    #: top-level modules the handler loaded from the bundle or its layers
    from_bundle: tuple[str, ...] = ()
    #: the result of an earlier call in this process with the same zips, handler, event and environment
    reused: bool = False

    @property
    def skipped(self) -> bool:
        return not self.interpreter


@dataclass(frozen=True)
class FunctionProof:
    """What was checked of one deployed function."""

    path: str
    runtime: str
    architecture: str
    s3_uri: str
    zip_bytes: int
    zip_sha256: str
    code_sha256: str
    #: "what: template X, deployed Y" for each property that differs; problems of the zip's content
    mismatches: tuple[str, ...]
    run: Run
    layers: tuple[str, ...] = ()
    #: what could not be checked against the deployment and was taken from the template instead
    notes: tuple[str, ...] = ()

    @property
    def sha_match(self) -> bool:
        return self.zip_sha256 == self.code_sha256

    @property
    def ok(self) -> bool:
        return self.sha_match and not self.mismatches and (self.run.ok or self.run.skipped)

    def line(self) -> str:
        sha = (f"sha256 {self.zip_sha256[:12]}… == CodeSha256 ✓" if self.sha_match
               else f"sha256 {self.zip_sha256[:12]}… != CodeSha256 {self.code_sha256[:12]}… ✗")
        props = "properties ✓" if not self.mismatches else "MISMATCH " + "; ".join(self.mismatches)
        props += "".join(f" ({note})" for note in self.notes)
        layers = f" + {len(self.layers)} layer(s)" if self.layers else ""
        if self.run.skipped:
            ran = f"handler NOT RUN: {self.run.detail}"
        else:
            detail = self.run.detail if len(self.run.detail) <= 160 else self.run.detail[:159] + "…"
            again = " (same zips, event and environment as an earlier call: its result)" if self.run.reused else ""
            ran = f"handler under {self.run.interpreter}{again} → {'' if self.run.ok else 'FAILED '}{detail}"
        return (f"{'ok  ' if self.ok else 'FAIL'} {self.path}: {self.runtime} {self.architecture}{layers}, "
                f"zip {self.zip_bytes / 1048576:.1f} MB, {sha}, {props}; {ran}")


def prove(endpoint: Endpoint, stack: str, *, cdk_out: Path | None = None,
          events: Mapping[str, object] | None = None) -> list[FunctionProof]:
    """Check every ``AWS::Lambda::Function`` of the deployed ``stack`` whose code is a zip in S3 (see the
    module's docstring)."""
    cfn, lam, s3 = endpoint.client("cloudformation"), endpoint.client("lambda"), endpoint.client("s3")
    body = cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    arn = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
    pseudo = {"AWS::AccountId": arn.split(":")[4], "AWS::Region": arn.split(":")[3], "AWS::Partition": "aws",
              "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack}
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
                for r in page["StackResourceSummaries"]}
    resources: dict[str, Any] = template["Resources"]
    proofs = []
    with tempfile.TemporaryDirectory(prefix="deploy-proof-") as tmp:
        for logical_id, res in sorted(resources.items()):
            if res["Type"] != "AWS::Lambda::Function" or "S3Key" not in res["Properties"].get("Code", {}):
                continue  # inline code (ZipFile) and container images are not assets
            proofs.append(_prove_function(s3, lam, logical_id, res, resources, physical, pseudo,
                                          cdk_out, events or {}, Path(tmp) / logical_id))
    return proofs


def _prove_function(s3: Any, lam: Any, logical_id: str, res: Mapping[str, Any],
                    resources: Mapping[str, Any], physical: Mapping[str, str], pseudo: Mapping[str, str],
                    cdk_out: Path | None, events: Mapping[str, object], work: Path) -> FunctionProof:
    props = res["Properties"]
    path = str(res.get("Metadata", {}).get("aws:cdk:path", logical_id)).removesuffix("/Resource")
    architecture = (props.get("Architectures") or ["x86_64"])[0]
    config = lam.get_function(FunctionName=physical[logical_id])["Configuration"]
    bucket, key = _resolve(props["Code"]["S3Bucket"], pseudo), _resolve(props["Code"]["S3Key"], pseudo)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    sha = _lambda_sha(data)
    mismatches = _compare(props, config)
    asset = res.get("Metadata", {}).get("aws:asset:path")
    if cdk_out is not None and asset:
        mismatches += _compare_to_asset(data, cdk_out / asset)
    mismatches += _foreign_natives(data, architecture)
    layers = [_fetch_layer(s3, lam, ref, resources, physical, pseudo) for ref in props.get("Layers", [])]
    mismatches += [problem for layer in layers for problem in layer.problems]
    layer_arns, notes = [layer.arn for layer in layers], []
    deployed_layers = sorted(layer["Arn"] for layer in config.get("Layers") or [])
    if deployed_layers and deployed_layers != sorted(layer_arns):
        mismatches.append(f"layers: template {sorted(layer_arns)}, deployed {deployed_layers}")
    elif layer_arns and not deployed_layers:
        notes.append("layers checked from the template (the emulator does not attach them)")
    variables = dict((props.get("Environment") or {}).get("Variables") or {})
    env = {**{k: v for k, v in variables.items() if isinstance(v, str)},
           "AWS_LAMBDA_FUNCTION_NAME": physical[logical_id],
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", 128)), "AWS_REGION": pseudo["AWS::Region"]}
    event = events.get(path, {})
    # a handler called under qemu takes seconds to import its packages: the same inputs are called once
    memo = json.dumps([sha, [layer.sha256 for layer in layers], props["Runtime"], architecture,
                       props["Handler"], event, env], sort_keys=True, default=repr)
    run = _RUNS.get(memo)
    if run is None:  # unzipped only to be called: a reused result needs neither
        code = work / "task"
        _unzip(data, code)
        layer_dirs = [work / f"opt{i}" for i, _ in enumerate(layers)]
        for layer, layer_dir in zip(layers, layer_dirs, strict=True):
            if layer.data:  # (a layer outside the stack, or without a deployed version, has none to unzip)
                _unzip(layer.data, layer_dir)
        run = _RUNS[memo] = call_handler(code, layer_dirs, props["Runtime"], architecture, props["Handler"], event, env)
    else:
        run = dataclasses.replace(run, reused=True)
    return FunctionProof(path, props["Runtime"], architecture, f"s3://{bucket}/{key}", len(data), sha,
                         str(config.get("CodeSha256", "")), tuple(mismatches), run,
                         tuple(layer.name for layer in layers), tuple(notes))


#: handler runs of this process, by everything that decides their result
_RUNS: dict[str, Run] = {}


def _lambda_sha(data: bytes) -> str:
    """Lambda's ``CodeSha256``: the base64 of the zip's sha256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _resolve(value: object, pseudo: Mapping[str, str]) -> str:
    """A template value CDK writes for asset locations: a string, ``Fn::Sub`` of pseudo parameters, or
    ``Ref`` of one."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("Fn::Sub"), str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo[m.group(1)], value["Fn::Sub"])
    if isinstance(value, Mapping) and value.get("Ref") in pseudo:
        return pseudo[value["Ref"]]
    raise DeployError(f"cannot resolve the template value {json.dumps(value)[:120]}",
                      "only literal asset locations, Fn::Sub and Ref of pseudo parameters are understood")


def _compare(props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Properties the emulator keeps, template against deployment (with Lambda's defaults)."""
    env_t = {k: v for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items() if isinstance(v, str)}
    env_d = (config.get("Environment") or {}).get("Variables") or {}
    expected = {"runtime": (props.get("Runtime"), config.get("Runtime")),
                "handler": (props.get("Handler"), config.get("Handler")),
                "memory": (props.get("MemorySize", 128), config.get("MemorySize")),
                "timeout": (props.get("Timeout", 3), config.get("Timeout")),
                # values built with intrinsics cannot be compared here; their names still must be there
                "environment": (env_t, {k: v for k, v in env_d.items() if k in env_t}),
                "environment names": (sorted((props.get("Environment") or {}).get("Variables") or {}), sorted(env_d))}
    return [f"{what}: template {want!r}, deployed {got!r}" for what, (want, got) in expected.items()
            if str(want) != str(got)]


@dataclass(frozen=True)
class LayerCheck:
    name: str
    arn: str
    sha256: str
    problems: tuple[str, ...]
    #: the layer's zip (unzipped into the function's ``/opt`` when its handler is called)
    data: bytes = field(default=b"", repr=False)


def _fetch_layer(s3: Any, lam: Any, ref: object, resources: Mapping[str, Any], physical: Mapping[str, str],
                 pseudo: Mapping[str, str]) -> LayerCheck:
    """Download a layer of the stack and check its sha256 against the layer version's ``CodeSha256``."""
    if not (isinstance(ref, Mapping) and ref.get("Ref") in resources):
        return LayerCheck(str(ref), str(ref), "", (f"layer {ref}: not in the stack, not checked",))
    logical_id = ref["Ref"]
    res = resources[logical_id]
    name = str(res.get("Metadata", {}).get("aws:cdk:path", logical_id)).removesuffix("/Resource")
    content = res["Properties"]["Content"]
    location = {"Bucket": _resolve(content["S3Bucket"], pseudo), "Key": _resolve(content["S3Key"], pseudo)}
    data = s3.get_object(**location)["Body"].read()
    arn = physical.get(logical_id) or _layer_by_name(lam, f"{pseudo['AWS::StackName']}-{logical_id}-")
    if not arn:
        return LayerCheck(name, "", _lambda_sha(data), (f"layer {name}: no layer version was deployed",))
    layer_name, version = arn.split(":")[-2:]  # (the emulator fails GetLayerVersionByArn)
    deployed = lam.get_layer_version(LayerName=layer_name, VersionNumber=int(version))["Content"].get("CodeSha256", "")
    sha = _lambda_sha(data)
    problems = () if deployed == sha else (f"layer {name}: sha256 {sha[:12]}… != CodeSha256 {str(deployed)[:12]}…",)
    return LayerCheck(name, arn, sha, problems, data)


def _layer_by_name(lam: Any, prefix: str) -> str:
    """The emulator leaves a layer version's physical id empty; CloudFormation names the layer
    ``<stack>-<logical id>-<suffix>``, so find it by that name."""
    for page in lam.get_paginator("list_layers").paginate():
        for layer in page["Layers"]:
            if layer["LayerName"].startswith(prefix):
                return str(layer["LatestMatchingVersion"]["LayerVersionArn"])
    return ""


def _unzip(data: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(dest)
        for info in zf.infolist():  # Lambda keeps the zip's modes (e.g. executables); extractall does not
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                os.chmod(dest / info.filename, mode & 0o777)


def _compare_to_asset(data: bytes, asset: Path) -> list[str]:
    """The zip holds exactly the staged asset folder's files, with their sizes."""
    if not asset.is_dir():
        return []  # a cloud assembly from another run: nothing to compare with
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zipped = {i.filename: i.file_size for i in zf.infolist() if not i.is_dir()}
    staged = {p.relative_to(asset).as_posix(): p.stat().st_size for p in asset.rglob("*") if p.is_file()}
    if zipped == staged:
        return []
    diff = sorted(set(zipped.items()) ^ set(staged.items()))
    return [f"zip differs from {asset.name} in {len(diff)} entries, e.g. {diff[0][0]}"]


ELF_MACHINES = {62: "x86_64", 183: "arm64"}


def _foreign_natives(data: bytes, architecture: str) -> list[str]:
    """Native files in the zip that are not ELF files for the template's architecture."""
    foreign = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or not re.search(r"\.so(\.|$)", info.filename):
                continue
            with zf.open(info) as f:
                head = f.read(20)
            machine = ELF_MACHINES.get(int.from_bytes(head[18:20], "little"), "?") if head[:4] == b"\x7fELF" else "?"
            if machine != architecture:
                foreign.append(f"{info.filename} ({machine})")
    return [f"{len(foreign)} native files not for {architecture}: {', '.join(foreign[:3])}"] if foreign else []


# -- calling the handler ------------------------------------------------------------------------------------------

#: Runs in the target interpreter with -I -S -B: no site-packages and no PYTHON* variables, so every import that
#: is not the standard library comes from the bundle or its layers, in Lambda's order (/var/task, then /opt); no
#: bytecode written, as in Lambda's read-only /var/task.
_RUNNER = r"""
import importlib, json, os, sys
paths, module, name, event = json.loads(sys.argv[1])
sys.path[:0] = paths
class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    invoked_function_arn = ""
    def get_remaining_time_in_millis(self):
        return 3000
result = getattr(importlib.import_module(module), name)(event, Context())
loaded = sorted({m.split(".")[0] for m, v in list(sys.modules.items())
                 if any(str(getattr(v, "__file__", None) or "").startswith(p + os.sep) for p in paths)})
print(MARK + json.dumps({"result": result, "from_bundle": loaded}, default=repr))
""".replace("MARK", repr(RESULT_MARK))


def interpreter_for(runtime: str, architecture: str) -> tuple[list[str], str]:
    """(argv prefix, description) of a real CPython of the target, or ([], why there is none)."""
    if not runtime.startswith("python"):
        return [], f"{runtime} is not a Python runtime"
    version = runtime.removeprefix("python")
    from cdk_native_python.core.target import lambda_name, machine_of

    machine = machine_of(platform.machine())
    host = lambda_name(machine) if machine else ""
    if version in TARGET_PYTHON_VERSIONS:
        return [str(TARGET_PYTHON), architecture, version], f"tools/target-python {architecture} {version}"
    exe = _host_python(version) if host == architecture else None
    if exe:
        return [exe], f"host {exe} ({version}, {host})"
    why = (f"no CPython {version} for {architecture} here: tools/target-python has "
           f"{', '.join(TARGET_PYTHON_VERSIONS)} (Debian has no {version})")
    return [], why + (f", and this {platform.machine()} host has no python{version}" if host == architecture
                      else f", and this host is {platform.machine()}")


def _host_python(version: str) -> str | None:
    """A host interpreter of exactly ``version`` (the same search ``compile_bytecode`` uses)."""
    from cdk_native_python.core.target import Target
    from cdk_native_python.pipeline.slim import find_interpreter

    with contextlib.suppress(Exception):
        return find_interpreter(Target.from_runtime(f"python{version}"))
    return None


def call_handler(code: Path, layers: Sequence[Path], runtime: str, architecture: str, handler: str, event: object,
                 env: Mapping[str, str], *, timeout: float = 300) -> Run:
    argv, interpreter = interpreter_for(runtime, architecture)
    if not argv:
        return Run("", False, interpreter)
    module, _, name = handler.rpartition(".")
    version = runtime.removeprefix("python")
    paths = [str(code)]
    for layer in layers:  # Lambda's /opt/python/lib/pythonX.Y/site-packages, then /opt/python
        paths += [str(layer / "python" / "lib" / f"python{version}" / "site-packages"), str(layer / "python")]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    child_env.update(env, LAMBDA_TASK_ROOT=str(code), TZ=":UTC")
    try:
        proc = subprocess.run([*argv, "-I", "-S", "-B", "-c", _RUNNER, json.dumps([paths, module, name, event])],
                              cwd=code, env=child_env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Run(interpreter, False, f"timed out after {timeout:.0f} s")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            record = json.loads(line[len(RESULT_MARK):])
            return Run(interpreter, True, json.dumps(record["result"]), tuple(record["from_bundle"]))
    tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return Run(interpreter, False, tail[:200])


# -- the example app in a scratch folder ------------------------------------------------------------------------


def copy_example(dest: Path) -> Path:
    """A copy of the repo's example app (``integ/`` and a ``cdk.json`` naming this checkout's venv) to edit
    freely: incremental deploys never touch the repo's own ``integ/``."""
    shutil.copytree(ROOT / "integ", dest / "integ", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "cdk.json").write_text(json.dumps({"app": f"{ROOT / '.venv' / 'bin' / 'python'} integ/app.py",
                                               "output": "cdk.out"}, indent=2) + "\n")
    return dest


# -- the command ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy-local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, default=ROOT,
                        help="folder with the app's cdk.json (default: this repo)")
    parser.add_argument("--events", type=Path, help="JSON: construct path (Stack/Fn) -> event for its handler")
    parser.add_argument("--endpoint", nargs="?", const="", default=None,
                        help="use this running emulator (default AWS_ENDPOINT_URL) instead of starting moto; "
                             "credentials then come from the environment")
    parser.add_argument("--out", type=Path, help="cloud assembly folder (default: the app's cdk.json output)")
    args = parser.parse_args(argv)
    _exit_on_sigterm()
    try:
        events = json.loads(args.events.read_text()) if args.events else {}
        if args.endpoint is not None:
            return _deploy_and_prove(external_endpoint(args.endpoint), args.app_dir, args.out, events)
        with moto_endpoint() as endpoint:
            print(f"deploy-local: moto's server listening on 127.0.0.1 as {endpoint.url}", file=sys.stderr)
            code = _deploy_and_prove(endpoint, args.app_dir, args.out, events)
        print("deploy-local: moto's server stopped", file=sys.stderr)
        return code
    except DeployError as exc:
        print(f"deploy-local: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deploy-local: interrupted (moto's server stopped)", file=sys.stderr)
        return 130


def _deploy_and_prove(endpoint: Endpoint, app_dir: Path, out: Path | None, events: Mapping[str, object]) -> int:
    bootstrap(endpoint, echo=True)
    run = deploy(app_dir, endpoint, out=out, echo=True)
    if run.returncode != 0:
        raise DeployError(f"cdk deploy failed (exit {run.returncode}): {_last_error(run.output)}",
                          "see the CDK output above")
    cdk_out = out or app_dir / str(json.loads((app_dir / "cdk.json").read_text()).get("output", "cdk.out"))
    ok = True
    print(f"deploy-local: deployed in {run.seconds:.1f} s; what was deployed:")
    for stack in stacks(cdk_out):
        for proof in prove(endpoint, stack, cdk_out=cdk_out, events=events):
            print("  " + proof.line())
            ok &= proof.ok
    return 0 if ok else 1


def _exit_on_sigterm() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the server is stopped by the same ``finally``."""
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    # Python leaves SIGINT ignored when it starts ignored (a job started with `&` by a non-interactive shell,
    # as CI scripts do): Ctrl-C or `kill -INT` must still stop the server
    signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
