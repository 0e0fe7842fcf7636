"""The lock-file fixtures of ``tests/fixtures/formats`` and what a reader's result means for a target."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import Requirement

from cdk_native_python.inputs import pipfile, poetry, pylock, uvlock
from cdk_native_python.spec import DependencySpec
from cdk_native_python.target import Target

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


Reader = Callable[..., DependencySpec]


LOCKS: dict[str, tuple[Reader, Path]] = {
    "Pipfile.lock": (pipfile.read, FIXTURES / "pipfile" / "Pipfile.lock"),
    "poetry1": (poetry.read, FIXTURES / "poetry1" / "poetry.lock"),
    "poetry2": (poetry.read, FIXTURES / "poetry2" / "poetry.lock"),
    "uv.lock": (uvlock.read, FIXTURES / "uv" / "uv.lock"),
    "pylock.toml": (pylock.read, FIXTURES / "pylock" / "pylock.toml"),
}


def pins_for(spec: DependencySpec, target: Target) -> dict[str, str]:
    """name -> version of the lines whose marker holds on ``target`` (what the installer will keep)."""
    out: dict[str, str] = {}
    for line in spec.requirements:
        req = Requirement(line.split(" --hash=")[0])
        if target.evaluate(req.marker):
            version = str(req.specifier).removeprefix("==")
            assert req.name not in out, f"two versions of {req.name} selected for {target}"
            out[req.name] = version
    return out


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path
