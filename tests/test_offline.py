"""Warm builds need no network (a laptop on a plane); cold ones say which index they could not reach (issue #6).

The index is a real HTTP server that is shut down after the first build, so its address stays the same (the
configuration does not change on a plane) but nothing answers there any more.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdk_native_python import uv
from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.errors import IndexUnreachableError
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target
from tests.wheelfactory import standard_index

ARM313 = Target.from_runtime("python3.13", "arm64")


def offline_entry(tmp_path: Path) -> Path:
    fn = tmp_path / "fn"
    fn.mkdir()
    (fn / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (fn / "requirements.txt").write_text("purepkg\nnativepkg\nmarkerdeps\nboto3\nusesdateutil\n")
    return fn


def tree_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("lost", ["nothing", "installed trees"])
def test_warm_build_works_with_the_index_gone(tmp_path: Path, lost: str) -> None:
    index = standard_index(tmp_path / "index")
    cache = LocalStore(tmp_path / "cache")
    request = BuildRequest(entry=offline_entry(tmp_path), target=ARM313, indexes=IndexOptions(index_url=index.url))
    first = build(request, tmp_path / "online", cache)
    if lost != "nothing":  # a resolution hit with no installed tree: installed offline from uv's cache
        shutil.rmtree(cache.root / "trees")
    # with the index still up, a warm build asks it nothing at all ...
    before = len(index.requests)
    calls: list[uv.Call] = []
    with uv.observed(calls.append):
        warm = build(request, tmp_path / "warm", cache)
    assert len(index.requests) == before
    assert [c.kind for c in calls] == ([] if lost == "nothing" else ["pip install --offline"])
    assert warm.resolve_hit and warm.install_hit == (lost == "nothing")
    # ... so it works with the index gone (the plane takes off)
    index.close()
    if lost != "nothing":
        shutil.rmtree(cache.root / "trees")
    offline = build(request, tmp_path / "offline", cache)
    assert offline.resolve_hit and offline.install_hit == (lost == "nothing")
    assert tree_files(tmp_path / "offline") == tree_files(tmp_path / "online") == tree_files(tmp_path / "warm")
    assert offline.packages == first.packages and "nativepkg" in offline.packages


def test_cold_build_names_the_unreachable_index(tmp_path: Path) -> None:
    index = standard_index(tmp_path / "index")
    url = index.url
    index.close()
    request = BuildRequest(entry=offline_entry(tmp_path), target=ARM313, indexes=IndexOptions(index_url=url))
    with pytest.raises(IndexUnreachableError) as err:
        build(request, tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert url.rstrip("/") in str(err.value) and "requirements.txt" in str(err.value)
    assert not (tmp_path / "cache" / "resolutions").exists() or not any(
        p.is_dir() for p in (tmp_path / "cache" / "resolutions").iterdir())  # nothing half-written is trusted later
