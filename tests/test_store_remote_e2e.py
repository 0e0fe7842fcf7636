"""The remote tier end to end (issue #13): machines share resolutions and installed trees through a real S3
server on 127.0.0.1 (SeaweedFS), as a CI fleet and its developers would.

"Machine A" and "machine B" are separate processes with separate caches: A is trusted CI (it writes), B is a
fresh laptop or runner (it reads) whose package index is unreachable. Everything goes through the documented
interfaces: ``cdk-native-python build`` with ``--remote-cache`` / ``--remote-cache-write`` and the
``CDK_NATIVE_PYTHON_REMOTE_CACHE*`` variables, and a real ``cdk synth``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import READER, WRITER, S3Server
from tests.wheelfactory import WheelIndex, make_elf

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
PREFIX = "team"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(server: S3Server, credentials: tuple[str, str], cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_NATIVE_PYTHON_"))}
    return {**env, **server.env(credentials), "CDK_NATIVE_PYTHON_CACHE_DIR": str(cache), **extra}


def project(root: Path, requirements: str = "purepkg\nnativepkg\nboto3\n") -> Path:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "index.py").write_text("import purepkg\n\ndef handler(event, context):\n    return 'ok'\n")
    (src / "requirements.txt").write_text(requirements)
    return src


def build(src: Path, out: Path, index_url: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.12", "--arch", "arm64",
         "--source", str(src), "--index-url", index_url, "--zip", str(out), "--report", f"{out}.json", *extra],
        capture_output=True, text=True, env=env, timeout=300, check=False)


def report(zip_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"{zip_path}.json").read_text())
    return data


def objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    return server.keys(bucket)


def own_index(tmp_path: Path, shared: WheelIndex) -> WheelIndex:
    """A copy of the hermetic index this test may take down."""
    folder = tmp_path / "index"
    folder.mkdir()
    for f in Path(shared.root).iterdir():
        shutil.copy(f, folder)
    return WheelIndex(folder)


def test_a_fresh_machine_builds_offline_from_a_warm_remote(tmp_path: Path, wheel_index: WheelIndex,
                                                           s3_server: S3Server, s3_bucket: str) -> None:
    src = project(tmp_path)
    url = f"s3://{s3_bucket}/{PREFIX}"
    index = own_index(tmp_path, wheel_index)
    a = build(src, tmp_path / "a.zip", index.url, env_for(s3_server, WRITER, tmp_path / "cache-a"),
              "--remote-cache", url, "--remote-cache-write")
    index.close()  # from now on the index is unreachable: the same URL, nothing listening
    assert a.returncode == 0, a.stderr
    shared = objects(s3_server, s3_bucket)
    kinds = sorted({k.split("/")[3] for k in shared if "/ac/" in k})
    assert kinds == ["resolutions", "trees"] and any("/cas/sha256/" in k for k in shared)
    # machine B: empty cache, the index unreachable, the remote given by the environment, read-only
    b_env = env_for(s3_server, READER, tmp_path / "cache-b", CDK_NATIVE_PYTHON_REMOTE_CACHE=url)
    b = build(src, tmp_path / "b.zip", index.url, b_env)
    assert b.returncode == 0, b.stderr
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert report(tmp_path / "a.zip")["asset_hash"] == report(tmp_path / "b.zip")["asset_hash"]
    assert report(tmp_path / "b.zip")["cache"] == {"resolve": "hit", "install": "hit"}
    assert "warning" not in b.stderr
    assert objects(s3_server, s3_bucket) == shared  # a reader wrote nothing
    for secret in (WRITER[1], READER[1]):  # credentials never reach output, keys, reports or assets
        assert secret not in a.stderr + b.stderr
        assert all(secret.encode() not in k.encode() + v for k, v in shared.items())
        with zipfile.ZipFile(tmp_path / "b.zip") as zf:
            assert all(secret.encode() not in zf.read(n) for n in zf.namelist())
        assert secret not in Path(f"{tmp_path / 'b.zip'}.json").read_text()


def test_a_read_only_client_writes_nothing_even_when_it_builds(tmp_path: Path, wheel_index: WheelIndex,
                                                               s3_server: S3Server, s3_bucket: str) -> None:
    src = project(tmp_path)
    env = env_for(s3_server, WRITER, tmp_path / "cache", CDK_NATIVE_PYTHON_REMOTE_CACHE=f"s3://{s3_bucket}/{PREFIX}")
    done = build(src, tmp_path / "a.zip", wheel_index.url, env)
    assert done.returncode == 0, done.stderr
    assert report(tmp_path / "a.zip")["cache"] == {"resolve": "miss", "install": "miss"}
    assert objects(s3_server, s3_bucket) == {}


def test_with_the_server_down_the_build_succeeds_with_one_warning(tmp_path: Path, wheel_index: WheelIndex,
                                                                  s3_server: S3Server) -> None:
    src = project(tmp_path)
    down = f"http://127.0.0.1:{closed_port()}"
    env = env_for(s3_server, WRITER, tmp_path / "cache", AWS_ENDPOINT_URL=down, AWS_ENDPOINT_URL_S3=down)
    done = build(src, tmp_path / "a.zip", wheel_index.url, env, "--remote-cache", "s3://nobody-home/x",
                 "--remote-cache-write")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "s3://nobody-home/x" in warnings[0] and "cannot connect" in warnings[0], warnings
    assert "building locally" in warnings[0]
    clean = build(src, tmp_path / "b.zip", wheel_index.url, env_for(s3_server, WRITER, tmp_path / "clean"))
    assert clean.returncode == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_a_tampered_remote_tree_is_never_shipped(tmp_path: Path, wheel_index: WheelIndex, s3_server: S3Server,
                                                 s3_bucket: str) -> None:
    src = project(tmp_path)
    url = f"s3://{s3_bucket}/{PREFIX}"
    assert build(src, tmp_path / "a.zip", wheel_index.url, env_for(s3_server, WRITER, tmp_path / "cache-a"),
                 "--remote-cache", url, "--remote-cache-write").returncode == 0
    admin = s3_server.client()
    blobs = [k for k in objects(s3_server, s3_bucket) if "/cas/" in k]
    for key in blobs:  # flip a byte in every stored archive
        body = bytearray(admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
        body[len(body) // 2] ^= 0xFF
        admin.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))
    b = build(src, tmp_path / "b.zip", wheel_index.url,
              env_for(s3_server, READER, tmp_path / "cache-b", CDK_NATIVE_PYTHON_REMOTE_CACHE=url))
    assert b.returncode == 0, b.stderr
    assert "remote" in b.stderr and "warning" in b.stderr
    assert report(tmp_path / "b.zip")["cache"] == {"resolve": "miss", "install": "miss"}  # built locally
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_a_remote_tree_failing_verification_is_rejected(tmp_path: Path, wheel_index: WheelIndex,
                                                        s3_server: S3Server, s3_bucket: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A compromised writer shares, under the key of a good arm64 tree, a tree holding an x86_64 binary: the
    digest is right, the content is not. The reader verifies the tree before using it, and builds its own."""
    src = project(tmp_path, "nativepkg\n")
    url = f"s3://{s3_bucket}/{PREFIX}"
    assert build(src, tmp_path / "good.zip", wheel_index.url,
                 env_for(s3_server, WRITER, tmp_path / "cache-good")).returncode == 0
    (good,) = (tmp_path / "cache-good" / "trees").iterdir()
    evil = tmp_path / "evil-entry"
    shutil.copytree(good, evil, ignore=shutil.ignore_patterns("manifest.json"))
    for p in evil.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    (evil / "tree" / "nativepkg" / "_native.abi3.so").write_bytes(make_elf("x86_64"))
    for name, value in s3_server.env(WRITER).items():
        monkeypatch.setenv(name, value)
    from cdk_native_python.store.remote import RemoteCache, RemoteConfig

    RemoteCache(RemoteConfig(url, write=True)).push("trees", good.name, evil)
    b = build(src, tmp_path / "b.zip", wheel_index.url, env_for(s3_server, READER, tmp_path / "cache-b"),
              "--remote-cache", url)
    assert b.returncode == 0, b.stderr
    (warning,) = [line for line in b.stderr.splitlines() if "warning:" in line]
    assert f"remote cache entry trees/{good.name[:16]}" in warning and "rejected" in warning and "x86_64" in warning
    assert report(tmp_path / "b.zip")["cache"]["install"] == "miss"
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.read("nativepkg/_native.abi3.so")[18] == 183  # aarch64: the reader's own install


