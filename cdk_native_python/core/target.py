"""The Lambda target: which interpreter, OS generation and CPU a bundle must run on.

Everything downstream (wheel tags, marker evaluation, glibc checks, the resolver's platform string)
comes from here, derived from the runtime name and architecture and never from the host.

Runtime facts (AWS Lambda "Lambda runtimes" documentation):
python3.8-3.11 run on Amazon Linux 2 (glibc 2.26); python3.12 and newer on Amazon Linux 2023
(glibc 2.34).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from packaging.markers import Marker

from .errors import ConfigurationError

_RUNTIME = re.compile(r"^python3\.(\d+)$")
#: every name people give an architecture (Lambda's, the machine's, Docker's) -> the machine name
_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


def machine_of(architecture: str) -> str | None:
    """``x86_64`` / ``aarch64`` for any accepted spelling of a Lambda architecture, else None."""
    return _ARCHES.get(architecture.strip().lower())


def lambda_name(machine: str) -> str:
    """Lambda's name of a machine (:func:`machine_of`): ``arm64`` for ``aarch64``, ``x86_64`` as it is."""
    return "arm64" if machine == "aarch64" else "x86_64"

#: Oldest runtime Lambda ever offered with a manylinux glibc we can target; older names are rejected.
MIN_MINOR = 8
AL2_LAST_MINOR = 11
AL2_GLIBC = (2, 26)
AL2023_GLIBC = (2, 34)

#: glibc levels uv accepts in ``--python-platform`` (it has no 2.26): the highest one not above the
#: runtime's glibc is used, and wheels between it and the runtime's glibc are still allowed by tags.
_UV_MANYLINUX = [(2, 17), (2, 28), *((2, m) for m in range(31, 41))]


@dataclass(frozen=True)
class Target:
    """A Lambda Python runtime on one architecture, e.g. ``Target.from_runtime("python3.12", "arm64")``."""

    python_minor: int
    machine: str  # "x86_64" | "aarch64" (the ELF / uname name)

    @classmethod
    def from_runtime(cls, runtime: str, architecture: str = "x86_64") -> Target:
        m = _RUNTIME.match(runtime.strip())
        if not m or int(m.group(1)) < MIN_MINOR:
            raise ConfigurationError(
                f"runtime {runtime!r} is not a Lambda Python 3 runtime this bundler supports",
                "use a python3.x runtime such as lambda.Runtime.PYTHON_3_13 (python3.8 or newer); "
                "for other languages use lambda.Function or that language's construct", code="runtime-unsupported",
            )
        machine = machine_of(architecture)
        if machine is None:
            raise ConfigurationError(
                f"architecture {architecture!r} is not a Lambda architecture",
                "use lambda.Architecture.X86_64 or lambda.Architecture.ARM_64 ('x86_64' or 'arm64')",
                code="architecture-unknown",
            )
        return cls(int(m.group(1)), machine)

    # -- naming -----------------------------------------------------------------------------------
    @property
    def runtime(self) -> str:
        """Lambda's name of the runtime (``python3.12``), as CDK's ``Runtime.name`` has it."""
        return f"python3.{self.python_minor}"

    @property
    def python_version(self) -> str:
        """``3.12``: what uv's ``--python-version`` and the ``python_version`` marker take."""
        return f"3.{self.python_minor}"

    @property
    def lambda_architecture(self) -> str:
        """Lambda's name of the architecture: ``arm64`` for the ``aarch64`` machine, ``x86_64`` as it is."""
        return lambda_name(self.machine)

    @property
    def label(self) -> str:
        """``python3.12/arm64``: the runtime and Lambda's name for the architecture."""
        return f"{self.runtime}/{self.lambda_architecture}"

    def __str__(self) -> str:
        return f"{self.runtime} / {self.manylinux} {self.machine}"

    # -- the OS: Amazon Linux 2 up to python3.11, Amazon Linux 2023 from python3.12 on -----------------
    @property
    def os_generation(self) -> str:
        return "Amazon Linux 2" if self.python_minor <= AL2_LAST_MINOR else "Amazon Linux 2023"

    @property
    def glibc(self) -> tuple[int, int]:
        return AL2_GLIBC if self.python_minor <= AL2_LAST_MINOR else AL2023_GLIBC

    @property
    def manylinux(self) -> str:
        """The manylinux level the runtime's glibc satisfies (``manylinux_2_34``)."""
        return f"manylinux_{self.glibc[0]}_{self.glibc[1]}"

    # -- what the resolver and installer need -------------------------------------------------------
    @property
    def uv_python_platform(self) -> str:
        """The closest ``--python-platform`` uv knows that does not exceed the runtime's glibc."""
        level = max(v for v in _UV_MANYLINUX if v <= self.glibc)
        return f"{self.machine}-manylinux_{level[0]}_{level[1]}"

    @cached_property
    def marker_environment(self) -> dict[str, str]:
        """PEP 508 environment of the Lambda interpreter (not the host's)."""
        full = f"3.{self.python_minor}.0"
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": full,
            "python_version": self.python_version,
            "sys_platform": "linux",
        }

    def evaluate(self, marker: str | Marker | None, extras: frozenset[str] = frozenset()) -> bool:
        """Does ``marker`` hold on this target (for the given extras)?"""
        if marker is None or marker == "":
            return True
        m = marker if isinstance(marker, Marker) else Marker(marker)
        if not extras:
            return m.evaluate({**self.marker_environment, "extra": ""})
        return any(m.evaluate({**self.marker_environment, "extra": e}) for e in extras)

    @property
    def extension_tag(self) -> str:
        """The tag of this interpreter's own extension modules, e.g. ``cpython-312-aarch64-linux-gnu``."""
        return f"cpython-3{self.python_minor}-{self.machine}-linux-gnu"

    def key(self) -> dict[str, object]:
        return {"runtime": self.runtime, "machine": self.machine, "glibc": list(self.glibc)}
