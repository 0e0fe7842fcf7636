"""Downloading wheels while the resolution is made (``pipeline/warm.py``): a cold resolution leaves the wheels
its install needs in uv's cache, none of those the strip will remove, and never builds or runs a package."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.core.errors import BundlingError
from cdk_native_python.core.settings import NO_DOWNLOAD_AHEAD
from cdk_native_python.pipeline import warm
from cdk_native_python.pipeline.engine import prepare
from cdk_native_python.pipeline.install import install
from cdk_native_python.store.local import LocalStore
from tests.helpers import ARM313, index_request, write_function
from tests.wheelfactory import WheelIndex


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speculation may finish whatever the machine's load (its grace is a share of the compile's time)."""
    monkeypatch.setattr(warm, "GRACE_SHARE", 1000.0)
    monkeypatch.setattr(warm, "GRACE_MAX", 120.0)


@pytest.mark.usefixtures("patient")
@pytest.mark.parametrize(("warmed", "switched_off"), [(True, False), (False, False), (True, True)])
def test_after_a_warmed_resolution_the_install_needs_no_index(tmp_path: Path, wheel_index: WheelIndex,
                                                              monkeypatch: pytest.MonkeyPatch, warmed: bool,
                                                              switched_off: bool) -> None:
    if switched_off:
        monkeypatch.setenv(NO_DOWNLOAD_AHEAD.name, "1")
    entry = write_function(tmp_path, "purepkg\nnativepkg\n")
    store = LocalStore(tmp_path / "cache")
    plan = prepare(index_request(entry, ARM313, wheel_index), store, warm=warmed)
    warmed = warmed and not switched_off
    assert plan.resolution is not None and plan.spec is not None and not plan.resolve_hit
    wheel_index.auth = ("nobody", "knows")  # from here on the index refuses every request (401)
    try:
        if warmed:
            tree, hit = install(plan.resolution, plan.spec, ARM313, store, plan.request.install, try_offline=True)
            assert not hit and {"purepkg", "nativepkg", "depa"} <= set(tree.record.packages)
        else:  # what the speculation spares: without it the wheels are still on the index
            with pytest.raises(BundlingError):
                install(plan.resolution, plan.spec, ARM313, store, plan.request.install, try_offline=True)
    finally:
        wheel_index.auth = None


@pytest.mark.usefixtures("patient")
def test_what_the_strip_removes_is_not_downloaded_ahead(tmp_path: Path, wheel_index: WheelIndex) -> None:
    """The speculation leaves in uv's cache the wheels the install will take (unpacked, as uv keeps them), and
    none of boto3's family, which the runtime provides; without it the compile leaves none (it reads metadata)."""
    entry = write_function(tmp_path, "purepkg\nboto3\n")
    unpacked: dict[bool, set[str]] = {}
    for warmed in (False, True):
        store = LocalStore(tmp_path / f"cache-{warmed}")
        plan = prepare(index_request(entry, ARM313, wheel_index), store, warm=warmed)
        assert plan.resolution is not None and "boto3" in {p.name for p in plan.resolution.record.pins}
        unpacked[warmed] = {p.name.split("-")[0] for p in store.uv_cache.rglob("*.dist-info")}
    assert unpacked[False] == set()
    assert {"purepkg", "depa"} <= unpacked[True]
    assert not unpacked[True] & {"boto3", "botocore", "s3transfer", "jmespath"}, unpacked[True]


def test_the_speculation_builds_nothing(tmp_path: Path, wheel_index: WheelIndex,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An sdist-only requirement: the speculative install is as binary-only as the compile beside it."""
    sentinel = tmp_path / "setup-ran"
    monkeypatch.setenv("WHEELFACTORY_SENTINEL", str(sentinel))
    store = LocalStore(tmp_path / "cache")
    # the spec of another function only lends its indexes: the requirement file is the speculation's own
    spec = prepare(index_request(write_function(tmp_path / "other", "purepkg\n"), ARM313, wheel_index), store).spec
    assert spec is not None
    work = tmp_path / "work"
    work.mkdir()
    requirements = work / "requirements.in"
    requirements.write_text("sdistonly\n")
    with warm.warmer(spec, ARM313, store, work, requirements, None, ()) as speculation:
        assert speculation is not None
        speculation._run.wait(120)  # to its end: whatever it would do, it has done
    assert not sentinel.exists(), "the speculative install ran a package's build"



@pytest.mark.usefixtures("patient")
def test_requirements_naming_a_url_are_not_warmed(tmp_path: Path, wheel_index: WheelIndex) -> None:
    """A URL's server (often the user's own) sees the requests it saw before: no download beside the compile."""
    url = wheel_index.file_url("purepkg-1.0-py3-none-any.whl")
    entry = write_function(tmp_path, f"purepkg @ {url}\nnativepkg\n")
    store = LocalStore(tmp_path / "cache")
    prepare(index_request(entry, ARM313, wheel_index), store, warm=True)
    # the compile unpacks the URL's wheel itself (to read its metadata); nativepkg, from the index, only the
    # speculation would have downloaded
    unpacked = {p.name.split("-")[0] for p in store.uv_cache.rglob("*.dist-info")}
    assert "nativepkg" not in unpacked, unpacked
