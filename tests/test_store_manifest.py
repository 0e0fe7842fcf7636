"""What a published entry holds (``store/manifest.py``): ``seal`` makes files read-only and lists them last;
``changed`` sees by stat alone what an edit, a chmod, a truncation or a deletion does; ``corrupted`` also
re-hashes and finds added files; a damaged manifest is a ``RecordError``."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from cdk_native_python.core.records import RecordError
from cdk_native_python.store import manifest


def entry(root: Path) -> Path:
    (root / "tree" / "pkg").mkdir(parents=True)
    (root / "tree" / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "tree" / "pkg" / "tool").write_text("#!/bin/sh\n")
    (root / "tree" / "pkg" / "tool").chmod(0o755)
    (root / "tree" / "pkg" / "__main__.py").write_text("")
    (root / "tree.json").write_text("{}")
    (root / "tree" / "pkg" / "alias.py").symlink_to("__init__.py")
    return root


def test_seal_lists_every_file_read_only_with_its_digest(tmp_path: Path) -> None:
    root = entry(tmp_path / "e")
    sealed = manifest.seal(root)
    assert [f.path for f in sealed.files] == ["tree.json", "tree/pkg/__init__.py", "tree/pkg/__main__.py",
                                              "tree/pkg/alias.py", "tree/pkg/tool"]
    init = next(f for f in sealed.files if f.path == "tree/pkg/__init__.py")
    assert init.sha256 == hashlib.sha256(b"VALUE = 1\n").hexdigest() and init.size == 10
    assert next(f for f in sealed.files if f.path == "tree/pkg/alias.py").sha256 == "link:__init__.py"
    for f in sealed.files:
        st = os.lstat(root / f.path)
        if not stat.S_ISLNK(st.st_mode):
            assert not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), f.path
    assert os.access(root / "tree" / "pkg" / "tool", os.X_OK)  # read-only, still executable
    assert manifest.load(root) == sealed and sealed.bytes == sum(f.size for f in sealed.files)
    assert manifest.changed(root, sealed) is None and manifest.corrupted(root, sealed) is None


def _writable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.parametrize("how", ["edit", "truncate", "chmod", "delete", "touch"])
def test_changed_sees_what_stat_sees(tmp_path: Path, how: str) -> None:
    root = entry(tmp_path / "e")
    sealed = manifest.seal(root)
    path = root / "tree" / "pkg" / "__init__.py"
    st = path.stat()
    if how == "edit":
        _writable(path)
        path.write_text("VALUE = 22\n")
        says = "changed size"
    elif how == "truncate":
        _writable(path)
        path.write_text("")
        says = "changed size"
    elif how == "chmod":
        path.chmod(0o644)
        says = "changed mode"
    elif how == "delete":
        path.unlink()
        says = "is missing"
    else:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        says = "was modified"
    problem = manifest.changed(root, sealed)
    assert problem is not None and problem.startswith("tree/pkg/__init__.py") and says in problem, problem
    assert manifest.corrupted(root, sealed) == problem


def test_corrupted_rehashes_what_stat_cannot_see_and_finds_added_files(tmp_path: Path) -> None:
    root = entry(tmp_path / "e")
    sealed = manifest.seal(root)
    path = root / "tree" / "pkg" / "__init__.py"
    st = path.stat()
    _writable(path)
    path.write_text("VALUE = 2\n")  # same size
    os.chmod(path, st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert manifest.changed(root, sealed) is None  # the cheap check cannot see it
    assert manifest.corrupted(root, sealed) == "tree/pkg/__init__.py has other contents than when it was published"

    root2 = entry(tmp_path / "e2")
    sealed2 = manifest.seal(root2)
    (root2 / "tree" / "pkg" / "planted.py").write_text("import os\n")
    assert manifest.changed(root2, sealed2) is None
    assert manifest.corrupted(root2, sealed2) == "tree/pkg/planted.py was added"

    root3 = entry(tmp_path / "e3")
    sealed3 = manifest.seal(root3)
    alias = root3 / "tree" / "pkg" / "alias.py"
    st = alias.lstat()
    alias.unlink()
    alias.symlink_to("__main__.py")  # another target of the same length, the same mtime: only its target differs
    os.utime(alias, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    assert manifest.changed(root3, sealed3) is None
    assert manifest.corrupted(root3, sealed3) == "tree/pkg/alias.py has other contents than when it was published"


def _one(path: str, sha256: str = "0" * 64) -> str:
    return json.dumps({"files": [{"path": path, "size": 1, "mode": 33060, "sha256": sha256, "mtime_ns": 1}]})


@pytest.mark.parametrize("content", [None, "", "{", '{"files": 3}', '{"files": [{"path": "x"}]}',
                                     '{"files": [], "extra": 1}', _one("../../etc/passwd"), _one("/etc/passwd"),
                                     _one("tree//x"), _one("tree/x", "ABC"), _one("tree/x", "1" * 63)],
                         ids=["missing", "empty", "truncated", "wrong-type", "missing-fields", "unknown-field",
                              "outside", "absolute", "empty-part", "digest-case", "digest-length"])
def test_a_missing_or_damaged_manifest_is_a_record_error(tmp_path: Path, content: str | None) -> None:
    root = entry(tmp_path / "e")
    if content is not None:
        (root / manifest.NAME).write_text(content)
    with pytest.raises(RecordError):
        manifest.load(root)
