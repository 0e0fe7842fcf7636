"""The ``ILocalBundling`` adapter: CDK calls ``try_bundle`` during synth, we run the engine.

Errors raised inside a jsii callback come back to the app wrapped in a JavaScript stack trace; we
print our own clean message first and tag the exception so the app's excepthook can show just that.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import jsii
from aws_cdk import BundlingOptions as CdkBundlingOptions
from aws_cdk import ILocalBundling

from . import engine
from .cache import Cache
from .errors import BundlingError

MARKER = "cdk-native-python:"


def format_error(name: str, exc: BundlingError) -> str:
    return f"{MARKER} {name} could not be bundled: {exc}"


@jsii.implements(ILocalBundling)
class LocalBundler:
    def __init__(self, plan: engine.Plan, cache_dir: Path | None, name: str) -> None:
        self._plan = plan
        self._cache_dir = cache_dir
        self._name = name

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        try:
            cache = Cache(self._cache_dir)
            result = engine.bundle(self._plan, Path(output_dir), cache)
        except BundlingError as exc:
            message = format_error(self._name, exc)
            print(message, file=sys.stderr, flush=True)
            raise RuntimeError(message) from None
        if os.environ.get("CDK_NATIVE_PYTHON_QUIET", "") in ("", "0"):
            verbose = os.environ.get("CDK_NATIVE_PYTHON_VERBOSE", "") not in ("", "0")
            print(result.summary(self._name, verbose=verbose), file=sys.stderr, flush=True)
        return True


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Show a user's mistake as its message, not as a Python/JavaScript stack dump."""
    if isinstance(exc, BundlingError):
        print(f"\n{MARKER} {exc}\n", file=sys.stderr)
        return
    text = str(exc)
    if MARKER in text:
        line = text[text.index(MARKER):]
        # drop the JavaScript stack that jsii appends after our message
        cut = line.find("\n    at ")
        print("\n" + (line[:cut] if cut > 0 else line).rstrip() + "\n", file=sys.stderr)
        return
    _previous_hook(kind, exc, tb)


_previous_hook = sys.excepthook


def install_excepthook() -> None:
    if sys.excepthook is not _excepthook:
        global _previous_hook
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook


__all__ = ["CdkBundlingOptions", "LocalBundler", "install_excepthook"]
