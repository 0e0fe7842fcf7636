"""The pipeline, end to end: inputs → target → resolve → install (strip, slim, verify) → stage, over a store.

Two calls, because CDK needs the asset hash before it asks for the bundle:

* :func:`prepare` reads the dependency file and resolves it (a store hit is a file read), giving a
  :class:`Plan` whose ``asset_hash`` is content-addressed: unchanged inputs give an unchanged hash, so CDK
  reuses the staged asset and never calls :func:`bundle` again.
* :func:`bundle` installs the resolution (or takes the installed tree from the store), stages the asset
  and checks it (native code, size) and writes its report.

The engine knows nothing about CDK; the constructs and the CLI are thin adapters over it. Collaborators
(the store, the reporter) are passed in, with defaults.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import inputs
from ..core import settings
from ..core.budget import LIMIT_BYTES, Budget, estimate_zipped, mb, tree_bytes
from ..core.distributions import installed
from ..core.errors import ConfigurationError
from ..core.hints import option
from ..core.progress import count
from ..core.records import BuildReport, RecordError, SizeRecord, TreeRecord, digest, dumps, loads
from ..core.reporter import Notice, Reporter
from ..core.source import SourceTree, snapshot
from ..core.spec import DependencySpec, IndexOptions
from ..core.target import Target
from ..store import Store
from ..store.local import open_store
from . import hooks
from .install import InstalledTree, InstallOptions, install
from .localbuild import Builder, allowed_names
from .pins import Resolution
from .resolve import resolve
from .stage import place_tree
from .strip import decide
from .strip import notices as strip_notices
from .verify import require_clean, scan
from .why import root_labels

#: bump when the same inputs should give another asset (changes every asset hash)
VERSION = "3"


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
    install: InstallOptions = field(default_factory=InstallOptions)
    excludes: tuple[str, ...] = ()
    #: the user's command hooks, run with the real folders around bundling
    hooks: hooks.CommandHooks | None = None
    #: a Lambda layer: dependencies and the entry's source go under ``python/`` (or ``output_path_suffix``)
    layer: bool = False
    refresh: bool = False
    resolve_pipfile: bool = False
    name: str = "function"
    #: unzipped bytes the function's layers already use (counted against Lambda's 250 MB budget)
    layer_bytes: int = 0
    #: the folder of the asset that receives dependencies and source (None: "python" for a layer, the root
    #: for a function), as ``aws_lambda_python_alpha``'s ``output_path_suffix``
    output_path_suffix: str | None = None

    @property
    def suffix(self) -> str:
        return self.output_path_suffix if self.output_path_suffix is not None else ("python" if self.layer else "")

    def key(self) -> dict[str, object]:
        """What, besides the resolution and the source, decides the bundle's bytes."""
        key: dict[str, object] = {
            "target": self.target.key(), **self.install.key(), "excludes": list(self.excludes),
            "before": list(hooks.commands(self.hooks, "before_bundling")),
            "after": list(hooks.commands(self.hooks, "after_bundling")), "layer": self.layer,
        }
        if self.suffix not in ("", "python"):
            key["suffix"] = self.suffix
        if hooks.environment_names(self.hooks):  # names only: values may be credentials
            key["hook_environment"] = list(hooks.environment_names(self.hooks))
        return key


@dataclass(frozen=True)
class Plan:
    """A prepared request: its dependencies resolved, its asset hash known."""

    request: BuildRequest
    spec: DependencySpec | None
    resolution: Resolution | None
    resolve_hit: bool
    resolve_seconds: float
    #: the entry's files, walked once: what the asset hash covers is what the bundle copies
    source: SourceTree
    #: sha256 of (engine version, request key, resolution, source contents): equal inputs, equal asset
    asset_hash: str
    #: what preparing said about this bundle (its source's links and secrets, its dependency file): said by
    #: :func:`prepare` and kept in the report with what bundling said, so a replay says it all again
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    output: Path
    target: Target
    report: BuildReport
    report_path: Path | None = None

    @property
    def packages(self) -> dict[str, str]:
        """name -> version of what the bundle holds."""
        return {name: p.version for name, p in self.report.packages.items()}

    @property
    def asset_hash(self) -> str:
        return self.report.asset_hash

    @property
    def resolve_hit(self) -> bool:
        return self.report.cache.get("resolve") == "hit"

    @property
    def install_hit(self) -> bool:
        return self.report.cache.get("install") == "hit"

    def summary(self, name: str, *, verbose: bool = False) -> str:
        """One line per bundle; ``verbose`` adds one line per package (and stripped package)."""
        r = self.report
        hits = (f"resolve {'cached' if self.resolve_hit else 'done'}, "
                f"install {'cached' if self.install_hit else 'done'}")
        lines = [f"[cdk-native-python] {name}: {self.target} — {len(r.packages)} packages, "
                 f"{mb(r.size.unzipped_bytes)} (≈{mb(r.size.zipped_estimate_bytes)} zipped), {r.seconds:.2f}s "
                 f"({hits}, {r.placement})"]
        if verbose:
            for pkg, d in r.packages.items():
                lines.append(f"    {pkg}=={d.version}  {mb(d.bytes)}  {','.join(d.wheel_tags)}")
            for pkg, why in r.stripped.items():
                lines.append(f"    stripped {pkg}: {why}")
            if self.report_path:
                lines.append(f"    report: {self.report_path}")
        return "\n".join(lines)


