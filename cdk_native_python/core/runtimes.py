"""What each Lambda Python runtime is *guaranteed* to ship: a dated table of floor versions.

AWS no longer publishes the exact boto3/botocore of each runtime: they vary by region and date, and
only move forward (a runtime update never downgrades the SDK). So the question stripping must answer
is not "which version does the runtime have" but "is every version the runtime may have acceptable".
This module answers it from two bounds per package:

* the **floor**: the lowest version any region can still run (cited below, per runtime);
* the **ceiling** (exclusive): the major line the runtime stays on. boto3 and botocore have been 1.x
  since 2015 and a 2.x would break every function on the runtime; jmespath, python-dateutil and urllib3
  are capped by the runtime's own botocore (``jmespath<2``, ``python-dateutil<3``, ``urllib3<1.27`` on
  Python < 3.10 and ``urllib3<3`` from 3.10 on), six by python-dateutil's own use of it (1.x since 2010).
  s3transfer (0.x, pinned per boto3 minor) has no ceiling we can promise.

A specifier is *guaranteed* when every version in ``[floor, ceiling)`` satisfies it
(:func:`guaranteed`). Stripping (``strip.py``) treats the two groups differently:

* :data:`CORE` (the boto3 family, and SnapStart's ``snapshot-restore-py``) leaves the bundle whenever every
  specifier on it is guaranteed, even when a package that ships needs it: the runtime's copy serves it.
* :data:`DEPENDENCIES` (python-dateutil, urllib3, six) leave only with what needs them: when nothing that
  ships requires them and the resolved version is inside ``[floor, ceiling)``. A package that ships
  takes its dependencies at the locked or resolved version, never the runtime's.

Sources, table dated 2026-11-25 (boto3 and botocore; the other packages' floors are the lower bounds
the floor boto3/botocore themselves require, read from their PyPI metadata, so the runtime's own pip
install guarantees them):

* python3.8, 3.9: ``boto3-1.18.55 botocore-1.21.55`` for every python3.x runtime, as the "Lambda
  runtimes" page listed them (quoted in github.com/lambci/docker-lambda/issues/356, 2022-01-31).
* python3.10: launched 2023-04-18, after that listing, with a then-current SDK; runtimes only move
  forward, so the 2022-01 listing is a floor for it too.
* python3.11: ``boto3-1.27.1 botocore-1.30.1`` as the "Lambda runtimes" page listed them (quoted in
  github.com/boto/botocore/issues/3082, 2023-11-29).
* python3.12, 3.13: ``boto3/botocore 1.38.36`` observed on both runtimes (github.com/terricain/aioboto3/
  issues/381, 2025-08-16 and 2025-08-22); every region has received runtime updates since (a rollout
  takes weeks) and updates never go back.
* python3.14: launched 2025-11, after that observation, with an SDK at least as new as the 3.13
  runtime's of 2025-08.

Python-dateutil's floor is 2.1 everywhere (``python-dateutil>=2.1`` in every botocore listed). six comes
in through python-dateutil: every python-dateutil since 2.7 (2018, older than every botocore listed above
by years) requires ``six>=1.5``, so 1.5 is the floor.

SnapStart: "Python runtime hooks are available as part of the open-source Snapshot Restore for Python
library, which is included in Python managed runtimes"
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html, read 2026-12-08), and
SnapStart supports the Python runtimes from python3.12 on
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html), so the table lists it for those only. The
page states no version: the floor is 1.0.0, the first release on PyPI (2024-11, with SnapStart for
Python; https://pypi.org/project/snapshot-restore-py/), so whatever copy a runtime has is at least that;
the ceiling is 2, the major line its two-function API (``register_before_snapshot``,
``register_after_restore``) is on.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

TABLE_DATE = "2026-11-25"

#: the packages the runtime serves to whatever needs them, when guaranteed: the boto3 family and SnapStart's hooks
CORE: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "jmespath", "snapshot-restore-py")
#: the boto3 family's own dependencies: left out only with what needs them (never from under a package that ships)
DEPENDENCIES: tuple[str, ...] = ("python-dateutil", "urllib3", "six")

_OLD = {"boto3": "1.18.55", "botocore": "1.21.55", "s3transfer": "0.5.0", "jmespath": "0.7.1",
        "python-dateutil": "2.1", "urllib3": "1.25.4", "six": "1.5"}
_311 = {**_OLD, "boto3": "1.27.1", "botocore": "1.30.1", "s3transfer": "0.6.0"}
_2025 = {**_OLD, "boto3": "1.38.36", "botocore": "1.38.36", "s3transfer": "0.13.0",
         "snapshot-restore-py": "1.0.0"}  # SnapStart runtimes (3.12 on)
FLOORS: dict[str, dict[str, str]] = {
    "python3.8": _OLD, "python3.9": _OLD, "python3.10": _OLD, "python3.11": _311,
    "python3.12": _2025, "python3.13": _2025, "python3.14": _2025,
}
_CEILINGS = {"boto3": "2", "botocore": "2", "jmespath": "2", "python-dateutil": "3", "six": "2",
             "snapshot-restore-py": "2"}


@dataclass(frozen=True)
class Provided:
    """A package the runtime ships: every version in ``[floor, ceiling)`` may be the one it has."""

    name: str
    floor: str
    ceiling: str | None

    def describe(self) -> str:
        upper = f", below {self.ceiling}" if self.ceiling else ""
        return f"{self.name} >= {self.floor}{upper}"

    def holds(self, version: str) -> bool:
        """True when ``version`` is inside ``[floor, ceiling)`` (an unreadable version never is)."""
        try:
            v = Version(version)
            return Version(self.floor) <= v and (self.ceiling is None or v < Version(self.ceiling))
        except InvalidVersion:
            return False


def provided(runtime: str) -> dict[str, Provided]:
    """name -> bounds of what ``runtime`` (e.g. "python3.12") is guaranteed to ship; {} if unknown."""
    floors = FLOORS.get(runtime, {})
    minor = int(runtime.rsplit(".", 1)[1]) if runtime.startswith("python3.") else 0
    ceilings = {**_CEILINGS, "urllib3": "1.27" if minor < 10 else "3"}
    return {name: Provided(name, floor, ceilings.get(name)) for name, floor in floors.items()}


def guaranteed(bounds: Provided, specifier: str) -> bool:
    """True when every version in ``[floor, ceiling)`` satisfies ``specifier`` (a PEP 440 set).

    Each clause is checked against the whole interval, not just the floor: ``boto3==1.35.0`` or
    ``botocore<1.35.37`` can hold today and break after the next runtime update, so they are not
    guaranteed. An unreadable specifier is never guaranteed.
    """
    try:
        clauses = list(SpecifierSet(specifier))
        floor = Version(bounds.floor)
        ceiling = Version(bounds.ceiling) if bounds.ceiling else None
    except (InvalidSpecifier, InvalidVersion):
        return False
    return all(_clause_holds(c, floor, ceiling) for c in clauses)


def _clause_holds(clause: Specifier, floor: Version, ceiling: Version | None) -> bool:
    op, text = clause.operator, clause.version
    if op in (">=", ">"):
        return clause.contains(floor, prereleases=True)
    if op in ("<", "<="):
        # every version below the ceiling is below the bound
        return ceiling is not None and ceiling <= Version(text)
    if op == "!=":
        if text.endswith(".*"):  # excludes [prefix, next prefix): must not meet [floor, ceiling)
            prefix = Version(text[:-2])
            return _next_prefix(prefix) <= floor or (ceiling is not None and ceiling <= prefix)
        excluded = Version(text)
        return excluded < floor or (ceiling is not None and excluded >= ceiling)
    if op == "~=":
        # ~=X.Y means >=X.Y, ==X.*: the floor must hold and the ceiling must not pass the next X
        release = Version(text).release
        upper = Version(".".join(map(str, (*release[:-2], release[-2] + 1))))
        return clause.contains(floor, prereleases=True) and ceiling is not None and ceiling <= upper
    if op == "==" and text.endswith(".*"):
        prefix = Version(text[:-2])
        return clause.contains(floor, prereleases=True) and ceiling is not None and ceiling <= _next_prefix(prefix)
    return False  # == and === name one version: the runtime's may be another


def _next_prefix(prefix: Version) -> Version:
    """The first version after every ``prefix.*`` (1.2 -> 1.3)."""
    release = prefix.release
    return Version(".".join(map(str, (*release[:-1], release[-1] + 1))))
