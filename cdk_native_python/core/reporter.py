"""One way out for everything the engine tells the user besides errors: warnings, notices and progress.

The engine never prints. It calls a :class:`Reporter` (injected, with a stderr default), so that

* the CLI prints each warning as one line, exactly once;
* the constructs turn each warning into a CDK annotation on the construct it concerns (so that
  ``cdk synth --strict`` fails on it and it can be acknowledged by its id);
* tests can collect what was said.

A :class:`Notice` has a stable ``code`` (its annotation id is ``cdk-native-python:<code>``) and the
one-line ``message`` a user acts on. Progress (``phase``) is drawn by :mod:`~cdk_native_python.core.progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from . import progress, settings
from .hints import Interface, speak
from .progress import heading

__all__ = ["Level", "Notice", "Reporter", "silent"]

Level = Literal["warning", "info"]


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
        label = "warning: " if self.level == "warning" else ""
        return f"{heading(subject)} {label}{self.message}"


def _stderr(text: str) -> None:
    progress.console().line(text)  # through the console: a live progress line is erased first


@dataclass
class Reporter:
    """Collects the notices of one or more builds and forwards each one to ``sink`` once.

    ``subject`` names what is being built (a construct path, an output file) in printed lines.
    ``on_phase`` receives progress (e.g. "resolving 16 requirements for python3.13/arm64"; "" when the
    step is over); by default progress is not shown, except inside :func:`progress.shown` (the CLI).
    """

    subject: str = ""
    sink: Callable[[Notice, str], None] | None = None
    on_phase: progress.PhaseCallback | None = field(default_factory=progress.default_phase)
    notices: list[Notice] = field(default_factory=list)
    #: whose language the options a notice names are spelt in (hints.py): the CLI's flags or the construct's
    interface: Interface = "construct"

    def emit(self, notice: Notice) -> None:
        notice = Notice(notice.code, speak(notice.message, self.interface), notice.level)
        if notice in self.notices:
            return  # the same warning from two steps (or two targets of a layer) is said once
        self.notices.append(notice)
        if self.sink is not None:
            self.sink(notice, self.subject)
        elif not settings.QUIET.on():
            _stderr(notice.line(self.subject))

    def warn(self, code: str, message: str) -> None:
        self.emit(Notice(code, message, "warning"))

    def info(self, code: str, message: str) -> None:
        self.emit(Notice(code, message, "info"))

    def phase(self, text: str) -> None:
        """A step began (shown if it lasts, see :mod:`~cdk_native_python.core.progress`)."""
        if self.on_phase is not None:
            self.on_phase(text, self.subject)

    def idle(self) -> None:
        """The current step is over: a live progress line is erased before anything else is printed."""
        self.phase("")

    def child(self) -> Reporter:
        """A reporter for one step: it forwards everything here and keeps, in its own ``notices``, what that
        step said (the engine stores what bundling said in the report)."""
        return Reporter(self.subject, sink=lambda notice, _subject: self.emit(notice),
                        on_phase=lambda text, _subject: self.phase(text), interface=self.interface)

    @property
    def warnings(self) -> list[Notice]:
        return [n for n in self.notices if n.level == "warning"]


def silent() -> Reporter:
    """A reporter that only collects (for callers that show notices themselves)."""
    return Reporter(sink=lambda _notice, _subject: None)
