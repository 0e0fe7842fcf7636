"""``cdk-native-python cache info|prune|verify`` (``cachecmd.py``), run as the command line against a real cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import ConfigurationError
from cdk_native_python.core.reporter import Reporter
from cdk_native_python.pipeline.engine import build
from cdk_native_python.store.local import LocalStore
from tests.helpers import build_request, cli, write_function
from tests.wheelfactory import WheelIndex

DAY = 86400


def cache(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "cache", *args], capture_output=True,
                          text=True, check=False, env={**os.environ, **(env or {})}, timeout=120)


def built(tmp_path: Path, wheel_index: Any, store: LocalStore, name: str, requirements: str) -> Path:
    """Build a function; return its tree entry."""
    entry = write_function(tmp_path, requirements, name=name)
    before = set((store.root / "trees").iterdir()) if (store.root / "trees").exists() else set()
    build(build_request(entry, wheel_index), tmp_path / f"out-{name}", store)
    (tree,) = set((store.root / "trees").iterdir()) - before
    return tree


def last_used(entry: Path, days_ago: float) -> None:
    stamp = time.time() - days_ago * DAY
    os.utime(entry / "manifest.json", (stamp, stamp))


def row(text: str, kind: str) -> tuple[int, str]:
    found = re.search(rf"^{kind}\s+(\d+)\s+(.+?)\s*$", text, re.MULTILINE)
    assert found, text
    return int(found.group(1)), found.group(2)


def test_info_says_where_and_how_much_per_kind(tmp_path: Path, wheel_index: Any) -> None:
    store = LocalStore(tmp_path / "cache")
    built(tmp_path, wheel_index, store, "a", "purepkg\n")
    built(tmp_path, wheel_index, store, "b", "purepkg\ndepa\n")
    before = cache("--cache-dir", str(store.root), "info")
    assert before.returncode == 0, before.stderr
    assert f"cache: {store.root}\n" in before.stdout
    assert row(before.stdout, "trees")[0] == 2 and row(before.stdout, "resolutions")[0] == 2
    assert row(before.stdout, "trees")[1] != "0 B"
    # --cache-dir after the action, and the environment variable, say the same
    assert cache("info", "--cache-dir", str(store.root)).stdout == before.stdout
    assert cache("info", env={"CDK_NATIVE_PYTHON_CACHE_DIR": str(store.root)}).stdout == before.stdout


def test_prune_by_age_removes_only_entries_unused_that_long(tmp_path: Path, wheel_index: Any) -> None:
    store = LocalStore(tmp_path / "cache")
    old = built(tmp_path, wheel_index, store, "a", "purepkg\n")
    recent = built(tmp_path, wheel_index, store, "b", "purepkg\ndepa\n")
    last_used(old, 40)
    dry = cache("prune", "--cache-dir", str(store.root), "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0 and f"would remove trees/{old.name}" in dry.stdout and old.exists()
    pruned = cache("prune", "--cache-dir", str(store.root), "--older-than", "30d")
    assert pruned.returncode == 0, pruned.stderr
    assert f"removed trees/{old.name}" in pruned.stdout and recent.name not in pruned.stdout
    assert not old.exists() and recent.exists()
    # what was pruned is built again on demand; what is left is still trusted as it is
    again = built(tmp_path, wheel_index, store, "a2", "purepkg\n")
    assert again.name == old.name


def test_prune_by_size_removes_the_least_recently_used_first(tmp_path: Path, wheel_index: Any) -> None:
    store = LocalStore(tmp_path / "cache")
    trees = [built(tmp_path, wheel_index, store, name, reqs)
             for name, reqs in (("a", "purepkg\n"), ("b", "purepkg\ndepa\n"), ("c", "depa\n"))]
    for days, tree in zip((3, 1, 2), trees, strict=True):
        last_used(tree, days)
    # a reuse counts as a use: b's resolution and tree are used now, whatever the stamp said
    build(build_request(tmp_path / "b", wheel_index), tmp_path / "out-b-again", store)
    # room for everything but two trees: the two least recently used go (resolutions were used today)
    room = sum(e.bytes for e in store.entries() if e.path not in (trees[0], trees[2]))
    out = cache("prune", "--cache-dir", str(store.root), "--max-size", str(room))
    assert out.returncode == 0, out.stderr
    assert [t.exists() for t in trees] == [False, True, False]
    removed = re.findall(r"^removed (\S+)", out.stdout, re.MULTILINE)
    assert removed.index(f"trees/{trees[0].name}") < removed.index(f"trees/{trees[2].name}")  # oldest first


def test_prune_needs_a_limit_and_says_which(tmp_path: Path) -> None:
    out = cache("prune", "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode != 0 and "--older-than" in out.stderr and "--max-size" in out.stderr
    assert "Traceback" not in out.stderr
    bad = cache("prune", "--cache-dir", str(tmp_path / "cache"), "--max-size", "lots")
    assert bad.returncode == 2 and "'lots' is not a size" in bad.stderr


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path, wheel_index: Any) -> None:
    store = LocalStore(tmp_path / "cache")
    built(tmp_path, wheel_index, store, "a", "purepkg\n")
    shell = f"{sys.executable} -m cdk_native_python.cli cache --cache-dir {store.root} info | head -c 1"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, check=False)
    assert out.stdout == "c" and out.stderr == ""


def test_cache_verify_rehashes_what_stat_cannot_see(tmp_path: Path, wheel_index: Any) -> None:
    """Same size, same mtime, other bytes: the cheap check cannot see it, `cache verify` does."""
    store = LocalStore(tmp_path / "cache")
    entry = built(tmp_path, wheel_index, store, "fn", "purepkg\n")
    path = entry / "tree" / "purepkg" / "__init__.py"
    st = os.stat(path)
    data = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(bytes(len(data)) if data else b"")
    os.chmod(path, st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = cache("--cache-dir", str(store.root), "verify")
    if data:
        assert out.returncode == 1 and "quarantined trees/" in out.stdout and "other contents" in out.stdout
        assert not entry.exists()
    else:
        assert out.returncode == 0


# -- maintenance stays inside what we made (issue 22) -----------------------------------------------------------

def user_home(root: Path) -> tuple[Path, dict[Path, bytes]]:
    """A folder like a home directory someone gives as ``--cache-dir``: user folders, one named like our scratch
    folder holding an unlocked folder, one named like our entries holding a folder without a manifest, all old."""
    home = root / "home"
    files = {home / "Documents" / "thesis.tex": b"chapter 1", home / "tmp" / "work" / "draft.txt": b"keep me",
             home / "tmp" / "notes.txt": b"notes", home / "trees" / "oak" / "photo.jpg": b"jpeg",
             home / "wheels" / "bike.txt": b"bike", home / "reports" / "q3.json": b"{}",
             home / "quarantine" / "old" / "x.txt": b"x", home / ".bashrc": b"alias ll='ls -l'"}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    home.chmod(0o700)
    stamp = time.time() - 4000 * DAY
    for dirpath, dirnames, filenames in os.walk(home):
        for name in (*dirnames, *filenames):
            os.utime(os.path.join(dirpath, name), (stamp, stamp))
    return home, files


def untouched(home: Path, files: dict[Path, bytes], names: set[str]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, path
    assert {p.name for p in home.iterdir()} == names, "nothing was added either"


def test_a_folder_that_is_not_our_cache_is_never_cleaned(tmp_path: Path, wheel_index: Any) -> None:
    home, files = user_home(tmp_path)
    names = {p.name for p in home.iterdir()}
    for action in (["info"], ["prune", "--older-than", "3650d"], ["prune", "--max-size", "0"], ["verify"]):
        proc = cache("--cache-dir", str(home), *action)
        untouched(home, files, names)
        assert proc.returncode == 2, (action, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"cdk-native-python: error: {home} is not a cdk-native-python cache "
                                      "(no CACHEDIR.TAG)"), proc.stderr
        assert "\n  hint: point --cache-dir" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(ConfigurationError) as refused:
        LocalStore(home, fallback=False)
    assert refused.value.code == "cache-not-ours"
    # a build given that folder builds (cold, in a private temporary cache) and leaves it as it was
    said: list[str] = []
    store = LocalStore(home, reporter=Reporter(sink=lambda n, _s: said.append(f"{n.code}: {n.message}")))
    assert store.fallback_from == home and store.root != home
    result = build(build_request(write_function(tmp_path, "purepkg\n"), wheel_index), tmp_path / "out", store)
    assert result.report.packages
    assert [line for line in said if line.startswith("cache-not-ours: ")], said
    untouched(home, files, names)


def test_a_new_or_empty_root_gets_the_tag_and_another_tools_tag_is_not_ours(tmp_path: Path) -> None:
    from cdk_native_python.store.local import TAG_NAME, TAG_SIGNATURE

    for root in (tmp_path / "new" / "cache", tmp_path / "empty"):
        if root.name == "empty":
            root.mkdir(mode=0o700)
        store = LocalStore(root, fallback=False)
        tag = (store.root / TAG_NAME).read_text()
        assert tag.startswith(TAG_SIGNATURE + "\n") and "cdk-native-python" in tag.splitlines()[1]
        assert cache("--cache-dir", str(root), "prune", "--older-than", "1d").returncode == 0
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    (other / TAG_NAME).write_text(TAG_SIGNATURE + "\n# a cache of some other tool\n")
    (other / "tmp").mkdir()
    (other / "tmp" / "theirs").mkdir()
    assert cache("--cache-dir", str(other), "info").returncode == 2
    assert (other / "tmp" / "theirs").is_dir()


def test_a_cache_of_an_earlier_version_is_adopted_only_when_it_holds_nothing_else(tmp_path: Path,
                                                                                  wheel_index: Any) -> None:
    from cdk_native_python.store.local import TAG_NAME

    store = LocalStore(tmp_path / "cache")
    tree = built(tmp_path, wheel_index, store, "a", "purepkg\n")
    (store.root / TAG_NAME).unlink()  # as an earlier version left it
    adopted = cache("--cache-dir", str(store.root), "info")
    assert adopted.returncode == 0, adopted.stderr
    assert row(adopted.stdout, "trees")[0] == 1 and (store.root / TAG_NAME).is_file()
    # the same, plus one folder of somebody else's: not ours, nothing touched
    (store.root / TAG_NAME).unlink()
    (store.root / "trees" / "holiday").mkdir()
    refused = cache("--cache-dir", str(store.root), "prune", "--older-than", "0d")
    assert refused.returncode == 2 and "not a cdk-native-python cache" in refused.stderr
    assert tree.is_dir() and (store.root / "trees" / "holiday").is_dir() and not (store.root / TAG_NAME).exists()


def test_keygen_writes_a_private_key_once_and_prints_the_line_to_trust(tmp_path: Path) -> None:
    from cdk_native_python.store.signing import SIGNING_KEY_FILE_ENV, PublicKey, signing_key_from_env

    key_file = tmp_path / "ci.pem"
    made = cache("keygen", str(key_file))
    assert made.returncode == 0, made.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    line = re.search(r'"remoteCacheTrustedKeys": \["(ed25519:[A-Za-z0-9+/=]+)"\]', made.stdout)
    assert line, made.stdout
    material = signing_key_from_env({SIGNING_KEY_FILE_ENV: str(key_file)})
    assert material is not None and material.signer().public == PublicKey.parse(line.group(1), "stdout")
    assert "PRIVATE" not in made.stdout and key_file.read_text() not in made.stdout
    before = key_file.read_bytes()
    again = cache("keygen", str(key_file))
    assert again.returncode == 2 and "exists already" in again.stderr and "Traceback" not in again.stderr
    assert key_file.read_bytes() == before, "never overwritten"


def test_prune_removes_the_deflated_members_no_remaining_tree_holds(tmp_path: Path) -> None:
    """``build --zip`` keeps each large file deflated in ``deflated/``; prune removes a member once no tree it
    keeps holds the file (and a source file's once it is old enough), never a name that is not a member's."""
    store = tmp_path / "cli-cache"
    with WheelIndex(tmp_path / "index") as index:
        index.add_wheel("bigpkg", "1.0", files={"bigpkg/__init__.py": b"", "bigpkg/data.bin": os.urandom(20_000)})
        write_function(tmp_path, "bigpkg\n", name="fn", files={"index.py": "def handler(e, c):\n    return 1\n",
                                                              "table.txt": os.urandom(20_000).hex()})
        zipped = cli(tmp_path, "build", "--runtime", "python3.12", "--source", "fn", "-r", "fn/requirements.txt",
                     "--index-url", index.url, "--zip", "fn.zip", "-q")
    assert zipped.returncode == 0, zipped.stderr
    members = {p.name: p for p in (store / "deflated").glob("*/*")}
    assert len(members) == 2, members  # bigpkg's data.bin and the source's table.txt
    (tree,) = (store / "trees").iterdir()
    in_tree = {m for m in members if any(f"\"{m}\"" in line for line in (tree / "manifest.json").open())}
    assert len(in_tree) == 1
    foreign = [store / "deflated" / "notes.txt", store / "deflated" / "zz" / ("0" * 64)]
    foreign[1].parent.mkdir()
    for path in foreign:
        path.write_text("not ours")
    env = {"CDK_NATIVE_PYTHON_CACHE_DIR": str(store)}

    assert "deflated" not in cache("prune", "--older-than", "30d", env=env).stdout  # all of them are new
    for path in (*members.values(), *foreign):
        stamp = time.time() - 40 * DAY
        os.utime(path, (stamp, stamp))
    dry = cache("prune", "--older-than", "30d", "--dry-run", env=env)
    assert "1 deflated members" in dry.stdout and all(m.exists() for m in members.values())
    assert cache("prune", "--older-than", "30d", env=env).returncode == 0
    assert {m for m, p in members.items() if p.exists()} == in_tree  # the tree it is kept for stays
    last_used(tree, 40)
    out = cache("prune", "--older-than", "30d", env=env)
    assert "1 deflated members" in out.stdout and not any(p.exists() for p in members.values())
    assert all(path.read_text() == "not ours" for path in foreign)
