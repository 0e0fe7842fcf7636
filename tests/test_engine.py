"""The engine end to end against the hermetic wheel index: resolve, install, strip, stage, cache."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.engine import BuildRequest, build, prepare
from cdk_native_python.errors import BundlingError, InstallError, ResolutionError
from cdk_native_python.install import InstallOptions, install
from cdk_native_python.pins import ResolutionRecord
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.strip import StripOptions
from cdk_native_python.target import Target

ARM313 = Target.from_runtime("python3.13", "arm64")
X86312 = Target.from_runtime("python3.12", "x86_64")


def make_entry(root: Path, requirements: str) -> Path:
    entry = root / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (entry / "requirements.txt").write_text(requirements)
    return entry


def request(entry: Path, target: Target, index: Any, *, strip: StripOptions | None = None,
            **kw: Any) -> BuildRequest:
    return BuildRequest(entry=entry, target=target, indexes=IndexOptions(index_url=index.url),
                        install=InstallOptions(strip=strip or StripOptions()), **kw)


class AppendTo:
    """Command hooks, as users write them: commands for the real folders."""

    def __init__(self, rel: str) -> None:
        self.rel = rel

    def before_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return []

    def after_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [f"cd {output_dir}", f"echo edited >> {self.rel}"]


def machine(so: Path) -> int:
    return int.from_bytes(so.read_bytes()[18:20], "little")


@pytest.mark.parametrize(("target", "present", "absent"), [
    (ARM313, {"armonly", "py313only"}, {"darwinonly", "winonly", "x86only"}),
    (X86312, {"x86only"}, {"darwinonly", "winonly", "armonly", "py313only"}),
])
def test_markers_follow_the_target(tmp_path: Path, wheel_index: Any, target: Target, present: set[str],
                                   absent: set[str]) -> None:
    entry = make_entry(tmp_path, "markerdeps\n")
    result = build(request(entry, target, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert present <= set(result.packages)
    assert not absent & set(result.packages)
    assert (tmp_path / "out" / "index.py").is_file()


@pytest.mark.parametrize(("target", "e_machine"), [(ARM313, 183), (X86312, 62)])
def test_native_wheel_for_the_target_architecture(tmp_path: Path, wheel_index: Any, target: Target,
                                                  e_machine: int) -> None:
    entry = make_entry(tmp_path, "nativepkg\npurepkg\n")
    build(request(entry, target, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    so = list((tmp_path / "out" / "nativepkg").glob("*.so"))
    assert so and all(machine(p) == e_machine for p in so)
    assert (tmp_path / "out" / "depa").is_dir()  # transitive dependency of purepkg


def test_no_wheel_for_the_target_lists_what_exists(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "purepkg\nmacpkg\n")
    with pytest.raises(ResolutionError) as err:
        prepare(request(entry, ARM313, wheel_index), LocalStore(tmp_path / "cache"))
    text = str(err.value)
    assert "macpkg" in text and "python3.13 / manylinux_2_34 aarch64" in text
    assert "macosx_11_0_arm64" in text  # the wheels that do exist
    assert not (tmp_path / "out").exists()


def test_sdist_only_is_refused_and_its_setup_never_runs(tmp_path: Path, wheel_index: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "setup-ran"
    monkeypatch.setenv("WHEELFACTORY_SENTINEL", str(sentinel))
    entry = make_entry(tmp_path, "sdistonly\n")
    with pytest.raises(ResolutionError) as err:
        prepare(request(entry, X86312, wheel_index), LocalStore(tmp_path / "cache"))
    assert "sdistonly" in str(err.value) and "allow_build" in str(err.value)
    assert not sentinel.exists()


@pytest.mark.parametrize(("requirement", "target"), [("glibcnew", X86312), ("cp312only", ARM313)])
def test_wheels_for_newer_glibc_or_other_interpreters_are_not_used(tmp_path: Path, wheel_index: Any,
                                                                    requirement: str, target: Target) -> None:
    entry = make_entry(tmp_path, f"{requirement}\n")
    with pytest.raises(ResolutionError, match=requirement):
        prepare(request(entry, target, wheel_index), LocalStore(tmp_path / "cache"))


def test_cp312_wheel_is_used_for_python312(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "cp312only\n")
    result = build(request(entry, Target.from_runtime("python3.12", "arm64"), wheel_index), tmp_path / "out",
                   LocalStore(tmp_path / "cache"))
    assert "cp312only" in result.packages


def test_boto3_and_infra_closures_are_stripped_but_shared_deps_kept(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "boto3\nusesdateutil\naws-cdk-lib\nusesattrs\n")
    result = build(request(entry, ARM313, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    # python-dateutil: usesdateutil's unversioned requirement is met by the runtime's copy (>= 2.1), so it goes
    # with six; attrs stays, usesattrs needs it
    assert set(result.packages) == {"usesdateutil", "usesattrs", "attrs"}
    assert result.report.stripped["python-dateutil"].startswith("provided by the Lambda runtime")
    assert {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "aws-cdk-lib", "constructs", "jsii",
            "typing-extensions"} <= set(result.report.stripped)
    assert not (tmp_path / "out" / "botocore").exists()

    kept = build(request(entry, ARM313, wheel_index, strip=StripOptions(keep_boto3=True)), tmp_path / "out2",
                 LocalStore(tmp_path / "cache"))
    assert {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"} <= set(kept.packages)


def test_version_pins_and_constraints(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "purepkg\n-c constraints.txt\n")
    (entry / "constraints.txt").write_text("depa<2\n")
    result = build(request(entry, X86312, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert result.packages["depa"] == "1.0"
    (entry / "constraints.txt").write_text("depa>=2\n")
    result = build(request(entry, X86312, wheel_index), tmp_path / "out2", LocalStore(tmp_path / "cache"))
    assert result.packages["depa"] == "2.0" and not result.resolve_hit


def test_warm_build_does_no_index_round_trip(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "purepkg\nnativepkg\n")
    cache = LocalStore(tmp_path / "cache")
    first = build(request(entry, ARM313, wheel_index), tmp_path / "out1", cache)
    assert not first.resolve_hit and not first.install_hit
    seen = len(wheel_index.requests)
    second = build(request(entry, ARM313, wheel_index), tmp_path / "out2", cache)
    assert second.resolve_hit and second.install_hit
    assert len(wheel_index.requests) == seen
    names = [sorted(p.name for p in (tmp_path / out).iterdir()) for out in ("out1", "out2")]
    assert names[0] == names[1]
    # the staged tree is linked from the cache (same inode) but never shares the source files
    tree_file = next((tmp_path / "out2" / "depa").glob("*.py"))
    assert os.stat(tree_file).st_nlink >= 2
    # a source-only change re-stages without resolving or installing
    (entry / "index.py").write_text("def handler(event, context):\n    return 'changed'\n")
    third = build(request(entry, ARM313, wheel_index), tmp_path / "out3", cache)
    assert third.resolve_hit and third.install_hit and len(wheel_index.requests) == seen
    assert "changed" in (tmp_path / "out3" / "index.py").read_text()


def test_command_hooks_copy_instead_of_linking(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "purepkg\n")
    cache = LocalStore(tmp_path / "cache")
    req = request(entry, ARM313, wheel_index, hooks=AppendTo("depa/__init__.py"))
    result = build(req, tmp_path / "out", cache)
    assert result.report.placement == "copy"
    assert "edited" in (tmp_path / "out" / "depa" / "__init__.py").read_text()
    clean = build(request(entry, ARM313, wheel_index), tmp_path / "out2", cache)
    assert "edited" not in (tmp_path / "out2" / "depa" / "__init__.py").read_text()
    assert clean.install_hit


def test_hash_mismatch_is_a_hard_error(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "depa==1.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(BundlingError) as err:
        build(request(entry, X86312, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert "depa" in str(err.value)
    assert isinstance(err.value, (InstallError, ResolutionError))
    assert not list((tmp_path / "cache").glob("trees/*"))


def test_unknown_package_and_unsatisfiable(tmp_path: Path, wheel_index: Any) -> None:
    entry = make_entry(tmp_path, "no-such-package-here\n")
    with pytest.raises(ResolutionError, match="no-such-package-here"):
        prepare(request(entry, X86312, wheel_index), LocalStore(tmp_path / "cache"))
    entry = make_entry(tmp_path / "b", "depa>=3\n")
    with pytest.raises(ResolutionError, match="depa"):
        prepare(request(entry, X86312, wheel_index), LocalStore(tmp_path / "cache"))


def test_source_only_function(tmp_path: Path) -> None:
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("def handler(e, c):\n    return 1\n")
    result = build(BuildRequest(entry=entry, target=ARM313), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert result.packages == {} and (tmp_path / "out" / "index.py").is_file()


def test_stripped_packages_are_never_installed_and_the_tree_is_the_same(
        tmp_path: Path, wheel_index: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver's record of who requires what lets the install skip botocore & co. altogether; the result
    must equal stripping after install (what happens for lock files, which carry no such record)."""
    import cdk_native_python.install as install_module

    removed_after_install: list[str] = []
    real_remove = install_module.remove
    monkeypatch.setattr(install_module, "remove", lambda tree, dist, trash=None: (
        removed_after_install.append(dist.name), real_remove(tree, dist, trash))[1])
    entry = make_entry(tmp_path, "usesdateutil\nboto3\nusesattrs\naws-cdk-lib\npurepkg\n")
    cache = LocalStore(tmp_path / "cache")
    plan = prepare(request(entry, ARM313, wheel_index), cache)
    assert plan.resolution is not None and plan.spec is not None and plan.resolution.graph is not None
    options = plan.request.install
    early, _ = install(plan.resolution, plan.spec, ARM313, cache, options)
    # only what a kept package needs is installed first and decided on its metadata (the resolver's record
    # has no specifiers): usesdateutil's python-dateutil, and six with it; nothing else was installed to go
    assert sorted(removed_after_install) == ["python-dateutil", "six"]
    assert set(early.record.stripped.removed) == {
        "boto3", "botocore", "s3transfer", "jmespath", "urllib3", "aws-cdk-lib", "constructs", "jsii",
        "typing-extensions", "python-dateutil", "six"}
    removed_after_install.clear()
    # the same pins without the resolver's record: installed whole, stripped afterwards, same tree and reasons
    no_graph = dataclasses.replace(plan.resolution, record=ResolutionRecord(None, plan.resolution.roots))
    late, _ = install(no_graph, plan.spec, ARM313, LocalStore(tmp_path / "cache-2"), options)
    assert sorted(removed_after_install) == sorted(early.record.stripped.removed)
    assert early.record.stripped == late.record.stripped and early.record.packages == late.record.packages
    files = lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))  # noqa: E731
    assert files(early.path) == files(late.path)
