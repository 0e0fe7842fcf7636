"""The local store (issue #13): nobody else's files get in, nothing changed after publishing gets out.

Each test attacks the store as another local user, a careless tool or a crash would, through the store itself
and through whole builds on the hermetic index.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.errors import CacheError
from cdk_native_python.install import RECORD_FILE as TREE_RECORD
from cdk_native_python.pins import PINS_FILE
from cdk_native_python.pins import RECORD_FILE as RESOLUTION_RECORD
from cdk_native_python.reporter import Reporter
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store import manifest
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

ARM312 = Target.from_runtime("python3.12", "arm64")
ROOT = os.geteuid() == 0


def collecting() -> tuple[Reporter, list[str]]:
    said: list[str] = []
    return Reporter(sink=lambda notice, _subject: said.append(f"{notice.code}: {notice.message}")), said


def function(root: Path, requirements: str = "purepkg\n") -> Path:
    entry = root / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text("import purepkg\n\ndef handler(event, context):\n    return 'ok'\n")
    (entry / "requirements.txt").write_text(requirements)
    return entry


def request(entry: Path, index: Any) -> BuildRequest:
    return BuildRequest(entry=entry, target=ARM312, indexes=IndexOptions(index_url=index.url))


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


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
    result = build(request(entry, wheel_index), tmp_path / "out", store, reporter)
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
    build(request(function(tmp_path), wheel_index), tmp_path / "out", store)
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
    clean = build(request(function(tmp_path / "ref"), wheel_index), tmp_path / "clean", LocalStore(tmp_path / "ref-c"))
    first = build(request(function(tmp_path / "a"), wheel_index), tmp_path / "out1", LocalStore(store_root))
    assert first.report.placement == "hardlink"
    edit_through_the_asset(tmp_path / "out1", how)
    reporter, said = collecting()
    second = build(request(function(tmp_path / "b"), wheel_index), tmp_path / "out2",
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


@pytest.mark.parametrize(("kind", "rel"), [("trees", TREE_RECORD), ("resolutions", RESOLUTION_RECORD),
                                           ("resolutions", PINS_FILE)])
@pytest.mark.parametrize("garbage", ["{not json", "", "\x00\xff binary", '{"target": 3}', "relax!! ==\n"])
def test_a_garbage_record_is_a_miss_with_a_warning(tmp_path: Path, wheel_index: Any, kind: str, rel: str,
                                                   garbage: str) -> None:
    store_root = tmp_path / "cache"
    first = build(request(function(tmp_path), wheel_index), tmp_path / "out1", LocalStore(store_root))
    (entry,) = (store_root / kind).iterdir()
    reseal(entry, rel, garbage)
    reporter, said = collecting()
    again = build(request(function(tmp_path), wheel_index), tmp_path / "out2",
                  LocalStore(store_root, reporter=reporter), reporter)
    assert again.packages == first.packages
    (line,) = said
    assert line.startswith("cache-entry-quarantined:") and f"{kind}/" in line
    assert "pins" not in line.split("(")[0]  # it names the entry, not the user's requirements


def test_a_missing_manifest_is_a_miss(tmp_path: Path, wheel_index: Any) -> None:
    """An entry without its manifest was not published by the store (a half copy, an old version): not trusted."""
    store_root = tmp_path / "cache"
    build(request(function(tmp_path), wheel_index), tmp_path / "out1", LocalStore(store_root))
    (entry,) = (store_root / "trees").iterdir()
    (entry / manifest.NAME).unlink()
    again = build(request(function(tmp_path), wheel_index), tmp_path / "out2", LocalStore(store_root))
    assert not again.install_hit and (entry / manifest.NAME).is_file()


def test_cache_verify_rehashes_what_stat_cannot_see(tmp_path: Path, wheel_index: Any) -> None:
    """Same size, same mtime, other bytes: the cheap check cannot see it, `cache verify` does."""
    store = LocalStore(tmp_path / "cache")
    build(request(function(tmp_path), wheel_index), tmp_path / "out1", store)
    (entry,) = (store.root / "trees").iterdir()
    path = entry / "tree" / "purepkg" / "__init__.py"
    st = os.stat(path)
    data = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(bytes(len(data)) if data else b"")
    os.chmod(path, st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "cache", "--cache-dir", str(store.root),
                          "verify"], capture_output=True, text=True, check=False)
    if data:
        assert out.returncode == 1 and "quarantined trees/" in out.stdout and "other contents" in out.stdout
        assert not entry.exists()
    else:
        assert out.returncode == 0


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
    from cdk_native_python import uv
    from cdk_native_python.engine import prepare

    entry, store = function(tmp_path), LocalStore(tmp_path / "cache")
    first = build(request(entry, wheel_index), tmp_path / "a", store)
    monkeypatch.setattr(uv, "tools", lambda: "cdk-native-python 9.9.9; uv 0.99.0")
    plan = prepare(request(entry, wheel_index), store)
    assert not plan.resolve_hit
    again = build(request(entry, wheel_index), tmp_path / "b", store)
    assert again.asset_hash == first.asset_hash and files(tmp_path / "a") == files(tmp_path / "b")
    assert len(list((store.root / "trees").iterdir())) == 2
