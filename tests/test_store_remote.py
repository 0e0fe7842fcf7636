"""The S3 remote tier against a real S3-compatible server (SeaweedFS, started by ``tests/s3server.py``).

Every scenario talks to the server over HTTP with boto3 exactly as a user's build would: the standard
AWS variables point it at 127.0.0.1, and the server's identities make wrong credentials and read-only
access real 403s. The end-to-end tests run ``cdk-native-python build`` and ``cdk synth`` as machine A
(trusted CI, writes) and machine B (a fresh laptop whose index is unreachable, reads).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.errors import ConfigurationError
from cdk_native_python.reporter import Reporter, silent
from cdk_native_python.store import REMOTE_URL_ENV, REMOTE_WRITE_ENV, archive, remote
from cdk_native_python.store.local import open_store
from cdk_native_python.store.remote import Pointer, RemoteCache, RemoteConfig
from tests.cdkhelpers import CDK, needs_cdk
from tests.helpers import ROOT, closed_port, write_function
from tests.s3server import ADMIN, READER, WRITER, S3Server, client_env
from tests.treehelpers import craft, empty_dir, member, normalised, snapshot, unsafe_cases
from tests.wheelfactory import WheelIndex, make_elf

PREFIX = "team/cache"
#: the end-to-end tests' remote cache prefix (as a team would set it)
E2E_PREFIX = "team"


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
          state: remote._ProcessState | None = None) -> RemoteCache:
    """``state``: the process memory it shares (a new one: as a fresh process would start)."""
    return RemoteCache(RemoteConfig(f"s3://{bucket}/{PREFIX}", write), reporter or silent(), client=client,
                       state=state)


def plant(server: S3Server, bucket: str, kind: str, key: str, blob: bytes, fmt: str = archive.ZSTD) -> str:
    """Upload ``blob`` at its true sha256 address and a valid pointer to it; return the content key."""
    admin = server.client(ADMIN)
    rc = cache(bucket)
    digest = hashlib.sha256(blob).hexdigest()
    admin.put_object(Bucket=bucket, Key=rc.content_key(digest), Body=blob)
    admin.put_object(Bucket=bucket, Key=rc.pointer_key(kind, key), Body=Pointer(digest, len(blob), fmt).to_bytes())
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
            "r.RemoteConfig('s3://bucket'); "
            f"open_store(Path({str(tmp_path / 'cache')!r}), remote_url='s3://bucket/team'); "
            "heavy = ('boto3', 'botocore', 's3transfer', 'zstandard'); "
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
                                  b'{"schema": "cdk-native-python/remote-pointer/1", "digest": "sha256:../../x", '
                                  b'"size": 10, "format": "tar+zstd"}'])
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
            "from cdk_native_python.reporter import silent\n"
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

    def _read_pointer(self, client: Any, pointer_key: str) -> Pointer | None:
        found = super()._read_pointer(client, pointer_key)
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
    late._read_pointer = lambda client, key: None  # type: ignore[method-assign]  # it looked before the winner wrote
    late.push("trees", "k1", other)
    assert late.reporter.notices == []
    after = s3_server.keys(s3_bucket)
    pointer_key = f"{PREFIX}/v1/ac/trees/k1.json"
    assert after[pointer_key] == first[pointer_key], "the first writer's pointer stays"
    assert len(after) == 3  # its content was uploaded (another digest) but nothing points at it


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


def test_a_remote_tree_failing_verification_is_rejected(tmp_path: Path, wheel_index: WheelIndex,
                                                        s3_server: S3Server, s3_bucket: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A compromised writer shares, under the key of a good arm64 tree, a tree holding an x86_64 binary: the
    digest is right, the content is not. The reader verifies the tree before using it, and builds its own."""
    src = project(tmp_path, "nativepkg\n")
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"
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
    (app / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}))
    url = f"s3://{s3_bucket}/{E2E_PREFIX}"

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
