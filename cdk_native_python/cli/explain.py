"""``cdk-native-python explain PKG``: why a package is (or is not) in a bundle, and what would change that.

Everything comes from a :class:`~cdk_native_python.core.records.BuildReport`: the packages with their versions
and wheel tags, the resolved set's graph (who requires whom on the target, stripped packages included),
what the user asked for directly, and what stripping removed and why.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.budget import mb
from ..core.distributions import normalize
from ..core.hints import option, speak
from ..core.progress import echo
from ..core.records import BuildReport
from ..pipeline.strip import INFRASTRUCTURE, RUNTIME_PROVIDED
from ..pipeline.why import chain, dependents, required_by, root_name, shown
from .report import load

EXPLAIN_DESCRIPTION = """\
Say whether PKG is in the bundle, at which version and from which wheel, the chain of
requirements that brings it in, why it was stripped (and what would keep it), or which
layer provides it."""

EXPLAIN_EPILOG = """\
examples:
  # why is botocore in this function's bundle (or why not)?
  cdk-native-python explain botocore --runtime python3.12 --arch arm64 -r src/requirements.txt

  # from a report: `build --report FILE`, or <cache>/reports/<asset hash>.json of a synth
  # (CDK_NATIVE_PYTHON_VERBOSE=1 cdk synth prints each bundle's report path)
  cdk-native-python explain botocore --report dist/fn.json

