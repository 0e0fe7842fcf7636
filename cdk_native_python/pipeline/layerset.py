"""One layer asset for several targets: shared packages in ``python/``, per-runtime ones beside them.

Lambda puts two folders of a layer on ``sys.path``: ``/opt/python/lib/python3.X/site-packages`` (for the
function's own runtime only) and then ``/opt/python``. So a layer that declares several runtimes of one
architecture can serve them all from one zip:

* a package that every target installs at the same version from a pure-Python wheel goes in ``python/``
  (with the layer's own source, as ``aws_lambda_python_alpha`` copies it);
* any other package (compiled wheels, or versions that differ per runtime) goes in
  ``python/lib/python3.X/site-packages/`` of each runtime that has it, where only that runtime looks.

Lambda has no per-architecture folder, so a package that is compiled (or differs) across the declared
architectures of one runtime is an error: one layer per architecture is the way out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.distributions import installed
from ..core.errors import ConfigurationError
from ..core.records import PackageRecord
from ..core.reporter import Reporter
from ..core.target import Target
from ..store import Store
from . import engine

HINT = ("declare one architecture per layer (several runtimes of one architecture share one layer) and give "
        "each function the layer of its architecture")


def site_dir(target: Target) -> str:
    """The folder of a layer that only ``target``'s runtime puts on ``sys.path``."""
    return f"python/lib/python{target.python_version}/site-packages"


@dataclass(frozen=True)
class Layout:
    """Where each package of a multi-target layer goes."""

    #: packages every target installs at the same version from a pure wheel: ``<suffix>/``
    shared: frozenset[str]
    #: python version -> {package: index of the target whose copy goes in that runtime's site-packages}
    per_version: Mapping[str, Mapping[str, int]]


def layout(targets: Sequence[Target], packages: Sequence[Mapping[str, PackageRecord]], name: str,
           suffix: str) -> Layout:
    """Decide the layout, or raise naming what cannot share one zip (and for which targets)."""
    names = sorted(set().union(*packages))
    shared = frozenset(n for n in names if all(n in p for p in packages)
                       and len({p[n].version for p in packages}) == 1 and all(p[n].pure for p in packages))
    by_version: dict[str, list[int]] = {}
    for i, target in enumerate(targets):
        by_version.setdefault(target.python_version, []).append(i)
    per_version: dict[str, dict[str, int]] = {v: {} for v in by_version}
    compiled: list[str] = []
    differ: list[str] = []
    for pkg in names:
        if pkg in shared:
            continue
        for version, idxs in by_version.items():
            have = [i for i in idxs if pkg in packages[i]]
            if not have:
                continue
            records = [packages[i][pkg] for i in have]
            if len(have) < len(idxs) or len({r.version for r in records}) > 1:
                differ.append(pkg + ": " + ", ".join(
                    f"{packages[i][pkg].version if pkg in packages[i] else 'absent'} on {targets[i].label}"
                    for i in idxs))
            elif len(idxs) > 1 and not all(r.pure for r in records):
                wheels = "; ".join(f"{targets[i].label}: {_wheel(packages[i][pkg])}" for i in idxs)
                compiled.append(f"{pkg} ({wheels})")
            else:
                per_version[version][pkg] = have[0]
    labels = ", ".join(t.label for t in targets)
    if compiled:
        raise ConfigurationError(
            f"layer {name} declares {labels}, but one zip cannot serve them: these packages have compiled "
            "wheels, which differ per architecture, and Lambda gives layers no per-architecture folder:\n    "
            + "\n    ".join(compiled), HINT, code="layer-targets")
    if differ:
        raise ConfigurationError(
            f"layer {name} declares {labels}, but one zip cannot serve them: the architectures of one runtime "
            "resolve to different packages:\n    " + "\n    ".join(differ),
            HINT + "; or pin the versions so every architecture resolves the same set", code="layer-targets")
    if any(per_version.values()) and suffix != "python":
        raise ConfigurationError(
            f"layer {name} needs per-runtime folders (python/lib/python3.X/site-packages) for "
            f"{', '.join(sorted({p for v in per_version.values() for p in v}))}, but output_path_suffix is "
            f"{suffix!r}", "leave output_path_suffix unset (\"python\") for a layer of several runtimes",
            code="layer-targets")
    return Layout(shared, {v: dict(p) for v, p in per_version.items() if p})


