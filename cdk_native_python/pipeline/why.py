"""Why a package is in a bundle: the chain of requirements that leads to it from what the user asked for.

The graph is a report's (``BuildReport.graph``: the resolver's record of who requires whom, or for a lock
file read as it is, the installed packages' metadata), evaluated for the target, stripped packages included.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from ..core.distributions import normalize
from ..core.records import DependencyRecord
from .pins import name_of

_EXTRAS = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*\[([^\]]*)\]")


def root_labels(requirements: Iterable[str], roots: Iterable[str]) -> tuple[str, ...]:
    """The user's direct requirements as written, with their extras (``aws-lambda-powertools[tracer]``)."""
    wanted = {normalize(r) for r in roots}
    extras: dict[str, set[str]] = {name: set() for name in wanted}
    for line in requirements:
        name = name_of(line)
        if name in extras:
            m = _EXTRAS.match(line)
            extras[name] |= {normalize(e.strip()) for e in m.group(1).split(",") if e.strip()} if m else set()
    return tuple(sorted(f"{name}[{','.join(sorted(more))}]" if more else name for name, more in extras.items()))


def root_name(label: str) -> str:
    return normalize(label.split("[", 1)[0])


def chain(graph: Mapping[str, DependencyRecord], roots: Iterable[str], name: str,
          within: Collection[str] | None = None) -> tuple[str, ...]:
    """The shortest chain of names from a root to ``name`` (``(name,)`` for a root), through packages of
    ``within`` only when given (for a package in the bundle: the bundle's packages, since a stripped package
    is not why anything is shipped); ``()`` when none leads there. Ties are broken by name, so the answer is
    the same on every run."""
    target = normalize(name)
    nodes = set(graph) if within is None else set(graph) & set(within)
    starts = sorted({root_name(r) for r in roots} & nodes)
    previous: dict[str, str | None] = {s: None for s in starts}
    queue = list(starts)
    for current in queue:  # breadth first: the queue grows while it is walked
        if current == target:
            path = [current]
            while (before := previous[path[-1]]) is not None:
                path.append(before)
            return tuple(reversed(path))
        for dep in sorted(graph[current].requires):
            if dep in nodes and dep not in previous:
                previous[dep] = current
                queue.append(dep)
    return ()


def shown(path: Iterable[str], roots: Iterable[str]) -> str:
    """``aws-lambda-powertools[tracer] → aws-xray-sdk → botocore``: the root as the user wrote it."""
    names = list(path)
    if not names:
        return ""
    labels = {root_name(r): r for r in roots}
    return " → ".join([labels.get(names[0], names[0]), *names[1:]])


def required_by(graph: Mapping[str, DependencyRecord], name: str) -> tuple[str, ...]:
    """The packages of the set that require ``name`` directly."""
    target = normalize(name)
    return tuple(sorted(n for n, record in graph.items() if target in record.requires))


def dependents(graph: Mapping[str, DependencyRecord], name: str, present: Collection[str]) -> list[str]:
    """:func:`required_by`, each marked ``(stripped)`` when it is not in the bundle (``present``)."""
    return [user if user in present else f"{user} (stripped)" for user in required_by(graph, name)]
