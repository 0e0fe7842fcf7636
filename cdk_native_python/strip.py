"""Remove what the Lambda runtime already provides and what only infrastructure code needs.

Only the *exclusive* closure goes: starting from the seeds (boto3, botocore, ... and aws-cdk-lib,
constructs, jsii), a package is removed only when nothing that stays requires it, with requirements
and their markers evaluated for the target. A seed that a kept package still needs stays as well
("never one that something kept still needs"); the report says who kept it.

Packages the function's layers already hold (``StripOptions.provided``) are removed *exactly*: at run
time the layer's copy is on ``sys.path``, so whatever needs them still finds them. A function that
needs a different version than its layer holds is an error, since only one copy can be imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .distributions import Distribution
from .errors import ConfigurationError
from .records import StripResult
from .target import Target

#: what every Lambda Python runtime ships (boto3 and its own dependencies)
RUNTIME_PROVIDED: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "jmespath")
#: what CDK apps need at synth time and a Lambda never imports
INFRASTRUCTURE: tuple[str, ...] = ("aws-cdk-lib", "constructs", "jsii", "aws-cdk-asset-awscli-v1",
                                   "aws-cdk-asset-node-proxy-agent-v6", "aws-cdk-cloud-assembly-schema",
                                   "aws-cdk-integ-tests-alpha", "cdk-native-python")


@dataclass(frozen=True)
class StripOptions:
    keep_boto3: bool = False
    #: extra seeds to remove (with their exclusive closure)
    strip: tuple[str, ...] = ()
    #: names never removed even if a seed
    keep: tuple[str, ...] = ()
    #: what the function's layers hold: (canonical name, version, layer path), removed exactly
    provided: tuple[tuple[str, str, str], ...] = ()

    def seeds(self) -> set[str]:
        seeds = set(INFRASTRUCTURE) | {canonicalize_name(n) for n in self.strip}
        if not self.keep_boto3:
            seeds |= set(RUNTIME_PROVIDED)
        return {str(canonicalize_name(s)) for s in seeds} - {str(canonicalize_name(k)) for k in self.keep}

    def key(self) -> dict[str, object]:
        key: dict[str, object] = {"keep_boto3": self.keep_boto3, "strip": sorted(self.strip),
                                  "keep": sorted(self.keep)}
        if self.provided:  # absent when empty: keys (and cached trees) of layer-less builds are unchanged
            key["provided"] = sorted([list(p) for p in self.provided])
        return key


def dependency_graph(dists: dict[str, Distribution], target: Target) -> dict[str, set[str]]:
    """name -> names it requires on the target (extras followed as far as they are requested)."""
    active_extras: dict[str, set[str]] = {n: set() for n in dists}
    changed = True
    edges: dict[str, set[str]] = {n: set() for n in dists}
    while changed:  # extras requested by a dependent turn on more of a package's requirements
        changed = False
        for name, dist in dists.items():
            for req in dist.requires:
                dep = canonicalize_name(req.name)
                if dep not in dists:
                    continue
                if req.marker is not None and not target.evaluate(
                    req.marker, frozenset(active_extras[name])
                ):
                    continue
                if dep not in edges[name]:
                    edges[name].add(dep)
                    changed = True
                new = set(req.extras) - active_extras[dep]
                if new:
                    active_extras[dep] |= new
                    changed = True
    return edges


def plan(dists: dict[str, Distribution], target: Target, roots: Iterable[str], options: StripOptions) -> StripResult:
    """What to strip from an installed tree (edges read from each package's metadata)."""
    return plan_graph(dependency_graph(dists, target), roots, options)


def plan_graph(edges: dict[str, set[str]], roots: Iterable[str], options: StripOptions) -> StripResult:
    """What to strip, given ``name -> names it requires on the target`` for every package of the set.

    The graph may come from installed metadata (:func:`dependency_graph`) or from the resolver's own
    record of who required what, which lets the install skip stripped packages altogether.
    """
    seeds = options.seeds() & set(edges)

    def reach(starts: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = [s for s in starts if s in edges]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(edges[n])
        return seen

    from_seeds = reach(seeds)
    # Kept: what the user's roots need without passing through a seed, plus anything the seeds do not
    # reach at all (so an incomplete list of roots can only keep too much, never remove too much).
    roots = {canonicalize_name(r) for r in roots} - seeds
    never = {str(canonicalize_name(k)) for k in options.keep}
    kept = ((roots | never) & set(edges)) | (set(edges) - from_seeds)
    kept_seeds: dict[str, str] = {}
    changed = True
    while changed:  # a kept package pulls back whatever it needs, seeds included
        changed = False
        for name in sorted(kept):
            for dep in edges[name]:
                if dep not in kept:
                    kept.add(dep)
                    if dep in seeds:
                        kept_seeds[dep] = name
                    changed = True
    removed = {}
    for name in sorted(set(edges) - kept):
        if name in seeds:
            why = "provided by the Lambda runtime" if name in RUNTIME_PROVIDED else (
                "infrastructure-only" if name in INFRASTRUCTURE else "listed in strip")
        else:
            users = sorted(n for n in edges if name in edges[n])
            why = "only needed by " + ", ".join(users)
        removed[name] = why
    return StripResult(removed, kept_seeds)


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def provided_by_layers(dists: dict[str, Distribution], options: StripOptions,
                       already_removed: Iterable[str] = ()) -> dict[str, str]:
    """name -> "provided by layer <path>" for the installed packages a layer holds at the same version.

    Packages already stripped for another reason, and packages in ``keep``, are left alone. A package a
    layer holds at another version raises :class:`ConfigurationError` naming both versions and the layer.
    """
    skip = set(already_removed) | {str(canonicalize_name(k)) for k in options.keep}
    removed: dict[str, str] = {}
    conflicts: list[str] = []
    for raw, version, layer in sorted(options.provided):
        name = str(canonicalize_name(raw))
        dist = dists.get(name)
        if dist is None or name in skip or name in removed:
            continue
        if same_version(dist.version, version):
            removed[name] = f"provided by layer {layer}"
        else:
            conflicts.append(f"{name}=={dist.version} is needed, but layer {layer} holds {name}=={version}")
    if conflicts:
        first = conflicts[0].split("==")[0]
        raise ConfigurationError(
            "the function needs other versions than its layers provide (only one copy can be imported):\n    "
            + "\n    ".join(conflicts),
            "pin the layer's versions in the function's dependencies (or rebuild the layer with the function's), "
            f"or use keep=[{first!r}] to ship the function's own copy, which shadows the layer's",
        )
    return removed
