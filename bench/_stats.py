"""Samples and rows of the benchmark: every figure ``results.md`` prints is a median with its spread."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load1() -> float:
    """The 1-minute load average now (the machine is shared: it says how busy it was around a sample)."""
    return os.getloadavg()[0]


@dataclass(frozen=True)
class Sample:
    seconds: float
    #: peak RSS of the largest process (``None``: measured inside this process, no RSS of its own)
    peak_mb: float | None = None
    #: the 1-minute load average when the sample started
    load: float = field(default_factory=load1)


@dataclass
class Row:
    name: str
    #: the table of ``results.md`` the row belongs to
    group: str = ""
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def low(self) -> float:
        return min(self.seconds)

    @property
    def high(self) -> float:
        return max(self.seconds)

    @property
    def peak_mb(self) -> float | None:
        peaks = [s.peak_mb for s in self.samples if s.peak_mb is not None]
        return max(peaks) if peaks else None

    def spread(self, digits: int = 2) -> str:
        """``min–max`` of the samples (one sample: just it)."""
        if len(self.samples) == 1:
            return f"{self.low:.{digits}f}"
        return f"{self.low:.{digits}f}–{self.high:.{digits}f}"

    def text(self, digits: int = 2) -> str:
        """``median s (min–max, n=N)``: how every figure of a row is quoted in prose."""
        return f"{self.median:.{digits}f} s ({self.spread(digits)}, n={len(self.samples)})"

    def loads(self) -> str:
        loads = [s.load for s in self.samples]
        return f"{min(loads):.1f}–{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}"


class Rows(dict[str, Row]):
    """The rows of one run, in the order they were first measured."""

    def add(self, name: str, sample: Sample, group: str = "") -> Row:
        row = self.setdefault(name, Row(name, group))
        row.samples.append(sample)
        return row

    def show(self, name: str) -> None:
        row = self[name]
        peak = f"peak {row.peak_mb:6.0f} MB" if row.peak_mb is not None else ""
        print(f"  {name:<58} {row.median:8.3f} s  [{row.spread(3)}]  {peak}", flush=True)


def measure(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Sample:
    """Run ``cmd`` through ``_measure.py`` (wall time + peak RSS of its largest process)."""
    load = load1()
    proc = subprocess.run([sys.executable, str(HERE / "_measure.py"), *cmd], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, check=False)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"bench: measuring {cmd[:3]} failed:\n{proc.stderr[-2000:]}") from None
    if data["rc"] != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed (exit {data['rc']}):\n{data['stderr']}")
    return Sample(data["seconds"], data["peak_mb"], load)


def timed(fn: Callable[[], object]) -> Sample:
    """One in-process sample of ``fn`` (no RSS: it runs inside the benchmark's own process)."""
    load = load1()
    start = time.perf_counter()
    fn()
    return Sample(time.perf_counter() - start, None, load)


def summary(values: Sequence[float], digits: int = 2) -> str:
    """``median (min–max)`` of any list of figures (e.g. one phase over every sample of a row)."""
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


@dataclass
class Results:
    """Everything one run measured: what ``results.md`` is written from (and ``results.json`` holds, raw)."""

    runs: int
    rows: Rows = field(default_factory=Rows)
    #: per row of our bundler, each sample's phases as ``_ours.py`` recorded them
    phases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: what the run established besides timings (the offline proof, tree sizes, synth reports...)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        rows = {n: {"group": r.group, "samples": [[s.seconds, s.peak_mb, s.load] for s in r.samples]}
                for n, r in self.rows.items()}
        return json.dumps({"runs": self.runs, "rows": rows, "phases": self.phases, "facts": self.facts}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Results:
        data = json.loads(text)
        rows = Rows()
        for name, row in data["rows"].items():
            rows[name] = Row(name, row["group"], [Sample(*s) for s in row["samples"]])
        return cls(data["runs"], rows, data["phases"], data["facts"])
