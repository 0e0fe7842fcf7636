"""One exception family whose messages are written for the person running ``cdk synth``.

Every error a user can cause is a :class:`BundlingError` carrying *what* went wrong (naming the file,
line, package or target at fault), a *hint* saying how to fix it, and a stable *code* (like pip's
``DiagnosticPipError``) that the README lists and scripts can match on. The construct layer and the CLI
print these without a traceback; anything else escaping the engine is a bug in cdk-native-python.

An error keeps its class, hint and code when the construct layer names the function it concerns
(:meth:`BundlingError.about`).
"""

from __future__ import annotations

import copy
from typing import ClassVar, TypeVar

_E = TypeVar("_E", bound="BundlingError")

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

    def __init__(self, message: str, hint: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: the function, layer or output the error concerns (e.g. ``Stack/Api``), set by :meth:`about`
        self.subject: str | None = None
        self.code: str = code or self.default_code

    def about(self: _E, subject: str) -> _E:
        """The same error (class, hint, code) naming what it concerns, e.g. the construct path."""
        named = copy.copy(self)
        named.subject = subject
        return named

    @property
    def headline(self) -> str:
        """The message, preceded by the subject when there is one."""
        return f"{self.subject} could not be bundled: {self.message}" if self.subject else self.message

    def __str__(self) -> str:
        return f"{self.headline}\n  hint: {self.hint}" if self.hint else self.headline


class ConfigurationError(BundlingError):
    """Construct props or CLI options that cannot work (missing entry, non-Python runtime, ...)."""

    default_code = "invalid-configuration"


class InputError(BundlingError):
    """A dependency file or source tree that cannot be read: malformed line, missing include, loop, ..."""

    default_code = "invalid-input"


class ResolutionError(BundlingError):
    """The resolver found no set of wheels for the target (unknown package, conflict, no wheel)."""

    default_code = "resolution-failed"


class InstallError(BundlingError):
    """Installing the resolved set failed (hash mismatch, download failure, ...)."""

    default_code = "install-failed"


class HookError(BundlingError):
    """A command of the user's ``command_hooks`` failed."""

    default_code = "hook-failed"


class IndexUnreachableError(BundlingError):
    """A package index could not be reached (offline, DNS, TLS, credentials)."""

    default_code = "index-unreachable"


class VerificationError(BundlingError):
    """The assembled bundle would not run on the target (foreign binary, glibc too new, too large)."""

    default_code = "verification-failed"


class CacheError(BundlingError):
    """The cache directory cannot be used (read-only, full, not private) and no fallback applies."""

    default_code = "cache-unusable"