def load_spec(request: BuildRequest, reporter: Reporter) -> DependencySpec | None:
    """The request's dependency file read for its target (None: it has none); its notices go to ``reporter``."""
    entry = request.entry.absolute()
    dep_file = request.dependency_file
    if dep_file is not None and not dep_file.is_absolute():
        dep_file = entry / dep_file
    spec = inputs.load(entry, dep_file, groups=request.groups, extras=request.extras,
                       resolve_pipfile=request.resolve_pipfile)
    if spec is None:
        return None
    if request.indexes != IndexOptions():
        spec = dataclasses.replace(spec, indexes=spec.indexes.merged(request.indexes))
    spec = spec.for_target(request.target)  # what only the target decides (a lock's unpinned entries)
    for notice in spec.notices:
        reporter.emit(notice)
    return spec


def prepare(request: BuildRequest, store: Store | None = None, reporter: Reporter | None = None, *,
            warm: bool = True) -> Plan:
    """Read the inputs and resolve them (a store hit is a file read); the plan knows its asset hash.

    ``warm``: a resolution made here downloads the wheels it will likely install meanwhile (:mod:`.warm`);
    off where many builds already keep the network and the CPUs busy (``prefetch``), and everywhere with
    ``CDK_NATIVE_PYTHON_NO_DOWNLOAD_AHEAD``."""
    reporter = reporter or Reporter(request.name)
    store = store or open_store(reporter=reporter)
    try:
        return _prepare(request, store, reporter, warm)
    finally:
        reporter.idle()  # CDK prints next ("Bundling asset ..."): not on the end of a progress line


#: what the alpha module leaves out of a uv project's asset besides the user's excludes
UV_ONLY_EXCLUDES = (".python-version",)


def _prepare(request: BuildRequest, store: Store, reporter: Reporter, warm: bool) -> Plan:
    start = time.perf_counter()
    # every notice about the bundle goes through ``own`` into the plan, then the report: whoever bundles
    # (the CLI, a construct, an earlier synth whose asset CDK reuses) and however warm, the same is said
    own = reporter.child()
    if not request.entry.is_dir():
        raise ConfigurationError(f"entry {request.entry.absolute()} is not a folder",
                                 "point entry at the folder holding the handler", code="entry-missing")
    spec = load_spec(request, own)
    # walked and size-checked before anything is resolved: a 3 GiB file fails here, unread (a layer's too: its
    # entry folder is copied under python/). A uv project's .python-version only picks uv's interpreter; the
    # alpha module leaves it out of uv projects' assets (and copies it for the other formats), and so do we
    uv_only = (UV_ONLY_EXCLUDES if spec is not None and spec.kind == "uv.lock" else ())
    source = snapshot(request.entry, (*request.excludes, *uv_only))
    for notice in source.notices:
        own.emit(notice)
    resolution: Resolution | None = None
    hit = True
    builder = None
    if spec is not None and not spec.empty:
        builder = Builder(store, request.target, spec.indexes, allowed_names(request.allow_build))
        spec = builder.url_sdists(builder.local_wheels(spec))
    # the runtime's guaranteed versions and the user's own specifiers on them decide what is stripped
    strip = request.install.strip.for_build(request.target, spec)
    if spec is not None and builder is not None:
        # a resolution made now downloads wheels meanwhile (none of those the strip will likely remove)
        resolution, hit = resolve(spec, request.target, store, builder, refresh=request.refresh, reporter=reporter,
                                  warm=strip.likely_removed() if warm and not settings.NO_DOWNLOAD_AHEAD.on()
                                  else None)
    request = dataclasses.replace(request, install=dataclasses.replace(request.install, strip=strip))
    return Plan(request, spec, resolution, hit, time.perf_counter() - start, source,
                _asset_hash(request, resolution, source), tuple(own.notices))


