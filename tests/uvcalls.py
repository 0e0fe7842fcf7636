"""Counting uv runs from outside the package: the tests and the benchmark see every ``uv.run`` of a block.

Every step runs uv through ``cdk_native_python.pipeline.uv.run`` (the module's attribute), so wrapping that attribute
for the block sees each call; the package keeps no observer hook of its own. Imports nothing heavy (the
benchmark times its own imports).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cdk_native_python.pipeline import uv


@dataclass(frozen=True)
class Call:
    """One finished uv run: the subcommand's arguments, whether offline, the time it took, its exit code."""

    args: tuple[str, ...]
    offline: bool
    seconds: float
    returncode: int

    @property
    def kind(self) -> str:
        """``pip compile``, ``pip install --offline``, ``build``, ..."""
        words = [a for a in self.args[:2] if not a.startswith("-")]
        return " ".join(words) + (" --offline" if self.offline else "")


@contextlib.contextmanager
def observed(observer: Callable[[Call], None]) -> Iterator[None]:
    """Call ``observer`` after every uv run while the block runs."""
    real = uv.run

    def run(args: Any, *rest: Any, **options: Any) -> uv.Result:
        start = time.perf_counter()
        result = real(args, *rest, **options)
        observer(Call(tuple(args), bool(options.get("offline")), time.perf_counter() - start, result.returncode))
        return result

    uv.run = run  # type: ignore[assignment]
    try:
        yield
    finally:
        uv.run = real  # type: ignore[assignment]