def _wheel(record: PackageRecord) -> str:
    return f"{record.version} {','.join(record.wheel_tags) or '(no WHEEL tags)'}"


def bundle(plans: Sequence[engine.Plan], output: Path, store: Store, reporter: Reporter) -> list[engine.BuildResult]:
    """Bundle every target of a layer (from the store: cheap), then assemble the one asset in ``output``;
    one target is bundled straight into ``output``."""
    if len(plans) == 1:
        return [engine.bundle(plans[0], output, store, reporter)]
    suffix = plans[0].request.suffix
    targets = [p.request.target for p in plans]
    with store.scratch("layer") as work:
        results = [engine.bundle(p, work / str(i), store, reporter) for i, p in enumerate(plans)]
        chosen = layout(targets, [r.report.packages for r in results], plans[0].request.name, suffix)
        assemble([r.output for r in results], targets, chosen, output, suffix)
    return results


def assemble(outputs: Sequence[Path], targets: Sequence[Target], chosen: Layout, dest: Path, suffix: str) -> None:
    """Link (or copy) each target's files where :class:`Layout` puts their package.

    Files no distribution owns (the layer's source, what hooks wrote) come from the first target.
    """
    for i, out in enumerate(outputs):
        root = out / suffix if suffix else out
        mine = chosen.per_version.get(targets[i].python_version, {})
        for rel, owner in sorted(owners(root).items()):
            if owner is None:
                where = dest / suffix / rel if i == 0 else None
            elif owner in chosen.shared:
                where = dest / suffix / rel
            elif mine.get(owner) == i:
                where = dest / site_dir(targets[i]) / rel
            else:
                where = None
            if where is not None and not where.exists():
                where.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(root / rel, where)
                except OSError:
                    shutil.copy2(root / rel, where)


def owners(site: Path) -> dict[str, str | None]:
    """Every file under ``site`` (relative, ``/``-separated) -> the distribution it belongs to, or None.

    A file its RECORD does not list (bytecode written after install) belongs to the distribution owning
    its top-level folder alone; in a folder several own (a namespace such as ``google/``), a
    ``__pycache__`` file belongs to the owner of its module's source.
    """
    listed: dict[str, str] = {}
    tops: dict[str, set[str]] = {}
    for name, dist in installed(site).items():
        for rel in dist.record_files():
            rel = rel.replace(os.sep, "/")
            listed[rel] = name
            tops.setdefault(rel.split("/", 1)[0], set()).add(name)
        tops.setdefault(dist.dist_info.name, set()).add(name)
    found: dict[str, str | None] = {}
    for dirpath, _, filenames in os.walk(site):
        for filename in filenames:
            rel = Path(dirpath, filename).relative_to(site).as_posix()
            owner = listed.get(rel)
            if owner is None:
                candidates = tops.get(rel.split("/", 1)[0], set())
                if len(candidates) == 1:
                    owner = next(iter(candidates))
                elif "/__pycache__/" in f"/{rel}":
                    folder, _, pyc = rel.rpartition("__pycache__/")
                    owner = listed.get(folder + pyc.split(".", 1)[0] + ".py")
            found[rel] = owner
    return found


def packages_in(staged: Path, target: Target, suffix: str) -> dict[str, str]:
    """What a staged layer gives ``target``: its runtime's own folder first, then the shared one."""
    held: dict[str, str] = {}
    for folder in (staged / suffix if suffix else staged, staged / site_dir(target)):
        if folder.is_dir():
            held.update({name: dist.version for name, dist in installed(folder).items()})
    return held
