"""What the benchmark measures with: the interpreter, the target and the synth scenarios' dependency set.

Shared by ``run.py`` (which measures) and ``_report.py`` (which writes ``results.md``), so neither imports the
other.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = "3.12"
RUNTIME = f"python{PY}"
#: the synth scenarios use a smaller set: CDK fingerprints every byte of the floor's pre-built folders,
#: so 10 x 200 MB would measure CDK's hashing rather than the bundler (and flatter us)
SYNTH_REQUIREMENTS = "pydantic\nhttpx\norjson\nstructlog\nboto3\n"
