"""What the user sees while a build works: one line per slow step, or one live line on a terminal.

A step (a *phase*: "resolving 16 requirements for python3.13/arm64") is shown only once it has lasted
:data:`DELAY` seconds, so a warm build, whose steps take milliseconds, prints nothing but its summary.

* On a terminal the step is one line that updates in place (with the seconds spent) and is erased when the
  step ends, so the summary line that follows takes its place. The CDK CLI runs the app with the
  terminal as its stderr (measured with aws-cdk 2.1148: ``isatty(2)`` is true in the app), so this also
  holds inside ``cdk synth``.
* Otherwise (a pipe, a file, or ``CI`` set as CI systems do) each step that lasts is one plain line,
  printed once.
* ``CDK_NATIVE_PYTHON_VERBOSE`` prints every step at once as a plain line; ``CDK_NATIVE_PYTHON_QUIET``
  prints nothing.

A daemon thread draws the line while the main thread is busy (uv runs in a subprocess). The whole module is
the standard library: a progress library such as ``rich`` costs ~40 ms of imports on every warm synth for a
single line (measured with ``python -X importtime``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from . import settings

PREFIX = "[cdk-native-python]"

#: a step shorter than this is never shown
DELAY = 1.0
#: how often the live line is redrawn (its seconds counter)
REFRESH = 0.5
_ERASE = "\r\x1b[K"

#: terminal escape sequences: CSI (``ESC [`` … final byte; ``\x9b`` …), OSC (``ESC ]`` … BEL or ST: a clipboard
#: write, a window title, a hyperlink), DCS/SOS/PM/APC strings, and two-byte ``ESC x`` sequences
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
                     r"|(?:\x1b[]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                     r"|\x1b[ -~]")
#: what is left that a terminal acts on: C0 but the line feed (a tab becomes a space), DEL, C1
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

#: what a reporter calls with (text, subject) when a step begins; empty text: no step is running any more
PhaseCallback = Callable[[str, str], None]


def _ci() -> bool:
    """``CI`` is the CI system's variable, not ours: any value but empty or an off word is on."""
    return os.environ.get("CI", "").strip().lower() not in ("", *settings.OFF)


def count(n: int, noun: str) -> str:
    """``1 package``, ``31 packages``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def heading(subject: str) -> str:
    return f"{PREFIX} {subject}:" if subject else PREFIX


def printable(text: str) -> str:
    """``text`` as it may reach a terminal: escape sequences removed, other control characters shown as ``?``.

    Everything we print goes through here (:class:`Console`, :func:`echo`): package names, versions, paths and
    messages can come from a report file, a store entry, a lock or uv, and a name holding ``ESC ] 52`` would
    write the user's clipboard, ``ESC [ 2J`` clear the screen. Line feeds stay: they are ours."""
    return _CONTROL.sub("?", _ESCAPE.sub("", text).replace("\t", " "))


def echo(text: str, stream: TextIO | None = None) -> None:
    """Print one or more lines (stderr by default) through :func:`printable`."""
    out = stream or sys.stderr
    out.write(printable(text) + "\n")
    out.flush()


