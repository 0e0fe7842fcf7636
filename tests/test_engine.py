"""The engine end to end against the hermetic wheel index: resolve, install, strip, stage, cache; a warm build
with the index gone; reports that keep what bundling said and ``replay`` that says it again; byte-identical
builds in two caches."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.budget import LIMIT_BYTES
from cdk_native_python.core.errors import (
    BundlingError,
    IndexUnreachableError,
    InstallError,
    ResolutionError,
    VerificationError,
)
from cdk_native_python.core.records import BuildReport, loads
from cdk_native_python.core.reporter import Reporter, silent
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline import engine
from cdk_native_python.pipeline.engine import BuildRequest, BuildResult, build, prepare
from cdk_native_python.pipeline.options import BundlingOptions
from cdk_native_python.pipeline.slim import SlimOptions
from cdk_native_python.pipeline.strip import StripOptions
from cdk_native_python.store.local import LocalStore
from tests.helpers import (
    ARM312,
    ARM313,
    X86312,
    build_request,
    from_wheels,
    index_request,
    native_wheel,
    slim_wheel,
    write_function,
)
from tests.tracerset import SHIPPED, tracer_function
from tests.treehelpers import files
from tests.uvcalls import Call, observed
from tests.wheelfactory import build_wheel, make_elf, standard_index


class AppendTo:
    """Command hooks, as users write them: commands for the real folders."""

    def __init__(self, rel: str) -> None:
        self.rel = rel

    def before_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return []

    def after_bundling(self, input_dir: str, output_dir: str) -> list[str]:
        return [f"cd {output_dir}", f"echo edited >> {self.rel}"]


def test_boto3_and_infra_closures_are_stripped_but_shared_deps_kept(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "boto3\nusesdateutil\naws-cdk-lib\nusesattrs\n")
    result = build(index_request(entry, ARM313, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    # python-dateutil: usesdateutil ships, so the python-dateutil it was resolved with ships too (never swapped
    # for the runtime's copy), and six with it; attrs stays, usesattrs needs it
    assert set(result.packages) == {"usesdateutil", "python-dateutil", "six", "usesattrs", "attrs"}
    assert result.report.kept_seeds["python-dateutil"] == "usesdateutil needs it, and ships"
    assert {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "aws-cdk-lib", "constructs", "jsii",
            "typing-extensions"} <= set(result.report.stripped)
    assert not (tmp_path / "out" / "botocore").exists()

    kept = build(index_request(entry, ARM313, wheel_index, strip=StripOptions(keep_boto3=True)), tmp_path / "out2",
                 LocalStore(tmp_path / "cache"))
    assert {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"} <= set(kept.packages)


def test_warm_build_does_no_index_round_trip(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\nnativepkg\n")
    cache = LocalStore(tmp_path / "cache")
    first = build(index_request(entry, ARM313, wheel_index), tmp_path / "out1", cache)
    assert not first.resolve_hit and not first.install_hit
    seen = len(wheel_index.requests)
    second = build(index_request(entry, ARM313, wheel_index), tmp_path / "out2", cache)
    assert second.resolve_hit and second.install_hit
    assert len(wheel_index.requests) == seen
    names = [sorted(p.name for p in (tmp_path / out).iterdir()) for out in ("out1", "out2")]
    assert names[0] == names[1]
    # the staged tree is linked from the cache (same inode) but never shares the source files
    tree_file = next((tmp_path / "out2" / "depa").glob("*.py"))
    assert os.stat(tree_file).st_nlink >= 2
    # a source-only change re-stages without resolving or installing
    (entry / "index.py").write_text("def handler(event, context):\n    return 'changed'\n")
    third = build(index_request(entry, ARM313, wheel_index), tmp_path / "out3", cache)
    assert third.resolve_hit and third.install_hit and len(wheel_index.requests) == seen
    assert "changed" in (tmp_path / "out3" / "index.py").read_text()


def test_command_hooks_copy_instead_of_linking(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\n")
    cache = LocalStore(tmp_path / "cache")
    req = index_request(entry, ARM313, wheel_index, hooks=AppendTo("depa/__init__.py"))
    result = build(req, tmp_path / "out", cache)
    assert result.report.placement == "copy"
    assert "edited" in (tmp_path / "out" / "depa" / "__init__.py").read_text()
    clean = build(index_request(entry, ARM313, wheel_index), tmp_path / "out2", cache)
    assert "edited" not in (tmp_path / "out2" / "depa" / "__init__.py").read_text()
    assert clean.install_hit


def test_hash_mismatch_is_a_hard_error(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "depa==1.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(BundlingError) as err:
        build(index_request(entry, X86312, wheel_index), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert "depa" in str(err.value)
    assert isinstance(err.value, (InstallError, ResolutionError))
    assert not list((tmp_path / "cache").glob("trees/*"))


def test_unknown_package_and_unsatisfiable(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "no-such-package-here\n")
    with pytest.raises(ResolutionError, match="no-such-package-here"):
        prepare(index_request(entry, X86312, wheel_index), LocalStore(tmp_path / "cache"))
    entry = write_function(tmp_path / "b", "depa>=3\n")
    with pytest.raises(ResolutionError, match="depa"):
        prepare(index_request(entry, X86312, wheel_index), LocalStore(tmp_path / "cache"))


def test_source_only_function(tmp_path: Path) -> None:
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("def handler(e, c):\n    return 1\n")
    result = build(BuildRequest(entry=entry, target=ARM313), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert result.packages == {} and (tmp_path / "out" / "index.py").is_file()


def tracer_request(entry: Path, tracer_index: Path, layer_bytes: int = 0) -> engine.BuildRequest:
    options = BundlingOptions(find_links=[str(tracer_index)], no_index=True)
    return options.request(entry, ARM312, name="App/Api", layer_bytes=layer_bytes)


def said(reporter: Reporter) -> list[tuple[str, str]]:
    return [(n.code, n.message) for n in reporter.notices]


def tree_bytes(folder: Path) -> dict[str, tuple[bytes, bool]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), os.access(p, os.X_OK))
            for p in sorted(folder.rglob("*")) if p.is_file()}


# A minimal PEP 517 backend (no index needed). Like hatchling, setuptools and flit it stamps wheel entries with
# $SOURCE_DATE_EPOCH when set, else the current time: two builds agree only if the engine sets it.
LOCAL_BACKEND = """
import os, time, zipfile
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    stamp = time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time())))[:6]
    name = "shared-0.1-py3-none-any.whl"
    files = {"shared/__init__.py": open("shared/__init__.py", "rb").read(),
             "shared-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: shared\\nVersion: 0.1\\n",
             "shared-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    names = [*files, "shared-0.1.dist-info/RECORD"]
    files["shared-0.1.dist-info/RECORD"] = "".join(f"{k},," + chr(10) for k in names).encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=stamp), data)
    return name
