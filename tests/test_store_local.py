"""The local store (issue #13): nobody else's files get in, nothing changed after publishing gets out.

Each test attacks the store as another local user, a careless tool or a crash would, through the store itself
and through whole builds on the hermetic index: a read-only or full cache disk, interrupted runs, many processes
sharing one store and processes killed at random moments (workers are separate Python processes running the
engine; every bundle is compared file by file with one built alone, every entry is checked against its
manifest; the SIGKILL test aims at the work through the phases the workers report).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.distributions import installed
from cdk_native_python.core.errors import (
    CacheError,
)
from cdk_native_python.core.records import TreeRecord, loads
from cdk_native_python.core.reporter import Reporter, silent
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.pipeline.install import RECORD_FILE as TREE_RECORD
from cdk_native_python.pipeline.pins import RECORD_FILE
from cdk_native_python.pipeline.pins import RECORD_FILE as RESOLUTION_RECORD
from cdk_native_python.store import manifest
from cdk_native_python.store.local import LocalStore
from tests.helpers import attack_fields, build_later, build_request, fails, plant_pins, says, write_function
from tests.treehelpers import files

PROCS, ROUNDS = 8, 3
KILL_ITERATIONS, PER_ITERATION = 12, 3


def function(root: Path, requirements: str = "purepkg\n") -> Path:
    return write_function(root, requirements,
                          files={"index.py": "import purepkg\n\ndef handler(event, context):\n    return 'ok'\n"})


ROOT = os.geteuid() == 0


def collecting() -> tuple[Reporter, list[str]]:
    said: list[str] = []
    return Reporter(sink=lambda notice, _subject: said.append(f"{notice.code}: {notice.message}")), said


# -- who may write the store ---------------------------------------------------------------------------------


def test_a_new_root_is_created_private(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "a" / "cache")
    assert store.root == tmp_path / "a" / "cache" and store.fallback_from is None
    st = os.stat(store.root)
    assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_a_root_others_can_write_is_never_trusted(tmp_path: Path, wheel_index: Any, mode: int) -> None:
    shared = tmp_path / "shared"
    LocalStore(shared)
    os.chmod(shared, mode)
    reporter, said = collecting()
    store = LocalStore(shared, reporter=reporter)
    assert store.fallback_from == shared and store.root != shared
    assert not str(store.root).startswith(str(shared))
    st = os.stat(store.root)
    assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700  # a fresh private folder
    (line,) = said
    assert line.startswith("cache-fallback:") and str(shared) in line and "can write to it" in line


def test_a_planted_entry_in_a_shared_fallback_place_never_ships(tmp_path: Path, wheel_index: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME=/ in a container: the configured root cannot be created; the fallback is a fresh mkdtemp folder,
    never a predictable shared name another user could have prepared."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    entry = function(tmp_path)
    # what an attacker prepares under the old predictable name, with a poisoned purepkg
    planted = tmp_path / "tmp" / f"cdk-native-python-{os.getuid()}"
    planted.mkdir(mode=0o777)
    unusable = tmp_path / "file-not-folder"
    unusable.write_text("")
    reporter, said = collecting()
    store = LocalStore(unusable / "cache", reporter=reporter)
    assert store.root.parent == tmp_path / "tmp" and store.root != planted and store.root.name != planted.name
    result = build(build_request(entry, wheel_index), tmp_path / "out", store, reporter)
    assert result.packages == {"purepkg": "1.0", "depa": "2.0"} and not result.install_hit
    assert any(line.startswith("cache-fallback:") for line in said)
    other = LocalStore(unusable / "cache", reporter=collecting()[0])
    assert other.root != store.root  # every run gets its own


@pytest.mark.skipif(not ROOT, reason="needs root to give the folder to another user")
def test_a_root_owned_by_another_user_is_never_trusted(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)  # nobody
    reporter, said = collecting()
    store = LocalStore(theirs, reporter=reporter)
    assert store.fallback_from == theirs
    assert "belongs to uid 65534" in said[0]
    with pytest.raises(CacheError, match="belongs to uid 65534"):
        LocalStore(theirs, fallback=False)


# -- what a published entry is ---------------------------------------------------------------------------------


def test_published_files_are_read_only_and_listed_in_the_manifest(tmp_path: Path, wheel_index: Any) -> None:
    store = LocalStore(tmp_path / "cache")
    build(build_request(function(tmp_path), wheel_index), tmp_path / "out", store)
    entries = [e for kind in ("resolutions", "trees") for e in (store.root / kind).iterdir()]
    assert len(entries) == 2
    for entry in entries:
        sealed = manifest.load(entry)
        listed = {f.path for f in sealed.files}
        on_disk = {p.relative_to(entry).as_posix() for p in entry.rglob("*") if p.is_file()} - {manifest.NAME}
        assert listed == on_disk
        for f in sealed.files:
            assert not os.stat(entry / f.path).st_mode & 0o222, f.path


def edit_through_the_asset(out: Path, how: str) -> Path:
    """What an editor, a formatter or a hook does to a file of a staged asset (a hard link into the store)."""
    target = out / "purepkg" / "__init__.py"
    assert os.stat(target).st_nlink > 1  # it is a hard link into the store: the danger
    if how == "chmod":
        os.chmod(target, 0o644)
        return target
    os.chmod(target, 0o644)  # what `sed -i`-like tools or a non-root user with a forced write do first
    with open(target, "a") as f:
        f.write("\nPOISON = True\n")
    return target


@pytest.mark.parametrize("how", ["append", "chmod"])
def test_an_edit_under_the_output_never_reaches_another_bundle(tmp_path: Path, wheel_index: Any, how: str) -> None:
    store_root = tmp_path / "cache"
    clean = build(build_request(function(tmp_path / "ref"), wheel_index), tmp_path / "clean",
                  LocalStore(tmp_path / "ref-c"))
    first = build(build_request(function(tmp_path / "a"), wheel_index), tmp_path / "out1", LocalStore(store_root))
    assert first.report.placement == "hardlink"
    edit_through_the_asset(tmp_path / "out1", how)
    reporter, said = collecting()
    second = build(build_request(function(tmp_path / "b"), wheel_index), tmp_path / "out2",
                   LocalStore(store_root, reporter=reporter), reporter)
    assert not second.install_hit  # the changed tree was not reused ...
    (line,) = [s for s in said if s.startswith("cache-entry-quarantined:")]  # ... and the user is told
    assert "purepkg/__init__.py" in line and "trees/" in line
    assert files(tmp_path / "out2") == {**files(tmp_path / "clean"), "index.py": files(tmp_path / "out2")["index.py"]}
    assert files(tmp_path / "out2")["purepkg/__init__.py"] == files(tmp_path / "clean")["purepkg/__init__.py"]
    assert clean.packages == second.packages
    assert [p.name.split("-")[0] for p in (store_root / "quarantine").iterdir()] == ["trees"]


def reseal(entry: Path, rel: str, text: str) -> None:
    """Damage a file and write a matching manifest: only the entry's own record check can notice."""
    path = entry / rel
    os.chmod(path, 0o644)
    path.write_text(text)
    (entry / manifest.NAME).unlink()
    manifest.seal(entry)


