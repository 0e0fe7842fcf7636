"""The user's command hooks: shell commands run on the host before and after bundling.

As ``aws_lambda_python_alpha.ICommandHooks`` (its local bundling): each hook returns a list of commands
for the real input and output folders (absolute paths, so ``shlex.quote(output_dir)`` works); the
commands of one hook run in ONE bash shell, joined with ``&&`` (so a ``cd`` carries over and the first
failure stops the rest), empty commands dropped, with the output folder as working directory. For a
layer the output folder is the asset's ``python/`` (``output_path_suffix``), as upstream passes it.
``INPUT_DIR`` / ``OUTPUT_DIR`` are set as well, and so are the ``environment`` / ``build_args``
entries that are not package sources (:class:`Hooks`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from .errors import HookError

Phase = Literal["before_bundling", "after_bundling"]
#: stand-ins for the folders when commands describe a bundle (its asset hash) before the folders exist:
#: the real paths differ per machine and per synth, and must not change the asset hash
INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER = "$INPUT_DIR", "$OUTPUT_DIR"


class CommandHooks(Protocol):
    """``before_bundling``/``after_bundling(input_dir, output_dir)`` return shell commands.

    Any object with these two methods works, including one decorated with
    ``@jsii.implements(aws_lambda_python_alpha.ICommandHooks)``.
    """

    def before_bundling(self, input_dir: str, output_dir: str) -> Sequence[str]: ...

    def after_bundling(self, input_dir: str, output_dir: str) -> Sequence[str]: ...


#: the upstream name, for apps that switch their import line only
ICommandHooks = CommandHooks


@dataclass(frozen=True)
class Hooks:
    """The user's hooks plus the environment their commands run with (values never enter a hash)."""

    user: CommandHooks
    #: (name, value) pairs, sorted: a tuple keeps the record hashable like every other request field
    environment: tuple[tuple[str, str], ...] = ()

    def before_bundling(self, input_dir: str, output_dir: str) -> Sequence[str]:
        return self.user.before_bundling(input_dir, output_dir)

    def after_bundling(self, input_dir: str, output_dir: str) -> Sequence[str]:
        return self.user.after_bundling(input_dir, output_dir)


def commands(hooks: CommandHooks | None, phase: Phase, input_dir: str = INPUT_PLACEHOLDER,
             output_dir: str = OUTPUT_PLACEHOLDER) -> tuple[str, ...]:
    """The non-empty commands ``hooks`` gives for ``phase`` (placeholders for the folders unless given)."""
    if hooks is None:
        return ()
    return tuple(str(c) for c in getattr(hooks, phase)(input_dir, output_dir) or () if c)


def environment_names(hooks: CommandHooks | None) -> tuple[str, ...]:
    return tuple(name for name, _ in hooks.environment) if isinstance(hooks, Hooks) else ()


def run(hooks: CommandHooks | None, phase: Phase, input_dir: Path, output_dir: Path) -> None:
    """Run the commands of ``phase`` for the real folders; a failure is a :class:`HookError`."""
    input_dir, output_dir = input_dir.resolve(), output_dir.resolve()
    cmds = commands(hooks, phase, str(input_dir), str(output_dir))
    if not cmds:
        return
    script = " && ".join(cmds)
    extra = dict(hooks.environment) if isinstance(hooks, Hooks) else {}
    env = {**os.environ, **extra, "INPUT_DIR": str(input_dir), "OUTPUT_DIR": str(output_dir)}
    proc = subprocess.run(["bash", "-c", script], cwd=output_dir, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise HookError(f"{phase} commands failed with exit code {proc.returncode}: {script[:200]}\n    {tail}",
                        "fix the command (it runs on this machine in one bash shell, in the asset folder, "
                        "with INPUT_DIR and OUTPUT_DIR set)", code="hook-failed")
