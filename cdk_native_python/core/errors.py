"""One exception family whose messages are written for the person running ``cdk synth``.

Every error a user can cause is a :class:`BundlingError` carrying *what* went wrong (naming the file,
line, package or target at fault), a *hint* saying how to fix it, and a stable *code* (like pip's
``DiagnosticPipError``) that scripts can match on; every code is in the registry :mod:`.codes` (and
``docs/codes.md``, generated from it). The class decides the command line's exit code (``exit_status``).
The construct layer and the CLI print these without a traceback; anything else escaping the engine is a bug in
cdk-native-python.

An error keeps its class, hint and code when the construct layer names the function it concerns
(:meth:`BundlingError.about`).
"""

from __future__ import annotations

import copy
from typing import ClassVar, TypeVar

from .hints import Interface, speak

_E = TypeVar("_E", bound="BundlingError")

#: the command line's exit codes for errors (0 is success, 4 an internal error, 130 an interrupt)
EXIT_BUNDLING = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3

#: what an error echoes from a user's file at most: enough to find the line, never a whole secret
ECHO_LIMIT = 60


def excerpt(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters for a message (a line of a file may hold a secret)."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


class BundlingError(Exception):
    """A problem the user can fix. ``str()`` gives the subject, the message and the hint."""

    #: the stable code of the class; a raise site may give a more precise one (``code=``)
    default_code: ClassVar[str] = "bundling-failed"
    #: the command line's exit code for errors of this class
    exit_status: ClassVar[int] = EXIT_BUNDLING

    def __init__(self, message: str, hint: str | None = None, *, code: str | None = None) -> None:
        super().__init__(speak(message))
        #: as written, options named through hints.option (see :meth:`spoken`)
        self.raw: tuple[str, str | None] = (message, hint)
        #: the message and hint in the construct's language (the default interface)
        self.message = speak(message)
        self.hint = None if hint is None else speak(hint)
        #: the function, layer or output the error concerns (e.g. ``Stack/Api``), set by :meth:`about`
        self.subject: str | None = None
        self.code: str = code or self.default_code

    def about(self: _E, subject: str) -> _E:
        """The same error (class, hint, code) naming what it concerns, e.g. the construct path."""
        named = copy.copy(self)
        named.subject = subject
        return named

    def spoken(self, interface: Interface) -> tuple[str, str | None]:
        """(message, hint) with the options they name spelt for ``interface`` (the CLI: ``--keep-boto3``)."""
        message, hint = self.raw
        return speak(message, interface), None if hint is None else speak(hint, interface)

    @property
    def headline(self) -> str:
        """The message, preceded by the subject when there is one."""
        return f"{self.subject} could not be bundled: {self.message}" if self.subject else self.message

    def __str__(self) -> str:
        return f"{self.headline}\n  hint: {self.hint}" if self.hint else self.headline


class ConfigurationError(BundlingError):
    """Construct props or CLI options that cannot work: a missing entry, a runtime that is not Python 3, an
    unknown architecture or bundling option, a malformed remote cache URL (codes such as ``entry-missing``,
    ``runtime-unsupported``, ``architecture-unknown``, ``bundling-option-unknown``, ``remote-cache-url``)."""

    default_code = "invalid-configuration"
    exit_status = EXIT_USAGE


class InputError(BundlingError):
    """A dependency file or source tree that cannot be read as it is.

    A malformed requirement or marker, a missing include or local path, a file too large, binary or not
    regular, a link loop or special file in the source (codes ``invalid-requirement``, ``input-too-large``,
    ``input-not-a-file``, ``local-path``, ``source-changed``, ``pipfile-not-locked``, ...).
    """

    default_code = "invalid-input"
    exit_status = EXIT_USAGE


class ResolutionError(BundlingError):
    """No set of wheels for the target: an unknown package (``package-not-found``), a conflict
    (``no-solution``), no wheel for the platform (``no-wheel``), a build that is refused or fails."""

    default_code = "resolution-failed"


class InstallError(BundlingError):
    """Installing the resolved set failed; most often a file that is not the one recorded (``hash-mismatch``)."""

    default_code = "install-failed"


class HookError(BundlingError):
    """A command of the user's ``command_hooks`` failed (its output's last lines are in the message)."""

    default_code = "hook-failed"


class IndexUnreachableError(BundlingError):
    """A package index, a find-links page, a direct URL or a file they list could not be downloaded: offline,
    DNS, TLS, proxy, refused credentials or another HTTP answer (codes ``<kind>-unreachable``,
    ``<kind>-credentials``, ``<kind>-not-found``, ``<kind>-http-error``, ``url-head-unsupported``,
    ``download-head-unsupported``; ``<kind>`` is ``index``, ``find-links``, ``url`` or ``download``; a direct
    URL that answers 404 is a :class:`ResolutionError` ``url-not-found``).
    The command line exits with 3 for it, so CI can tell the network from the inputs."""

    default_code = "index-unreachable"
    exit_status = EXIT_NETWORK


class VerificationError(BundlingError):
    """The assembled bundle would not run on the target: a native file for another platform or a newer
    glibc (``native-code-unfit``), or code plus layers over Lambda's 250 MB (``size-limit``,
    ``source-too-large``). Every raise site names its code: there is no generic one."""

    default_code = "native-code-unfit"


class CacheError(BundlingError):
    """The cache directory cannot be used and no fallback applies (``cache-unusable``), or its disk filled up
    (``cache-disk-full``)."""

    default_code = "cache-unusable"


class UsageError(ConfigurationError):
    """(command line) A flag, or a combination of flags, that cannot work."""


class OutputError(BundlingError):
    """(command line) The output (``--output``, ``--zip``, ``--report``) cannot be written: full disk, read-only,
    permissions."""

    default_code = "output-unwritable"
