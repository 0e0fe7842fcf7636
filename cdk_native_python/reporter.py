"""One way out for everything the engine tells the user besides errors: warnings, notices and progress.

The engine never prints. It calls a :class:`Reporter` (injected, with a stderr default), so that

* the CLI prints each warning as one line, exactly once;
* the constructs turn each warning into a CDK annotation on the construct it concerns (so that
  ``cdk synth --strict`` fails on it and it can be acknowledged by its id);
* tests can collect what was said.

A :class:`Notice` has a stable ``code`` (its annotation id is ``cdk-native-python:<code>``) and the
one-line ``message`` a user acts on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

PREFIX = "[cdk-native-python]"
QUIET_ENV = "CDK_NATIVE_PYTHON_QUIET"
VERBOSE_ENV = "CDK_NATIVE_PYTHON_VERBOSE"

Level = Literal["warning", "info"]


def env_flag(name: str) -> bool:
    """An on/off environment variable: anything but unset, empty or ``0`` is on."""
    return os.environ.get(name, "") not in ("", "0")


@dataclass(frozen=True)
class Notice:
    """Something the user should know about a bundle: a ``warning`` to act on, or an ``info`` notice."""

    code: str
    message: str
    level: Level = "warning"

    @property
    def annotation_id(self) -> str:
        """The id under which CDK shows (and lets users acknowledge) this notice."""
        return f"cdk-native-python:{self.code}"

    def line(self, subject: str = "") -> str:
        where = f" {subject}:" if subject else ""
        label = "warning: " if self.level == "warning" else ""
        return f"{PREFIX}{where} {label}{self.message}"


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Reporter:
    """Collects the notices of one or more builds and forwards each one to ``sink`` once.

    ``subject`` names what is being built (a construct path, an output file) in printed lines.
    ``phase`` receives progress (e.g. "resolving 16 requirements for python3.13/arm64"); by default
    progress is not shown.
    """

    subject: str = ""
    sink: Callable[[Notice, str], None] | None = None
    on_phase: Callable[[str, str], None] | None = None
    notices: list[Notice] = field(default_factory=list)

    def emit(self, notice: Notice) -> None:
        if notice in self.notices:
            return  # the same warning from two steps (or two targets of a layer) is said once
        self.notices.append(notice)
        if self.sink is not None:
            self.sink(notice, self.subject)
        elif not env_flag(QUIET_ENV):
            _stderr(notice.line(self.subject))

    def warn(self, code: str, message: str) -> None:
        self.emit(Notice(code, message, "warning"))

    def info(self, code: str, message: str) -> None:
        self.emit(Notice(code, message, "info"))

    def phase(self, text: str) -> None:
        if self.on_phase is not None:
            self.on_phase(text, self.subject)

    @property
    def warnings(self) -> list[Notice]:
        return [n for n in self.notices if n.level == "warning"]


def silent() -> Reporter:
    """A reporter that only collects (for callers that show notices themselves)."""
    return Reporter(sink=lambda _notice, _subject: None)
