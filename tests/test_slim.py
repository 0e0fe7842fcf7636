"""Slimming (``slim.py``): what Lambda never reads goes, metadata stays, bytecode for the target Python only."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_native_python.core.errors import InstallError
from cdk_native_python.core.records import to_json
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import build
from cdk_native_python.pipeline.slim import SlimOptions
from cdk_native_python.store.local import LocalStore
from tests.helpers import from_wheels, slim_wheel, write_function


def test_slim_removes_what_lambda_never_reads_and_keeps_metadata(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    result = build(from_wheels(write_function(tmp_path, "slimpkg\n"), wheels),
            tmp_path / "out", LocalStore(tmp_path / "c"))
    out = result.output
    assert not (out / "slimpkg" / "tests").exists() and not (out / "slimpkg" / "__pycache__").exists()
    assert not (out / "slimpkg" / "_speed.pyx").exists()
    assert (out / "slimpkg" / "testing" / "__init__.py").is_file() and (out / "slimpkg/data/schema.json").is_file()
    assert (out / "slimpkg-1.0.dist-info" / "METADATA").is_file()
    slimmed = to_json(result.report)["slimmed"]
    assert slimmed["files_removed"] == 4 and slimmed["bytes_removed"] > 60000  # type: ignore[index]
    # the package still reads its own version through importlib.metadata
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(out)!r}); "
                           "import slimpkg; print(slimpkg.__version__)"], capture_output=True, text=True)
    assert proc.stdout.strip() == "1.0", proc.stderr


def test_slim_opt_outs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    entry = write_function(tmp_path, "slimpkg\n")
    cache = LocalStore(tmp_path / "c")
    off = build(from_wheels(entry, wheels, slim=SlimOptions(enabled=False)), tmp_path / "off", cache)
    assert (off.output / "slimpkg" / "tests" / "test_big.py").is_file()
    assert (off.output / "slimpkg" / "__pycache__").is_dir()
    kept = build(from_wheels(entry, wheels, slim=SlimOptions(keep=("slimpkg/tests",))), tmp_path / "keep", cache)
    assert (kept.output / "slimpkg" / "tests" / "test_big.py").is_file()
    assert not (kept.output / "slimpkg" / "__pycache__").exists()


def test_precompile_for_the_target_python_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    slim_wheel(wheels)
    entry = write_function(tmp_path, "slimpkg\n")
    minor = sys.version_info.minor
    here = Target.from_runtime(f"python3.{minor}", "arm64")
    result = build(from_wheels(entry, wheels, here, slim=SlimOptions(compile_bytecode=True)), tmp_path / "o",
                   LocalStore(tmp_path / "c"))
    pyc = result.output / "slimpkg" / "__pycache__" / f"__init__.cpython-3{minor}.pyc"
    assert pyc.is_file()
    flags = struct.unpack("<I", pyc.read_bytes()[4:8])[0]
    assert flags == 0b11  # hash-based and checked: reproducible, and never stale after a hook edits a .py
    assert str(tmp_path) not in pyc.read_bytes().decode("latin-1")  # no cache path inside the bytecode
    # another version with no interpreter of it on PATH: a clear error, never bytecode for the host's version
    other = Target.from_runtime("python3.14" if minor != 14 else "python3.13", "arm64")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InstallError, match=rf"no Python {other.python_version} was found"):
        build(from_wheels(entry, wheels, other, slim=SlimOptions(compile_bytecode=True)), tmp_path / "o2",
              LocalStore(tmp_path / "c"))
