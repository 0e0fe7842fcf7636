"""Lambda's size limit (``budget.py``): bundles over 250 MB unzipped fail naming the largest packages and what
would save space; layers count; near the limit warns."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.core.budget import LIMIT_BYTES
from cdk_native_python.core.errors import (
    VerificationError,
)
from cdk_native_python.pipeline.engine import build
from cdk_native_python.store.local import LocalStore
from tests.helpers import build_request, from_wheels, says, write_function
from tests.wheelfactory import build_wheel


def test_dependencies_over_250_mb_fail_with_the_largest_packages_and_savings(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    blob = bytes(140 * 1024 * 1024)  # zeros: tiny wheels, real 140 MB files once installed
    build_wheel(wheels, "bigmodel", "1.0", requires=["bigdata"],
                files={"bigmodel/__init__.py": b"", "bigmodel/weights.bin": blob})
    build_wheel(wheels, "bigdata", "1.0", files={"bigdata/__init__.py": b"", "bigdata/table.bin": blob})
    build_wheel(wheels, "small", "1.0")
    with pytest.raises(VerificationError) as err:
        build(from_wheels(write_function(tmp_path, "bigmodel\nsmall\n"), wheels),
                tmp_path / "out", LocalStore(tmp_path / "c"))
    text, hint = str(err.value), err.value.hint
    assert "280.0 MB unzipped" in text and "250.0 MB limit" in text and "zipped" in text
    lines = text.split("Largest parts:")[1]
    assert lines.index("bigmodel") < lines.index("small") and "bigdata" in lines
    # stripping bigmodel takes bigdata with it (nothing else needs it): the hint says so, with the bytes saved
    assert "strip=['bigmodel'] (removes bigdata, bigmodel) saves 280.0 MB" in hint


def test_layers_count_against_the_budget_and_near_limit_warns(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "small", "1.0")
    entry = write_function(tmp_path, "small\n")
    cache = LocalStore(tmp_path / "c")
    near = build(from_wheels(entry, wheels, layer_bytes=int(LIMIT_BYTES * 0.95)), tmp_path / "o1", cache)
    (warning,) = near.report.warnings
    assert "95% of Lambda's 250.0 MB limit" in warning and "layers" in warning
    assert capsys.readouterr().err.count(f"warning: {warning}") == 1  # said once, as it happened
    with pytest.raises(VerificationError, match=r"including 250.0 MB in layers"):
        build(from_wheels(entry, wheels, layer_bytes=LIMIT_BYTES), tmp_path / "o2", cache)
    fine = build(from_wheels(entry, wheels), tmp_path / "o3", cache)
    assert fine.report.warnings == () and fine.report.size.zipped_estimate_bytes > 0


def test_16_bundle_over_the_size_limit(tmp_path: Path) -> None:
    entry = write_function(tmp_path, None)
    with open(entry / "model.bin", "wb") as f:  # sparse: 300 MB of size without 300 MB of writes
        f.truncate(300 * 1024 * 1024)
    try:
        build(build_request(entry), tmp_path / "out", LocalStore(tmp_path / "cache"))
    except VerificationError as err:
        says(err, "250", "model.bin", hint="leave large files out of the asset (asset_excludes=['model.bin'])")
        return
    raise AssertionError("a 300 MB bundle was accepted (Lambda's unzipped limit is 250 MB)")
