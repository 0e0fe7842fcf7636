"""The user's command hooks: shell commands run on the host before and after bundling.

As ``aws_lambda_python_alpha.ICommandHooks`` (its local bundling): each hook returns a list of commands
for the input and output folders; the commands of one hook run in ONE bash shell, joined with ``&&`` (so a
``cd`` carries over and the first failure stops the rest), empty commands dropped, with the output folder as
working directory. For a layer the output folder is the asset's ``python/`` (``output_path_suffix``), as
upstream passes it. ``INPUT_DIR`` / ``OUTPUT_DIR`` are set as well, and so are the ``environment`` /
``build_args`` entries that are not package sources (:class:`Hooks`).

The paths handed to the hooks never need quoting. In the alpha module they were Docker's constants
(``/asset-input``), and hooks written for it paste them into commands unquoted; here the real folders may
have any name (``a b;$(touch x)``), which would break such a command or inject one. A real path made only of
``[A-Za-z0-9/_.-]`` is handed as it is. Any other goes through a link named like the alpha's folders
(``asset-input``, ``asset-output``) in a private folder (mode 0700, removed afterwards) at a path made only
of those characters: the link leads to the deepest folder of the real path whose name needs quoting, and the
safe rest of the path follows it (:func:`safe_paths`). So the folder handed over is itself a real folder, not
a link, whenever its own name is safe (CDK's output folders always are): ``find {output_dir}`` descends into
it and ``cp -r {input_dir} ...`` copies a folder, not a link.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..core.errors import HookError

#: what a path handed to a hook may hold: nothing a shell reads as anything but the path
_SAFE = re.compile(r"^[A-Za-z0-9/_.-]+$")
#: where the private links go when the system's temporary folder has an unsafe name itself
_SAFE_BASES = ("/tmp", "/var/tmp", "/dev/shm")

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
    """Run the commands of ``phase`` for the folders (as :func:`safe_paths` names them); a failure is a
    :class:`HookError`."""
    if hooks is None:
        return
    with safe_paths(input_dir.resolve(), output_dir.resolve()) as (shown_input, shown_output):
        cmds = commands(hooks, phase, shown_input, shown_output)
        if cmds:
            _run(hooks, phase, cmds, output_dir.resolve(), shown_input, shown_output)


@contextlib.contextmanager
def safe_paths(input_dir: Path, output_dir: Path) -> Iterator[tuple[str, str]]:
    """The two folders as paths a shell reads as they are, unquoted: each real path when it is made of
    ``[A-Za-z0-9/_.-]`` only, else one through a link in a private folder at such a path (removed afterwards)."""
    if _SAFE.match(str(input_dir)) and _SAFE.match(str(output_dir)):
        yield str(input_dir), str(output_dir)
        return
    links = Path(tempfile.mkdtemp(prefix="cdk-native-python-hook-", dir=_safe_base()))  # mode 0700
    try:
        yield _through(links / "asset-input", input_dir), _through(links / "asset-output", output_dir)
    finally:
        shutil.rmtree(links, ignore_errors=True)  # the links only: rmtree never follows them


def _through(link: Path, real: Path) -> str:
    """``real`` (absolute, resolved) as a path with no character that needs quoting: as it is when it has
    none, else ``link`` (created) to its deepest folder whose name needs quoting, then the rest."""
    if _SAFE.match(str(real)):
        return str(real)
    parts = real.parts
    deepest = max(i for i, part in enumerate(parts) if not _SAFE.match(part))
    link.symlink_to(Path(*parts[: deepest + 1]), target_is_directory=True)
    return str(Path(link, *parts[deepest + 1:]))


def _safe_base() -> str:
    """A temporary folder whose own path needs no quoting (``$TMPDIR`` may have any name)."""
    for base in (tempfile.gettempdir(), *_SAFE_BASES):
        if _SAFE.match(base) and os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK):
            return base
    raise HookError("found no temporary folder whose path needs no quoting, for the paths handed to the hooks",
                    "set TMPDIR to a writable folder named with letters, digits and / _ . - only",
                    code="hook-paths")


def _run(hooks: CommandHooks, phase: Phase, cmds: Sequence[str], cwd: Path, input_dir: str, output_dir: str) -> None:
    script = " && ".join(cmds)
    extra = dict(hooks.environment) if isinstance(hooks, Hooks) else {}
    # PWD: bash keeps it when it names the working folder, so `pwd` shows the path the hook was given too
    env = {**os.environ, **extra, "INPUT_DIR": input_dir, "OUTPUT_DIR": output_dir, "PWD": output_dir}
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise HookError(f"{phase} commands failed with exit code {proc.returncode}: {script[:200]}\n    {tail}",
                        "fix the command (it runs on this machine in one bash shell, in the asset folder, "
                        "with INPUT_DIR and OUTPUT_DIR set)", code="hook-failed")
