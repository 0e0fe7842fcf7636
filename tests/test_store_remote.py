"""The S3 remote tier against a real S3-compatible server (SeaweedFS, started by ``tests/s3server.py``).

Every scenario talks to the server over HTTP with boto3 exactly as a user's build would: the standard
AWS variables point it at 127.0.0.1, and the server's identities make wrong credentials and read-only
access real 403s.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.errors import ConfigurationError
from cdk_native_python.reporter import Reporter, silent
from cdk_native_python.store import archive, remote
from cdk_native_python.store.remote import Pointer, RemoteCache, RemoteConfig
from tests.s3server import ADMIN, READER, WRITER, S3Server, client_env
from tests.wheelfactory import WheelIndex, find_uv

PREFIX = "team/cache"
ROOT = Path(__file__).resolve().parents[1]


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


def cache(bucket: str, *, write: bool = False, reporter: Reporter | None = None, client: Any = None) -> RemoteCache:
    return RemoteCache(RemoteConfig(f"s3://{bucket}/{PREFIX}", write), reporter or silent(), client=client)


def empty_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root``: folders with their mode, files with their mode and sha256."""
    out: dict[str, tuple[Any, ...]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", st.st_mode & 0o7777)
        else:
            out[rel] = ("file", st.st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def normalised(snap: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """What a tree must look like after a round trip: folders 0o755, files 0o755 or 0o644."""
    return {rel: ("dir", 0o755) if e[0] == "dir" else ("file", 0o755 if e[1] & 0o111 else 0o644, e[2])
            for rel, e in snap.items()}


def installed_tree(root: Path, index: WheelIndex) -> Path:
    """A real installed entry: ``tree/`` (wheels installed by uv for the Lambda target) and ``meta.json``,
    plus what trees can hold: an empty folder, executables, odd modes, non-ASCII names, a larger binary."""
    tree = root / "tree"
    subprocess.run([find_uv(), "pip", "install", "--target", str(tree), "--no-index", "--find-links",
                    index.find_links, "--python-platform", "x86_64-manylinux_2_28", "--python-version", "3.12",
                    "--only-binary", ":all:", "--link-mode", "copy", "--no-compile", "--quiet",
                    "nativepkg", "usesattrs", "jsii"],
                   check=True, env={**os.environ, "UV_CACHE_DIR": str(root.parent / "uv-cache")})
    (tree / "empty" / "nested").mkdir(parents=True)
    (tree / "données").mkdir()
    (tree / "données" / "été.txt").write_text("ünïcödé\n")
    (tree / "zero-bytes").write_bytes(b"")
    tool = tree / "tool.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o700)
    private = tree / "private.cfg"
    private.write_text("x=1\n")
    private.chmod(0o600)
    (tree / "big.bin").write_bytes(os.urandom(3 << 19))  # crosses the 1 MiB copy chunk
    (root / "meta.json").write_text(json.dumps({"target": "python3.12/x86_64"}))
    assert any(p.suffix == ".so" for p in tree.rglob("*")), "the tree has a real ELF extension module"
    return root


@pytest.fixture(scope="module")
def entry_template(tmp_path_factory: pytest.TempPathFactory, wheel_index: WheelIndex) -> Path:
    return installed_tree(empty_dir(tmp_path_factory.mktemp("remote") / "entry"), wheel_index)


@pytest.fixture
def entry(entry_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the installed entry (tests may change it)."""
    import shutil

    return Path(shutil.copytree(entry_template, tmp_path / "entry"))


def craft(members: list[Member], fmt: str = archive.ZSTD) -> bytes:
    """A compressed tar of exactly ``members`` (as an attacker with write access would make it)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    if fmt == archive.ZSTD:
        import zstandard

        return bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    import gzip

    return gzip.compress(raw.getvalue())


Member = tuple[tarfile.TarInfo, bytes | None]


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: Any) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, (data if kind == tarfile.REGTYPE else None)


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


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    yield port


# -- configuration ---------------------------------------------------------------------------------------------

def test_config_from_env() -> None:
    assert RemoteConfig.from_env({}) is None
    assert RemoteConfig.from_env({remote.WRITE_ENV: "1"}) is None
    config = RemoteConfig.from_env({remote.URL_ENV: "s3://my-bucket/team/cache/"})
    assert config == RemoteConfig("s3://my-bucket/team/cache/", write=False)
    assert (config.bucket, config.prefix, config.location) == ("my-bucket", "team/cache", "s3://my-bucket/team/cache")
    root = RemoteConfig.from_env({remote.URL_ENV: "s3://my.bucket-1", remote.WRITE_ENV: "true"})
    assert root is not None and root.write and root.prefix == "" and root.location == "s3://my.bucket-1"
    for off in ("", "0", "false", "no", "off"):
        assert RemoteConfig.from_env({remote.URL_ENV: "s3://bucket", remote.WRITE_ENV: off}).write is False  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError) as err:
        RemoteConfig.from_env({remote.URL_ENV: "s3://bucket", remote.WRITE_ENV: "maybe"})
    assert err.value.code == "remote-cache-write-flag" and remote.WRITE_ENV in err.value.message


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
        RemoteConfig.from_env({remote.URL_ENV: url})
    assert "credentials" in err.value.message
    assert "AKIAEXAMPLEKEY" not in str(err.value) and "secretKEY" not in str(err.value)
    assert "s3://***@bucket/prefix" in err.value.message


def test_importing_the_module_loads_neither_boto3_nor_zstandard() -> None:
    code = ("import sys, cdk_native_python.store.remote as r; r.RemoteConfig.from_env({r.URL_ENV: 's3://bucket'}); "
            "heavy = ('boto3', 'botocore', 's3transfer', 'zstandard'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# -- round trip ------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("as_writer")
def test_round_trip_of_an_installed_tree(s3_server: S3Server, s3_bucket: str, entry: Path, tmp_path: Path,
                                         use_aws: Callable[[dict[str, str]], None]) -> None:
    writer = silent()
    cache(s3_bucket, write=True, reporter=writer).push("trees", "k1", entry)
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
    remote.reset_process_state()
    reader = silent()
    dest = empty_dir(tmp_path / "scratch" / "dest")
    assert cache(s3_bucket, reporter=reader).fetch("trees", "k1", dest) is True
    assert reader.notices == []
    got = snapshot(dest)
    assert got == normalised(snapshot(entry))
    assert got["tree/tool.sh"][1] == 0o755 and got["tree/private.cfg"][1] == 0o644
    assert got["tree/empty/nested"] == ("dir", 0o755)
    assert sorted(os.listdir(dest.parent)) == ["dest"], "the downloaded archive left nothing behind"
    # a miss is just a miss
    other = empty_dir(tmp_path / "other")
    assert cache(s3_bucket, reporter=reader).fetch("trees", "nope", other) is False
    assert reader.notices == [] and not any(other.iterdir())


def test_the_archive_is_deterministic(entry: Path, tmp_path: Path) -> None:
    """The same tree gives the same bytes wherever it lives, whatever its mtimes and (normalised) modes."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(entry, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    (copy / "tree" / "private.cfg").chmod(0o640)
    for fmt in archive.FORMATS:
        a, b = io.BytesIO(), io.BytesIO()
        first, second = archive.pack(entry, a, fmt), archive.pack(copy, b, fmt)
        assert first == second and a.getvalue() == b.getvalue()
        assert first.digest == hashlib.sha256(a.getvalue()).hexdigest() and first.size == len(a.getvalue())
        out = empty_dir(tmp_path / f"out-{fmt}")
        archive.unpack(io.BytesIO(a.getvalue()), fmt, out)
        assert snapshot(out) == normalised(snapshot(entry))


def test_a_gzip_entry_written_without_zstandard_is_read(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                         tmp_path: Path, as_writer: None) -> None:
    blob = io.BytesIO()
    archive.pack(entry, blob, archive.GZIP)
    plant(s3_server, s3_bucket, "trees", "gz", blob.getvalue(), archive.GZIP)
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket).fetch("trees", "gz", dest) is True
    assert snapshot(dest) == normalised(snapshot(entry))


# -- integrity ---------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("tamper", ["flip-a-byte", "valid-archive-of-other-code"])
def test_tampered_content_is_detected_and_nothing_extracted(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                            tmp_path: Path, tamper: str) -> None:
    cache(s3_bucket, write=True).push("trees", "k1", entry)
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
def test_a_pointer_to_a_missing_blob_is_a_miss_with_a_warning(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                              tmp_path: Path) -> None:
    cache(s3_bucket, write=True).push("trees", "k1", entry)
    content_key = next(k for k in s3_server.keys(s3_bucket) if "/cas/" in k)
    s3_server.client(ADMIN).delete_object(Bucket=s3_bucket, Key=content_key)
    reporter = silent()
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", dest) is False
    assert codes(reporter) == ["remote-cache-missing"] and content_key in reporter.warnings[0].message
    assert not any(dest.iterdir())


@pytest.mark.usefixtures("as_writer")
def test_a_writer_restores_expired_content_behind_a_pointer(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                            tmp_path: Path) -> None:
    """Lifecycle rules expire content by its own age, which can be older than a pointer to it: the next
    writer that builds the entry uploads the same bytes again, and the entry works once more."""
    cache(s3_bucket, write=True).push("trees", "k1", entry)
    objects = s3_server.keys(s3_bucket)
    content_key = next(k for k in objects if "/cas/" in k)
    s3_server.client(ADMIN).delete_object(Bucket=s3_bucket, Key=content_key)
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", empty_dir(tmp_path / "miss")) is False
    cache(s3_bucket, write=True, reporter=reporter).push("trees", "k1", entry)
    assert codes(reporter) == ["remote-cache-missing"], "the miss was said, the repair was silent"
    assert s3_server.keys(s3_bucket) == objects
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "k1", dest) is True
    assert snapshot(dest) == normalised(snapshot(entry))


@pytest.mark.usefixtures("as_writer")
def test_one_warning_per_kind_of_failure_per_process(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                     tmp_path: Path) -> None:
    """Ten functions missing ten blobs: the first construct's reporter says it once, the others stay quiet."""
    rc = cache(s3_bucket, write=True)
    admin = s3_server.client(ADMIN)
    for key in ("k1", "k2"):
        rc.push("trees", key, entry)
        blob = next(k for k in s3_server.keys(s3_bucket) if "/cas/" in k)
        admin.delete_object(Bucket=s3_bucket, Key=blob)
        (entry / "tree" / "extra").write_text(key)  # the next key gets other content
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


def _unsafe_cases(outside: Path) -> dict[str, tuple[str, list[Member]]]:
    """Archives an attacker with write access could upload, each with the reason it must be refused for."""
    ok = member("tree/ok.py", data=b"x = 1\n")
    not_plain = "is not a plain relative path"
    return {
        "dot-dot": (not_plain, [ok, member("tree/../../escaped", data=b"pwned")]),
        "leading-dot-dot": (not_plain, [member("../escaped", data=b"pwned")]),
        "absolute": (not_plain, [ok, member(str(outside / "absolute"), data=b"pwned")]),
        "dot-segment": (not_plain, [ok, member("tree/./x", data=b"x")]),
        "backslash": (not_plain, [ok, member("tree\\..\\..\\escaped", data=b"pwned")]),
        "symlink": ("is a symlink", [ok, member("tree/link", tarfile.SYMTYPE, linkname=str(outside))]),
        "symlink-then-write-through": ("is a symlink", [
            member("tree/link", tarfile.SYMTYPE, linkname=str(outside)), member("tree/link/through", data=b"pwned")]),
        "hardlink": ("is a hard link", [ok, member("tree/hard", tarfile.LNKTYPE, linkname="tree/ok.py")]),
        "char-device": ("is a character device", [ok, member("tree/null", tarfile.CHRTYPE, devmajor=1, devminor=3)]),
        "block-device": ("is a block device", [ok, member("tree/disk", tarfile.BLKTYPE, devmajor=8, devminor=0)]),
        "fifo": ("is a fifo", [ok, member("tree/pipe", tarfile.FIFOTYPE)]),
        "duplicate": ("clashes with another member", [ok, member("tree/ok.py", data=b"evil = 1\n")]),
        "file-then-dir": ("clashes with another member", [ok, member("tree/ok.py/inner", data=b"x")]),
    }


@pytest.mark.parametrize("case", sorted(_unsafe_cases(Path("/x"))))
def test_unpack_refuses_unsafe_members_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    outside = empty_dir(tmp_path / "outside")
    dest = empty_dir(tmp_path / "area" / "work" / "dest")
    reason, members = _unsafe_cases(outside)[case]
    with pytest.raises(archive.ArchiveError, match=reason):
        archive.unpack(io.BytesIO(craft(members)), archive.ZSTD, dest)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "area", "area/work", "area/work/dest", "outside"]


@pytest.mark.usefixtures("as_writer")
@pytest.mark.parametrize("case", ["dot-dot", "absolute", "symlink-then-write-through", "hardlink", "char-device"])
def test_unsafe_archives_are_refused_and_nothing_is_written(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                            case: str) -> None:
    """Uploaded under their true digest with a valid pointer: the digest matches, extraction still refuses."""
    outside = empty_dir(tmp_path / "outside")
    dest = empty_dir(tmp_path / "area" / "work" / "dest")
    reason, members = _unsafe_cases(outside)[case]
    content_key = plant(s3_server, s3_bucket, "trees", "evil", craft(members))
    reporter = silent()
    assert cache(s3_bucket, reporter=reporter).fetch("trees", "evil", dest) is False
    assert codes(reporter) == ["remote-cache-corrupt"]
    message = reporter.warnings[0].message
    assert content_key in message and "refused" in message and reason in message
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "area", "area/work", "area/work/dest", "outside"], "nothing written inside or outside"


# -- failures ------------------------------------------------------------------------------------------------------

def test_server_down_is_one_quick_warning_then_no_more_tries(closed_port: int, tmp_path: Path,
                                                             use_aws: Callable[[dict[str, str]], None]) -> None:
    use_aws(client_env(f"http://127.0.0.1:{closed_port}", WRITER))
    remote.reset_process_state()
    reporter = silent()
    rc = cache("some-bucket", write=True, reporter=reporter)
    dest = empty_dir(tmp_path / "dest")
    start = time.perf_counter()
    assert rc.fetch("trees", "k1", dest) is False
    first = time.perf_counter() - start
    start = time.perf_counter()
    assert cache("some-bucket", write=True, reporter=reporter).fetch("locks", "k2", dest) is False
    rc.push("trees", "k1", tmp_path)
    later = time.perf_counter() - start
    assert codes(reporter) == ["remote-cache-unreachable"]
    message = reporter.warnings[0].message
    assert f"127.0.0.1:{closed_port}" in message and "s3://some-bucket/team/cache" in message
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
        remote.reset_process_state()
        remote._default_client()  # made beforehand: only the network part is timed
        reporter = silent()
        start = time.perf_counter()
        assert cache("some-bucket", reporter=reporter).fetch("trees", "k", empty_dir(tmp_path / "d")) is False
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
        remote.reset_process_state()
        monkeypatch.setattr(remote, "READ_TIMEOUT", 0.5)
        reporter = silent()
        start = time.perf_counter()
        assert cache("some-bucket", reporter=reporter).fetch("trees", "k", empty_dir(tmp_path / "d")) is False
        elapsed = time.perf_counter() - start
        assert codes(reporter) == ["remote-cache-unreachable"] and "read timeout" in reporter.warnings[0].message
        assert elapsed < remote.ATTEMPTS * (0.5 + 1) + 1, f"{elapsed:.2f}s"
        start = time.perf_counter()
        assert cache("some-bucket", reporter=reporter).fetch("trees", "k", empty_dir(tmp_path / "e")) is False
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


def test_read_only_credentials_with_the_write_flag_are_a_warning(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                                 use_aws: Callable[[dict[str, str]], None]) -> None:
    use_aws(s3_server.env(READER))
    reporter = silent()
    cache(s3_bucket, write=True, reporter=reporter).push("trees", "k1", entry)
    assert codes(reporter) == ["remote-cache-write-denied"]
    assert "s3:PutObject" in reporter.warnings[0].message and "not shared" in reporter.warnings[0].message
    assert s3_server.keys(s3_bucket) == {}


@pytest.mark.usefixtures("as_writer")
def test_a_read_only_client_writes_nothing(s3_server: S3Server, s3_bucket: str, entry: Path, tmp_path: Path) -> None:
    """Even holding credentials that could write: without the write flag, nothing is uploaded."""
    before = s3_server.keys(s3_bucket)
    reporter = silent()
    rc = cache(s3_bucket, write=False, reporter=reporter)
    assert rc.fetch("trees", "k1", empty_dir(tmp_path / "dest")) is False
    rc.push("trees", "k1", entry)
    rc.push("locks", "k1", entry)
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
                                                                     entry: Path, tmp_path: Path) -> None:
    reporter = silent()
    _race(s3_server, s3_bucket, [entry, entry], reporter)
    assert reporter.notices == []
    objects = s3_server.keys(s3_bucket)
    assert len([k for k in objects if "/ac/" in k]) == 1 and len([k for k in objects if "/cas/" in k]) == 1
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket).fetch("trees", "raced", dest) is True
    assert snapshot(dest) == normalised(snapshot(entry))


