"""Every environment variable cdk-native-python reads: name, type, default and meaning, in one table.

Our own variables (``CDK_NATIVE_PYTHON_*``) are read through this module only: ``tests/test_settings.py``
fails when another module reads one from ``os.environ``. Their on/off variables share one grammar: ``1``,
``true``, ``yes``, ``on`` / ``0``, ``false``, ``no``, ``off``, any case; empty is unset; anything else is an
``environment-invalid`` error naming the variable (never a silent guess). Variables of other tools that we
honour (``SOURCE_DATE_EPOCH``, ``NETRC``, ``CI``, ...) are listed here for the documentation and read where
they are used, as those tools define them. ``docs/environment.md`` is generated from :data:`VARIABLES`.

Adding a variable: a line here and its read through it; ``scripts/gen-docs`` updates the page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError, excerpt

__all__ = ["CACHE_DIR", "NO_DOWNLOAD_AHEAD", "PREFETCH_FILE", "PREFIX", "QUIET", "REFRESH", "REMOTE_CACHE",
           "REMOTE_CACHE_SIGNING_KEY", "REMOTE_CACHE_SIGNING_KEY_FILE", "REMOTE_CACHE_TIMEOUT",
           "REMOTE_CACHE_TRUSTED_KEYS", "REMOTE_CACHE_WRITE", "VARIABLES", "VERBOSE", "Flag", "Honoured", "Text",
           "Variable", "check", "on_off"]

#: the prefix of our own variables
PREFIX = "CDK_NATIVE_PYTHON_"
ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Variable:
    """An environment variable and what the documentation says of it."""

    name: str
    #: what it holds, as the documentation names it (``on/off``, ``path``, ...)
    type: str
    default: str
    meaning: str

    def raw(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The value, stripped; ``None`` when unset or empty."""
        value = (os.environ if environ is None else environ).get(self.name, "").strip()
        return value or None


def on_off(name: str, value: str | None) -> bool | None:
    """``value`` read with the on/off grammar (``None``: unset); anything else is an error naming ``name``."""
    if value is None or not value.strip():
        return None
    word = value.strip().lower()
    if word in ON or word in OFF:
        return word in ON
    raise ConfigurationError(f"{name}={excerpt(value, 20)!r} is neither on nor off",
                             f"set {name} to 1, true, yes or on (on), or 0, false, no or off (off), or unset it",
                             code="environment-invalid")


@dataclass(frozen=True)
class Flag(Variable):
    """An on/off variable of ours (unset: off)."""

    def on(self, environ: Mapping[str, str] | None = None) -> bool:
        return bool(on_off(self.name, self.raw(environ)))


@dataclass(frozen=True)
class Text(Variable):
    """A variable of ours holding a path or a URL (unset or empty: the default applies)."""

    def value(self, environ: Mapping[str, str] | None = None) -> str | None:
        return self.raw(environ)

    def path(self, environ: Mapping[str, str] | None = None) -> Path | None:
        value = self.raw(environ)
        return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class Honoured(Variable):
    """Another tool's variable that we honour, read where it is used (listed here for the documentation)."""


CACHE_DIR = Text(f"{PREFIX}CACHE_DIR", "path", "the user cache directory (`$XDG_CACHE_HOME/cdk-native-python` "
                 "on Linux, `~/Library/Caches/cdk-native-python` on macOS)",
                 "the cache location; the `cache_dir` option, cdk.json and `--cache-dir` win over it")
REFRESH = Flag(f"{PREFIX}REFRESH", "on/off", "off",
               "re-resolve floating requirements now (as the `refresh` option and `--refresh` do)")
VERBOSE = Flag(f"{PREFIX}VERBOSE", "on/off", "off",
               "every step at once; in `cdk synth` also one line per package and the report's path")
QUIET = Flag(f"{PREFIX}QUIET", "on/off", "off", "no progress or warning lines, and in `cdk synth` no summary lines "
             "(CDK annotations and errors still show)")
REMOTE_CACHE = Text(f"{PREFIX}REMOTE_CACHE", "`s3://BUCKET[/PREFIX]`", "unset: no remote cache",
                    "the remote cache to read; the `remote_cache` option, cdk.json and `--remote-cache` win over it")
REMOTE_CACHE_WRITE = Flag(f"{PREFIX}REMOTE_CACHE_WRITE", "on/off", "off", "upload what this machine builds to the "
                          "remote cache (trusted CI only); `--remote-cache-write` turns it on too")

