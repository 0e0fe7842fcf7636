"""The release path, as CI proves it: ``scripts/check-package`` builds the sdist and the wheel, installs the
wheel alone into a fresh virtualenv and synthesizes a tiny app with it and the real ``cdk`` CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.synth, pytest.mark.pypi,
              pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(),
                                 reason="run scripts/bootstrap (npm ci) first")]


def test_the_built_wheel_installs_alone_and_synthesizes() -> None:
    proc = subprocess.run([str(ROOT / "scripts" / "check-package")], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "== python -m build" in proc.stdout
