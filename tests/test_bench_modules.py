"""Every bench module imports against the package as it is: the bench runs by hand, not in CI, so a name the
package moves or drops would otherwise break it unseen (``bench/_remote.py`` once imported a removed alias)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.helpers import ROOT

#: modules whose own third-party dependency is optional (the bench skips their rows without it)
OPTIONAL = {"_lambda_builders": "aws_lambda_builders"}
#: scripts that do their work when run (the bench runs them as commands): compiled, not imported
SCRIPTS = {"_measure"}
MODULES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in SCRIPTS)


@pytest.mark.parametrize("module", MODULES)
def test_a_bench_module_imports(module: str) -> None:
    needs = OPTIONAL.get(module)
    if needs and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} is not installed")
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, 'bench'); import {module}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_bench_script_compiles(script: str) -> None:
    compile((ROOT / "bench" / f"{script}.py").read_text(), script, "exec")