Without --report, every flag of `build` that says what to build is accepted (--runtime, --arch, -r,
--source, --group, --extra, --layer, package sources, --keep-boto3, --strip, --keep, --cache-dir, ...;
see `cdk-native-python build --help`); nothing is written besides the cache.
"""


def add_parser(commands: Any) -> None:
    e = commands.add_parser("explain", help="say why a package is (or is not) in a bundle, and what would change that",
                            description=EXPLAIN_DESCRIPTION, epilog=EXPLAIN_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("package", metavar="PKG", help="the package to explain (any spelling: PyYAML, pyyaml)")
    e.add_argument("--report", metavar="FILE.json", type=Path, help="explain this report instead of building")
    e.add_argument("build_flags", nargs=argparse.REMAINDER, metavar="BUILD_FLAGS",
                   help="the flags of `build` that say what to build (without --report)")
    e.set_defaults(quiet=False, verbose=False)


def run(args: argparse.Namespace, build: Callable[[Sequence[str]], int]) -> int:
    """Explain from ``--report``, or from the report of the build the flags describe (``build`` runs it)."""
    flags, rest = _explain_flags(args.build_flags)
    source = flags.report or args.report
    report = load(source) if source is not None else _build_report(build, rest)
    echo(explain(report, args.package), sys.stdout)
    return 0


def _explain_flags(flags: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """``--report`` given after PKG lands among the build flags: take it back out, with the output flags of a
    `build` command line pasted as it is (explain writes no output)."""
    mine = argparse.ArgumentParser(add_help=False)
    mine.add_argument("--report", type=Path)
    mine.add_argument("--output", "-o", "--zip")
    known, rest = mine.parse_known_args(flags)
    return known, [f for f in rest if f not in ("-q", "--quiet", "-v", "--verbose")]


def _build_report(build: Callable[[Sequence[str]], int], flags: list[str]) -> BuildReport:
    with tempfile.TemporaryDirectory(prefix="cdk-native-python-explain-") as tmp:
        report = Path(tmp) / "report.json"
        build(["build", *flags, "--output", str(Path(tmp) / "explain"), "--report", str(report), "--quiet"])
        return dataclasses.replace(load(report), name="")  # the temporary folder's name says nothing


def explain(report: BuildReport, package: str) -> str:
    """The answer as lines of text (the first line says whether ``package`` is in the bundle)."""
    # a command of the CLI: the options it names are its flags
    return speak("\n".join(_lines(report, normalize(package), package)), "cli")


def _lines(report: BuildReport, name: str, asked: str) -> Iterator[str]:
    where = f"the {'layer' if report.layer else 'bundle'}{f' of {report.name}' if report.name else ''} " \
            f"({report.runtime}/{report.architecture})"
    node = report.graph.get(name)
    version = report.packages[name].version if name in report.packages else (node.version if node else "")
    label = f"{name} {version}".rstrip()
    if name in report.packages:
        record = report.packages[name]
        yield f"{label} is in {where}" + (", under python/" if report.layer else "") + "."
        tags = ", ".join(record.wheel_tags) or "unknown (no WHEEL file)"
        kind = "pure Python: serves every target" if record.pure else "compiled for this target"
        yield f"  wheel: {tags} ({kind}); {mb(record.bytes)} installed"
    elif name in report.stripped:
        yield f"{label} is not in {where}: it was stripped ({report.stripped[name]})."
    elif node is not None:
        yield f"{label} is not in {where}, although the resolved set has it."
    else:
        yield (f"{asked} is not in {where}: nothing it depends on requires it on {report.runtime}/"
               f"{report.architecture} (requirements and their markers are evaluated for the target).")
        yield from _not_found(report, name)
        return
    yield from _why_here(report, name)
    yield from _what_would_change(report, name)


def _why_here(report: BuildReport, name: str) -> Iterator[str]:
    roots = report.roots
    if not report.graph:
        yield "  who requires it is not recorded in this report (built before reports kept the graph: " \
              "build again with --refresh, or after clearing the cache, to record it)"
        return
    if name in {root_name(r) for r in roots}:
        yield f"  a direct requirement: {next(r for r in roots if root_name(r) == name)}"
    path = chain(report.graph, roots, name, within=report.packages if name in report.packages else None)
    if len(path) > 1:
        yield f"  required through: {shown(path, roots)}"
    users = dependents(report.graph, name, report.packages)
    if users:
        yield f"  required directly by: {', '.join(users)}"


def _what_would_change(report: BuildReport, name: str) -> Iterator[str]:
    keep = option("keep", [name])
    why = report.stripped.get(name, "")
    if name in report.kept_seeds and name in RUNTIME_PROVIDED:
        # the reason names the specifier the runtime's copy cannot be trusted to satisfy
        yield f"  not stripped although the Lambda runtime provides it: {report.kept_seeds[name]}"
        yield "  the bundled copy is imported before the runtime's (it shadows it)"
    elif name in report.kept_seeds:
        yield (f"  not stripped although it is only needed at synth time: {report.kept_seeds[name]} needs it, and "
               "a package that something kept needs is never stripped")
    elif name in report.packages and name in RUNTIME_PROVIDED:
        yield (f"  shipped on request ({option('keep_boto3', True)} or {option('keep', ...)}); the runtime's copy "
               "is shadowed")
    if not why:
        return
    if why.startswith("provided by layer"):
        yield f"  at run time the layer's copy is imported; to ship the function's own copy (it shadows the " \
              f"layer's): {keep}"
    elif why.startswith("provided by the Lambda runtime"):
        yield f"  to ship it anyway: {keep}, or {option('keep_boto3', True)} to ship all of " \
              f"{', '.join(RUNTIME_PROVIDED)}"
    elif why == "infrastructure-only":
        yield f"  {name} is only needed at synth time ({', '.join(INFRASTRUCTURE[:3])}, ...); to ship it anyway: {keep}"
    elif why == "listed in strip":
        yield f"  remove {name!r} from {option('strip', ...)} to ship it"
    else:  # "only needed by a, b": removed with the stripped packages that need it
        users = ", ".join(required_by(report.graph, name)) or "the packages that need it"
        yield f"  removed with {users}; to ship it anyway: {keep}, or keep what needs it"


def _not_found(report: BuildReport, name: str) -> Iterator[str]:
    known = sorted({*report.packages, *report.stripped, *report.graph})
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        yield f"  did you mean: {', '.join(close)}?"
    yield f"  the bundle holds {len(report.packages)} packages (`cdk-native-python report` lists them)"
