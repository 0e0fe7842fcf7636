"""Remove files Lambda never reads from an installed tree, and optionally precompile for the target.

What goes (``SLIM_RULES``, documented in docs/what-ships.md), each rule chosen because no import can need it:

* ``__pycache__/`` and ``*.pyc``/``*.pyo``: bytecode of whatever Python wrote it, not the target's;
* ``tests/`` and ``test/`` folders: a package's own test suite is never imported by the package
  itself (``numpy.testing`` / ``pandas._testing`` are API and stay);
* Cython sources ``*.pyx``/``*.pxd``/``*.pxi``: only read when building;

Always, slim or not, :func:`drop_install_records` removes what the installer writes about *this*
install (``direct_url.json``: an absolute path; uv's ``uv_cache.json``: a timestamp; uv's ``.lock``
on the target folder), so two machines installing the same lock get byte-identical trees.

``*.dist-info`` metadata stays: ``importlib.metadata.version()`` (which many packages call at import)
and entry points read it. Precompiling uses an interpreter of exactly the target's version (bytecode
is version-specific and architecture-independent), with hash-checked ``.pyc`` so the tree stays
reproducible and a command hook that edits a ``.py`` file can never be shadowed by stale bytecode.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.distributions import Distribution, discard
from ..core.errors import BundlingError, InstallError
from ..core.records import SlimResult
from ..core.source import is_excluded
from ..core.target import Target
from . import uv

#: (pattern, why) — a pattern ending in "/" matches a folder
SLIM_RULES: tuple[tuple[str, str], ...] = (
    ("__pycache__/", "bytecode for the Python that wrote it"),
    ("*.pyc", "bytecode for the Python that wrote it"),
    ("*.pyo", "bytecode for the Python that wrote it"),
    ("tests/", "a package's own test suite"),
    ("test/", "a package's own test suite"),
    ("*.pyx", "Cython source, read only when building"),
    ("*.pxd", "Cython source, read only when building"),
    ("*.pxi", "Cython source, read only when building"),
)


@dataclass(frozen=True)
class SlimOptions:
    """``enabled=False`` keeps every file; ``keep`` globs (relative to the tree) are never removed."""

    enabled: bool = True
    keep: tuple[str, ...] = ()
    #: write ``__pycache__/*.cpython-3XX.pyc`` for the target (needs that Python version on the host)
    compile_bytecode: bool = False

    def key(self) -> dict[str, object]:
        return {"enabled": self.enabled, "keep": sorted(self.keep), "compile": self.compile_bytecode}


def _size(path: Path) -> tuple[int, int]:
    if path.is_dir() and not path.is_symlink():
        files = [Path(d, n) for d, _, names in os.walk(path) for n in names]
        return len(files), sum(f.lstat().st_size for f in files)
    return 1, path.lstat().st_size


#: per-install records inside ``*.dist-info`` that differ between machines and runs
INSTALL_RECORDS: tuple[str, ...] = ("direct_url.json", "uv_cache.json")


def drop_install_records(tree: Path, dists: Iterable[Distribution]) -> None:
    """Remove the installer's notes about this particular install, and their ``RECORD`` lines."""
    (tree / ".lock").unlink(missing_ok=True)  # uv's lock on the --target folder
    for dist in dists:
        dropped = {f"{dist.dist_info.name}/{name}" for name in INSTALL_RECORDS if (dist.dist_info / name).is_file()}
        for rel in dropped:
            (tree / rel).unlink()
        if dropped and (dist.dist_info / "RECORD").is_file():
            dist.drop_record_lines(dropped)


def slim(tree: Path, options: SlimOptions = SlimOptions(), trash: Path | None = None) -> SlimResult:
    """Apply ``SLIM_RULES`` to ``tree`` (a site-packages-like folder) in place (folders go to ``trash``)."""
    files = freed = 0
    by_rule: dict[str, int] = {}
    if not options.enabled:
        return SlimResult(0, 0, {})
    base = len(str(tree)) + 1
    for dirpath, dirnames, filenames in os.walk(tree):
        rel_dir = dirpath[base:] if len(dirpath) >= base else ""
        for d in list(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            rule = _rule_for(d + "/", rel, options.keep)
            if rule:
                n, size = _size(Path(dirpath, d))
                discard(Path(dirpath, d), trash)
                dirnames.remove(d)
                files, freed = files + n, freed + size
                by_rule[rule] = by_rule.get(rule, 0) + size
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            rule = _rule_for(name, rel, options.keep)
            if rule:
                path = Path(dirpath, name)
                size = path.lstat().st_size
                path.unlink()
                files, freed = files + 1, freed + size
                by_rule[rule] = by_rule.get(rule, 0) + size
    return SlimResult(files, freed, dict(sorted(by_rule.items())))


def _rule_for(name: str, rel: str, keep: Sequence[str]) -> str:
    for pattern, _ in SLIM_RULES:
        if pattern.endswith("/") != name.endswith("/"):
            continue
        if name != pattern and not (pattern.startswith("*.") and name.endswith(pattern[1:])):
            continue
        if keep and is_excluded(rel, keep):
            return ""
        return pattern
    return ""


def find_interpreter(target: Target) -> str | None:
    """A host Python of exactly the target's version (bytecode does not depend on the architecture)."""
    if sys.version_info[:2] == (3, target.python_minor):
        return sys.executable
    candidates = [shutil.which(f"python{target.python_version}")]
    with contextlib.suppress(BundlingError, OSError):  # interpreters uv installed ("uv python install 3.13")
        found = uv.run(["python", "find", "--no-project", target.python_version], Path(tempfile.gettempdir()))
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(found.stdout.strip().splitlines()[-1])
    for exe in filter(None, candidates):
        proc = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip() == target.python_version:
            return exe
    return None


def precompile(tree: Path, target: Target) -> tuple[int, str]:
    """Write hash-checked bytecode for ``target`` into ``tree``; returns (files written, interpreter)."""
    exe = find_interpreter(target)
    if exe is None:
        raise InstallError(
            f"compile_bytecode is on but no Python {target.python_version} was found on this machine "
            f"(bytecode must be written by the target's version, {target.runtime})",
            f"install Python {target.python_version} (e.g. 'uv python install {target.python_version}' and put it "
            f"on PATH as python{target.python_version}), or turn compile_bytecode off")
    # -s strips the cache path from code objects: tracebacks show package-relative paths and the
    # bytes do not depend on where the cache lives
    proc = subprocess.run([exe, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash",
                           "-s", str(tree), str(tree)], capture_output=True, text=True, check=False)
    # compileall exits 1 when some file does not compile (e.g. py2-only modules a package never imports);
    # such files are also left out by pip/uv, so do the same
    written = sum(1 for _ in tree.rglob("__pycache__/*.pyc"))
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not written):
        raise InstallError(f"precompiling bytecode with {exe} failed:\n    {proc.stderr.strip()[-800:]}",
                           "turn compile_bytecode off, or report the failing file to us")
    return written, f"{exe} ({target.python_version})"
