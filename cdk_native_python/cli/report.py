"""``cdk-native-python report FILE``: a build report as tables a person reads (``--json`` for scripts)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.budget import mb
from ..core.errors import InputError, excerpt
from ..core.progress import echo
from ..core.records import BuildReport, dumps, from_json
from ..pipeline.strip import RUNTIME_PROVIDED
from ..pipeline.why import dependents, root_name

REPORT_DESCRIPTION = """\
Print a build report (`build --report FILE`, or <cache>/reports/<asset hash>.json written
by every synth) as tables: packages with version, size, wheel tags and who requires them,
what was stripped and why, slimming, verification and notices."""


def add_parser(commands: Any) -> None:
    r = commands.add_parser("report", help="print a build report as tables (--json for scripts)",
                            description=REPORT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE.json", type=Path, help="the report")
    r.add_argument("--json", action="store_true", help="the report as normalized JSON (stable keys, for scripts)")
    r.set_defaults(quiet=False, verbose=False)


def run(args: argparse.Namespace, _build: Any = None) -> int:
    report = load(args.file)
    # JSON escapes every control character itself; the tables go through the terminal filter
    if args.json:
        sys.stdout.write(dumps(report))
    else:
        echo(report_text(report), sys.stdout)
    return 0


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


#: the pipeline's order, for the cache line
_STEPS = {"resolve": 0, "install": 1}


def table(rows: Sequence[Sequence[str]], indent: str = "  ") -> Iterator[str]:
    """Rows as aligned columns; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield (indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))).rstrip()


def report_text(report: BuildReport) -> str:
    return "\n".join(_report_lines(report))


def _report_lines(report: BuildReport) -> Iterator[str]:
    size = report.size
    total = size.unzipped_bytes + size.layers_bytes
    limit = f", {total / size.limit_bytes:.0%} of Lambda's {mb(size.limit_bytes)} limit" if size.limit_bytes else ""
    layers = f" + {mb(size.layers_bytes)} in layers" if size.layers_bytes else ""
    kind = "layer" if report.layer else "function"
    yield f"{report.name or kind} ({kind}): {report.target}, glibc {report.glibc}"
    yield (f"  {len(report.packages)} packages, {mb(size.unzipped_bytes)} unzipped{layers} "
           f"(≈{mb(size.zipped_estimate_bytes)} zipped){limit}")
    steps = sorted(report.cache.items(), key=lambda kv: (_STEPS.get(kv[0], len(_STEPS)), kv[0]))
    cache = ", ".join(f"{step} {state}" for step, state in steps)
    yield f"  built in {report.seconds:.2f}s ({cache or 'no cache record'}; {report.placement})"
    yield f"  asset hash {report.asset_hash}"
    if report.packages:
        yield ""
        yield from table([("package", "version", "size", "wheel tags", "required by"),
                          *_package_rows(report)])
    if report.stripped:
        yield ""
        yield from table([("stripped", "why"), *sorted(report.stripped.items())])
    yield ""
    yield from _checks(report)
    if report.notices or report.warnings:
        yield ""
        yield "notices:"
        said = {n.message for n in report.notices}
        for notice in report.notices:
            yield f"  {notice.level} [{notice.annotation_id}] {notice.message}"
        for warning in report.warnings:
            if warning not in said:
                yield f"  warning {warning}"


def _package_rows(report: BuildReport) -> Iterable[tuple[str, str, str, str, str]]:
    direct = {root_name(r): r for r in report.roots}
    for name, record in sorted(report.packages.items()):
        users = dependents(report.graph, name, report.packages)
        if name in direct:
            users.insert(0, f"you ({direct[name]})")
        if name in report.kept_seeds and name in RUNTIME_PROVIDED:
            users.append(f"[provided by the runtime, shipped: {report.kept_seeds[name]}]")
        elif name in report.kept_seeds:
            users.append(f"[a strip seed, kept for {report.kept_seeds[name]}]")
        yield name, record.version, mb(record.bytes), _tags(record.wheel_tags), ", ".join(users)


def _tags(tags: Sequence[str]) -> str:
    """The first wheel tag, and how many more (a manylinux wheel often carries three aliases of one platform)."""
    if not tags:
        return "?"
    return tags[0] + (f" (+{len(tags) - 1})" if len(tags) > 1 else "")


def _checks(report: BuildReport) -> Iterator[str]:
    slim = report.slimmed
    if slim.files_removed:
        rules = ", ".join(f"{rule} {mb(n)}" for rule, n in sorted(slim.by_rule.items(), key=lambda kv: -kv[1]))
        yield f"slimmed: {slim.files_removed} files, {mb(slim.bytes_removed)} ({rules})"
    if slim.compiled:
        yield f"bytecode: {slim.compiled} files compiled with {slim.compiler}"
    check = report.verification
    glibc = f", needing glibc {check.max_glibc_needed}" if check.max_glibc_needed else ""
    yield (f"verified: {check.files_checked} files, {check.native_files} native{glibc} "
           f"(target glibc {report.glibc})")
    if report.source_files:
        yield f"source: {len(report.source_files)} files"