@pytest.mark.usefixtures("as_writer")
def test_racing_writers_of_different_content_the_first_pointer_wins(s3_server: S3Server, s3_bucket: str,
                                                                     entry: Path, tmp_path: Path) -> None:
    """Two machines whose compressors differ (another zstd build) upload different bytes for one key:
    both contents are stored, one pointer wins and stays, both writers report success."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(entry, other)
    (other / "tree" / "extra.txt").write_text("different bytes\n")
    reporter = silent()
    _race(s3_server, s3_bucket, [entry, other], reporter)
    assert reporter.notices == []
    objects = s3_server.keys(s3_bucket)
    pointers = [k for k in objects if "/ac/" in k]
    assert len(pointers) == 1 and len([k for k in objects if "/cas/" in k]) == 2
    dest = empty_dir(tmp_path / "dest")
    assert cache(s3_bucket).fetch("trees", "raced", dest) is True
    assert snapshot(dest) in (normalised(snapshot(entry)), normalised(snapshot(other)))


@pytest.mark.usefixtures("as_writer")
def test_a_late_writer_gets_412_and_counts_it_as_success(s3_server: S3Server, s3_bucket: str, entry: Path,
                                                         tmp_path: Path) -> None:
    """The loser of a race (it checked before the winner wrote) finds the pointer there: HTTP 412, no warning,
    and the winner's pointer is untouched."""
    import shutil

    cache(s3_bucket, write=True).push("trees", "k1", entry)
    first = s3_server.keys(s3_bucket)
    other = tmp_path / "other"
    shutil.copytree(entry, other)
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