def _asset_hash(request: BuildRequest, resolution: Resolution | None, source: SourceTree) -> str:
    description: dict[str, object] = {"v": VERSION, "request": request.key()}
    if resolution is not None:
        description["pins"] = resolution.pins
        description["roots"] = list(resolution.roots)
    description["source"] = source.digest
    return digest(description, 64)  # 64 hex digits, like CDK's own asset hashes


def bundle(plan: Plan, output: Path, store: Store | None = None, reporter: Reporter | None = None, *,
           link: bool = True) -> BuildResult:
    """Install and stage ``plan`` into ``output`` (created if missing; expected empty), then check it.

    The installed tree is hard-linked from the store when ``link`` and no command hook could edit it;
    ``link=False`` copies it, for an output handed to people who may edit it.
    """
    reporter = reporter or Reporter(plan.request.name)
    store = store or open_store(reporter=reporter)
    try:
        return _bundle(plan, output, store, reporter, link)
    finally:
        reporter.idle()  # the summary line takes the place of the progress line


def _bundle(plan: Plan, output: Path, store: Store, reporter: Reporter, link: bool) -> BuildResult:
    request = plan.request
    # what preparing and bundling say about these files goes into the report, to be said again when CDK reuses
    # the staged asset without bundling (the store speaks to ``reporter`` itself: its notices are about this run)
    own = reporter.child()
    for notice in plan.notices:
        own.emit(notice)  # said already by prepare (the reporter says each notice once): kept for the report
    start = time.perf_counter() - plan.resolve_seconds
    output.mkdir(parents=True, exist_ok=True)
    target_dir = output / request.suffix if request.suffix else output
    target_dir.mkdir(parents=True, exist_ok=True)
    hooks.run(request.hooks, "before_bundling", request.entry, target_dir)
    tree: InstalledTree | None = None
    install_hit = True
    placement = "none"
    if plan.resolution is not None and plan.spec is not None:
        tree, install_hit = install(plan.resolution, plan.spec, request.target, store, request.install,
                                    try_offline=plan.resolve_hit, reporter=own)
        own.phase(f"staging {count(len(tree.record.packages), 'package')} ({mb(tree.record.size_bytes)}) "
                  f"for {request.target.label}")
        placement = place_tree(tree.path, target_dir, link=link and request.hooks is None)
        for notice in strip_notices(tree.record, request.install.strip, _roots(plan, tree.record)):
            own.emit(notice)
    # a layer's entry folder is copied too (under python/), as aws_lambda_python_alpha does
    prefix = f"{request.suffix}/" if request.suffix else ""
    source_files = [prefix + rel for rel in plan.source.copy_to(target_dir)]
    hooks.run(request.hooks, "after_bundling", request.entry, target_dir)
    size, zipped = _measure(request, tree, output, source_files)
    budget = _budget(request, tree, plan.resolution, size, zipped, output, source_files)
    budget.check(_what(request))
    record = tree.record if tree else TreeRecord(str(request.target))
    roots = _roots(plan, record)
    for notice in _size_notices(budget):
        own.emit(notice)
    report = BuildReport(
        target=str(request.target), runtime=request.target.runtime,
        architecture=request.target.lambda_architecture, glibc=".".join(map(str, request.target.glibc)),
        asset_hash=plan.asset_hash, packages=record.packages, stripped=record.stripped.removed,
        kept_seeds=record.stripped.kept_seeds, slimmed=record.slimmed, verification=record.verification,
        size=SizeRecord(size, zipped, request.layer_bytes, LIMIT_BYTES), source_files=tuple(source_files),
        cache={"resolve": "hit" if plan.resolve_hit else "miss", "install": "hit" if install_hit else "miss"},
        placement=placement, seconds=round(time.perf_counter() - start, 3),
        warnings=tuple(n.message for n in reporter.warnings),
        name=request.name, layer=request.layer, roots=roots, graph=record.graph, notices=tuple(own.notices),
    )
    path = store.write_report(plan.asset_hash, dumps(report))
    return BuildResult(output, request.target, report, path)


