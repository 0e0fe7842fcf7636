"""One exception family whose messages are written for the person running ``cdk synth``.

Every error a user can cause is a :class:`BundlingError` carrying *what* went wrong (naming the file,
line, package or target at fault) and a *hint* saying how to fix it. The construct layer and the CLI
print these without a traceback; anything else escaping the engine is a bug in cdk-native-python.
"""

from __future__ import annotations


class BundlingError(Exception):
    """A problem the user can fix. ``str()`` gives the message followed by the hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigurationError(BundlingError):
    """Construct props or CLI options that cannot work (missing entry, non-Python runtime, ...)."""


class InputError(BundlingError):
    """A dependency file that cannot be read: malformed line, missing include, include loop, ..."""


class ResolutionError(BundlingError):
    """The resolver found no set of wheels for the target (unknown package, conflict, no wheel)."""


class InstallError(BundlingError):
    """Installing the resolved set failed (hash mismatch, download failure, ...)."""


class IndexUnreachableError(BundlingError):
    """A package index could not be reached (offline, DNS, TLS, credentials)."""


class VerificationError(BundlingError):
    """The assembled bundle would not run on the target (foreign binary, glibc too new, too large)."""


class CacheError(BundlingError):
    """The cache directory cannot be used (read-only, full) and no fallback applies."""
