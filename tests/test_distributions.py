"""Installed distributions (``distributions.py``), read from a tree the real installer (uv) wrote: names,
versions, requirements and tags from ``*.dist-info``; ``RECORD`` as the list of what a distribution owns; and
removal of exactly those files (a folder it owns alone goes in one rename)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cdk_native_python.core.distributions import discard, installed, normalize, owners, remove
from tests.wheelfactory import build_wheel, find_uv


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "Alpha_Pkg", "1.2", requires=("beta>=1", 'winonly; sys_platform == "win32"'), files={
        "alpha_pkg/__init__.py": b"A = 1\n", "alpha_pkg/sub/deep.py": b"x" * 100, "shared/a.py": b"a = 1\n",
        "alpha_cli.py": b"print('hi')\n"})
    build_wheel(wheels, "beta", "2.0", "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64",
                files={"beta/__init__.py": b"", "shared/b.py": b"b = 2\n"})
    target = tmp_path / "tree"
    subprocess.run([find_uv(), "pip", "install", "--target", str(target), "--no-index", "--find-links", str(wheels),
                    "--python-platform", "aarch64-manylinux_2_28", "--python-version", "3.12", "--no-deps",
                    "--no-compile", "--quiet", "alpha-pkg", "beta"],
                   check=True, env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    return target


def test_installed_reads_each_dist_info(tree: Path) -> None:
    dists = installed(tree)
    assert set(dists) == {"alpha-pkg", "beta"} and normalize("Alpha_Pkg") == "alpha-pkg"
    alpha, beta = dists["alpha-pkg"], dists["beta"]
    assert (alpha.version, beta.version) == ("1.2", "2.0")
    assert [str(r) for r in alpha.requires] == ["beta>=1", 'winonly; sys_platform == "win32"']
    assert alpha.wheel_tags == ("py3-none-any",)
    assert beta.wheel_tags == ("cp312-cp312-manylinux_2_17_aarch64", "cp312-cp312-manylinux2014_aarch64")
    assert {"alpha_pkg/__init__.py", "alpha_pkg/sub/deep.py", "shared/a.py", "alpha_cli.py"} <= \
        set(alpha.record_files())
    assert owners(tree)["shared/b.py"] == "beta 2.0" and owners(tree)["alpha_cli.py"] == "alpha-pkg 1.2"
    assert alpha.installed_bytes(tree) >= 100 + 6 + 6 + 12


def test_record_lines_outside_the_tree_are_never_its_own(tree: Path) -> None:
    alpha = installed(tree)["alpha-pkg"]
    record = alpha.dist_info / "RECORD"
    record.write_text(record.read_text() + "../../bin/alpha,,\n/etc/passwd,,\n\n")
    alpha = installed(tree)["alpha-pkg"]
    assert not [p for p in alpha.record_files() if p.startswith(("..", "/"))]


def test_remove_takes_exactly_what_the_record_lists(tree: Path, tmp_path: Path) -> None:
    (tree / "shared" / "user.cfg").write_text("not from any wheel")  # a folder shared with others: file by file
    alpha = installed(tree)["alpha-pkg"]
    expected = sum((tree / rel).stat().st_size for rel in alpha.record_files()
                   if not rel.startswith(alpha.dist_info.name))
    trash = tmp_path / "trash"
    trash.mkdir()
    freed = remove(tree, alpha, trash)
    assert freed == expected
    assert not (tree / "alpha_pkg").exists() and not (tree / "alpha_cli.py").exists()
    assert not (tree / "shared" / "a.py").exists() and (tree / "shared" / "b.py").is_file()
    assert (tree / "shared" / "user.cfg").is_file() and not alpha.dist_info.exists()
    assert set(installed(tree)) == {"beta"}
    # the folder it owned alone and its dist-info went to the trash in one rename each
    assert sorted(p.name.split("-", 1)[1] for p in trash.iterdir()) == sorted(
        ["alpha_pkg", alpha.dist_info.name])


def test_drop_record_lines_forgets_removed_files(tree: Path) -> None:
    alpha = installed(tree)["alpha-pkg"]
    before = alpha.installed_bytes(tree)
    (tree / "alpha_pkg" / "sub" / "deep.py").unlink()
    assert alpha.installed_bytes(tree) == before - 100  # gone files do not count
    alpha.drop_record_lines({"alpha_pkg/sub/deep.py"})
    assert "alpha_pkg/sub/deep.py" not in alpha.record_files()
    assert "alpha_pkg/sub/deep.py" not in installed(tree)["alpha-pkg"].record_files()


def test_discard_deletes_or_moves_to_the_trash(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    discard(tmp_path / "link", None)  # a link to a folder: the link goes, never the folder behind it
    assert (tmp_path / "d" / "e").is_dir()
    discard(tmp_path / "f", None)
    trash = tmp_path / "trash"
    trash.mkdir()
    discard(tmp_path / "d", trash)
    assert not (tmp_path / "f").exists() and [p.name for p in trash.iterdir()] == ["0-d"]