def replay(plan: Plan, store: Store | None = None, reporter: Reporter | None = None) -> BuildReport:
    """CDK reuses the asset of ``plan`` staged by an earlier synth and does not bundle: say again what
    bundling said about it, from its report, with the size checked against the layers the function has now
    (their size is not part of the asset hash). Without a report (the cache was cleared), bundle again
    into a scratch folder to know."""
    reporter = reporter or Reporter(plan.request.name)
    store = store or open_store(reporter=reporter)
    try:
        report = loads(BuildReport, store.report_path(plan.asset_hash).read_text(encoding="utf-8"))
    except (OSError, RecordError):
        with store.scratch("replay") as work:
            return bundle(plan, work / "asset", store, reporter).report
    budget = Budget(report.size.unzipped_bytes, report.size.zipped_estimate_bytes, plan.request.layer_bytes,
                    {name: p.bytes for name, p in report.packages.items()})
    budget.check(_what(plan.request))
    for notice in (*plan.notices, *(n for n in report.notices if n.code not in SIZE_CODES), *_size_notices(budget)):
        reporter.emit(notice)
    return report


def _roots(plan: Plan, record: TreeRecord) -> tuple[str, ...]:
    """What the user asked for directly, as written; for a lock file that does not tell its direct
    requirements from the rest, the packages nothing else in the set requires."""
    spec, resolution = plan.spec, plan.resolution
    if spec is None or resolution is None:
        return ()
    if spec.locked and spec.roots is None and record.graph:
        required = {dep for node in record.graph.values() for dep in node.requires}
        return tuple(sorted(name for name in record.graph if name not in required))
    return root_labels(spec.requirements, resolution.roots)


#: notices about the size, which depends on the layers too: computed again when a report is replayed
SIZE_CODES = frozenset({"size-near-limit", "zip-over-direct-upload"})


def _what(request: BuildRequest) -> str:
    return f"{request.name} ({request.target})"


def _size_notices(budget: Budget) -> tuple[Notice, ...]:
    """What the size says (recomputed on a replay: the layers' share may have changed since)."""
    warning = budget.warning()
    return ((Notice("size-near-limit", warning),) if warning else ()) + budget.notices()


def build(request: BuildRequest, output: Path, store: Store | None = None, reporter: Reporter | None = None, *,
          link: bool = True) -> BuildResult:
    reporter = reporter or Reporter(request.name)
    store = store or open_store(reporter=reporter)
    return bundle(prepare(request, store, reporter), output, store, reporter, link=link)


def _measure(request: BuildRequest, tree: InstalledTree | None, output: Path,
             source_files: Sequence[str]) -> tuple[int, int]:
    """(unzipped bytes, estimated zipped bytes) of the staged asset, after checking what is new in it."""
    if request.hooks is not None or tree is None:
        # hooks may have added or changed anything: measure and check the whole output
        size, files = tree_bytes(output)
        require_clean(scan(output, request.target, files, request.install.verify_exclude), request.target,
                      f"the asset of {request.name}")
        return size, estimate_zipped(output, files)
    # the tree was checked when it entered the store; only the handler's files are new here
    require_clean(scan(output, request.target, source_files, request.install.verify_exclude), request.target,
                  f"the source of {request.name} ({request.entry})")
    src = sum((output / f).stat().st_size for f in source_files)
    return tree.record.size_bytes + src, tree.record.zipped_estimate_bytes + estimate_zipped(output, source_files)


def _budget(request: BuildRequest, tree: InstalledTree | None, resolution: Resolution | None, size: int,
            zipped: int, output: Path, source_files: Sequence[str]) -> Budget:
    sizes = {name: p.bytes for name, p in tree.record.packages.items()} if tree else {}
    if request.layer_bytes + size <= LIMIT_BYTES:
        return Budget(size, zipped, request.layer_bytes, sizes)
    parts = dict(sizes)
    for rel in source_files:  # the handler's own files, by top-level name
        top = rel.split("/", 1)[0] + ("/" if "/" in rel else "")
        parts[f"{top} (source)"] = parts.get(f"{top} (source)", 0) + (output / rel).stat().st_size
    if tree is None or resolution is None:
        return Budget(size, zipped, request.layer_bytes, parts)
    # over the limit: say what each way out would save, computed on the real dependency graph
    savings: dict[str, int] = {}
    dists = installed(tree.path)
    roots = resolution.roots
    options = request.install.strip
    for name, _ in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]:
        more = dataclasses.replace(options, strip=(*options.strip, name))
        removed = decide(dists, request.target, [r for r in roots if r != name], more).removed
        if removed:
            way = f"{option('strip', [name])} (removes {', '.join(sorted(removed))})"
            savings[way] = sum(sizes.get(n, 0) for n in removed)
    if options.keep_boto3:
        boto = decide(dists, request.target, roots, dataclasses.replace(options, keep_boto3=False, runtime=None))
        savings[option("keep_boto3", False)] = sum(sizes.get(n, 0) for n in boto.removed)
    return Budget(size, zipped, request.layer_bytes, parts, {k: v for k, v in savings.items() if v})
