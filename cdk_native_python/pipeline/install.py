"""``Resolution`` + ``Target`` → an installed, stripped, slimmed and verified dependency tree in the store.

The tree is keyed by the pins, the roots, the target and the strip, slim and verification options, so
every function with the same dependencies shares one entry and a re-synth only links or copies it.
Installation runs ``--offline`` first (uv's wheel cache usually has everything once the set was
resolved here: no index round trip), then online if something is missing.

Steps of a fresh install, each a function below: what stripping removes before anything is installed
(when the resolver recorded who requires whom), ``uv pip install --target``, the installer's own notes
removed, stripping (from the installed metadata), slimming, verification, optional bytecode, the record.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.budget import estimate_zipped, mb, tree_bytes
from ..core.distributions import Distribution, installed, remove
from ..core.progress import count
from ..core.records import DependencyRecord, PackageRecord, SlimResult, StripResult, TreeRecord, digest, dumps, loads
from ..core.reporter import Reporter, silent
from ..core.spec import DependencySpec, IndexOptions
from ..core.target import Target
from ..store import Store
from . import uv
from .diagnose import explain
from .pins import PINS_FILE, Resolution, with_store
from .slim import SlimOptions, drop_install_records, precompile, slim
from .strip import Graph, StripOptions, decide, decide_graph, provided_by_layers, requirement_graph
from .verify import require_clean, scan

#: bump when what an installed tree holds changes (keys of ``trees/`` entries)
VERSION = "3"
TREE = "tree"
RECORD_FILE = "tree.json"


@dataclass(frozen=True)
class InstallOptions:
    """What decides the contents of an installed tree besides the pins and the target."""

    strip: StripOptions = field(default_factory=StripOptions)
    slim: SlimOptions = field(default_factory=SlimOptions)
    #: globs of files verification accepts as they are
    verify_exclude: tuple[str, ...] = ()

    def key(self) -> dict[str, object]:
        return {"strip": self.strip.key(), "slim": self.slim.key(), "verify_exclude": sorted(self.verify_exclude)}


@dataclass(frozen=True)
class InstalledTree:
    key: str
    path: Path  # the site-packages-like folder
    record: TreeRecord


def tree_key(resolution: Resolution, target: Target, options: InstallOptions) -> str:
    return digest({"v": VERSION, "tools": uv.tools(), "pins": resolution.pins, "roots": list(resolution.roots),
                   "target": target.key(), **options.key()})


def install(resolution: Resolution, spec: DependencySpec, target: Target, store: Store,
            options: InstallOptions | None = None, *, try_offline: bool = True,
            reporter: Reporter | None = None) -> tuple[InstalledTree, bool]:
    """Return ``(tree, found in the store)``; a tree in the store is a tree that passed verification."""
    options = options or InstallOptions()
    key = tree_key(resolution, target, options)
    reporter = reporter or silent()

    def build(dest: Path) -> None:
        tree = dest / TREE
        early = _strip_before_install(resolution, options.strip)
        pins = resolution.without(early.removed)
        if pins.record.pins:
            _uv_install(pins, spec, target, store, tree, try_offline, reporter)
        else:
            tree.mkdir()  # nothing to install (e.g. every requirement's marker is false on the target)
        record = _finish(tree, resolution, target, store, options, early, reporter)
        (dest / RECORD_FILE).write_text(dumps(record), encoding="utf-8")

    def admit(entry: Path) -> None:
        """A tree from another machine must pass the same verification as a fresh install."""
        require_clean(scan(entry / TREE, target, exclude=options.verify_exclude), target,
                      f"the dependencies of {spec.source} (from the remote cache)")

    entry = store.get_or_create("trees", key, build, check=_load, admit=admit)
    return InstalledTree(key, entry.path / TREE, _load(entry.path)), entry.hit


def _load(entry: Path) -> TreeRecord:
    return loads(TreeRecord, (entry / RECORD_FILE).read_text(encoding="utf-8"))


def _strip_before_install(resolution: Resolution, options: StripOptions) -> StripResult:
    """What stripping removes, when the resolver recorded who requires whom: those packages are never
    downloaded or installed (boto3's botocore alone is 2,000+ files to unpack and delete again)."""
    graph = resolution.graph
    if graph is None:
        return StripResult()
    return decide_graph(graph, resolution.roots, options, versions=resolution.versions)


def _uv_install(pins: Resolution, spec: DependencySpec, target: Target, store: Store,
                tree: Path, try_offline: bool, reporter: Reporter) -> None:
    indexes = resolution_indexes(pins, spec, store)
    packages = count(len(pins.record.pins), "package")
    with store.scratch("install") as work:
        requirements = work / PINS_FILE
        # rendered from the checked record now, in the one grammar: no text from the store reaches uv
        requirements.write_text(pins.for_installer(store.root), encoding="utf-8")
        args = ["pip", "install", "--target", str(tree), "--no-deps", "--only-binary", ":all:",
                "--python-platform", target.uv_python_platform, "--python-version", target.python_version,
                "--link-mode", "copy", "--no-compile", "--quiet", "-r", str(requirements)]
        if spec.constraints:
            (work / "constraints.txt").write_text(with_store(spec.constraints_text(), store.root), encoding="utf-8")
            args += ["--constraint", str(work / "constraints.txt")]
        args += indexes.uv_args()
        result = None
        if try_offline:
            reporter.phase(f"installing {packages} for {target.label} from the wheel cache")
            result = uv.run(args, store.uv_cache, offline=True, credentials=(*indexes.credentials(), *spec.credentials))
        if result is None or result.returncode != 0:
            shutil.rmtree(tree, ignore_errors=True)
            reporter.phase(f"downloading and installing {packages} for {target.label}")
            result = uv.run(args, store.uv_cache, credentials=(*indexes.credentials(), *spec.credentials))
    if result.returncode != 0:
        if uv.no_space(result.message):
            raise store.full(f"installing {spec.source} for {target}")
        raise explain(result.message, spec.source, target, indexes, doing="installing", requirements=spec.requirements)


def resolution_indexes(resolution: Resolution, spec: DependencySpec, store: Store) -> IndexOptions:
    """The spec's package sources plus the folders of wheels built for this resolution."""
    extra = tuple(str(store.root / f) for f in resolution.record.find_links)
    return replace(spec.indexes, find_links=(*spec.indexes.find_links, *extra)) if extra else spec.indexes


def _finish(tree: Path, resolution: Resolution, target: Target, store: Store, options: InstallOptions,
            early: StripResult, reporter: Reporter) -> TreeRecord:
    """Strip, slim, verify (and precompile) a fresh install; returns its record."""
    # console scripts carry the host interpreter's path in their shebang: useless on Lambda and
    # not reproducible across machines
    shutil.rmtree(tree / "bin", ignore_errors=True)
    dists = installed(tree)
    drop_install_records(tree, dists.values())
    graph = requirement_graph(dists, target, options.strip.extras)
    with store.trash() as trash:
        late = strip_installed(tree, target, resolution.roots, options.strip, trash, dists, graph)
        # a reason the early decision gave for keeping a package the installed metadata then removed is stale
        kept = {n: why for n, why in {**early.kept_seeds, **late.kept_seeds}.items() if n not in late.removed}
        stripped = StripResult({**early.removed, **late.removed}, kept)
        slimmed = slim(tree, options.slim, trash)
    packages = {name: PackageRecord(d.version, d.wheel_tags, d.installed_bytes(tree))
                for name, d in sorted(dists.items()) if name not in late.removed}
    size, files = tree_bytes(tree)
    reporter.phase(f"verifying {count(len(packages), 'package')} ({mb(size)}) for {target.label}")
    report = scan(tree, target, files, options.verify_exclude)
    require_clean(report, target, "the installed dependencies")
    if options.slim.compile_bytecode:
        compiled, compiler = precompile(tree, target)
        slimmed = SlimResult(slimmed.files_removed, slimmed.bytes_removed, slimmed.by_rule, compiled, compiler)
        size, files = tree_bytes(tree)
    return TreeRecord(
        target=str(target),
        packages=packages,
        graph=_graph(resolution, dists, graph[0]),
        stripped=stripped, slimmed=slimmed, verification=report.result(),
        size_bytes=size, zipped_estimate_bytes=estimate_zipped(tree, files),
    )


def _graph(resolution: Resolution, dists: dict[str, Distribution],
           edges: dict[str, set[str]]) -> dict[str, DependencyRecord]:
    """Who requires whom in the whole set: the resolver's record when there is one (it covers the packages
    stripped before install), else the installed metadata (before anything was stripped)."""
    graph = resolution.graph if resolution.graph is not None else edges
    versions = {**resolution.versions, **{name: d.version for name, d in dists.items()}}
    return {name: DependencyRecord(versions.get(name, ""), tuple(sorted(graph[name]))) for name in sorted(graph)}


def strip_installed(tree: Path, target: Target, roots: Sequence[str], options: StripOptions,
                    trash: Path | None = None, dists: dict[str, Distribution] | None = None,
                    graph: Graph | None = None) -> StripResult:
    """Apply the strip policy to an installed tree by its metadata (lock files read as they are have no
    resolver graph), and leave out what the function's layers hold. ``graph``: the tree's
    :func:`~cdk_native_python.pipeline.strip.requirement_graph`, when the caller has it already."""
    dists = installed(tree) if dists is None else dists
    result = decide(dists, target, roots, options, graph)
    provided = provided_by_layers(dists, options, result.removed) if options.provided else {}
    removed = {**result.removed, **provided}
    for name in sorted(removed):
        remove(tree, dists[name], trash)
    return StripResult(removed, result.kept_seeds)


__all__ = ["InstallOptions", "InstalledTree", "install", "strip_installed", "tree_key"]
