"""Remove what the Lambda runtime already provides and what only infrastructure code needs.

Two kinds of seeds, removed with their *exclusive* closure (a package is removed only when nothing that
stays requires it, with requirements and their markers evaluated for the target):

* **runtime-provided** packages (boto3, botocore, s3transfer, jmespath, and python-dateutil, urllib3;
  table and sources in :mod:`~cdk_native_python.core.runtimes`): removed whenever every version the runtime
  may ship (``[floor, ceiling)``) satisfies every specifier on them, from the user (``specifiers``,
  read from what they wrote, never from a lock's pins) and from every package that stays. Then they are
  removed *even though* kept packages need them (``aws-xray-sdk`` → ``botocore``): the runtime's copy
  serves those. Otherwise they ship, and the record says why (``kept_seeds``).
* **infrastructure** packages (aws-cdk-lib, constructs, jsii, ...) and ``strip=[...]``: removed unless
  something that stays needs them ("never one that something kept still needs").

Packages the function's layers already hold (``StripOptions.provided``) are removed *exactly*: at run
time the layer's copy is on ``sys.path``, so whatever needs them still finds them. When the function
needs another version than its layer holds, it ships its own copy (first on ``sys.path``, it shadows
the layer's), as ``aws_lambda_python_alpha`` does; :func:`notices` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from ..core import runtimes
from ..core.budget import mb
from ..core.distributions import Distribution, normalize
from ..core.hints import option
from ..core.records import StripResult, TreeRecord
from ..core.reporter import Notice
from ..core.spec import DependencySpec
from ..core.target import Target
from .why import chain, shown

#: what every Lambda Python runtime ships (boto3 and its own dependencies); see runtimes.py for when
#: each is left out
RUNTIME_PROVIDED: tuple[str, ...] = (*runtimes.CORE, *runtimes.DEPENDENCIES)
#: what CDK apps need at synth time and a Lambda never imports
INFRASTRUCTURE: tuple[str, ...] = ("aws-cdk-lib", "constructs", "jsii", "aws-cdk-asset-awscli-v1",
                                   "aws-cdk-asset-node-proxy-agent-v6", "aws-cdk-cloud-assembly-schema",
                                   "aws-cdk-integ-tests-alpha", "cdk-native-python")
#: runtime packages worth a warning when shipped (tens of MB); the others get an info notice
_HEAVY = ("boto3", "botocore")


def _canon(names: Iterable[str]) -> set[str]:
    return {normalize(n) for n in names}


@dataclass(frozen=True)
class StripOptions:
    keep_boto3: bool = False
    #: extra seeds to remove (with their exclusive closure)
    strip: tuple[str, ...] = ()
    #: names never removed even if a seed
    keep: tuple[str, ...] = ()
    #: what the function's layers hold: (canonical name, version, layer path), removed exactly
    provided: tuple[tuple[str, str, str], ...] = ()
    #: what the runtime is guaranteed to ship: (name, floor, ceiling or ""); None: looked up for the target
    runtime: tuple[tuple[str, str, str], ...] | None = None
    #: (name, specifier) the user wrote on runtime-provided packages, markers evaluated for the target
    specifiers: tuple[tuple[str, str], ...] = ()
    #: the runtime's name in reasons ("python3.12"); the table above is what decides
    runtime_name: str = "the runtime"
    #: (name, extra) the user asked for (``aws-lambda-powertools[all]``): their requirements are edges too
    extras: tuple[tuple[str, str], ...] = ()
    #: ``specifiers`` are a lock's pins standing in for a manifest it came without: messages say the lock
    #: pinned them, never that the user wrote a version
    pinned_by_lock: bool = False

    def seeds(self) -> set[str]:
        """Infrastructure packages and ``strip``, minus ``keep`` (runtime-provided ones are decided apart)."""
        return _canon((*INFRASTRUCTURE, *self.strip)) - _canon(self.keep)

    def bounds(self) -> dict[str, runtimes.Provided]:
        """The runtime-provided packages that may be left out, with their bounds (none with keep_boto3)."""
        if self.keep_boto3 or self.runtime is None:
            return {}
        found = {n: runtimes.Provided(n, f, c or None) for n, f, c in self.runtime}
        keep = _canon(self.keep)
        return {n: p for n, p in found.items() if n not in keep}

    def likely_removed(self) -> set[str]:
        """What a build will most likely leave out, whatever the resolution: the seeds, the runtime's packages
        that may be left out and the layers' packages (a guess for downloading ahead, never a decision)."""
        return self.seeds() | set(self.bounds()) | _canon(p[0] for p in self.provided)

    def for_build(self, target: Target, spec: DependencySpec | None) -> StripOptions:
        """These options with the target's runtime table and the user's specifiers on its packages."""
        bounds = () if self.keep_boto3 else _table(target)
        if spec is None:
            return replace(self, runtime=bounds, runtime_name=target.runtime)
        lines = _user_lines(spec, target)  # parsed once for both
        return replace(self, runtime=bounds, runtime_name=target.runtime,
                       specifiers=user_specifiers(lines, {b[0] for b in bounds}), extras=user_extras(lines),
                       pinned_by_lock=_pins_stand_in(spec))

    def key(self) -> dict[str, object]:
        key: dict[str, object] = {"keep_boto3": self.keep_boto3, "strip": sorted(self.strip),
                                  "keep": sorted(self.keep)}
        if self.provided:  # absent when empty: keys (and cached trees) of layer-less builds are unchanged
            key["provided"] = sorted([list(p) for p in self.provided])
        if self.runtime is not None:
            key["runtime"] = [runtimes.TABLE_DATE, sorted([list(b) for b in self.runtime])]
        if self.specifiers:
            key["specifiers"] = sorted([list(s) for s in self.specifiers])
        if self.extras:
            key["extras"] = sorted([list(e) for e in self.extras])
        if self.pinned_by_lock:  # the record's reasons say so
            key["pinned_by_lock"] = True
        return key