def test_two_writers_race_on_the_same_key(tmp_path: Path, wheel_index: WheelIndex, s3_server: S3Server,
                                          s3_bucket: str) -> None:
    src = project(tmp_path)
    url = f"s3://{s3_bucket}/{PREFIX}"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.12", "--arch", "arm64",
         "--source", str(src), "--index-url", wheel_index.url, "--zip", str(tmp_path / f"{i}.zip"),
         "--remote-cache", url, "--remote-cache-write"],
        env=env_for(s3_server, WRITER, tmp_path / f"cache-{i}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "warning" not in err
    pointers = [k for k in objects(s3_server, s3_bucket) if "/ac/" in k]
    assert len(pointers) == 2  # one resolution and one tree, whoever won
    assert hashlib.sha256((tmp_path / "0.zip").read_bytes()).digest() == \
        hashlib.sha256((tmp_path / "1.zip").read_bytes()).digest()


@pytest.mark.synth
@pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
def test_cdk_synth_on_a_fresh_machine_uses_the_remote(tmp_path: Path, wheel_index: WheelIndex, s3_server: S3Server,
                                                      s3_bucket: str) -> None:
    app = tmp_path / "app"
    fn = app / "fn"
    fn.mkdir(parents=True)
    (fn / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (fn / "requirements.txt").write_text("purepkg\nnativepkg\n")
    (app / "app.py").write_text(
        "import aws_cdk as cdk\nfrom aws_cdk import aws_lambda as lambda_\n"
        "from cdk_native_python import BundlingOptions, NativePythonFunction\n"
        "import os\napp = cdk.App()\nstack = cdk.Stack(app, 'S')\n"
        "NativePythonFunction(stack, 'Fn', entry='fn', runtime=lambda_.Runtime.PYTHON_3_12,\n"
        "    architecture=lambda_.Architecture.ARM_64,\n"
        "    bundling=BundlingOptions(index_url=os.environ['INDEX']))\napp.synth()\n")
    (app / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}))
    url = f"s3://{s3_bucket}/{PREFIX}"

    def synth(cache: Path, index: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = env_for(s3_server, WRITER, cache, INDEX=index, CDK_NATIVE_PYTHON_REMOTE_CACHE=url,
                      CDK_DISABLE_CLI_TELEMETRY="1", JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1", **extra)
        return subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(cache.parent / "out")],
                              cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False)

    index = own_index(tmp_path, wheel_index)
    ci = synth(tmp_path / "ci" / "cache", index.url, CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE="1")
    index.close()
    assert ci.returncode == 0, ci.stderr[-3000:]
    laptop = synth(tmp_path / "laptop" / "cache", index.url)
    assert laptop.returncode == 0, laptop.stderr[-3000:]
    assert "resolve cached, install cached" in laptop.stderr
    assets = [sorted(p.name for p in (tmp_path / m / "out").glob("asset.*")) for m in ("ci", "laptop")]
    assert assets[0] == assets[1] and assets[0]
