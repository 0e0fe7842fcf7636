"""The release path, as CI proves it: ``scripts/check-package`` builds the sdist and the wheel, installs the
wheel alone into a fresh virtualenv and synthesizes a tiny app with it and the real ``cdk`` CLI."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cdkhelpers import needs_cdk
from tests.helpers import ROOT

pytestmark = [pytest.mark.synth, pytest.mark.pypi, needs_cdk]


def test_the_built_wheel_installs_alone_and_synthesizes() -> None:
    proc = subprocess.run([str(ROOT / "scripts" / "check-package")], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "== python -m build" in proc.stdout
