"""Placing an installed tree into an asset folder (``stage.place_tree``): hard links from the store when nothing
will edit the files, copies otherwise; modes kept; what a destination already holds stays; a link in the tree
stays a link (never followed into or out of the store)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cdk_native_python.pipeline import stage


def tree(root: Path) -> Path:
    """A small installed tree: a package, an executable, a read-only file, an empty folder, a link."""
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "sub" / "data.json").write_text("{}")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "pkg" / "sub" / "data.json").chmod(0o444)  # published entries are read-only
    (root / "empty").mkdir()
    (root / "pkg" / "alias.py").symlink_to("__init__.py")
    return root


def files(root: Path) -> dict[str, tuple[int, bytes | str]]:
    out: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = (0, os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = (0, "dir")
        else:
            out[rel] = (stat.S_IMODE(st.st_mode), path.read_bytes())
    return out


@pytest.mark.parametrize("fast_path", [True, False], ids=["cp", "python-loop"])
def test_links_place_every_file_as_a_hard_link_of_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           fast_path: bool) -> None:
    monkeypatch.setattr(stage, "_CP_LINKS", fast_path and stage._CP_LINKS)
    src = tree(tmp_path / "store")
    assert stage.place_tree(src, tmp_path / "out", link=True) == "hardlink"
    assert files(tmp_path / "out") == files(src)
    for rel in ("pkg/__init__.py", "bin/tool", "pkg/sub/data.json"):
        assert (tmp_path / "out" / rel).stat().st_ino == (src / rel).stat().st_ino, rel
    assert (tmp_path / "out" / "empty").is_dir()


def test_copies_are_new_files_with_the_same_modes(tmp_path: Path) -> None:
    src = tree(tmp_path / "store")
    assert stage.place_tree(src, tmp_path / "out", link=False) == "copy"
    assert files(tmp_path / "out") == files(src)
    for rel in ("pkg/__init__.py", "bin/tool"):
        assert (tmp_path / "out" / rel).stat().st_ino != (src / rel).stat().st_ino, rel
    assert os.access(tmp_path / "out" / "bin" / "tool", os.X_OK)
    # a hook editing the copy never reaches the store
    (tmp_path / "out" / "pkg" / "__init__.py").write_text("VALUE = 2\n")
    assert (src / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"


@pytest.mark.parametrize("link", [True, False], ids=["link", "copy"])
def test_links_in_the_tree_stay_links(tmp_path: Path, link: bool) -> None:
    """A link is placed as the same link: its target is never read into the asset, nor written through."""
    src = tree(tmp_path / "store")
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the tree")
    (src / "pkg" / "leak").symlink_to(outside)
    stage.place_tree(src, tmp_path / "out", link=link)
    placed = tmp_path / "out" / "pkg" / "leak"
    assert placed.is_symlink() and os.readlink(placed) == str(outside)
    assert (tmp_path / "out" / "pkg" / "alias.py").is_symlink()


def test_an_existing_destination_keeps_what_it_holds(tmp_path: Path) -> None:
    """A destination that already holds files (a layer's per-runtime folders, a hook's output) keeps them; the
    tree's files are placed beside them, still as links of the store."""
    src = tree(tmp_path / "store")
    out = tmp_path / "out"
    (out / "pkg").mkdir(parents=True)
    (out / "handler.py").write_text("mine")
    (out / "pkg" / "extra.py").write_text("mine too")
    assert stage.place_tree(src, out, link=True) == "hardlink"
    assert (out / "handler.py").read_text() == "mine" and (out / "pkg" / "extra.py").read_text() == "mine too"
    assert (out / "pkg" / "__init__.py").stat().st_ino == (src / "pkg" / "__init__.py").stat().st_ino
    assert (out / "bin" / "tool").stat().st_ino == (src / "bin" / "tool").stat().st_ino


def test_where_links_are_not_allowed_it_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another file system (EXDEV) or a refused link (EPERM): the rest of the tree is copied, and said so."""
    src = tree(tmp_path / "store")
    monkeypatch.setattr(stage, "_CP_LINKS", False)

    def refuse(a: str, b: str) -> None:
        raise OSError(18, "Invalid cross-device link")  # errno.EXDEV

    monkeypatch.setattr(stage.os, "link", refuse)
    assert stage.place_tree(src, tmp_path / "out", link=True) == "copy"
    assert files(tmp_path / "out") == files(src)
    assert (tmp_path / "out" / "bin" / "tool").stat().st_ino != (src / "bin" / "tool").stat().st_ino
