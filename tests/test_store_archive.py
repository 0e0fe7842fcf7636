"""The archive format of the remote tier (``store/archive.py``): deterministic, and unsafe members refused
before anything is written."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from cdk_native_python.store import archive
from tests.treehelpers import craft, empty_dir, normalised, snapshot, unsafe_cases


def test_the_archive_is_deterministic(tree_entry: Path, tmp_path: Path) -> None:
    """The same tree gives the same bytes wherever it lives, whatever its mtimes and (normalised) modes."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tree_entry, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    (copy / "tree" / "private.cfg").chmod(0o640)
    for fmt in archive.FORMATS:
        a, b = io.BytesIO(), io.BytesIO()
        first, second = archive.pack(tree_entry, a, fmt), archive.pack(copy, b, fmt)
        assert first == second and a.getvalue() == b.getvalue()
        assert first.digest == hashlib.sha256(a.getvalue()).hexdigest() and first.size == len(a.getvalue())
        out = empty_dir(tmp_path / f"out-{fmt}")
        archive.unpack(io.BytesIO(a.getvalue()), fmt, out)
        assert snapshot(out) == normalised(snapshot(tree_entry))


@pytest.mark.parametrize("case", sorted(unsafe_cases(Path("/x"))))
def test_unpack_refuses_unsafe_members_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    outside = empty_dir(tmp_path / "outside")
    dest = empty_dir(tmp_path / "area" / "work" / "dest")
    reason, members = unsafe_cases(outside)[case]
    with pytest.raises(archive.ArchiveError, match=reason):
        archive.unpack(io.BytesIO(craft(members)), archive.ZSTD, dest)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "area", "area/work", "area/work/dest", "outside"]


def test_unpacking_stops_at_the_deadline_and_leaves_nothing(tree_entry: Path, tmp_path: Path) -> None:
    import time

    blob = io.BytesIO()
    archive.pack(tree_entry, blob)
    dest = empty_dir(tmp_path / "dest")
    with pytest.raises(archive.DeadlinePassed):
        archive.unpack(io.BytesIO(blob.getvalue()), archive.ZSTD, dest, deadline=time.monotonic() - 1)
    assert list(dest.iterdir()) == []
    archive.unpack(io.BytesIO(blob.getvalue()), archive.ZSTD, dest, deadline=time.monotonic() + 60)
    assert snapshot(dest) == normalised(snapshot(tree_entry))


def test_files_up_to_the_cap_unpack_and_one_byte_more_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """The cap counts the files' bytes (not the tar framing around them), whatever the number of members."""
    from tests.treehelpers import member

    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 3000)
    fits = craft([member(f"f{i}", data=b"x" * 1000) for i in range(3)])
    archive.unpack(io.BytesIO(fits), archive.ZSTD, empty_dir(tmp_path / "fits"))
    over = craft([member(f"f{i}", data=b"x" * 1000) for i in range(2)] + [member("f2", data=b"x" * 1001)])
    dest = empty_dir(tmp_path / "over")
    with pytest.raises(archive.ArchiveError, match="unpacks to more than"):
        archive.unpack(io.BytesIO(over), archive.ZSTD, dest)
    assert list(dest.iterdir()) == []