def _table(target: Target) -> tuple[tuple[str, str, str], ...]:
    """The runtime's table for ``target`` as :attr:`StripOptions.runtime` holds it."""
    return tuple((p.name, p.floor, p.ceiling or "") for p in runtimes.provided(target.runtime).values())


_OPTION = re.compile(r"\s--?[a-z][a-z-]*(=\S+)?")


def user_specifiers(lines: Iterable[tuple[str, Requirement]], names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(name, specifier) of every requirement of :func:`_user_lines` on ``names``.

    A direct reference (``boto3 @ https://...``) gets ``===`` (never guaranteed).
    """
    wanted = _canon(names)
    found: list[tuple[str, str]] = []
    for name, req in lines:
        if name in wanted:
            found.append((name, "===direct-reference" if req.url else str(req.specifier)))
    return tuple(sorted(set(found)))


def user_extras(lines: Iterable[tuple[str, Requirement]]) -> tuple[tuple[str, str], ...]:
    """(name, extra) of every requirement of :func:`_user_lines`."""
    return tuple(sorted({(name, normalize(e)) for name, req in lines for e in req.extras}))


def _user_lines(spec: DependencySpec, target: Target) -> list[tuple[str, Requirement]]:
    """The user's requirements whose marker holds on the target, parsed.

    A lock without the manifest it was made from (pylock.toml, Pipfile.lock without its Pipfile) does not
    say what the user asked for: its pins of the roots stand in (so a locked boto3 ships, never a guess).
    """
    if _pins_stand_in(spec):
        roots = None if spec.roots is None else _canon(spec.roots)
        parsed = [p for p in map(_parse, spec.requirements) if p is not None and (roots is None or p[0] in roots)]
    else:
        parsed = [p for p in map(_parse, spec.user_requirements()) if p is not None]
    return [p for p in parsed if target.evaluate(p[1].marker)]


def _pins_stand_in(spec: DependencySpec) -> bool:
    """A lock without the manifest it was made from: its pins of the roots stand in for what the user wrote."""
    return spec.locked and not spec.requested


def _parse(line: str) -> tuple[str, Requirement] | None:
    """(canonical name, requirement) of a requirements line (options such as --hash dropped), or None."""
    text = _OPTION.sub("", " " + line).strip()
    if not text or text.startswith(("-", ".", "/")):
        return None
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    return normalize(req.name), req


def requirement_graph(dists: dict[str, Distribution], target: Target, extras: Iterable[tuple[str, str]] = (),
                      ) -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """(name -> names it requires on the target, (user, dep) -> the specifiers of those requirements),
    extras followed as far as they are requested (``extras``: what the user asked for, e.g. powertools[all])."""
    active_extras: dict[str, set[str]] = {n: set() for n in dists}
    for name, extra in extras:
        if name in active_extras:
            active_extras[name].add(extra)
    changed = True
    edges: dict[str, set[str]] = {n: set() for n in dists}
    specs: dict[tuple[str, str], list[str]] = {}
    while changed:  # extras requested by a dependent turn on more of a package's requirements
        changed = False
        for name, dist in dists.items():
            for req in dist.requires:
                dep = normalize(req.name)
                if dep not in dists:
                    continue
                if req.marker is not None and not target.evaluate(
                    req.marker, frozenset(active_extras[name])
                ):
                    continue
                found = specs.setdefault((name, dep), [])
                if str(req.specifier) not in found:
                    found.append(str(req.specifier))
                if dep not in edges[name]:
                    edges[name].add(dep)
                    changed = True
                new = set(req.extras) - active_extras[dep]
                if new:
                    active_extras[dep] |= new
                    changed = True
    return edges, specs


Graph = tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]


def decide(dists: dict[str, Distribution], target: Target, roots: Iterable[str], options: StripOptions,
           graph: Graph | None = None) -> StripResult:
    """What to strip from an installed tree (edges and specifiers read from each package's metadata, or
    ``graph``: :func:`requirement_graph` of the same distributions and options, when the caller has it)."""
    edges, specs = graph if graph is not None else requirement_graph(dists, target, options.extras)
    if options.runtime is None:
        options = replace(options, runtime=_table(target))
    return decide_graph(edges, roots, replace(options, runtime_name=target.runtime), specs,
                        {name: d.version for name, d in dists.items()})


def decide_graph(edges: dict[str, set[str]], roots: Iterable[str], options: StripOptions,
                 specs: Mapping[tuple[str, str], list[str]] | None = None,
                 versions: Mapping[str, str] | None = None) -> StripResult:
    """What to strip, given ``name -> names it requires on the target`` for every package of the set, and
    ``versions``: name -> the resolved or locked version (a runtime dependency whose version is not known
    ships, so nothing outside the runtime's range is ever swapped for its copy).

    The graph may come from installed metadata (:func:`decide`, with each requirement's specifiers) or
    from the resolver's record of who required what (no specifiers: a runtime-provided package that a
    kept package needs then stays for now, and the check on the installed metadata decides).
    """
    hard = options.seeds() & set(edges)
    runtime = options.runtime_name
    bounds = {n: b for n, b in options.bounds().items() if n in edges}
    user: dict[str, list[str]] = {}
    for name, specifier in options.specifiers:
        user.setdefault(name, []).append(specifier)
    shipped: dict[str, str] = {}
    for name, bound in bounds.items():
        bad = [s for s in user.get(name, []) if not runtimes.guaranteed(bound, s)]
        if bad and name in runtimes.CORE:
            shipped[name] = (f"{_wrote(options, name, bad[0])}; {runtime} only guarantees {bound.describe()}")
    # the runtime serves the boto3 family to whatever needs it; its dependencies (DEPENDENCIES) only
    # leave with what needs them, below
    provided = {n for n in bounds if n in runtimes.CORE} - set(shipped)
    root_names = _canon(roots)
    never = _canon(options.keep)
    known = versions or {}
    while True:
        kept, kept_seeds = _kept(edges, root_names, hard | provided, provided, never)
        demoted: set[str] = set()
        for user_pkg in sorted(kept):
            for dep in sorted(edges[user_pkg] & provided):
                if specs is None:
                    demoted.add(dep)  # unknown specifier: decided again on the installed metadata
                    continue
                bad = [s for s in specs.get((user_pkg, dep), []) if not runtimes.guaranteed(bounds[dep], s)]
                if bad:
                    demoted.add(dep)
                    shipped[dep] = (f"{user_pkg} requires {dep}{bad[0]}; {runtime} only guarantees "
                                    f"{bounds[dep].describe()}")
        # a dependency only stripped packages need leaves only at a version the runtime's range holds:
        # python-dateutil 4.0.0 is never swapped for the runtime's 2.x
        for name in sorted((set(bounds) & set(runtimes.DEPENDENCIES)) - kept):
            version = known.get(name, "")
            if not bounds[name].holds(version):
                demoted.add(name)
                never.add(name)
                shipped[name] = (f"{name} {version or '(version unknown)'} was resolved; {runtime} only "
                                 f"guarantees {bounds[name].describe()}")
        if not demoted:
            break
        provided -= demoted
    removed = {}
    for name in sorted(set(edges) - kept):
        if name in bounds and name not in shipped:
            why = f"provided by the Lambda runtime ({runtime} guarantees {bounds[name].describe()})"
        elif name in hard:
            why = "infrastructure-only" if name in INFRASTRUCTURE else "listed in strip"
        else:
            users = sorted(n for n in edges if name in edges[n])
            why = "only needed by " + ", ".join(users)
        removed[name] = why
    kept_seeds.update({name: why for name, why in shipped.items() if name in kept})
    for name in sorted((set(bounds) & set(runtimes.DEPENDENCIES) & kept) - set(kept_seeds)):
        # a dependency of the boto3 family that a shipped package needs ships at its resolved version
        users = sorted(n for n in kept if name in edges[n])
        if users:
            kept_seeds[name] = f"{', '.join(users)} {'needs' if len(users) == 1 else 'need'} it, and ships"
        elif name in root_names:
            kept_seeds[name] = f"your dependency file requires {name}"
    return StripResult(removed, kept_seeds)


def _wrote(options: StripOptions, name: str, specifier: str) -> str:
    """Who asked for ``name`` with ``specifier``: the user (quoted as written) or the lock (its pin)."""
    if options.pinned_by_lock:
        return f"the lock pinned {name}{specifier}"
    return f"your dependency file requires {name}{specifier}"


def _kept(edges: dict[str, set[str]], roots: set[str], seeds: set[str], provided: set[str],
          never: set[str]) -> tuple[set[str], dict[str, str]]:
    """What stays: the roots and ``keep`` (minus seeds), anything the seeds do not reach (so an
    incomplete list of roots can only keep too much), and what those need, except what the runtime
    provides. Returns (kept, infrastructure seed -> the kept package that needs it)."""

    def reach(starts: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = [s for s in starts if s in edges]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(edges[n])
        return seen

    kept = (((roots - seeds) | never) & set(edges)) | (set(edges) - reach(seeds))
    kept_seeds: dict[str, str] = {}
    changed = True
    while changed:  # a kept package pulls back whatever it needs, seeds included, except the runtime's
        changed = False
        for name in sorted(kept):
            for dep in sorted(edges[name] - provided):
                if dep not in kept:
                    kept.add(dep)
                    if dep in seeds:
                        kept_seeds[dep] = name
                    changed = True
    return kept, kept_seeds


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def provided_by_layers(dists: dict[str, Distribution], options: StripOptions,
                       already_removed: Iterable[str] = ()) -> dict[str, str]:
    """name -> "provided by layer <path>" for the installed packages a layer holds at the same version.

    Packages already stripped for another reason, and packages in ``keep``, are left alone. A package a
    layer holds at another version stays: the function's copy comes first on ``sys.path`` and shadows
    the layer's (:func:`notices` tells the user).
    """
    skip = set(already_removed) | _canon(options.keep)
    removed: dict[str, str] = {}
    for raw, version, layer in sorted(options.provided):
        name = normalize(raw)
        dist = dists.get(name)
        if dist is not None and name not in skip and same_version(dist.version, version):
            removed[name] = f"provided by layer {layer}"
    return removed


def notices(record: TreeRecord, options: StripOptions, roots: Sequence[str] = ()) -> tuple[Notice, ...]:
    """What the user should know about an installed tree's strip: runtime-provided packages that ship, why,
    and through which chain of requirements (``roots``: the user's requirements as written); and packages
    whose own copy shadows another version a layer holds."""
    found: list[Notice] = []
    keep = _canon(options.keep)
    seeds = record.stripped.kept_seeds
    shipped = [n for n in sorted(seeds) if n in runtimes.CORE and n in record.packages and n not in keep]
    if shipped:  # (the others, urllib3 and friends, ship quietly: nobody strips them by hand)
        paths = [chain(record.graph, roots, name, within=record.packages) or (name,) for name in shipped]
        # a chain that another one continues says nothing more: botocore's ends where jmespath's goes on
        paths = [p for p in paths if not any(len(q) > len(p) and q[:len(p)] == p for q in paths)]
        one = len(shipped) == 1
        found.append(Notice(
            "runtime-provided-shipped",
            f"{', '.join(f'{n} {record.packages[n].version}' for n in shipped)} "
            f"({mb(sum(record.packages[n].bytes for n in shipped))}), which the Lambda runtime provides, "
            f"{'is' if one else 'are'} shipped, required through {'; '.join(shown(p, roots) for p in paths)}: "
            f"{seeds[shipped[0]]}; the bundled {'copy shadows' if one else 'copies shadow'} the runtime's "
            f"({option('keep_boto3', True)} says you mean it)",
            "warning" if any(n in _HEAVY for n in shipped) else "info"))
    layered: dict[str, tuple[str, str]] = {}
    for raw, version, layer in sorted(options.provided):
        layered.setdefault(normalize(raw), (version, layer))
    for name, (version, layer) in sorted(layered.items()):
        package = record.packages.get(name)
        if package is not None and name not in keep and not same_version(package.version, version):
            found.append(Notice("layer-version-shadowed",
                                f"shipping {name} {package.version}, which shadows {name} {version} from layer "
                                f"{layer} (the function's copy comes first on sys.path)", "warning"))
    return tuple(found)
