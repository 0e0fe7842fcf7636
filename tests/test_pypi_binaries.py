"""Real PyPI packages with compiled code, bundled for both architectures from this host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.errors import VerificationError
from cdk_native_python.records import to_json
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

pytestmark = pytest.mark.pypi
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("pypi-cache"))


@pytest.mark.parametrize(("runtime", "arch"), [("python3.13", "arm64"), ("python3.12", "x86_64"),
                                                ("python3.11", "arm64")])
def test_compiled_wheels_are_elf_for_the_target(tmp_path: Path, cache: LocalStore, runtime: str, arch: str) -> None:
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("def handler(event, context):\n    return 1\n")
    (entry / "requirements.txt").write_text(
        "cryptography\npydantic\nnumpy\n"
        'appnope ; sys_platform == "darwin"\n'
        'attrs ; python_version >= "3.13"\n'
        'six ; platform_machine == "aarch64"\n'
    )
    target = Target.from_runtime(runtime, arch)
    result = build(BuildRequest(entry=entry, target=target), tmp_path / "out", cache)

    assert {"cryptography", "pydantic-core", "numpy"} <= set(result.packages)
    assert "appnope" not in result.packages
    # markers are the target's: this host is x86_64 / Python 3.11
    assert ("attrs" in result.packages) == (target.python_minor >= 13)
    assert ("six" in result.packages) == (target.machine == "aarch64")
    shared = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name)]
    assert len(shared) >= 3
    for so in shared:
        head = so.read_bytes()[:20]
        assert head[:4] == b"\x7fELF", so
        assert int.from_bytes(head[18:20], "little") == ELF_MACHINE[target.machine], so
    ext = [p.name for p in shared if ".cpython-" in p.name]
    assert ext and all(f"cpython-3{target.python_minor}-{target.machine}-linux-gnu" in n for n in ext), ext
    # nothing compiled for the host: every .pyc present came inside a wheel (listed in its RECORD)
    out = tmp_path / "out"
    recorded = {line.split(",")[0] for rec in out.glob("*.dist-info/RECORD") for line in rec.read_text().splitlines()}
    assert not [p for p in out.rglob("*.pyc") if p.relative_to(out).as_posix() not in recorded]
    # verification read every native file: all fit the runtime's glibc
    verification = to_json(result.report)["verification"]
    assert verification["native_files"] >= len(shared) and verification["violations"] == []  # type: ignore[index]
    needed = tuple(int(x) for x in str(verification["max_glibc_needed"]).split("."))  # type: ignore[index]
    assert (2, 17) <= needed <= target.glibc


def _download(tmp_path: Path, project: str, platform: str) -> Path:
    """A real wheel of ``project`` for ``platform`` from PyPI (pip, isolated from this machine's pip config)."""
    dest = tmp_path / f"dl-{platform}"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--only-binary=:all:",
         "--index-url", "https://pypi.org/simple", "--platform", platform, "--python-version", "3.12",
         "--implementation", "cp", "-d", str(dest), project],
        capture_output=True, text=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = dest.glob("*.whl")
    return wheel


@pytest.mark.parametrize(("platform", "found"), [("manylinux_2_17_x86_64", "an ELF for x86_64"),
                                                 ("macosx_11_0_arm64", "macOS (Mach-O)")])
def test_real_mislabeled_wheel_is_caught(tmp_path: Path, cache: LocalStore, platform: str, found: str) -> None:
    """A real orjson wheel for another platform, renamed as manylinux aarch64 (what a bad upload to a private
    index looks like): the tags say it fits, verification reads the binary and refuses it."""
    wheel = _download(tmp_path, "orjson==3.10.18", platform)
    name, version, _, _ = parse_wheel_filename(wheel.name)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy(wheel, wheels / f"{name}-{version}-cp312-cp312-manylinux_2_17_aarch64.whl")
    entry = tmp_path / "fn"
    entry.mkdir()
    (entry / "index.py").write_text("import orjson\n")
    (entry / "requirements.txt").write_text("orjson\n")
    request = BuildRequest(entry=entry, target=Target.from_runtime("python3.12", "arm64"),
                           indexes=IndexOptions(no_index=True, find_links=(str(wheels),)))
    with pytest.raises(VerificationError) as err:
        build(request, tmp_path / "out", cache)
    assert found in str(err.value) and "(from orjson 3.10.18)" in str(err.value)
    assert "aarch64" in str(err.value)
