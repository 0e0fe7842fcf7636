"""Downloading wheels while the resolution is still being made: the overlap ``uv pip install`` has by itself.

A cold build resolves with hashes first (``uv pip compile --generate-hashes``: metadata only), then installs
the pins (the wheels). ``uv pip install`` alone downloads each wheel as soon as its version is chosen. To get the
same overlap, :func:`warmer` starts an unhashed ``uv pip install`` of the same requirements, for the same target,
from the same indexes, into a scratch folder, beside the compile and over the same uv cache. Its only product is
that cache: the install that follows renders the pins from the record and installs them with
``--require-hashes``, so uv checks every wheel it takes from the cache against the pinned digests. Nothing of
the speculative run is kept: when it picked other versions, its wheels just go unused.

What it may do is what the compile beside it may do: binary wheels only (``--only-binary :all:``, no build of
any package), the same requirement file (local packages already built by us), the same credentials through
the same private netrc. It is not started for requirements that name URLs (a URL's server would see every
request twice) nor for locks (they install their pins directly). Packages the strip will leave out anyway
(the runtime's boto3 family, the layers' packages) are excluded, so they are not downloaded for nothing.

After the compile it is given a short grace to finish its downloads (the install needs them next), then
stopped. A stopped uv leaves no half-written cache entry (it renames each into place).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.spec import DependencySpec
from ..core.target import Target
from ..store import Store
from . import uv

#: the longest wait for the speculative downloads once the resolution is made, in seconds: past it, the install
#: fetches what is missing itself (uv's cache is shared: what was downloaded stays)
GRACE_MAX = 10.0
#: the wait as a share of the compile's own time (a download that long may well be near its end)
GRACE_SHARE = 0.5


class Warmer:
    """The speculative install of :func:`warmer`."""

    def __init__(self, run: uv.Background) -> None:
        self._run = run
        self._start = time.perf_counter()

    def finish(self) -> None:
        """The resolution is made, its install comes next: let the downloads finish a little while, then stop."""
        self._run.wait(min(GRACE_MAX, GRACE_SHARE * (time.perf_counter() - self._start)))
        self._run.stop()


@contextmanager
def warmer(spec: DependencySpec, target: Target, store: Store, work: Path, requirements: Path,
           constraints: Path | None, leave_out: Collection[str] | None) -> Iterator[Warmer | None]:
    """A speculative install of ``requirements`` (the compile's own file, in its scratch folder ``work``) beside
    the compile, stopped when the block is left (the caller calls :meth:`Warmer.finish` once the compile
    succeeded). None when ``leave_out`` is None (no speculation asked for) or uv cannot be started."""
    if leave_out is None:
        yield None
        return
    args = ["pip", "install", "--target", str(work / "warm"), "--only-binary", ":all:",
            "--python-platform", target.uv_python_platform, "--python-version", target.python_version,
            "--link-mode", "hardlink", "--no-compile", "--quiet", "-r", str(requirements)]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    if leave_out:
        excludes = work / "warm-excludes.txt"
        excludes.write_text("".join(f"{name}\n" for name in sorted(leave_out)), encoding="utf-8")
        args += ["--excludes", str(excludes)]
    try:
        run = uv.Background([*args, *spec.indexes.uv_args()], store.uv_cache,
                           credentials=(*spec.indexes.credentials(), *spec.credentials))
    except OSError:
        yield None  # a speculation that cannot start changes nothing: the install downloads as before
        return
    warm = Warmer(run)
    try:
        yield warm
    finally:
        run.stop()
