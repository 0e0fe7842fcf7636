"""Run what we build: bundles for arm64/x86_64 × python3.11/3.13/3.14, imported under the real target CPython.

``tools/target-python ARCH VERSION`` runs Debian's CPython for that architecture under qemu user-mode
emulation (first use of a pair installs qemu-user-static and ~15 MB of packages, as root). Each bundle
holds compiled dependencies (pydantic-core via pydantic, orjson) from real PyPI; the handler is called
with ``-I`` (isolated: no host site-packages) and only the asset folder on ``sys.path``.

Negative control: a bundle for one architecture must *not* import under the other one's interpreter,
which shows the positive results come from the bundle's own binaries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.store.local import LocalStore

pytestmark = [pytest.mark.emulated, pytest.mark.pypi]

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "target-python"
ARCHES = ("arm64", "x86_64")
VERSIONS = ("3.11", "3.13", "3.14")
UNAME = {"arm64": "aarch64", "x86_64": "x86_64"}

HANDLER = '''\
import platform
import sys

import orjson
import pydantic
import pydantic_core


class Order(pydantic.BaseModel):
    id: int
    items: list[str]


def handler(event, context):
    order = Order.model_validate_json(orjson.dumps(event))
    return orjson.dumps({
        "order": order.model_dump(),
        "machine": platform.machine(),
        "python": "%d.%d" % sys.version_info[:2],
        "binaries": [orjson.__file__, pydantic_core._pydantic_core.__file__],
    }).decode()
'''

CALL = '''\
import json, sys
sys.path.insert(0, sys.argv[1])
import index
print("RESULT " + index.handler({"id": "42", "items": ["a", "b"]}, None))
'''


def _can_emulate() -> bool:
    have = Path("/usr/bin/qemu-aarch64-static").exists() and Path("/usr/bin/qemu-x86_64-static").exists()
    return have or (os.geteuid() == 0 and shutil.which("apt-get") is not None)


@pytest.fixture(scope="module")
def bundles() -> dict[tuple[str, str], Path]:
    """Lazily built bundles, one per (arch, version) and per test worker."""
    if not _can_emulate():
        pytest.skip("qemu-user-static is missing and cannot be installed here (needs root and apt-get)")
    return {}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> LocalStore:
    """One cache for the whole matrix, shared by xdist workers too (the cache is multi-process safe)."""
    base = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        base = base.parent
    return LocalStore(base / "matrix-cache")


def _bundle(bundles: dict[tuple[str, str], Path], cache: LocalStore, base: Path, arch: str, version: str) -> Path:
    if (arch, version) not in bundles:
        entry = base / f"src-{arch}-{version}"
        entry.mkdir(parents=True)
        (entry / "index.py").write_text(HANDLER)
        (entry / "requirements.txt").write_text("pydantic>=2.8\norjson\n")
        out = base / f"asset-{arch}-{version}"
        start = time.perf_counter()
        result = build(BuildRequest(entry=entry, target=Target.from_runtime(f"python{version}", arch)), out, cache)
        print(f"bundle {arch} python{version}: {len(result.packages)} packages in {time.perf_counter() - start:.1f}s")
        assert {"pydantic", "pydantic-core", "orjson"} <= set(result.packages)
        bundles[(arch, version)] = out
    return bundles[(arch, version)]


def _run(arch: str, version: str, asset: Path) -> subprocess.CompletedProcess[str]:
    start = time.perf_counter()
    proc = subprocess.run([str(TOOL), arch, version, "-I", "-c", CALL, str(asset)],
                          capture_output=True, text=True, timeout=600, check=False)
    print(f"run {asset.name} under {arch} python{version}: exit {proc.returncode} in "
          f"{time.perf_counter() - start:.1f}s")
    return proc


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("arch", ARCHES)
def test_bundle_runs_on_its_target(bundles: dict[tuple[str, str], Path], shared_cache: LocalStore,
                                   tmp_path_factory: pytest.TempPathFactory, arch: str, version: str) -> None:
    asset = _bundle(bundles, shared_cache, tmp_path_factory.getbasetemp() / "matrix", arch, version)
    proc = _run(arch, version, asset)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["order"] == {"id": 42, "items": ["a", "b"]}  # pydantic coerced "42" through pydantic-core
    assert result["machine"] == UNAME[arch]
    assert result["python"] == version
    # the compiled modules that ran are the bundle's own, built for this interpreter and machine
    for binary in result["binaries"]:
        assert binary.startswith(str(asset)), binary
    assert f"cpython-3{version.split('.')[1]}-{UNAME[arch]}-linux-gnu" in result["binaries"][1]


@pytest.mark.parametrize(("built_for", "run_on", "version"), [("arm64", "x86_64", "3.13"),
                                                               ("x86_64", "arm64", "3.11")])
def test_bundle_does_not_import_on_the_other_architecture(
    bundles: dict[tuple[str, str], Path], shared_cache: LocalStore, tmp_path_factory: pytest.TempPathFactory,
    built_for: str, run_on: str, version: str,
) -> None:
    asset = _bundle(bundles, shared_cache, tmp_path_factory.getbasetemp() / "matrix", built_for, version)
    proc = _run(run_on, version, asset)
    assert proc.returncode != 0, proc.stdout
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr, proc.stderr[-2000:]
    # the failure is about the bundle's foreign binary, not a missing file
    assert str(asset) in proc.stderr or "cannot open shared object" in proc.stderr or "ELF" in proc.stderr, \
        proc.stderr[-2000:]