@pytest.mark.parametrize(("kind", "rel"), [("trees", TREE_RECORD), ("resolutions", RESOLUTION_RECORD)])
@pytest.mark.parametrize("garbage", ["{not json", "", "\x00\xff binary", '{"target": 3}', "relax!! ==\n"])
def test_a_garbage_record_is_a_miss_with_a_warning(tmp_path: Path, wheel_index: Any, kind: str, rel: str,
                                                   garbage: str) -> None:
    store_root = tmp_path / "cache"
    first = build(build_request(function(tmp_path), wheel_index), tmp_path / "out1", LocalStore(store_root))
    (entry,) = (store_root / kind).iterdir()
    reseal(entry, rel, garbage)
    reporter, said = collecting()
    again = build(build_request(function(tmp_path), wheel_index), tmp_path / "out2",
                  LocalStore(store_root, reporter=reporter), reporter)
    assert again.packages == first.packages
    (line,) = said
    assert line.startswith("cache-entry-quarantined:") and f"{kind}/" in line
    assert "pins" not in line.split("(")[0]  # it names the entry, not the user's requirements


@pytest.mark.parametrize("attack", ["editable", "secret-url"])
def test_a_planted_resolution_is_quarantined_and_nothing_of_it_runs(tmp_path: Path, wheel_index: Any, attack: str,
                                                                    attacker_server: tuple[int, list[str]],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who can write the cache folder rewrites a resolution: the record is data, checked before use."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-readers-secret")
    port, requests = attacker_server
    store_root = tmp_path / "cache"
    first = build(build_request(function(tmp_path), wheel_index), tmp_path / "out1", LocalStore(store_root))
    (entry,) = (store_root / "resolutions").iterdir()
    marker = tmp_path / "pwned"
    entry.chmod(0o755)
    plant_pins(entry, **attack_fields(attack, entry, marker, port))
    (entry / manifest.NAME).unlink()
    manifest.seal(entry)
    reporter, said = collecting()
    again = build(build_request(function(tmp_path), wheel_index), tmp_path / "out2",
                  LocalStore(store_root, reporter=reporter), reporter)
    assert not marker.exists() and requests == []
    assert again.packages == first.packages and files(tmp_path / "out2") == files(tmp_path / "out1")
    (line,) = said
    assert line.startswith("cache-entry-quarantined:") and f"resolutions/{entry.name[:16]}" in line