REMOTE_CACHE_TRUSTED_KEYS = Text(
    f"{PREFIX}REMOTE_CACHE_TRUSTED_KEYS", "`ed25519:<base64>` keys, comma or space separated",
    "unset: unsigned entries are read", "only remote entries signed by one of these keys are used; the "
    "`remote_cache_trusted_keys` option, cdk.json's `remoteCacheTrustedKeys` and `--remote-cache-trusted-key` win")
REMOTE_CACHE_SIGNING_KEY = Text(
    f"{PREFIX}REMOTE_CACHE_SIGNING_KEY", "Ed25519 private key (PKCS#8 PEM, or base64 of the 32-byte seed)",
    "unset", "the writer's signing key (trusted CI only; from a secret store, never from cdk.json)")
REMOTE_CACHE_SIGNING_KEY_FILE = Text(
    f"{PREFIX}REMOTE_CACHE_SIGNING_KEY_FILE", "path", "unset",
    "a file holding the writer's signing key (as `cache keygen FILE` writes it)")
REMOTE_CACHE_TIMEOUT = Text(
    f"{PREFIX}REMOTE_CACHE_TIMEOUT", "seconds", "120",
    "the deadline for fetching and unpacking one remote entry; past it the entry is a miss and the remote is "
    "not asked again by this process")
NO_DOWNLOAD_AHEAD = Flag(
    f"{PREFIX}NO_DOWNLOAD_AHEAD", "on/off", "off", "a cold resolution downloads no wheels while it resolves (by "
    "default an unhashed, binary-only `uv pip install` of the same requirements runs beside it to fill uv's "
    "cache, as `uv pip install` overlaps its own downloads; on: one request per file to the index, as before)")
PREFETCH_FILE = Text(
    f"{PREFIX}PREFETCH_FILE", "path", "unset", "set by `cdk-native-python prefetch` for the app it runs: where "
    "the constructs write down their bundle requests instead of bundling (not meant to be set by hand)")

#: every variable, ours first (the documentation keeps this order)
VARIABLES: tuple[Variable, ...] = (
    CACHE_DIR, REFRESH, VERBOSE, QUIET, REMOTE_CACHE, REMOTE_CACHE_WRITE, REMOTE_CACHE_TRUSTED_KEYS,
    REMOTE_CACHE_SIGNING_KEY, REMOTE_CACHE_SIGNING_KEY_FILE, REMOTE_CACHE_TIMEOUT, NO_DOWNLOAD_AHEAD,
    PREFETCH_FILE,
    Honoured("XDG_CACHE_HOME", "path", "`~/.cache`", "the default cache location's parent (Linux)"),
    Honoured("SOURCE_DATE_EPOCH", "integer (Unix time)", "1980-01-01", "the timestamp of every zip entry written by "
             "`build --zip` (clamped to 1980–2107, odd seconds rounded down; not a number: `environment-invalid`), "
             "and of wheels built from local packages"),
    Honoured("NETRC", "path", "`~/.netrc`", "the netrc file read for index and URL credentials"),
    Honoured("CI", "on/off", "off", "plain progress lines instead of a live line (any value but empty, `0`, "
             "`false`, `no`, `off`)"),
    Honoured("TERM", "text", "", "`dumb`: plain progress lines instead of a live line"),
    Honoured("COLUMNS", "integer", "the terminal's width", "the live progress line's width when the terminal cannot "
             "be asked; uv always runs with `COLUMNS=10000` so its messages stay one line each"),
    Honoured("AWS_*", "AWS configuration", "boto3's", "the remote cache's endpoint (`AWS_ENDPOINT_URL_S3`, "
             "`AWS_ENDPOINT_URL`), region and credentials: the standard AWS configuration, read by boto3"),
    Honoured("UV_INDEX_<NAME>_USERNAME / _PASSWORD, POETRY_HTTP_BASIC_<NAME>_USERNAME / _PASSWORD", "text", "",
             "index credentials, read when the dependency file is read (never stored, hashed or printed)"),
    Honoured("any `${VAR}` in a dependency file", "text", "", "expanded when the dependency file is read; unset is "
             "an `invalid-input` error"),
)


def check(environ: Mapping[str, str] | None = None) -> None:
    """Every variable of ours parses: a typo is said at the start of a command or a synth, naming the variable,
    rather than in the middle of a build (or never)."""
    for variable in VARIABLES:
        if isinstance(variable, Flag):
            variable.on(environ)