class Console:
    """Our lines on stderr (or ``stream``): permanent lines, and the progress of the current step.

    On a terminal the step is one line updated in place; ``verbose`` / ``quiet`` default to the
    environment variables, read when each step begins.
    """

    def __init__(self, stream: TextIO | None = None, *, delay: float = DELAY, verbose: bool | None = None,
                 quiet: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 threaded: bool = True) -> None:
        """``clock`` and ``threaded=False`` are for tests: with them, what the drawing thread would do is done
        by :meth:`tick`, at the time the test's clock says, instead of by a thread waiting on wall time."""
        self._stream = stream
        self._delay = delay
        self._clock = clock
        self._threaded = threaded
        self._verbose = verbose
        self._quiet = quiet
        self._cond = threading.Condition()
        self._step: tuple[str, str, float] | None = None  # (text, subject, started)
        self._shown = False  # the current step was printed (plain mode)
        self._drawn = False  # a live line is on the screen
        self._running = False  # a drawing thread is alive (it ends when no step waits to be drawn)

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr  # looked up on use: tests and tools replace sys.stderr

    @property
    def quiet(self) -> bool:
        return self._quiet if self._quiet is not None else settings.QUIET.on()

    @property
    def verbose(self) -> bool:
        return self._verbose if self._verbose is not None else settings.VERBOSE.on()

    def _is_live(self) -> bool:
        if os.environ.get("TERM", "") == "dumb" or _ci():  # CI systems that fake a terminal set CI
            return False
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):  # not a file, or closed
            return False

    # -- the reporter's side -----------------------------------------------------------------------------------

    def phase(self, text: str, subject: str = "") -> None:
        """A step began (it replaces the previous one); an empty ``text`` ends the current step."""
        with self._cond:
            self._erase()
            if not text or self.quiet:
                self._step = None
                return
            self._step = (text, subject, self._clock())
            self._shown = False
            if self.verbose:
                self._print(f"{heading(subject)} {text}")
                self._shown = True
                return
            self._start()
            self._cond.notify_all()

    def idle(self) -> None:
        self.phase("")

    def status(self, text: str, subject: str = "") -> None:
        """Change the text of the running step without starting a new one (its delay and seconds go on): a
        summary of several steps that changes often, such as ``prefetch``'s bundles."""
        with self._cond:
            if self._step is None or self.quiet or self.verbose:
                self.phase(text, subject)
                return
            self._step = (text, subject, self._step[2])
            if self._drawn:
                self._draw()

    @property
    def live(self) -> bool:
        """The step is one line updated in place (a terminal), rather than plain lines (a pipe, a CI log)."""
        return self._is_live()

    def line(self, text: str) -> None:
        """A permanent line (a notice, a summary): printed where the live line was, which follows below it."""
        with self._cond:
            self._erase()
            self._print(text)
            if self._step is not None and self._is_live() and self._due():
                self._draw()

    # -- drawing (the caller holds the lock) ------------------------------------------------------------------

    def _print(self, text: str) -> None:
        self._write(printable(text) + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: progress is not worth an error
            pass

    def _due(self) -> bool:
        return self._step is not None and self._clock() - self._step[2] >= self._delay

    def _draw(self) -> None:
        assert self._step is not None
        text, subject, started = self._step
        line = f"{heading(subject)} {text} … {int(self._clock() - started)}s"
        width = self._columns() - 1
        if len(line) > width:  # a wrapped line could not be erased with a carriage return
            line = line[:max(width - 1, 0)] + "…"
        self._write(_ERASE + printable(line))
        self._drawn = True

    def _columns(self) -> int:
        """The width of the terminal the stream writes to (stderr's, which need not be stdout's)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 100
        except (AttributeError, OSError, ValueError):
            return shutil.get_terminal_size((100, 24)).columns

    def _erase(self) -> None:
        if self._drawn:
            self._write(_ERASE)
            self._drawn = False

    # -- the drawing thread -----------------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._running and self._threaded:
            self._running = True
            threading.Thread(target=self._run, name="cdk-native-python-progress", daemon=True).start()

    def _run(self) -> None:
        with self._cond:
            try:
                while (wait := self._next()) is not None:
                    self._cond.wait(wait)
            finally:
                self._running = False

    def tick(self) -> None:
        """Do what the drawing thread does when it wakes up (for a console made with ``threaded=False``)."""
        with self._cond:
            self._next()

    def _next(self) -> float | None:
        """Draw (or print) the current step if it is due; returns how long to wait before looking again, or
        None when no step waits to be drawn (the caller holds the lock)."""
        if self._step is None or self._shown:
            return None
        text, subject, started = self._step
        wait = started + self._delay - self._clock()
        if wait > 0:
            return wait
        if self._is_live():
            self._draw()
            return REFRESH
        self._print(f"{heading(subject)} {text} …")
        self._shown = True
        return None


_console = Console()
_session: list[Console] = []


def console() -> Console:
    """The process's console on stderr (shared by every reporter, so one live line serves the whole synth)."""
    return _session[-1] if _session else _console


def default_phase() -> PhaseCallback | None:
    """Where a reporter created without ``on_phase`` sends progress: the console inside :func:`shown`."""
    return _session[-1].phase if _session else None


@contextmanager
def shown(*, quiet: bool = False, verbose: bool = False) -> Iterator[Console]:
    """Show the progress of every reporter created inside (a command line run); ``quiet`` shows nothing."""
    session = Console(quiet=True if quiet else None, verbose=True if verbose else None)
    _session.append(session)
    try:
        yield session
    finally:
        session.idle()
        _session.remove(session)