def get_requires_for_build_wheel(config_settings=None):
    return []
"""


OFFLINE_REQUIREMENTS = "purepkg\nnativepkg\nmarkerdeps\nboto3\nusesdateutil\n"


def test_the_report_keeps_what_bundling_said_and_replay_says_it_again(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    first = silent()
    plan = engine.prepare(tracer_request(tracer_function(tmp_path / "fn"), tracer_index), store, first)
    result = engine.bundle(plan, tmp_path / "out", store, first)
    assert said(first) == [("runtime-provided-shipped", SHIPPED)]
    assert [(n.code, n.message, n.level) for n in result.report.notices] == [
        ("runtime-provided-shipped", SHIPPED, "warning")]
    on_disk = loads(BuildReport, (store.root / "reports" / f"{plan.asset_hash}.json").read_text())
    assert on_disk.notices == result.report.notices

    again = silent()  # a later synth: CDK finds the staged asset and does not call the bundler
    replayed = engine.replay(engine.prepare(tracer_request(tmp_path / "fn", tracer_index), store, again), store, again)
    assert said(again) == said(first) and replayed == result.report


def test_replay_checks_the_size_against_the_layers_of_now(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn")
    engine.build(tracer_request(entry, tracer_index), tmp_path / "out", store, silent())
    # the layers grew; their size is not in the asset hash, so CDK reuses the asset: the size is checked again
    near = silent()
    plan = engine.prepare(tracer_request(entry, tracer_index, layer_bytes=int(LIMIT_BYTES * 0.95)), store, near)
    engine.replay(plan, store, near)
    codes = [n.code for n in near.notices]
    assert codes == ["runtime-provided-shipped", "size-near-limit"], codes
    assert "95% of Lambda's 250.0 MB limit" in near.notices[1].message and "in layers" in near.notices[1].message
    over = engine.prepare(tracer_request(entry, tracer_index, layer_bytes=LIMIT_BYTES), store, silent())
    with pytest.raises(VerificationError, match=r"over Lambda's 250\.0 MB limit"):
        engine.replay(over, store, silent())
    back = silent()  # and a stale size warning is never replayed
    engine.replay(engine.prepare(tracer_request(entry, tracer_index), store, back), store, back)
    assert [n.code for n in back.notices] == ["runtime-provided-shipped"]


def test_replay_without_a_report_bundles_again_to_know(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn")
    built = engine.build(tracer_request(entry, tracer_index), tmp_path / "out", store, silent())
    shutil.rmtree(store.root / "reports")
    again = silent()
    report = engine.replay(engine.prepare(tracer_request(entry, tracer_index), store, again), store, again)
    assert said(again) == [("runtime-provided-shipped", SHIPPED)]
    assert report.notices == built.report.notices and (store.root / "reports" / f"{built.asset_hash}.json").is_file()


def test_what_the_cache_says_during_bundling_is_not_part_of_the_bundle(tmp_path: Path, tracer_index: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn")
    engine.build(tracer_request(entry, tracer_index), tmp_path / "out", store, silent())
    (record,) = (store.root / "trees").glob("*/tree.json")
    record.chmod(0o644)
    record.write_text("{")  # damaged: the store quarantines the tree while bundling, and says so
    reporter = silent()
    store = LocalStore(tmp_path / "cache", reporter=reporter)  # as the constructs and the CLI do: one reporter
    result = engine.build(tracer_request(entry, tracer_index), tmp_path / "out2", store, reporter)
    assert "cache-entry-quarantined" in [n.code for n in reporter.notices]
    assert [n.code for n in result.report.notices] == ["runtime-provided-shipped"]  # about this run, not the bundle
    assert any("failed its check" in w for w in result.report.warnings)  # still in the run's account


def test_two_builds_in_two_caches_are_byte_identical(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    native_wheel(wheels, "fine", "aarch64", "_c.abi3.so", make_elf("aarch64", ("GLIBC_2.17",)))
    lib = tmp_path / "libs" / "shared"  # a local path dependency, built into a wheel by each cache
    (lib / "shared").mkdir(parents=True)
    (lib / "shared" / "__init__.py").write_text("VALUE = 1\n")
    (lib / "pyproject.toml").write_text('[project]\nname = "shared"\nversion = "0.1"\n[build-system]\n'
                                        'requires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (lib / "backend.py").write_text(LOCAL_BACKEND)
    entry = write_function(tmp_path, "slimpkg\nfine\n../libs/shared\n")
    outputs, hashes = [], []
    for i in (1, 2):
        request = from_wheels(entry, wheels, slim=SlimOptions(compile_bytecode=True), target=Target.from_runtime(
            f"python3.{sys.version_info.minor}", "arm64"))
        cache = LocalStore(tmp_path / f"cache-{i}")
        plan = prepare(request, cache)
        hashes.append(plan.asset_hash)
        out = tmp_path / f"out-{i}"
        build(request, out, cache)
        outputs.append(tree_bytes(out))
    assert outputs[0] == outputs[1]
    assert hashes[0] == hashes[1]
    # nothing machine-specific inside any file: no cache or output path, no host name
    host = socket.gethostname().encode()
    for rel, (data, _) in outputs[0].items():
        assert str(tmp_path).encode() not in data, rel
        assert len(host) < 4 or host not in data, rel


def test_a_project_with_a_local_path_dependency_has_one_asset_hash_wherever_it_is_checked_out(tmp_path: Path) -> None:
    """Issue 16, case 7: a laptop and a CI runner check the same project out at different absolute paths, each
    with its own cache; CDK must see one asset hash, or it re-uploads and redeploys from every machine."""
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    laptop = tmp_path / "home" / "dev" / "project"
    lib = laptop / "libs" / "shared"
    (lib / "shared").mkdir(parents=True)
    (lib / "shared" / "__init__.py").write_text("VALUE = 1\n")
    (lib / "pyproject.toml").write_text('[project]\nname = "shared"\nversion = "0.1"\n[build-system]\n'
                                        'requires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (lib / "backend.py").write_text(LOCAL_BACKEND)
    write_function(laptop, "slimpkg\n../libs/shared\n")
    runner = tmp_path / "runner" / "builds" / "1234" / "checkout"
    shutil.copytree(laptop, runner)

    def made(root: Path, cache: str) -> tuple[str, dict[str, tuple[bytes, bool]]]:
        request = from_wheels(root / "fn", wheels)
        plan = prepare(request, LocalStore(tmp_path / cache))
        build(request, tmp_path / f"out-{cache}", LocalStore(tmp_path / cache))
        return plan.asset_hash, tree_bytes(tmp_path / f"out-{cache}")

    here, there = made(laptop, "cache-laptop"), made(runner, "cache-runner")
    assert here[0] == there[0]
    assert here[1] == there[1] and "shared/__init__.py" in here[1]
    # the hash still follows the local package's content
    (runner / "libs" / "shared" / "shared" / "__init__.py").write_text("VALUE = 2\n")
    assert prepare(from_wheels(runner / "fn", wheels), LocalStore(tmp_path / "cache-runner")).asset_hash != here[0]


def test_report_is_written_next_to_the_cache_and_summary_is_short(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "fine", "aarch64", "_c.abi3.so", make_elf("aarch64", ("GLIBC_2.17",)))
    build_wheel(wheels, "boto3", "1.0", requires=["botocore"])
    build_wheel(wheels, "botocore", "1.0")
    cache = LocalStore(tmp_path / "c")
    result: BuildResult = build(from_wheels(write_function(tmp_path, "fine\nboto3\n"), wheels), tmp_path / "out", cache)
    assert result.report_path is not None and result.report_path.parent == cache.root / "reports"
    report = json.loads(result.report_path.read_text())
    assert report["target"] == str(ARM312) and report["asset_hash"] == result.asset_hash
    assert report["packages"]["fine"]["version"] == "1.0"
    assert report["packages"]["fine"]["wheel_tags"] == ["cp38-abi3-manylinux_2_17_aarch64"]
    assert report["packages"]["fine"]["bytes"] > 0
    assert set(report["stripped"]) == {"boto3", "botocore"}
    assert all(why.startswith("provided by the Lambda runtime (python3.") for why in report["stripped"].values())
    assert report["verification"]["native_files"] == 1
    assert report["size"]["unzipped_bytes"] == sum(p.stat().st_size for p in result.output.rglob("*") if p.is_file())
    summary = result.summary("App/Fn")
    assert len(summary.splitlines()) == 1 and "1 packages" in summary and "App/Fn" in summary
    verbose = result.summary("App/Fn", verbose=True)
    assert "fine==1.0" in verbose and "stripped boto3" in verbose and str(result.report_path) in verbose


@pytest.mark.parametrize("lost", ["nothing", "installed trees"])
def test_warm_build_works_with_the_index_gone(tmp_path: Path, lost: str) -> None:
    index = standard_index(tmp_path / "index")
    cache = LocalStore(tmp_path / "cache")
    request = build_request(write_function(tmp_path, OFFLINE_REQUIREMENTS), index, ARM313)
    first = build(request, tmp_path / "online", cache)
    if lost != "nothing":  # a resolution hit with no installed tree: installed offline from uv's cache
        shutil.rmtree(cache.root / "trees")
    # with the index still up, a warm build asks it nothing at all ...
    before = len(index.requests)
    calls: list[Call] = []
    with observed(calls.append):
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
    assert files(tmp_path / "offline") == files(tmp_path / "online") == files(tmp_path / "warm")
    assert offline.packages == first.packages and "nativepkg" in offline.packages


def test_cold_build_names_the_unreachable_index(tmp_path: Path) -> None:
    index = standard_index(tmp_path / "index")
    url = index.url
    index.close()
    request = build_request(write_function(tmp_path, OFFLINE_REQUIREMENTS), target=ARM313,
                            indexes=IndexOptions(index_url=url))
    with pytest.raises(IndexUnreachableError) as err:
        build(request, tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert url.rstrip("/") in str(err.value) and "requirements.txt" in str(err.value)
    assert not (tmp_path / "cache" / "resolutions").exists() or not any(
        p.is_dir() for p in (tmp_path / "cache" / "resolutions").iterdir())  # nothing half-written is trusted later
