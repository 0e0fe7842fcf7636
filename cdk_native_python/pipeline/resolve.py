"""``DependencySpec`` + ``Target`` → :class:`~cdk_native_python.pipeline.pins.Resolution`: the exact, hashed set of
wheels to install.

Resolution is uv's (``uv pip compile --python-platform --python-version``), so markers and wheel tags
are evaluated for the Lambda target. Only wheels are allowed (``--only-binary :all:``); a package the
user allowed to build from source is built once into a wheel (:mod:`~cdk_native_python.pipeline.localbuild`),
then resolution runs again with that wheel as a find-links source. A locked spec (uv.lock, poetry.lock,
...) is not resolved: its pins are taken as they are.

Cache policy: the resolution is a store entry keyed by the *normalized inputs* (requirements, constraints,
index URLs without credentials, target, allowed builds). A floating requirement such as ``requests>=2``
is therefore re-resolved only when an input changes, or when the caller asks for a refresh
(``refresh=True``, ``CDK_NATIVE_PYTHON_REFRESH=1``, or deleting the cache); this keeps synth reproducible
and offline-capable.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from packaging.requirements import Requirement

from ..core import settings
from ..core.distributions import normalize
from ..core.errors import ResolutionError
from ..core.progress import count
from ..core.records import RecordError, digest, dumps
from ..core.reporter import Reporter, silent
from ..core.spec import DependencySpec
from ..core.target import Target
from ..store import Store
from . import uv
from .diagnose import explain
from .localbuild import Builder
from .pins import (
    RECORD_FILE,
    Resolution,
    ResolutionRecord,
    apply_user_hashes,
    parse_pins,
    portable,
    roots_of,
    spec_urls,
    split_annotations,
    user_hashes,
    with_store,
    without,
)
from .warm import warmer

#: bump when what a resolution holds changes (keys of ``resolutions/`` entries)
VERSION = "4"


def resolution_key(spec: DependencySpec, target: Target, allowed: frozenset[str]) -> str:
    return digest({"v": VERSION, "tools": uv.tools(), "spec": spec.key(), "target": target.key(),
                   "allow_build": sorted(allowed)})


def resolve(spec: DependencySpec, target: Target, store: Store, builder: Builder, *,
            refresh: bool = False, reporter: Reporter | None = None,
            warm: Collection[str] | None = None) -> tuple[Resolution, bool]:
    """Return ``(resolution, found in the store)`` for ``spec`` (local packages already built as wheels).

    ``warm``: when not None, a resolution made here downloads wheels while it resolves (:mod:`.warm`), leaving
    out the packages named (those the install will not take anyway)."""
    key = resolution_key(spec, target, builder.allowed)
    # normalized, as the record holds them (a lock may spell its root project My_Project)
    roots = tuple(sorted({normalize(r) for r in spec.roots})) if spec.roots is not None else \
        roots_of((*spec.requirements, *spec.unpinned))
    reporter = reporter or silent()
    # the only URLs a stored pin may hold: those the user's own requirements name (the key covers them)
    urls = spec_urls((*spec.requirements, *spec.constraints, *spec.unpinned))

    def build(dest: Path) -> None:
        reporter.phase(f"{'reading' if spec.locked else 'resolving'} {count(len(spec.requirements), 'requirement')} "
                       f"for {target.label}")
        if spec.locked:
            text = spec.requirements_text() + (_resolve_unpinned(spec, target, store, builder) if spec.unpinned else "")
            record = ResolutionRecord(parse_pins(text, target, urls, spec.source), None, tuple(sorted(roots)))
        else:
            # requirements naming URLs are not warmed: their server would see every request twice
            record = _compile(spec, target, store, builder, roots, urls, None if urls else warm)
        try:
            record.check(urls.values())  # what a reader will check: never store what it would refuse
        except RecordError as exc:
            raise ResolutionError(f"the pins of {spec.source} for {target} cannot be stored ({exc})",
                                  "pin each package once, as name==version with sha256 hashes or name @ URL of a wheel",
                                  code="pin-unsupported") from None
        (dest / RECORD_FILE).write_text(dumps(record), encoding="utf-8")

    checked: list[Resolution] = []

    def check(path: Path) -> None:
        # a RecordError: quarantined locally, a miss from the remote; what passed is the entry returned (read once)
        checked.append(Resolution.load(key, path, urls.values()))

    entry = store.get_or_create("resolutions", key, build, check=check, refresh=refresh or settings.REFRESH.on())
    return (checked[-1] if entry.hit else Resolution.load(key, entry.path, urls.values())), entry.hit


def _compile(spec: DependencySpec, target: Target, store: Store, builder: Builder,
             roots: tuple[str, ...], urls: dict[str, str], warm: Collection[str] | None) -> ResolutionRecord:
    """The record of ``uv pip compile`` for the target."""
    text, find_links = _uv_compile(spec, target, store, builder, warm)
    required_by, pins_text = _annotations(text, spec, store)
    pins = parse_pins(pins_text, target, urls, spec.source)
    names = {p.name for p in pins}
    return ResolutionRecord(pins, {k: v for k, v in required_by.items() if k in names}, tuple(sorted(roots)),
                            tuple(Path(f).relative_to(store.root).as_posix() for f in find_links))


def _uv_compile(spec: DependencySpec, target: Target, store: Store, builder: Builder,
                warm: Collection[str] | None = None) -> tuple[str, list[str]]:
    """uv's pins for the target, without comments or paths of this machine, with the user's own hashes; and the
    folders of the wheels built on the way (allowed sdists are built when uv finds no wheel for them).
    ``warm``: see :func:`resolve`."""
    with store.scratch("compile") as work:
        requirements = work / "requirements.in"
        requirements.write_text(with_store(spec.requirements_text(), store.root), encoding="utf-8")
        constraints = None
        if spec.constraints:
            constraints = work / "constraints.txt"
            constraints.write_text(with_store(spec.constraints_text(), store.root), encoding="utf-8")
        with warmer(spec, target, store, work, requirements, constraints, warm) as speculation:
            found = _compile_in(work, spec, target, store, builder, requirements, constraints)
            if speculation is not None:
                speculation.finish()  # a failed compile leaves the block: the speculation is stopped at once
            return found


def _compile_in(work: Path, spec: DependencySpec, target: Target, store: Store, builder: Builder,
                requirements: Path, constraints: Path | None) -> tuple[str, list[str]]:
    find_links: list[str] = []
    out = work / "pins.txt"
    args = ["pip", "compile", str(requirements), "-o", str(out),
            "--python-platform", target.uv_python_platform, "--python-version", target.python_version,
            "--only-binary", ":all:", "--generate-hashes", "--no-header", "--quiet"]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    while True:
        indexes = replace(spec.indexes, find_links=(*spec.indexes.find_links, *find_links))
        result = uv.run([*args, *indexes.uv_args()], store.uv_cache,
                        credentials=(*indexes.credentials(), *spec.credentials))
        if result.returncode == 0:
            text = out.read_text(encoding="utf-8")
            break
        missing = uv.no_wheels(result.message)
        if missing and normalize(missing[0]) in builder.allowed:
            folder = str(builder.allowed_sdist(missing[0], missing[1], spec.source))
            if folder not in find_links:
                find_links.append(folder)
                continue
        if uv.no_space(result.message):
            raise store.full(f"resolving {spec.source} for {target}")
        raise explain(result.message, spec.source, target, indexes, allowed=sorted(builder.allowed),
                      requirements=spec.requirements)
    return text, find_links


def _annotations(text: str, spec: DependencySpec, store: Store) -> tuple[dict[str, tuple[str, ...]], str]:
    """uv's output → (who requires whom; the pins with the user's own hashes and no path of this machine)."""
    pins, required_by = split_annotations(portable(text, store.root))
    return required_by, apply_user_hashes(pins, user_hashes([*spec.requirements, *spec.constraints]))


def _resolve_unpinned(spec: DependencySpec, target: Target, store: Store, builder: Builder) -> str:
    """Pins for a lock's unpinned entries (those :meth:`DependencySpec.for_target` kept for ``target``), resolved for
    it with the lock's own pins as constraints; a package the lock pins for the target keeps its locked line."""
    locked = [Requirement(_HASH.sub("", line)) for line in spec.requirements]
    constraints = tuple(str(r) for r in locked if r.url is None and r.specifier)
    covered = {normalize(r.name) for r in locked if target.evaluate(r.marker)}
    open_spec = replace(spec, requirements=spec.unpinned, constraints=constraints, locked=False, unpinned=())
    _, pins = _annotations(_uv_compile(open_spec, target, store, builder)[0], open_spec, store)
    return without(pins, covered)


_HASH = re.compile(r"\s--hash=\S+")
