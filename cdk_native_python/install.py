"""``Lock`` + ``Target`` → an installed, stripped dependency tree in the cache.

The tree is keyed by the lock's content, the target and the strip options, so every function with
the same dependencies shares one entry and a re-synth only links or copies it. Installation runs
``--offline`` first (uv's wheel cache usually has everything once a lock exists: no index round
trip), then online if something is missing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import uv
from .cache import Cache, digest
from .errors import InstallError
from .resolve import ENGINE_VERSION, Lock, explain_failure
from .strip import StripOptions, StripResult, installed, strip
from .target import Target

TREE = "tree"
META = "meta.json"


@dataclass(frozen=True)
class InstalledTree:
    key: str
    path: Path  # the site-packages-like folder
    meta: dict[str, object]

    @property
    def packages(self) -> dict[str, str]:
        packages: dict[str, str] = dict(self.meta.get("packages", {}))  # type: ignore[call-overload]
        return packages


def tree_key(lock: Lock, target: Target, strip_options: StripOptions) -> str:
    return digest({"engine": ENGINE_VERSION, "lock": lock.text, "target": target.key(),
                   "strip": strip_options.key(), "roots": list(lock.roots)})


def install(lock: Lock, target: Target, cache: Cache, strip_options: StripOptions,
            *, try_offline: bool = True) -> tuple[InstalledTree, bool]:
    """Return ``(tree, cache_hit)``."""
    key = tree_key(lock, target, strip_options)

    def build(tmp: Path) -> None:
        dest = tmp / TREE
        if not any(line.strip() and not line.lstrip().startswith("#") for line in lock.text.splitlines()):
            dest.mkdir()  # nothing to install (e.g. every requirement's marker is false on the target)
            _write_meta(tmp, dest, target, StripResult({}, {}))
            return
        args = ["pip", "install", "--target", str(dest), "--no-deps", "--only-binary", ":all:",
                "--python-platform", target.uv_python_platform, "--python-version", target.python_version,
                "--link-mode", "copy", "--no-compile", "--quiet", "-r", str(lock.path)]
        if lock.spec.constraints:
            args += ["--constraint", str(_write(tmp / "constraints.txt", lock.spec.constraints_text()))]
        result = None
        if try_offline:
            result = uv.run([*args, *lock.indexes.uv_args()], cache.root / "uv", offline=True)
            if result.returncode != 0:
                shutil.rmtree(dest, ignore_errors=True)
        if result is None or result.returncode != 0:
            result = uv.run([*args, *lock.indexes.uv_args()], cache.root / "uv")
        if result.returncode != 0:
            if uv.no_space(result.message):
                raise cache.full(f"installing {lock.spec.source} for {target}")
            mismatch = uv.hash_mismatch(result.message)
            if mismatch:
                raise InstallError(
                    f"hash mismatch for {mismatch} while installing {lock.spec.source} for {target}:\n    "
                    + "\n    ".join(result.message.splitlines()[-6:]),
                    f"the file the index serves for {mismatch} is not the one the lock recorded: re-lock "
                    "from a trusted index, or fix the --hash entry")
            raise explain_failure(result.message, lock.spec, target, lock.indexes) from None
        (tmp / "constraints.txt").unlink(missing_ok=True)
        # console scripts carry the host interpreter's path in their shebang: useless on Lambda and
        # not reproducible across machines
        shutil.rmtree(dest / "bin", ignore_errors=True)
        stripped = strip(dest, target, lock.roots, strip_options)
        _write_meta(tmp, dest, target, stripped)

    entry, hit = cache.get_or_create("trees", key, build, required=META)
    meta = json.loads((entry / META).read_text())
    return InstalledTree(key, entry / TREE, meta), hit


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_meta(tmp: Path, tree: Path, target: Target, stripped: StripResult) -> None:
    dists = installed(tree)
    meta = {
        "target": str(target),
        "packages": {name: d.version for name, d in sorted(dists.items())},
        "stripped": stripped.removed,
        "kept_seeds": stripped.kept_seeds,
    }
    (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
