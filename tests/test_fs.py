"""Small file-system idioms (``_fs.py``): one atomic write, whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdk_native_python.core._fs import LOCK_NAME, atomic_write, held_tempdir, remove_dead, replacing
from tests.helpers import leftovers


def test_atomic_writes_replace_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    atomic_write(path, "old\n")
    with pytest.raises(RuntimeError), replacing(path) as part:
        part.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old\n" and leftovers(tmp_path) == []
    atomic_write(path, b"new\n")
    assert path.read_text() == "new\n" and path.stat().st_mode & 0o777 == 0o644
    # a folder replaces a missing or empty one
    with replacing(tmp_path / "dir") as part:
        part.mkdir()
        (part / "x").write_text("x")
    assert (tmp_path / "dir" / "x").read_text() == "x" and leftovers(tmp_path) == []
    # the lock is held while the block runs: a cleaner leaves it alone
    with held_tempdir(tmp_path, ".live.tmp-") as tmp:
        assert remove_dead(tmp_path) == [] and tmp.is_dir()
    assert leftovers(tmp_path) == []
    # killed while creating its lock: removed once old; folders without our lock file are not ours
    half, young, foreign = tmp_path / ".a.tmp-1", tmp_path / ".b.tmp-2", tmp_path / ".c.tmp-3"
    for folder in (half, young):
        folder.mkdir()
        (folder / f"{LOCK_NAME}.new").write_text("")
    (foreign / "data").mkdir(parents=True)
    for folder in (half, foreign):
        os.utime(folder, (0, 0))
    assert remove_dead(tmp_path) == [half]
    assert leftovers(tmp_path) == [young.name, foreign.name]


def test_in_a_folder_of_held_folders_content_without_a_lock_is_dead_at_once(tmp_path: Path) -> None:
    """What a process killed mid-teardown leaves (its lock file removed, files still there), or what a killed
    build's orphaned uv wrote into a folder being removed: no live writer can look like that, so the next
    run removes it instead of keeping it for a minute."""
    parent = tmp_path / "tmp"
    orphan = parent / "compile-a"
    (orphan / "sub").mkdir(parents=True)
    (orphan / "sub" / "requirements.lock").write_text("x\n")
    creating = parent / "compile-b"  # a writer between creating its lock file and renaming it
    creating.mkdir()
    (creating / f"{LOCK_NAME}.new").write_text("")
    (creating / "early").write_text("")
    just_made = parent / "compile-c"  # a writer between mkdtemp and its lock
    just_made.mkdir()
    with held_tempdir(parent, "compile-") as live:
        (live / "out").write_text("")
        assert remove_dead(parent, "*", lockless_after=60) == [orphan]
        assert live.exists() and creating.exists() and just_made.exists()
    assert remove_dead(parent, "*") == []  # without the promise that every folder is ours, nothing is touched
