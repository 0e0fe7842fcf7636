"""Real PyPI packages with compiled code, bundled for both architectures from this host."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cdk_native_python.cache import Cache
from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.target import Target

pytestmark = pytest.mark.pypi
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Cache:
    return Cache(tmp_path_factory.mktemp("pypi-cache"))


@pytest.mark.parametrize(("runtime", "arch"), [("python3.13", "arm64"), ("python3.12", "x86_64"),
                                                ("python3.11", "arm64")])
def test_compiled_wheels_are_elf_for_the_target(tmp_path: Path, cache: Cache, runtime: str, arch: str) -> None:
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
    assert sys.version_info[:2] != (3, target.python_minor) or target.machine != "x86_64"  # a real cross build
