"""Resolution for the Lambda target, not the host (``resolve.py``), through the engine against the hermetic
index: markers, architecture, glibc and interpreter tags decide the wheels; sdists are refused unless allowed;
version pins and constraints hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import (
    ResolutionError,
)
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import build, prepare
from cdk_native_python.store.local import LocalStore
from tests.helpers import ARM313, X86312, elf_machine, index_request, write_function


@pytest.mark.parametrize(("target", "present", "absent"), [
    (ARM313, {"armonly", "py313only"}, {"darwinonly", "winonly", "x86only"}),
    (X86312, {"x86only"}, {"darwinonly", "winonly", "armonly", "py313only"}),
])
def test_markers_follow_the_target(tmp_path: Path, wheel_index: Any, target: Target, present: set[str],
                                   absent: set[str]) -> None:
    entry = write_function(tmp_path, "markerdeps\n")
    result = build(index_request(entry, target, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert present <= set(result.packages)
    assert not absent & set(result.packages)
    assert (tmp_path / "out" / "index.py").is_file()


@pytest.mark.parametrize(("target", "e_machine"), [(ARM313, 183), (X86312, 62)])
def test_native_wheel_for_the_target_architecture(tmp_path: Path, wheel_index: Any, target: Target,
                                                  e_machine: int) -> None:
    entry = write_function(tmp_path, "nativepkg\npurepkg\n")
    build(index_request(entry, target, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    so = list((tmp_path / "out" / "nativepkg").glob("*.so"))
    assert so and all(elf_machine(p.read_bytes()) == e_machine for p in so)
    assert (tmp_path / "out" / "depa").is_dir()  # transitive dependency of purepkg


def test_no_wheel_for_the_target_lists_what_exists(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\nmacpkg\n")
    with pytest.raises(ResolutionError) as err:
        prepare(index_request(entry, ARM313, wheel_index), LocalStore(tmp_path / "cache"))
    text = str(err.value)
    assert "macpkg" in text and "python3.13 / manylinux_2_34 aarch64" in text
    assert "macosx_11_0_arm64" in text  # the wheels that do exist
    assert not (tmp_path / "out").exists()


def test_sdist_only_is_refused_and_its_setup_never_runs(tmp_path: Path, wheel_index: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "setup-ran"
    monkeypatch.setenv("WHEELFACTORY_SENTINEL", str(sentinel))
    entry = write_function(tmp_path, "sdistonly\n")
    with pytest.raises(ResolutionError) as err:
        prepare(index_request(entry, X86312, wheel_index), LocalStore(tmp_path / "cache"))
    assert "sdistonly" in str(err.value) and "allow_build" in str(err.value)
    assert not sentinel.exists()


@pytest.mark.parametrize(("requirement", "target"), [("glibcnew", X86312), ("cp312only", ARM313)])
def test_wheels_for_newer_glibc_or_other_interpreters_are_not_used(tmp_path: Path, wheel_index: Any,
                                                                    requirement: str, target: Target) -> None:
    entry = write_function(tmp_path, f"{requirement}\n")
    with pytest.raises(ResolutionError, match=requirement):
        prepare(index_request(entry, target, wheel_index), LocalStore(tmp_path / "cache"))


def test_cp312_wheel_is_used_for_python312(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "cp312only\n")
    result = build(index_request(entry, Target.from_runtime("python3.12", "arm64"), wheel_index), tmp_path / "out",
                   LocalStore(tmp_path / "cache"))
    assert "cp312only" in result.packages


def test_version_pins_and_constraints(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\n-c constraints.txt\n")
    (entry / "constraints.txt").write_text("depa<2\n")
    result = build(index_request(entry, X86312, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert result.packages["depa"] == "1.0"
    (entry / "constraints.txt").write_text("depa>=2\n")
    result = build(index_request(entry, X86312, wheel_index), tmp_path / "out2", LocalStore(tmp_path / "cache"))
    assert result.packages["depa"] == "2.0" and not result.resolve_hit


def test_refresh_picks_up_a_release_published_since_the_last_build(tmp_path: Path) -> None:
    """An open requirement's resolution is cached until an input changes; a newer release on the index is not
    an input, so only ``refresh`` picks it up (and the next plain build reuses the refreshed one)."""
    import dataclasses

    from tests.wheelfactory import standard_index

    index = standard_index(tmp_path / "index")
    with index:
        entry = write_function(tmp_path, "depa\n")
        cache = LocalStore(tmp_path / "cache")
        request = index_request(entry, X86312, index)
        assert build(request, tmp_path / "o1", cache).packages == {"depa": "2.0"}
        index.add_wheel("depa", "3.0")
        assert build(request, tmp_path / "o2", cache).packages == {"depa": "2.0"}  # cached: not an input
        refreshed = build(dataclasses.replace(request, refresh=True), tmp_path / "o3", cache)
        assert refreshed.packages == {"depa": "3.0"}
        assert build(request, tmp_path / "o4", cache).packages == {"depa": "3.0"}
