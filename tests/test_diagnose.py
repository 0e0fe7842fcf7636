"""uv's failures as the user reads them (``diagnose.py``): each class of failure is the right error class with
its code, a message naming the culprit and a hint that is true. Messages come from real uv runs against the
hermetic index and servers on 127.0.0.1, through the engine and directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdk_native_python.errors import (
    BundlingError,
    IndexUnreachableError,
    InstallError,
    ResolutionError,
)
from cdk_native_python.spec import IndexOptions
from tests.helpers import ARM312, build_later, build_request, closed_port, fails, says, write_function

SECRET = "s3cret-Pa55word"


def test_05_unknown_package(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\nno-such-package-anywhere\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    says(err, "no-such-package-anywhere", wheel_index.url.rstrip("/"), hint="check the spelling")


def test_06_unsatisfiable_versions(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\ndepa>=999\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    says(err, "depa", str(ARM312), hint="relax the conflicting version pins")


def test_07_no_wheel_for_the_target_lists_the_wheels_that_exist(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "macpkg\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    text = says(err, "macpkg", str(ARM312), "wheels that exist", hint="publishes a wheel for aarch64 Linux")
    existing = sorted(p.name for p in Path(wheel_index.find_links).glob("macpkg-*.whl"))
    assert existing and all(name in text for name in existing), text


def test_08_sdist_only_not_allowed_to_build(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "sdistonly\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    says(err, "sdistonly", "no wheel", "source distributions", hint="allow_build=['sdistonly']")


def test_10_unreachable_index_names_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/simple"
    entry = write_function(tmp_path, "purepkg\n")
    err = fails(IndexUnreachableError, build_later(build_request(entry, indexes=IndexOptions(index_url=url)), tmp_path))
    says(err, url, hint="network")


def test_11_wrong_credentials_do_not_leak(tmp_path: Path, locked_index: str) -> None:
    url = locked_index.replace("http://", f"http://alice:{SECRET}@")
    entry = write_function(tmp_path, "purepkg\n")
    err = fails(IndexUnreachableError, build_later(build_request(entry, indexes=IndexOptions(index_url=url)), tmp_path))
    text = says(err, locked_index, "credentials", hint="check the user/token")
    assert SECRET not in text and SECRET not in repr(err.args)
    # nor anywhere in the cache (a lock key, a log)
    for p in (tmp_path / "cache").rglob("*"):
        if p.is_file() and p.stat().st_size < 1_000_000:
            assert SECRET.encode() not in p.read_bytes(), p


def test_12_hash_mismatch(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "depa --hash=sha256:" + "0" * 64 + "\n")
    err = fails(BundlingError, build_later(build_request(entry, wheel_index), tmp_path))
    assert isinstance(err, (InstallError, ResolutionError)), type(err)
    says(err, "depa", "hash", hint="hash")
