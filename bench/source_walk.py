"""Time the walk of a function's source: the hash (every synth) and hash + copy (every bundle).

    .venv/bin/python -S bench/source_walk.py [REPO]

``REPO`` (default: this checkout) is put first on ``sys.path``, so an export of another commit
(``git archive <commit> | tar -x -C /tmp/old``) is measured the same way; ``-S`` keeps the editable install
of this checkout out of the way. Entries: the example app's functions and a generated 5,000-file tree;
copies go to /dev/shm when it exists, so the disk's noise stays out of the figures. Prints the best and
the median of several runs in milliseconds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def make_tree(root: Path, n: int = 5000) -> Path:
    """``n`` Python files of 10 B to 2.4 kB in 350 folders (a vendored-library-sized source)."""
    if root.exists():
        return root
    for i in range(n):
        d = root / f"pkg{i % 50:02d}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_bytes((f"# module {i}\n" + "x = 1\n" * (i % 400)).encode())
    return root


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).absolute()
    sys.path.insert(0, str(repo))
    from cdk_native_python.core.source import DEFAULT_EXCLUDES

    digest: Callable[[Path], object]
    copy: Callable[[Path, Path], object]
    try:
        from cdk_native_python.core.source import snapshot

        def digest(entry: Path) -> object:
            return snapshot(entry, DEFAULT_EXCLUDES).digest

        def copy(entry: Path, out: Path) -> object:
            return snapshot(entry, DEFAULT_EXCLUDES).copy_to(out)
    except ImportError:  # before the one-walk source module: tree_digest for the hash, copy_source for the copy
        from cdk_native_python.core.source import tree_digest
        from cdk_native_python.pipeline.stage import copy_source  # type: ignore[attr-defined]

        def digest(entry: Path) -> object:
            return tree_digest(entry, DEFAULT_EXCLUDES)

        def copy(entry: Path, out: Path) -> object:
            tree_digest(entry, DEFAULT_EXCLUDES)
            return copy_source(entry, out)

    scratch = Path(tempfile.gettempdir()) / "cdk-native-python-source-bench"
    copies = Path("/dev/shm") if Path("/dev/shm").is_dir() else scratch
    entries = [repo / "integ" / "functions" / "api", repo / "integ" / "functions" / "worker",
               make_tree(scratch / "tree5000")]
    for entry in entries:
        files = sum(len(names) for _, _, names in os.walk(entry))

        def copied(entry: Path = entry) -> None:
            out = Path(tempfile.mkdtemp(dir=copies))
            try:
                copy(entry, out)
            finally:
                shutil.rmtree(out)

        def hashed(entry: Path = entry) -> object:
            return digest(entry)

        h, c = timed(hashed, 7), timed(copied, 5)
        print(f"{entry.name:10} {files:5} files  hash best {h[0]:8.2f} median {h[1]:8.2f} ms   "
              f"hash+copy best {c[0]:8.2f} median {c[1]:8.2f} ms")


if __name__ == "__main__":
    main()
