"""``Lock`` + ``Target`` → an installed, stripped dependency tree in the cache.

The tree is keyed by the lock's content, the target and the strip options, so every function with
the same dependencies shares one entry and a re-synth only links or copies it. Installation runs
``--offline`` first (uv's wheel cache usually has everything once a lock exists: no index round
trip), then online if something is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import uv
from .budget import estimate_zipped, tree_bytes
from .cache import Cache, digest
from .errors import InstallError
from .resolve import ENGINE_VERSION, Lock, explain_failure, lock_without
from .slim import SlimOptions, SlimResult, drop_install_records, precompile, slim
from .strip import StripOptions, StripResult, installed, plan_graph, strip
from .target import Target
from .verify import require_clean, scan

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


def tree_key(lock: Lock, target: Target, strip_options: StripOptions, slim_options: SlimOptions,
             verify_exclude: tuple[str, ...] = ()) -> str:
    return digest({"engine": ENGINE_VERSION, "lock": lock.portable_text, "target": target.key(),
                   "strip": strip_options.key(), "roots": list(lock.roots), "slim": slim_options.key(),
                   "verify_exclude": sorted(verify_exclude)})


def install(lock: Lock, target: Target, cache: Cache, strip_options: StripOptions,
            slim_options: SlimOptions | None = None, *, verify_exclude: tuple[str, ...] = (),
            try_offline: bool = True) -> tuple[InstalledTree, bool]:
    """Return ``(tree, cache_hit)``: installed, stripped, slimmed and verified for ``target``.

    Verification runs before the entry is published, so a tree in the cache is a tree that passed.
    """
    slim_options = slim_options or SlimOptions()
    key = tree_key(lock, target, strip_options, slim_options, verify_exclude)

    def build(tmp: Path) -> None:
        dest = tmp / TREE
        requirements, text = lock.path, lock.text
        early = StripResult({}, {})
        graph = lock.graph
        if graph is not None:
            # the resolver recorded who requires what: packages stripping would remove are never installed
            # (boto3's botocore alone is 2,000+ files to download, unpack and delete again)
            early = plan_graph(graph, lock.roots, strip_options)
            if early.removed:
                text = lock_without(text, early.removed)
                requirements = _write(tmp / "install.txt", text)
        if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
            dest.mkdir()  # nothing to install (e.g. every requirement's marker is false on the target)
            (tmp / "install.txt").unlink(missing_ok=True)
            _write_meta(tmp, dest, target, early, SlimResult(0, 0, {}), {})
            return
        args = ["pip", "install", "--target", str(dest), "--no-deps", "--only-binary", ":all:",
                "--python-platform", target.uv_python_platform, "--python-version", target.python_version,
                "--link-mode", "copy", "--no-compile", "--quiet", "-r", str(requirements)]
        if lock.spec.constraints:
            args += ["--constraint", str(_write(tmp / "constraints.txt", lock.spec.constraints_text()))]
        result = None
        if try_offline:
            result = uv.run([*args, *lock.indexes.uv_args()], cache.root / "uv", offline=True,
                            credentials=lock.spec.credentials)
            if result.returncode != 0:
                shutil.rmtree(dest, ignore_errors=True)
        if result is None or result.returncode != 0:
            result = uv.run([*args, *lock.indexes.uv_args()], cache.root / "uv", credentials=lock.spec.credentials)
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
        (tmp / "install.txt").unlink(missing_ok=True)
        # console scripts carry the host interpreter's path in their shebang: useless on Lambda and
        # not reproducible across machines
        shutil.rmtree(dest / "bin", ignore_errors=True)
        drop_install_records(dest)
        trash = Path(tempfile.mkdtemp(prefix=cache.tmp_prefix("trash"), dir=cache.root / "tmp"))
        try:
            late = strip(dest, target, lock.roots, strip_options, trash)
            stripped = StripResult({**early.removed, **late.removed}, {**early.kept_seeds, **late.kept_seeds})
            slimmed = slim(dest, slim_options, trash)
        finally:
            _delete_later(trash)
        report = scan(dest, target, exclude=verify_exclude)
        require_clean(report, target, f"the dependencies of {lock.spec.source}")
        if slim_options.compile_bytecode:
            compiled, compiler = precompile(dest, target)
            slimmed = SlimResult(slimmed.files, slimmed.bytes, slimmed.by_rule, compiled, compiler)
        _write_meta(tmp, dest, target, stripped, slimmed, report.to_json())

    entry, hit = cache.get_or_create("trees", key, build, required=META)
    meta = json.loads((entry / META).read_text())
    return InstalledTree(key, entry / TREE, meta), hit


def _delete_later(trash: Path) -> None:
    """Delete ``trash`` off the critical path: a detached ``rm``; if it never runs, the folder's name says
    its owner and the next run of any process removes it once this one is gone."""
    try:
        subprocess.Popen(["rm", "-rf", str(trash)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        shutil.rmtree(trash, ignore_errors=True)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def describe_packages(tree: Path) -> dict[str, dict[str, object]]:
    """name -> version, wheel tags and installed bytes (files its RECORD lists that are still there)."""
    details: dict[str, dict[str, object]] = {}
    for name, dist in sorted(installed(tree).items()):
        wheel = dist.dist_info / "WHEEL"
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text(errors="replace").splitlines()
                if line.startswith("Tag:")] if wheel.is_file() else []
        size = 0
        for rel in dist.record_files():
            with contextlib.suppress(OSError):  # gone if slimmed: not counted
                size += os.stat(os.path.join(tree, rel)).st_size
        details[name] = {"version": dist.version, "wheel_tags": tags, "bytes": size}
    return details


def _write_meta(tmp: Path, tree: Path, target: Target, stripped: StripResult, slimmed: SlimResult,
                verification: dict[str, object]) -> None:
    details = describe_packages(tree)
    size, files = tree_bytes(tree)
    meta = {
        "target": str(target),
        "packages": {name: d["version"] for name, d in details.items()},
        "package_details": details,
        "stripped": stripped.removed,
        "kept_seeds": stripped.kept_seeds,
        "slimmed": slimmed.to_json(),
        "verification": verification,
        "size_bytes": size,
        "zipped_estimate_bytes": estimate_zipped(tree, files),
    }
    # written last, and what the cache requires: an entry without it is never trusted
    (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