def test_a_missing_manifest_is_a_miss(tmp_path: Path, wheel_index: Any) -> None:
    """An entry without its manifest was not published by the store (a half copy, an old version): not trusted."""
    store_root = tmp_path / "cache"
    build(build_request(function(tmp_path), wheel_index), tmp_path / "out1", LocalStore(store_root))
    (entry,) = (store_root / "trees").iterdir()
    (entry / manifest.NAME).unlink()
    again = build(build_request(function(tmp_path), wheel_index), tmp_path / "out2", LocalStore(store_root))
    assert not again.install_hit and (entry / manifest.NAME).is_file()


# -- scratch folders: alive while held ---------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from cdk_native_python.store.local import LocalStore
with LocalStore(Path(sys.argv[1])).scratch("trees-build") as path:
    (path / "work").write_text("in progress")
    print(path, flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("namespace", ["same", "own-pid-namespace"])
def test_scratch_folders_of_live_processes_survive_other_processes_cleaning(tmp_path: Path, namespace: str) -> None:
    """Two containers sharing a cache volume: the same host name, separate PID namespaces. Liveness comes
    from the kernel's flock, not from pids or names."""
    if namespace != "same" and (not ROOT or not shutil.which("unshare")):
        pytest.skip("needs root and unshare for a PID namespace")
    root = tmp_path / "cache"
    LocalStore(root)
    prefix = ["unshare", "--pid", "--fork", "--kill-child"] if namespace != "same" else []
    holder = subprocess.Popen([*prefix, sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert holder.stdout is not None
        live = Path(holder.stdout.readline().strip())
        dead = root / "tmp" / "trees-dead"
        dead.mkdir()
        os.utime(dead, (0, 0))
        for _ in range(3):
            LocalStore(root)  # every start cleans
        assert (live / "work").read_text() == "in progress"
        assert not dead.exists()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10  # the namespace's process dies a moment after unshare (PDEATHSIG)
    while live.exists() and time.monotonic() < deadline:
        LocalStore(root)
        time.sleep(0.05)
    assert not live.exists()  # once its holder is gone it is a leftover like any other


# -- publishing is all or nothing ----------------------------------------------------------------------------


class _Boom(Exception):
    pass


def test_a_build_that_fails_midway_publishes_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "cache")

    def half(folder: Path) -> None:
        (folder / "tree").mkdir()
        (folder / "tree" / "a.py").write_text("A = 1\n")  # written, then the build fails before the rest
        raise _Boom

    with pytest.raises(_Boom):
        store.get_or_create("trees", "k1", half)
    assert not (store.root / "trees" / "k1").exists()
    assert not any((store.root / "tmp").iterdir())  # its scratch folder is gone too
    # the next run builds the entry from scratch and trusts only what it built
    def whole(folder: Path) -> None:
        (folder / "b.py").write_text("B = 2\n")

    built = store.get_or_create("trees", "k1", whole)
    assert built.origin == "built"
    assert set(files(built.path)) == {"b.py", "manifest.json"} and (built.path / "b.py").read_text() == "B = 2\n"


def test_another_tool_version_makes_its_own_entries_and_the_same_asset(tmp_path: Path, wheel_index: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries made by another cdk-native-python or uv (a teammate's, in a shared remote) are not reused;
    the asset hash, which decides redeploys, stays the same when the bytes do."""
    from cdk_native_python.pipeline import uv
    from cdk_native_python.pipeline.engine import prepare

    entry, store = function(tmp_path), LocalStore(tmp_path / "cache")
    first = build(build_request(entry, wheel_index), tmp_path / "a", store)
    monkeypatch.setattr(uv, "tools", lambda: "cdk-native-python 9.9.9; uv 0.99.0")
    plan = prepare(build_request(entry, wheel_index), store)
    assert not plan.resolve_hit
    again = build(build_request(entry, wheel_index), tmp_path / "b", store)
    assert again.asset_hash == first.asset_hash and files(tmp_path / "a") == files(tmp_path / "b")
    assert len(list((store.root / "trees").iterdir())) == 2


LIVE_HOLDER = """
import sys, time
from pathlib import Path
from cdk_native_python.store.local import LocalStore
with LocalStore(Path(sys.argv[1])).scratch("trees-live") as path:
    print(path, flush=True)
    time.sleep(120)
"""


SETS = {
    "pure": "purepkg\n",
    "pure-native": "purepkg\nnativepkg\n",
    "native-markers": "nativepkg\nmarkerdeps\n",
    "boto": "usesdateutil\nboto3\npurepkg\n",
    "infra": "usesattrs\naws-cdk-lib\nnativepkg\n",
}


TARGETS = [(f"python3.{m}", arch) for m in (11, 12, 13, 14) for arch in ("arm64", "x86_64")]


WORKER = '''\
import json, sys, time
from pathlib import Path
from cdk_native_python.store.local import LocalStore
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.core.reporter import Reporter
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.core.target import Target

cfg = json.loads(sys.argv[1])
phases = open(cfg["phases"], "a", buffering=1)
reporter = Reporter(on_phase=lambda text, subject: phases.write(text + "\\n"))
go = Path(cfg["go"])
while not go.exists():
    time.sleep(0.002)
request = BuildRequest(entry=Path(cfg["entry"]), target=Target.from_runtime(cfg["runtime"], cfg["arch"]),
                       indexes=IndexOptions(index_url=cfg["index"]))
result = build(request, Path(cfg["out"]), LocalStore(Path(cfg["cache"]), reporter=reporter), reporter)
print(json.dumps({"packages": result.packages, "resolve_hit": result.resolve_hit,
                  "install_hit": result.install_hit}))
'''


class Bench:
    """Shared fixtures of one test: entries per set, reference bundles, the worker script."""

    def __init__(self, tmp: Path, index: Any) -> None:
        self.tmp, self.index = tmp, index
        self.worker = tmp / "worker.py"
        self.worker.write_text(WORKER)
        self.entries = {}
        for name, reqs in SETS.items():
            entry = tmp / "src" / name
            entry.mkdir(parents=True)
            (entry / "index.py").write_text(f"NAME = {name!r}\n\ndef handler(event, context):\n    return NAME\n")
            (entry / "requirements.txt").write_text(reqs)
            self.entries[name] = entry
        self._refs: dict[tuple[str, str, str], dict[str, str]] = {}
        self._n = 0

    def reference(self, name: str, runtime: str, arch: str) -> dict[str, str]:
        """The bundle built alone, with its own clean cache."""
        key = (name, runtime, arch)
        if key not in self._refs:
            out = self.tmp / "ref" / "-".join(key)
            build(self.request(name, runtime, arch), out, LocalStore(self.tmp / "ref-cache" / "-".join(key)),
                  silent())
            self._refs[key] = contents(out)
        return self._refs[key]

    def request(self, name: str, runtime: str, arch: str) -> BuildRequest:
        return BuildRequest(entry=self.entries[name], target=Target.from_runtime(runtime, arch),
                            indexes=IndexOptions(index_url=self.index.url))

    def start(self, cache: Path, go: Path, name: str, runtime: str, arch: str) -> tuple[subprocess.Popen[str], Path]:
        """A worker; its phases are written to ``<out>.phases`` as they start."""
        self._n += 1
        out = self.tmp / "out" / f"{self._n:03d}-{name}-{runtime}-{arch}"
        out.parent.mkdir(parents=True, exist_ok=True)
        cfg = {"go": str(go), "entry": str(self.entries[name]), "runtime": runtime, "arch": arch,
               "index": self.index.url, "out": str(out), "cache": str(cache), "phases": f"{out}.phases"}
        proc = subprocess.Popen([sys.executable, str(self.worker), json.dumps(cfg)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        return proc, out


def contents(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check_cache(root: Path) -> tuple[int, int]:
    """Every published entry is complete and true to its manifest and record; returns (#resolutions, #trees)."""
    locks = [e for e in (root / "resolutions").iterdir() if e.is_dir()] if (root / "resolutions").exists() else []
    for entry in locks:
        assert sorted(p.name for p in entry.iterdir()) == [manifest.NAME, RECORD_FILE], entry
        assert manifest.corrupted(entry, manifest.load(entry)) is None, entry
        record = json.loads((entry / RECORD_FILE).read_text())
        assert record["required_by"] and all(p["version"] for p in record["pins"]), entry
    trees = list((root / "trees").iterdir()) if (root / "trees").exists() else []
    for entry in trees:
        assert sorted(p.name for p in entry.iterdir()) == [manifest.NAME, "tree", TREE_RECORD], entry
        assert manifest.corrupted(entry, manifest.load(entry)) is None, entry
        record = loads(TreeRecord, (entry / TREE_RECORD).read_text())
        assert {n: d.version for n, d in installed(entry / "tree").items()} == record.versions, entry
        for dist in (entry / "tree").glob("*.dist-info"):  # every file a wheel recorded is there, whole
            for line in (dist / "RECORD").read_text().splitlines():
                path, algo_digest, _ = line.rsplit(",", 2)
                if algo_digest.startswith("sha256="):
                    data = (entry / "tree" / path).read_bytes()
                    got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                    assert got == algo_digest[len("sha256="):], (entry, path)
    return len(locks), len(trees)


def leftovers(root: Path) -> list[str]:
    LocalStore(root)  # a new run cleans what dead processes left behind
    return sorted(p.name for p in (root / "tmp").iterdir())


def test_17_read_only_cache_falls_back_with_a_warning(tmp_path: Path, wheel_index: Any, small_fs: Any,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    ro = small_fs("ro", "size=4m,ro")
    entry = write_function(tmp_path, "purepkg\n")
    cache = LocalStore(ro / "cache")
    warning = capfd.readouterr().err
    assert cache.fallback_from == (ro / "cache").absolute()
    assert str(ro / "cache") in warning and "CDK_NATIVE_PYTHON_CACHE_DIR" in warning
    result = build(build_request(entry, wheel_index), tmp_path / "out", cache)
    assert {"purepkg", "depa"} <= set(result.packages)
    # without the fallback it says so
    err = fails(CacheError, lambda: LocalStore(ro / "cache", fallback=False))
    says(err, str(ro / "cache"), "Read-only", hint="CDK_NATIVE_PYTHON_CACHE_DIR")


def test_18_full_cache_disk(tmp_path: Path, wheel_index: Any, small_fs: Any,
                            capfd: pytest.CaptureFixture[str]) -> None:
    # full before we start: fall back, with a warning naming the directory
    full = small_fs("full", "size=64k")
    with open(full / "filler", "wb") as f, pytest.raises(OSError) as info:
        f.write(b"\0" * 10**6)
    assert info.value.errno == errno.ENOSPC
    cache = LocalStore(full / "cache")
    assert cache.fallback_from == (full / "cache").absolute()
    assert str(full / "cache") in capfd.readouterr().err
    # fills up while installing: a clear error naming the cache directory, and no entry is published
    tight = small_fs("tight", "size=200k")
    entry = write_function(tmp_path, "nativepkg\npurepkg\n")
    small = LocalStore(tight / "cache")
    assert small.fallback_from is None
    with open(tight / "filler", "wb") as f:  # leave ~40 kB: enough for the lock, not for the wheels
        f.write(b"\0" * (160 * 1024))
    err = fails(CacheError, build_later(build_request(entry, wheel_index), tmp_path, small))
    says(err, str(tight / "cache"), "no space left", hint="free space")
    assert not (tight / "cache" / "trees").exists() or not any((tight / "cache" / "trees").iterdir())


def test_19_interrupted_previous_run_is_ignored_and_cleaned(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\n")
    root = tmp_path / "cache"
    clean = build(build_request(entry, wheel_index), tmp_path / "clean", LocalStore(tmp_path / "reference"))
    LocalStore(root)
    # a killed run's leftover: a half-built scratch folder nobody holds any more (whatever its name says)
    killed = subprocess.Popen([sys.executable, "-c", LIVE_HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    leftover = Path(killed.stdout.readline().strip()) if killed.stdout else Path()
    (leftover / "tree" / "purepkg").mkdir(parents=True)
    (leftover / "tree" / "purepkg" / "__init__.py").write_text("half")
    killed.kill()
    killed.wait()
    # and a live one, held by another process (as in another container sharing the volume): never touched
    holder = subprocess.Popen([sys.executable, "-c", LIVE_HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(holder.stdout.readline().strip()) if holder.stdout else Path()
        assert live.is_dir()
        result = build(build_request(entry, wheel_index), tmp_path / "out1", LocalStore(root))
        assert not leftover.exists() and live.is_dir()
    finally:
        holder.kill()
        holder.wait()
    LocalStore(root)  # its holder is gone: the next start removes it
    assert not live.exists()
    # a published entry changed behind the store's back: quarantined and rebuilt, never shipped
    trees = list((root / "trees").iterdir())
    assert len(trees) == 1
    half = trees[0] / "tree" / "purepkg" / "__init__.py"
    half.unlink()  # out1 holds a hard link to the old file; the half write is a new one
    half.write_text("tampered half write")
    again = build(build_request(entry, wheel_index), tmp_path / "out2", LocalStore(root))
    assert not again.install_hit
    assert [p.name.split("-")[0] for p in (root / "quarantine").iterdir()] == ["trees"]
    for out in (tmp_path / "out1", tmp_path / "out2"):
        assert (out / "purepkg" / "__init__.py").read_text() == \
            (tmp_path / "clean" / "purepkg" / "__init__.py").read_text()
    assert result.packages == again.packages == clean.packages


def test_8_processes_x_3_rounds_share_one_cache(tmp_path: Path, wheel_index: Any) -> None:
    bench = Bench(tmp_path, wheel_index)
    cache = tmp_path / "shared-cache"
    names = list(SETS)
    builders: dict[tuple[str, str, str], int] = {}
    total = 0
    start = time.perf_counter()
    for rnd in range(ROUNDS):
        go = tmp_path / f"go-{rnd}"
        jobs = []
        for i in range(PROCS):
            # overlapping sets: neighbours share packages and, in pairs, the very same (set, target)
            name = names[(i // 2 + rnd) % len(names)]
            runtime, arch = TARGETS[(i // 2 + 3 * rnd) % len(TARGETS)]
            proc, out = bench.start(cache, go, name, runtime, arch)
            jobs.append((proc, out, (name, runtime, arch)))
        time.sleep(1.0)  # let every interpreter start, then release them together
        go.touch()
        for proc, out, key in jobs:
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr[-3000:]
            report = json.loads(stdout.strip().splitlines()[-1])
            if not report["install_hit"]:
                builders[key] = builders.get(key, 0) + 1
            assert contents(out) == bench.reference(*key), f"round {rnd}: {out.name} differs from a clean build"
            total += 1
    seconds = time.perf_counter() - start
    n_locks, n_trees = check_cache(cache)
    print(f"{PROCS} processes x {ROUNDS} rounds = {total} bundles on one cache in {seconds:.1f}s: "
          f"{n_locks} locks, {n_trees} trees, installs per tree key {sorted(builders.values())}")
    # each distinct (set, target) was installed by exactly one process; the others waited and reused it
    quarantined = sorted(p.name for p in (cache / "quarantine").iterdir()) if (cache / "quarantine").exists() else []
    assert not quarantined
    assert all(count == 1 for count in builders.values()), builders
    assert n_trees == len(builders)
    assert leftovers(cache) == []


def test_sigkill_12_iterations_x_3_processes_during_resolve_and_install(tmp_path: Path, wheel_index: Any) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "7")))
    bench = Bench(tmp_path, wheel_index)
    cache = tmp_path / "shared-cache"
    combos = [(n, r, a) for n in SETS for r, a in TARGETS]
    rng.shuffle(combos)
    used = combos[:KILL_ITERATIONS]
    stats = {"killed": 0, "killed-with-children": 0, "finished": 0, "seen-resolving": 0, "seen-installing": 0}
    groups: list[int] = []
    for it, combo in enumerate(used):
        go = tmp_path / f"go-{it}"
        jobs = [bench.start(cache, go, *combo) for _ in range(PER_ITERATION)]
        groups += [proc.pid for proc, _ in jobs]
        time.sleep(0.8)
        go.touch()
        for proc, _ in sorted(jobs, key=lambda _: rng.random()):
            # Aim at the work, not at the clock (a build takes 0.1 s or 2 s depending on the machine and on
            # how warm uv's cache is): wait until some process has a resolution or an install under way,
            # then strike after a random few milliseconds.
            phase = rng.choice(["resolving", "installing"])
            deadline = time.perf_counter() + 5
            said = ""
            while proc.poll() is None and time.perf_counter() < deadline:
                said = " ".join(Path(f"{out}.phases").read_text() for _, out in jobs if Path(f"{out}.phases").exists())
                if phase in said:
                    break
                time.sleep(0.003)
            time.sleep(rng.uniform(0.0, 0.12))
            stats["seen-resolving"] += "resolving" in said
            stats["seen-installing"] += "installing" in said
            if proc.poll() is None:
                if rng.random() < 0.5:
                    os.killpg(proc.pid, signal.SIGKILL)  # the process and its uv child
                    stats["killed-with-children"] += 1
                else:
                    os.kill(proc.pid, signal.SIGKILL)  # only the process: its uv child runs on, orphaned
                stats["killed"] += 1
            else:
                stats["finished"] += 1
        for proc, _ in jobs:
            proc.communicate(timeout=300)
    for pgid in groups:  # end the orphans we started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    time.sleep(0.2)
    check_cache(cache)
    # afterwards, every bundle built on the crashed-into cache equals a clean build
    go = tmp_path / "go-after"
    go.touch()
    for combo in used:
        proc, out = bench.start(cache, go, *combo)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        assert contents(out) == bench.reference(*combo), f"{combo} differs from a clean build after crashes"
    n_locks, n_trees = check_cache(cache)
    left = leftovers(cache)
    print(f"SIGKILL {KILL_ITERATIONS} iterations x {PER_ITERATION} processes: {stats}; afterwards "
          f"{len(used)} bundles correct, {n_locks} locks and {n_trees} trees complete, leftovers {left}")
    assert stats["killed"] >= KILL_ITERATIONS  # the test did kill processes mid-build
    assert stats["seen-resolving"] and stats["seen-installing"]  # ... while they resolved and installed
    assert left == []


# -- the tag (CACHEDIR.TAG): maintenance touches only a root of ours -------------------------------------------------

def test_processes_starting_together_on_a_new_root_all_claim_it(tmp_path: Path) -> None:
    """Each of 8 processes opens the same new root at once (released together through their stdin): every one
    finds it ours, none falls back or refuses, whichever of them writes the tag."""
    root = tmp_path / "new" / "cache"
    code = ("import sys; from pathlib import Path; from cdk_native_python.store.local import LocalStore; "
            "sys.stdin.read(1); LocalStore(Path(sys.argv[1]), fallback=False); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCS)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out == "ok\n", err
    assert (root / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    assert not [p for p in root.iterdir() if p.name.startswith(".CACHEDIR.TAG")]  # no temporary tag left


def test_a_root_holding_only_another_processs_tag_in_progress_is_claimed(tmp_path: Path) -> None:
    """What a process writing the tag has in the root for a moment (its temporary folder, held) does not make the
    root someone else's; a killed writer's leftover is cleaned once the root is ours."""
    from cdk_native_python.core._fs import held_tempdir

    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    with held_tempdir(root, ".CACHEDIR.TAG.tmp-") as writing:
        store = LocalStore(root, fallback=False)
        assert store.root == root and writing.is_dir()  # a live writer's folder stays
    dead = root / ".CACHEDIR.TAG.tmp-dead"
    dead.mkdir()
    (dead / ".cdk-native-python.lock").write_text("")  # its writer is gone: nobody holds the lock
    LocalStore(root, fallback=False)
    assert not dead.exists()


def test_quarantined_entries_are_removed_after_their_time_only(tmp_path: Path) -> None:
    """Kept QUARANTINE_SECONDS for a look, then removed by the next start (the age read from each entry's
    mtime, set here rather than waited for)."""
    from cdk_native_python.store.local import QUARANTINE_SECONDS

    root = tmp_path / "cache"
    LocalStore(root)
    quarantine = root / "quarantine"
    quarantine.mkdir(exist_ok=True)
    now = time.time()
    for name, age in (("old", QUARANTINE_SECONDS + 60), ("young", QUARANTINE_SECONDS - 60)):
        (quarantine / name / "tree").mkdir(parents=True)
        (quarantine / name / "tree" / "f.py").write_text("x")
        os.utime(quarantine / name, (now - age, now - age))
    LocalStore(root)
    assert sorted(p.name for p in quarantine.iterdir()) == ["young"]


def test_reports_live_where_only_the_store_knows(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "cache", reporter=silent())
    digest = "ab" * 32
    assert not store.report_path(digest).exists()
    path = store.write_report(digest, '{"asset_hash": "x"}\n')
    assert path == store.report_path(digest) == store.reports_dir / f"{digest}.json"
    assert path.read_text(encoding="utf-8") == '{"asset_hash": "x"}\n'
    assert [p.name for p in store.reports_dir.parent.iterdir() if p.name.startswith("rep")] == ["reports"]
    # a report is nice to have: one that cannot be written is None, not an error
    shutil.rmtree(store.reports_dir)
    store.reports_dir.write_text("not a folder")
    assert store.write_report(digest, "{}") is None
