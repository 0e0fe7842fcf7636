"""The pipeline, end to end: inputs → target → resolve → install (+strip) → stage.

Two calls, because CDK needs the asset hash before it asks for the bundle:

* :func:`prepare` reads the dependency file and resolves it (a cache hit is a file read), giving a
  :class:`Plan` whose :meth:`Plan.asset_hash` is content-addressed: unchanged inputs give an unchanged
  hash, so CDK reuses the staged asset and never calls :func:`bundle` again.
* :func:`bundle` installs the lock (or takes the installed tree from the cache) and stages the asset.

The engine knows nothing about CDK; the constructs and the CLI are thin adapters over it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import inputs
from .cache import Cache
from .errors import ConfigurationError, InstallError
from .fingerprint import DEFAULT_EXCLUDES, tree_digest
from .install import InstalledTree, install
from .resolve import ENGINE_VERSION, Lock, resolve
from .spec import DependencySpec, IndexOptions
from .stage import copy_source, place_tree
from .strip import StripOptions
from .target import Target

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BuildRequest:
    """Everything that decides a bundle."""

    entry: Path
    target: Target
    dependency_file: Path | None = None
    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    indexes: IndexOptions = field(default_factory=IndexOptions)
    allow_build: tuple[str, ...] = ()
    strip: StripOptions = field(default_factory=StripOptions)
    excludes: tuple[str, ...] = ()
    #: shell commands run with cwd = the output folder, before dependencies / after everything
    before_bundling: tuple[str, ...] = ()
    after_bundling: tuple[str, ...] = ()
    #: install dependencies under ``python/`` (a Lambda layer) and copy no source
    layer: bool = False
    refresh: bool = False
    resolve_pipfile: bool = False
    name: str = "function"
    #: unzipped bytes the function's layers already use (counted against Lambda's 250 MB budget)
    layer_bytes: int = 0

    def key(self) -> dict[str, object]:
        return {
            "target": self.target.key(), "strip": self.strip.key(), "excludes": list(self.excludes),
            "before": list(self.before_bundling), "after": list(self.after_bundling), "layer": self.layer,
        }


@dataclass
class Plan:
    request: BuildRequest
    spec: DependencySpec | None
    lock: Lock | None
    resolve_hit: bool
    resolve_seconds: float

    def asset_hash(self) -> str:
        """sha256 of (lock, target, options, source contents): equal inputs give an equal asset."""
        h = hashlib.sha256()
        h.update(json.dumps({"engine": ENGINE_VERSION, "request": self.request.key()}, sort_keys=True).encode())
        if self.lock is not None:
            h.update(self.lock.text.encode())
            h.update(json.dumps(self.lock.roots).encode())
        if not self.request.layer:
            h.update(tree_digest(self.request.entry, (*DEFAULT_EXCLUDES, *self.request.excludes)).encode())
        return h.hexdigest()


@dataclass
class BuildResult:
    output: Path
    target: Target
    packages: dict[str, str]
    stripped: dict[str, str]
    resolve_hit: bool
    install_hit: bool
    placement: str
    seconds: float
    size_bytes: int = 0
    source_files: list[str] = field(default_factory=list)

    def report(self) -> dict[str, object]:
        """Machine-readable account of the bundle (also written next to the cache entry)."""
        return {
            "target": str(self.target), "packages": dict(self.packages), "stripped": dict(self.stripped),
            "size_bytes": self.size_bytes, "seconds": round(self.seconds, 3),
            "cache": {"resolve": "hit" if self.resolve_hit else "miss", "install": "hit" if self.install_hit else "miss"},
            "placement": self.placement, "source_files": list(self.source_files),
        }

    def summary(self, name: str) -> str:
        hits = f"resolve {'cached' if self.resolve_hit else 'done'}, install {'cached' if self.install_hit else 'done'}"
        return (f"[cdk-native-python] {name}: {self.target} — {len(self.packages)} packages, "
                f"{self.size_bytes / 1e6:.1f} MB, {self.seconds:.2f}s ({hits}, {self.placement})")


def load_spec(request: BuildRequest) -> DependencySpec | None:
    entry = request.entry.absolute()
    if not entry.is_dir():
        raise ConfigurationError(f"entry {entry} is not a folder", "point entry at the folder holding the handler")
    dep_file = request.dependency_file
    if dep_file is not None and not dep_file.is_absolute():
        dep_file = entry / dep_file
    spec = inputs.load(entry, dep_file, groups=request.groups, extras=request.extras,
                       resolve_pipfile=request.resolve_pipfile)
    if spec is None:
        return None
    if request.indexes != IndexOptions():
        spec = DependencySpec(
            source=spec.source, requirements=spec.requirements, constraints=spec.constraints,
            indexes=spec.indexes.merged(request.indexes), locked=spec.locked, kind=spec.kind,
            path_fingerprints=spec.path_fingerprints,
        )
    return spec


def prepare(request: BuildRequest, cache: Cache | None = None) -> Plan:
    cache = cache or Cache()
    start = time.perf_counter()
    spec = load_spec(request)
    if spec is None or not spec.requirements:
        return Plan(request, spec, None, True, time.perf_counter() - start)
    lock, hit = resolve(spec, request.target, cache, allow_build=request.allow_build, refresh=request.refresh)
    return Plan(request, spec, lock, hit, time.perf_counter() - start)


def bundle(plan: Plan, output: Path, cache: Cache | None = None, log: Log = _stderr) -> BuildResult:
    """Install and stage ``plan`` into ``output`` (created if missing; expected empty)."""
    cache = cache or Cache()
    request = plan.request
    start = time.perf_counter() - plan.resolve_seconds
    output.mkdir(parents=True, exist_ok=True)
    deps_dir = output / "python" if request.layer else output
    _run_hooks(request.before_bundling, request, output, "before_bundling")
    tree: InstalledTree | None = None
    install_hit = True
    placement = "none"
    if plan.lock is not None:
        tree, install_hit = install(plan.lock, request.target, cache, request.strip,
                                    try_offline=plan.resolve_hit)
        hooks = bool(request.before_bundling or request.after_bundling)
        placement = place_tree(tree.path, deps_dir, link=not hooks)
    source_files = [] if request.layer else copy_source(request.entry, output, request.excludes)
    _run_hooks(request.after_bundling, request, output, "after_bundling")
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file() and not p.is_symlink())
    result = BuildResult(
        output=output, target=request.target,
        packages=tree.packages if tree else {},
        stripped=dict(tree.meta.get("stripped", {})) if tree else {},  # type: ignore[call-overload]
        resolve_hit=plan.resolve_hit, install_hit=install_hit, placement=placement,
        seconds=time.perf_counter() - start, size_bytes=size, source_files=source_files,
    )
    return result


def build(request: BuildRequest, output: Path, cache: Cache | None = None, log: Log = _stderr) -> BuildResult:
    cache = cache or Cache()
    return bundle(prepare(request, cache), output, cache, log)


def _run_hooks(commands: Sequence[str], request: BuildRequest, output: Path, phase: str) -> None:
    for command in commands:
        env = {**os.environ, "INPUT_DIR": str(request.entry), "OUTPUT_DIR": str(output)}
        proc = subprocess.run(command, shell=True, cwd=output, env=env, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise InstallError(f"{phase} command {command!r} failed with exit code {proc.returncode}:\n    {tail}",
                               "fix the command (it runs on the host with cwd = the asset folder, "
                               "INPUT_DIR and OUTPUT_DIR set)")
