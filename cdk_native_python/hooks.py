"""The user's command hooks: shell commands run on the host before and after bundling.

Like ``aws_lambda_python_alpha.ICommandHooks``: each hook returns a list of commands for the real input
and output folders; the commands of one hook run in ONE shell, joined with ``&&`` (so a ``cd`` carries
over and the first failure stops the rest), with the asset folder as working directory and ``INPUT_DIR``
/ ``OUTPUT_DIR`` set as well.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from .errors import HookError

Phase = Literal["before_bundling", "after_bundling"]
#: stand-ins for the folders when commands describe a bundle (its asset hash) before the folders exist
INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER = "$INPUT_DIR", "$OUTPUT_DIR"


class CommandHooks(Protocol):
    """``before_bundling``/``after_bundling(input_dir, output_dir)`` return shell commands."""

    def before_bundling(self, input_dir: str, output_dir: str) -> Sequence[str]: ...

    def after_bundling(self, input_dir: str, output_dir: str) -> Sequence[str]: ...


def commands(hooks: CommandHooks | None, phase: Phase, input_dir: str = INPUT_PLACEHOLDER,
             output_dir: str = OUTPUT_PLACEHOLDER) -> tuple[str, ...]:
    """The commands ``hooks`` gives for ``phase`` (placeholders for the folders unless given)."""
    if hooks is None:
        return ()
    return tuple(str(c) for c in getattr(hooks, phase)(input_dir, output_dir) or ())


def run(hooks: CommandHooks | None, phase: Phase, input_dir: Path, output_dir: Path) -> None:
    """Run the commands of ``phase`` for the real folders; a failure is a :class:`HookError`."""
    cmds = commands(hooks, phase, str(input_dir), str(output_dir))
    if not cmds:
        return
    script = " && ".join(cmds)
    env = {**os.environ, "INPUT_DIR": str(input_dir), "OUTPUT_DIR": str(output_dir)}
    proc = subprocess.run(["bash", "-c", script], cwd=output_dir, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise HookError(f"{phase} commands failed with exit code {proc.returncode}: {script[:200]}\n    {tail}",
                        "fix the command (it runs on this machine in one bash shell, in the asset folder, "
                        "with INPUT_DIR and OUTPUT_DIR set)", code="hook-failed")
