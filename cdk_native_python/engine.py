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
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import inputs
from .budget import LIMIT_BYTES, Budget, estimate_zipped, mb, tree_bytes
from .cache import Cache
from .errors import ConfigurationError, InstallError
from .fingerprint import DEFAULT_EXCLUDES, tree_digest
from .install import InstalledTree, install
from .resolve import ENGINE_VERSION, Lock, resolve
from .slim import SlimOptions
from .spec import DependencySpec, IndexOptions
from .stage import copy_source, place_tree
from .strip import StripOptions, installed
from .strip import plan as strip_plan
from .target import Target
from .verify import require_clean, scan

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
    slim: SlimOptions = field(default_factory=SlimOptions)
    #: globs of files verification accepts as they are (e.g. a binary a package never loads on Linux)
    verify_exclude: tuple[str, ...] = ()
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
            "slim": self.slim.key(), "verify_exclude": sorted(self.verify_exclude),
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
            h.update(self.lock.portable_text.encode())
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
    zipped_estimate_bytes: int = 0
    layer_bytes: int = 0
    asset_hash: str = ""
    warnings: list[str] = field(default_factory=list)
    #: the installed tree's record (package details, slim and verification results)
    tree: dict[str, object] = field(default_factory=dict)
    report_path: Path | None = None

    def report(self) -> dict[str, object]:
        """Machine-readable account of the bundle (also written to ``<cache>/reports/<asset hash>.json``)."""
        details = self.tree.get("package_details", {})
        return {
            "target": str(self.target), "runtime": self.target.runtime,
            "architecture": self.target.lambda_architecture, "glibc": ".".join(map(str, self.target.glibc)),
            "asset_hash": self.asset_hash,
            "packages": details or {n: {"version": v} for n, v in self.packages.items()},
            "stripped": dict(self.stripped), "kept_seeds": self.tree.get("kept_seeds", {}),
            "slimmed": self.tree.get("slimmed", {}),
            "verification": self.tree.get("verification", {}),
            "size": {"unzipped_bytes": self.size_bytes, "zipped_estimate_bytes": self.zipped_estimate_bytes,
                     "layers_bytes": self.layer_bytes, "limit_bytes": LIMIT_BYTES},
            "source_files": list(self.source_files),
            "cache": {"resolve": "hit" if self.resolve_hit else "miss",
                      "install": "hit" if self.install_hit else "miss"},
            "placement": self.placement, "seconds": round(self.seconds, 3), "warnings": list(self.warnings),
        }

    def summary(self, name: str, *, verbose: bool = False) -> str:
        """One line per bundle (plus one per warning); ``verbose`` adds one line per package."""
        hits = f"resolve {'cached' if self.resolve_hit else 'done'}, install {'cached' if self.install_hit else 'done'}"
        lines = [f"[cdk-native-python] {name}: {self.target} — {len(self.packages)} packages, "
                 f"{mb(self.size_bytes)} (≈{mb(self.zipped_estimate_bytes)} zipped), {self.seconds:.2f}s "
                 f"({hits}, {self.placement})"]
        lines += [f"[cdk-native-python] {name}: warning: {w}" for w in self.warnings]
        if verbose:
            details: dict[str, dict[str, object]] = self.tree.get("package_details", {})  # type: ignore[assignment]
            for pkg, d in details.items():
                tags = ",".join(d.get("wheel_tags", []))  # type: ignore[arg-type]
                lines.append(f"    {pkg}=={d.get('version')}  {mb(int(d.get('bytes', 0)))}  {tags}")  # type: ignore[call-overload]
            for pkg, why in self.stripped.items():
                lines.append(f"    stripped {pkg}: {why}")
            if self.report_path:
                lines.append(f"    report: {self.report_path}")
        return "\n".join(lines)


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
        spec = replace(spec, indexes=spec.indexes.merged(request.indexes))
    return spec.for_target(request.target)  # what only the target decides (a lock's unpinned entries)


def prepare(request: BuildRequest, cache: Cache | None = None) -> Plan:
    cache = cache or Cache()
    start = time.perf_counter()
    spec = load_spec(request)
    if spec is None or spec.empty:
        return Plan(request, spec, None, True, time.perf_counter() - start)
    lock, hit = resolve(spec, request.target, cache, allow_build=request.allow_build, refresh=request.refresh)
    return Plan(request, spec, lock, hit, time.perf_counter() - start)


