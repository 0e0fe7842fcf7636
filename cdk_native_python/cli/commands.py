"""The ``explain``, ``report``, ``cache`` and ``prefetch`` commands of ``cdk-native-python`` (``cli.py`` registers
and dispatches them; ``cache`` lives in :mod:`~cdk_native_python.cli.cache`, ``prefetch`` in
:mod:`~cdk_native_python.cli.prefetch`).

``explain PKG`` reads a report (``--report FILE``), or takes every target, input, source and contents flag
of ``build`` and builds exactly what ``build`` would (same flags, same code, same cache; into a temporary
folder) to explain its report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.errors import InputError, excerpt
from ..core.progress import echo
from ..core.records import BuildReport, dumps, from_json
from . import cache as cachecmd
from . import prefetch
from .explain import explain
from .report import report_text

COMMANDS = ("explain", "report", "cache", "prefetch")

EXPLAIN_DESCRIPTION = """\
Say whether PKG is in the bundle, at which version and from which wheel, the chain of
requirements that brings it in, why it was stripped (and what would keep it), or which
layer provides it."""

REPORT_DESCRIPTION = """\
Print a build report (`build --report FILE`, or <cache>/reports/<asset hash>.json written
by every synth) as tables: packages with version, size, wheel tags and who requires them,
what was stripped and why, slimming, verification and notices."""

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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``explain``, ``report``, ``cache`` and ``prefetch`` to the command line's parser."""
    cachecmd.add_parser(commands)
    prefetch.add_parser(commands)
    e = commands.add_parser("explain", help="say why a package is (or is not) in a bundle, and what would change that",
                            description=EXPLAIN_DESCRIPTION, epilog=EXPLAIN_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("package", metavar="PKG", help="the package to explain (any spelling: PyYAML, pyyaml)")
    e.add_argument("--report", metavar="FILE.json", type=Path, help="explain this report instead of building")
    e.add_argument("build_flags", nargs=argparse.REMAINDER, metavar="BUILD_FLAGS",
                   help="the flags of `build` that say what to build (without --report)")
    e.set_defaults(quiet=False, verbose=False)

    r = commands.add_parser("report", help="print a build report as tables (--json for scripts)",
                            description=REPORT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE.json", type=Path, help="the report")
    r.add_argument("--json", action="store_true", help="the report as normalized JSON (stable keys, for scripts)")
    r.set_defaults(quiet=False, verbose=False)


#: runs ``build`` with these command-line arguments (``cli.py`` passes its own, which sits above this module)
BuildCommand = Callable[[Sequence[str]], int]


def run_command(args: argparse.Namespace, build: BuildCommand) -> int:
    """Run ``explain``, ``report`` or ``cache``; errors are raised for the command line to print. ``explain``
    without ``--report`` runs ``build`` to get one."""
    if args.command == "cache":
        return cachecmd.run(args)
    if args.command == "prefetch":
        return prefetch.run(args)
    if args.command == "report":
        report = load(args.file)
        # JSON escapes every control character itself; the tables go through the terminal filter
        if args.json:
            sys.stdout.write(dumps(report))
        else:
            echo(report_text(report), sys.stdout)
        return 0
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


def _build_report(build: BuildCommand, flags: list[str]) -> BuildReport:
    with tempfile.TemporaryDirectory(prefix="cdk-native-python-explain-") as tmp:
        report = Path(tmp) / "report.json"
        build(["build", *flags, "--output", str(Path(tmp) / "explain"), "--report", str(report), "--quiet"])
        return dataclasses.replace(load(report), name="")  # the temporary folder's name says nothing


#: a report is a few hundred KB even for a large layer: anything bigger is not one (and is never read whole)
MAX_REPORT_BYTES = 16 * 1024 * 1024
_REPORT_HINT = "pass a file written by `build --report`, or one of <cache>/reports/*.json"


def load(path: Path) -> BuildReport:
    """Read a report someone hands us: a regular file of at most :data:`MAX_REPORT_BYTES`, UTF-8 JSON of a
    :class:`BuildReport`. Anything else (a FIFO, ``/dev/zero``, a huge or sparse file, JSON nested beyond the
    interpreter's stack, an integer too long to convert, bytes that are not UTF-8) is a usage error naming it."""
    data = _read_small(path)
    try:
        return from_json(BuildReport, json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError and RecordError included
        why = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
        raise InputError(f"{path} is not a cdk-native-python build report ({excerpt(why, 200)})", _REPORT_HINT,
                         code="report-invalid") from None


def _read_small(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file no larger than a report can be; opened without blocking
    (a FIFO with no writer would otherwise hang) and checked with ``fstat`` before anything is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc.strerror or exc}", _REPORT_HINT,
                         code="report-unreadable") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"cannot read report {path}: not a regular file", _REPORT_HINT, code="report-unreadable")
        if info.st_size > MAX_REPORT_BYTES:
            raise InputError(f"{path} is not a cdk-native-python build report ({info.st_size:,} bytes; a report is at "
                             f"most {MAX_REPORT_BYTES:,})", _REPORT_HINT, code="report-invalid")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc.strerror or exc}", _REPORT_HINT,
                         code="report-unreadable") from None
    finally:
        os.close(fd)
    if len(data) > MAX_REPORT_BYTES:  # it grew after fstat
        raise InputError(f"{path} is not a cdk-native-python build report (more than {MAX_REPORT_BYTES:,} bytes)",
                         _REPORT_HINT, code="report-invalid")
    return data