def bundle(plan: Plan, output: Path, cache: Cache | None = None, log: Log = _stderr, *,
           link: bool = True) -> BuildResult:
    """Install and stage ``plan`` into ``output`` (created if missing; expected empty), then check it.

    The installed tree is hard-linked from the cache when ``link`` and no command hook could edit it;
    ``link=False`` copies it, for an output handed to people who may edit it (writes through a link
    would change the cache entry every later build trusts).
    """
    cache = cache or Cache()
    request = plan.request
    start = time.perf_counter() - plan.resolve_seconds
    output.mkdir(parents=True, exist_ok=True)
    deps_dir = output / "python" if request.layer else output
    _run_hooks(request.before_bundling, request, output, "before_bundling")
    tree: InstalledTree | None = None
    install_hit = True
    placement = "none"
    hooks = bool(request.before_bundling or request.after_bundling)
    if plan.lock is not None:
        tree, install_hit = install(plan.lock, request.target, cache, request.strip, request.slim,
                                    verify_exclude=request.verify_exclude, try_offline=plan.resolve_hit)
        placement = place_tree(tree.path, deps_dir, link=link and not hooks)
    source_files = [] if request.layer else copy_source(request.entry, output, request.excludes)
    _run_hooks(request.after_bundling, request, output, "after_bundling")
    meta = tree.meta if tree else {}
    if hooks or tree is None:
        # hooks may have added or changed anything: measure and check the whole output
        size, files = tree_bytes(output)
        require_clean(scan(output, request.target, files, request.verify_exclude), request.target,
                      f"the asset of {request.name}")
        zipped = estimate_zipped(output, files)
    else:
        # the tree was checked when it entered the cache; only the handler's files are new here
        require_clean(scan(output, request.target, source_files, request.verify_exclude), request.target,
                      f"the source of {request.name} ({request.entry})")
        src = sum((output / f).stat().st_size for f in source_files)
        size = int(meta.get("size_bytes", 0)) + src  # type: ignore[call-overload]
        zipped = int(meta.get("zipped_estimate_bytes", 0)) + estimate_zipped(output, source_files)  # type: ignore[call-overload]
    budget = _budget(request, tree, plan.lock.roots if plan.lock else (), size, zipped, output, source_files)
    budget.check(f"{request.name} ({request.target})")
    warning = budget.warning()
    said = [n.message for n in plan.spec.notices if n.level == "warning"] if plan.spec else []
    result = BuildResult(
        output=output, target=request.target,
        packages=tree.packages if tree else {},
        stripped=dict(meta.get("stripped", {})),  # type: ignore[call-overload]
        resolve_hit=plan.resolve_hit, install_hit=install_hit, placement=placement,
        seconds=time.perf_counter() - start, size_bytes=size, source_files=source_files,
        zipped_estimate_bytes=zipped, layer_bytes=request.layer_bytes, asset_hash=plan.asset_hash(),
        warnings=said + ([warning] if warning else []), tree=dict(meta),
    )
    result.report_path = cache.write_file("reports", f"{result.asset_hash}.json",
                                          json.dumps(result.report(), indent=2, sort_keys=True) + "\n")
    return result


def _budget(request: BuildRequest, tree: InstalledTree | None, roots: tuple[str, ...], size: int,
            zipped: int, output: Path, source_files: Sequence[str]) -> Budget:
    details: dict[str, dict[str, object]] = dict(tree.meta.get("package_details", {})) if tree else {}  # type: ignore[call-overload]
    sizes = {name: int(d.get("bytes", 0)) for name, d in details.items()}  # type: ignore[call-overload]
    if request.layer_bytes + size <= LIMIT_BYTES:
        return Budget(size, zipped, request.layer_bytes, sizes)
    parts = dict(sizes)
    for rel in source_files:  # the handler's own files, by top-level name
        top = rel.split("/", 1)[0] + ("/" if "/" in rel else "")
        parts[f"{top} (source)"] = parts.get(f"{top} (source)", 0) + (output / rel).stat().st_size
    if tree is None:
        return Budget(size, zipped, request.layer_bytes, parts)
    # over the limit: say what each way out would save, computed on the real dependency graph
    savings: dict[str, int] = {}
    dists = installed(tree.path)
    for name, _ in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]:
        options = StripOptions(request.strip.keep_boto3, (*request.strip.strip, name), request.strip.keep)
        removed = strip_plan(dists, request.target, [r for r in roots if r != name], options).removed
        if removed:
            savings[f"strip=[{name!r}] (removes {', '.join(sorted(removed))})"] = sum(sizes.get(n, 0) for n in removed)
    if request.strip.keep_boto3:
        boto = strip_plan(dists, request.target, roots, StripOptions(False, request.strip.strip, request.strip.keep))
        savings["keep_boto3=False"] = sum(sizes.get(n, 0) for n in boto.removed)
    return Budget(size, zipped, request.layer_bytes, parts, {k: v for k, v in savings.items() if v})


def build(request: BuildRequest, output: Path, cache: Cache | None = None, log: Log = _stderr, *,
          link: bool = True) -> BuildResult:
    cache = cache or Cache()
    return bundle(prepare(request, cache), output, cache, log, link=link)


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
