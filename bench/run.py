"""Benchmark: cdk-native-python against the alternatives, side by side in one run, as ratios.

    .venv/bin/python bench/run.py                    # full run (PyPI needed, ~30 min), writes bench/results.md
    .venv/bin/python bench/run.py --runs 1 --quick   # smoke run: arm64, one sample each, no synth scenarios
    .venv/bin/python bench/run.py --only prefetch,cold,zip   # issue 23's rows only (bench/_manyfns.py), one run

Every measurement is a whole process (what a developer waits for), timed from outside, unless its row says
"in process"; each row reports the median of ``--runs`` samples with their min–max, the peak RSS of the
largest process involved and the machine's load average while it was sampled. "Cold" means every cache of
that tool is empty (a fresh cache directory, so downloads are included); "warm" means the same dependencies
were built before and only the output folder is new.

Baselines: the AWS pip recipe (``pip install --target --platform ... --only-binary=:all:``), ``uv pip
install --target`` directly, AWS SAM's aws-lambda-builders python_pip workflow, ``cp -a`` / ``cp -al``
of our installed tree (the floor for warm builds), and for ``cdk synth`` the same 10-function app with
``lambda.Code.from_asset`` on pre-built folders (the floor for synth).

The remote tier (issue #13) is measured against a real S3-compatible server the run starts on 127.0.0.1
(``bench/_remote.py``): a writer (trusted CI: cold, pushing what it builds) fills one prefix per sample, and
a reader on a "fresh machine" (empty cache folder, read-only credentials, the package index unreachable)
builds from it. Every figure in ``results.md`` comes from the run that wrote it; the targets are computed
from those figures (``bench/_report.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _manyfns
from _remote import RemoteBench, entry_keys, fetch_phases
from _report import report
from _setup import HERE, PY, ROOT, RUNTIME, SYNTH_REQUIREMENTS, VENV_PY
from _stats import Results, Sample, measure, timed

from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.verify import scan
from cdk_native_python.store import manifest
from cdk_native_python.store.remote import RemoteCache

CDK = ROOT / "node_modules" / ".bin" / "cdk"
N_FUNCTIONS = 10
#: in-process measurements are cheap: more samples
IN_PROCESS_RUNS = 20
SYNTH_ENV = {"CDK_NATIVE_PYTHON_QUIET": "1", "CDK_DISABLE_VERSION_CHECK": "1",
             "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def find_python() -> str:
    """A Python of the target's version for the baselines (aws-lambda-builders insists on it)."""
    pyenv = sorted(map(str, Path.home().glob(f".pyenv/versions/{PY}*/bin/python{PY}")))
    for candidate in [shutil.which(f"python{PY}"), *pyenv]:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    raise SystemExit(f"bench: no python{PY} found (aws-lambda-builders validates the runtime's Python on PATH); "
                     f"install one, e.g. 'uv python install {PY}'")


def uv_bin() -> str:
    return subprocess.run([str(VENV_PY), "-c", "from uv import find_uv_bin; print(find_uv_bin())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


#: (cold row, its sampler, warm row, its sampler); sample i of a cold row uses a fresh cache i, warm rows reuse cache 0
Scenario = tuple[str, Callable[[int], Sample], str, Callable[[int], Sample] | None]


class Bench:
    def __init__(self, work: Path, runs: int, remote: RemoteBench | None) -> None:
        self.work, self.runs, self.remote = work, runs, remote
        self.results = Results(runs)
        self.rows, self.phases, self.facts = self.results.rows, self.results.phases, self.results.facts
        self.entry = fresh(work / "fn")
        (self.entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
        shutil.copy(HERE / "requirements.txt", self.entry / "requirements.txt")
        self.reqs = self.entry / "requirements.txt"
        self.tools = work / "tools"
        self.tool_py = self.tools / "bin" / "python"
        self._n = 0

    def out(self) -> Path:
        """A new output folder; the previous sample's output is deleted first (untimed), so that 200 MB of
        copies per baseline sample neither fill the disk nor are written back during later samples."""
        self._n += 1
        shutil.rmtree(self.work / "out", ignore_errors=True)
        path = self.work / "out" / str(self._n)
        path.parent.mkdir(parents=True)
        return path

    def record_rounds(self, scenarios: Sequence[tuple[str, Callable[[int], Sample]]], group: str) -> None:
        """Sample every scenario once per round, round after round: network-bound cold rows drift over
        minutes, and interleaving gives each tool the same conditions (a ratio, not two moments)."""
        for i in range(self.runs):
            for name, run in scenarios:
                self.rows.add(name, run(i), group)
        for name, _ in scenarios:
            self.rows.show(name)

    def record(self, name: str, run: Callable[[int], Sample], group: str, runs: int | None = None) -> None:
        for i in range(runs or self.runs):
            self.rows.add(name, run(i), group)
        self.rows.show(name)

    # -- set-up --------------------------------------------------------------------------------------------------

    def setup_tools(self) -> None:
        """A separate venv for the baselines (latest pip, aws-lambda-builders): never the project's deps."""
        if self.tool_py.exists():
            return
        uv, env = uv_bin(), {**os.environ, "UV_NO_CONFIG": "1"}
        subprocess.run([uv, "venv", "-q", "--python", find_python(), str(self.tools)], check=True, env=env)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(self.tool_py), "pip", "aws-lambda-builders"],
                       check=True, env=env)

    # -- our bundler ---------------------------------------------------------------------------------------------

    def run_ours(self, name: str, arch: str, cache: Path, env: dict[str, str] | None = None) -> Sample:
        # _ours.py also writes where its time went and which uv calls it made (see _report.profile())
        phases = self.work / "phases" / f"{name.replace(' ', '-').replace(',', '')}-{len(self.phases.get(name, []))}"
        phases.parent.mkdir(parents=True, exist_ok=True)
        sample = measure([str(VENV_PY), str(HERE / "_ours.py"), str(self.entry), RUNTIME, arch, str(self.out()),
                          str(cache), str(phases)], env)
        self.phases.setdefault(name, []).append({**json.loads(phases.read_text()), "seconds": sample.seconds})
        return sample

    def ours(self, arch: str) -> Scenario:
        cold, warm = f"ours cold {arch}", f"ours warm {arch}"
        return (cold, lambda i: self.run_ours(cold, arch, fresh(self.work / f"c-ours-{arch}-{i}")),
                warm, lambda i: self.run_ours(warm, arch, self.work / f"c-ours-{arch}-0"))

    def ours_writer(self, arch: str) -> Scenario:
        """Trusted CI: a cold build that pushes its lock and tree to the remote (prefix ``<arch>-<i>``)."""
        assert self.remote is not None
        name, remote = f"ours cold, writing the remote {arch}", self.remote
        return (name, lambda i: self.run_ours(name, arch, fresh(self.work / f"c-writer-{arch}-{i}"),
                                              remote.writer_env(f"{arch}-{i}")), "", None)

    def ours_fresh_machine(self, arch: str) -> None:
        """A fresh machine: empty cache folder, read-only remote that writer ``i`` filled, no package index."""
        assert self.remote is not None
        name, remote = f"ours fresh machine + warm remote {arch}", self.remote
        self.record(name, lambda i: self.run_ours(name, arch, fresh(self.work / f"c-reader-{arch}-{i}"),
                                                  remote.reader_env(f"{arch}-{i}")), "bundle")

    # -- baselines -----------------------------------------------------------------------------------------------

    def pip(self, arch: str) -> Scenario:
        plat = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]

        def cmd(cache: Path, out: Path) -> list[str]:
            return [str(self.tool_py), "-m", "pip", "install", "--isolated", "--quiet", "--disable-pip-version-check",
                    "--target", str(out), "--implementation", "cp", "--python-version", PY, "--only-binary=:all:",
                    "--platform", f"manylinux2014_{plat}", "--platform", f"manylinux_2_28_{plat}", "--platform",
                    f"manylinux_2_34_{plat}", "--cache-dir", str(cache), "-r", str(self.reqs)]

        env = {"PIP_CONFIG_FILE": os.devnull}
        return (f"pip recipe cold {arch}",
                lambda i: measure(cmd(fresh(self.work / f"c-pip-{arch}-{i}"), self.out()), env),
                f"pip recipe warm {arch}", lambda i: measure(cmd(self.work / f"c-pip-{arch}-0", self.out()), env))

    def uv(self, arch: str) -> Scenario:
        plat = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
        uv = uv_bin()

        def cmd(out: Path) -> list[str]:
            return [uv, "pip", "install", "--quiet", "--target", str(out), "--python-platform",
                    f"{plat}-manylinux_2_34", "--python-version", PY, "-r", str(self.reqs)]

        def env(cache: Path) -> dict[str, str]:
            return {"UV_CACHE_DIR": str(cache), "UV_NO_CONFIG": "1"}

        return (f"uv pip install cold {arch}",
                lambda i: measure(cmd(self.out()), env(fresh(self.work / f"c-uv-{arch}-{i}"))),
                f"uv pip install warm {arch}", lambda i: measure(cmd(self.out()), env(self.work / f"c-uv-{arch}-0")))

    def builders(self, arch: str) -> Scenario:
        def cmd(i: int) -> list[str]:
            scratch = fresh(self.work / "scratch")
            return [str(self.tool_py), str(HERE / "_lambda_builders.py"), str(self.entry), str(self.out()),
                    str(scratch), str(self.reqs), RUNTIME, arch]

        # its runtime validator wants python3.12 on PATH: the tools venv has it
        def env(cache: Path) -> dict[str, str]:
            return {"PIP_CACHE_DIR": str(cache), "PIP_CONFIG_FILE": os.devnull,
                    "PATH": f"{self.tools / 'bin'}{os.pathsep}{os.environ['PATH']}"}

        return (f"aws-lambda-builders cold {arch}",
                lambda i: measure(cmd(i), env(fresh(self.work / f"c-alb-{arch}-{i}"))),
                f"aws-lambda-builders warm {arch}", lambda i: measure(cmd(i), env(self.work / f"c-alb-{arch}-0")))

    def tree_entry(self, arch: str) -> Path:
        """The installed-tree entry our warm rows reuse."""
        return self.work / f"c-ours-{arch}-0" / "trees" / entry_keys(self.work / f"c-ours-{arch}-0", "trees")[0]

    def copies(self, arch: str) -> None:
        tree = self.tree_entry(arch) / "tree"
        self.facts[f"tree {arch}"] = tree_stats(tree)
        self.record(f"cp -a of the installed tree {arch}", lambda i: measure(["cp", "-a", str(tree), str(self.out())]),
                    "bundle")
        self.record(f"cp -al of the installed tree {arch}",
                    lambda i: measure(["cp", "-al", str(tree), str(self.out())]), "bundle")

    # -- the integrity check and the remote fetch, in process --------------------------------------------------

    def integrity(self, arch: str) -> None:
        """What a warm build's reuse check costs: load each entry's manifest and compare one ``lstat`` per file
        (``LocalStore._get`` before it hands an entry out), on the very entries the warm rows reused; then the
        two halves apart (reading + decoding the manifests, comparing the files)."""
        cache = self.work / f"c-ours-{arch}-0"
        entries = [cache / kind / key for kind in ("resolutions", "trees") for key in entry_keys(cache, kind)]
        sealed = [manifest.load(e) for e in entries]
        self.facts[f"checked files {arch}"] = sum(len(m.files) for m in sealed)
        self.facts[f"manifest bytes {arch}"] = sum((e / manifest.NAME).stat().st_size for e in entries)

        def compare(loaded: list[manifest.Manifest]) -> None:
            for entry, m in zip(entries, loaded, strict=True):
                problem = manifest.changed(entry, m)
                if problem:
                    raise SystemExit(f"bench: {entry} changed after it was published: {problem}")

        group = "integrity"
        self.record(f"fingerprint check of the warm entries, in process {arch}",
                    lambda i: timed(lambda: compare([manifest.load(e) for e in entries])), group, IN_PROCESS_RUNS)
        self.record(f"fingerprint check, part 1: reading and decoding the manifests {arch}",
                    lambda i: timed(lambda: [manifest.load(e) for e in entries]), group, IN_PROCESS_RUNS)
        self.record(f"fingerprint check, part 2: comparing size, mode, mtime (one lstat per file) {arch}",
                    lambda i: timed(lambda: compare(sealed)), group, IN_PROCESS_RUNS)

    def remote_profile(self, arch: str) -> None:
        """Where a fresh machine's time goes, step by step, in process, for the tree writer 0 pushed: the
        pointer and the archive (download + sha256), unpacking, the target verification an entry from another
        machine must pass (``admit``), sealing it into the local store (read-only + manifest with every file's
        sha256), and ``cp -a`` of the same tree as the floor for creating that many files."""
        assert self.remote is not None
        reader = self.remote.reader(f"{arch}-0")
        key = entry_keys(self.work / f"c-writer-{arch}-0", "trees")[0]
        target = Target.from_runtime(RUNTIME, arch)
        sizes = [self._fetch_sample(reader, key, target, fresh(self.work / "fetch" / str(i))) for i in range(self.runs)]
        self.facts[f"archive bytes {arch}"] = max(sizes)
        for name in [n for n, r in self.rows.items() if r.group == "remote-profile" and n.endswith(arch)]:
            self.rows.show(name)

    def _fetch_sample(self, reader: RemoteCache, key: str, target: Target, folder: Path) -> int:
        """One sample of each step of a fetch into ``folder``; returns the archive's size."""
        dest, group, arch = folder / "entry", "remote-profile", target.lambda_architecture
        dest.mkdir()
        load = os.getloadavg()[0]
        phases = fetch_phases(reader, "trees", key, dest)
        self.rows.add(f"remote tree: pointer GET {arch}", Sample(phases.pointer, None, load), group)
        self.rows.add(f"remote tree: pointer binding + Ed25519 signature check {arch}",
                      Sample(phases.verify, None, load), group)
        self.rows.add(f"remote tree: download + sha256 {arch}", Sample(phases.download, None, load), group)
        self.rows.add(f"remote tree: unpack {arch}", Sample(phases.unpack, None, load), group)
        self.rows.add(f"remote tree: target verification (admit) {arch}", timed(lambda: scan(dest / "tree", target)),
                      group)
        self.rows.add(f"remote tree: seal (read-only, manifest, sha256 of every file) {arch}",
                      timed(lambda: manifest.seal(dest)), group)
        self.rows.add(f"cp -a of the same tree (floor for unpack) {arch}",
                      timed(lambda: subprocess.run(["cp", "-a", str(dest / "tree"), str(folder / "copy")], check=True)),
                      group)
        shutil.rmtree(folder)
        return phases.archive_bytes

    # -- cdk synth -----------------------------------------------------------------------------------------------

    def synth_apps(self) -> tuple[Path, Path]:
        """The same 10-function app twice: NativePythonFunction, and Code.from_asset on pre-built folders."""
        ours, floor = fresh(self.work / "app-ours"), fresh(self.work / "app-floor")
        for app in (ours, floor):
            (app / "cdk.json").write_text(json.dumps({"app": f"{VENV_PY} app.py"}))
        fns = fresh(ours / "fns")
        for i in range(N_FUNCTIONS):
            (fns / f"fn{i}").mkdir()
            (fns / f"fn{i}" / "index.py").write_text(f"N = {i}\n\ndef handler(event, context):\n    return N\n")
            (fns / f"fn{i}" / "requirements.txt").write_text(SYNTH_REQUIREMENTS)
        head = ("import aws_cdk as cdk\nfrom aws_cdk import aws_lambda as lambda_\n"
                "app = cdk.App()\nstack = cdk.Stack(app, 'Bench')\n")
        (ours / "app.py").write_text(
            head + "from cdk_native_python import NativePythonFunction\n"
            f"for i in range({N_FUNCTIONS}):\n"
            "    NativePythonFunction(stack, f'Fn{i}', entry=f'fns/fn{i}', runtime=lambda_.Runtime.PYTHON_3_12,\n"
            "                         architecture=lambda_.Architecture.ARM_64)\napp.synth()\n")
        (floor / "app.py").write_text(
            head + f"for i in range({N_FUNCTIONS}):\n"
            "    lambda_.Function(stack, f'Fn{i}', code=lambda_.Code.from_asset(f'built/fn{i}'),\n"
            "                     handler='index.handler', runtime=lambda_.Runtime.PYTHON_3_12,\n"
            "                     architecture=lambda_.Architecture.ARM_64)\napp.synth()\n")
        return ours, floor

    def synth(self) -> None:
        ours, floor = self.synth_apps()
        synth = [str(CDK), "synth", "--quiet", "--no-notices", "-o", "cdk.out"]

        def cold(label: str, extra: Callable[[int], dict[str, str]] | None = None) -> Callable[[int], Sample]:
            """A first synth on a machine: empty bundling cache, no cdk.out (CDK would reuse its staged assets)."""
            def run(i: int) -> Sample:
                shutil.rmtree(ours / "cdk.out", ignore_errors=True)
                cache = fresh(self.work / f"c-synth-{label}-{i}")
                sample = measure(synth, {**SYNTH_ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(cache),
                                         **(extra(i) if extra else {})}, ours)
                self.facts.setdefault(f"synth reports {label}", []).append(report_hits(cache))
                return sample
            return run

        if self.remote is None:
            scenarios = [("cdk synth 10 fns, cold (ours)", cold("cold"))]
        else:
            # the remote tier needs AWS credentials, and with credentials in its environment the CDK CLI looks up
            # the default account from STS on every synth: all three cold rows carry the same credentials (the
            # plain cold row without a remote configured), so that lookup is in each of them alike
            remote = self.remote
            scenarios = [("cdk synth 10 fns, cold (ours)", cold("cold", lambda i: remote.cli_env())),
                         ("cdk synth 10 fns, cold, writing the remote (ours)",
                          cold("writer", lambda i: {**remote.writer_env(f"synth-{i}"), **remote.cli_env(False)})),
                         ("cdk synth 10 fns, fresh machine + warm remote (ours)",
                          cold("reader", lambda i: {**remote.reader_env(f"synth-{i}"), **remote.cli_env(False)}))]
        self.record_rounds(scenarios, "synth")
        # what follows re-synthesizes on a machine that built before: the last cold sample's cache and cdk.out
        env = {**SYNTH_ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(self.work / f"c-synth-cold-{self.runs - 1}")}
        measure(synth, env, ours)
        if self.remote is not None:
            # what the CLI's account lookup costs here: the no-change synth again, with those credentials
            cli = {**env, **self.remote.cli_env()}
            self.record("cdk synth 10 fns, no change, AWS credentials in the environment (ours)",
                        lambda i: measure(synth, cli, ours), "synth")
        # the floor's folders are our bundles, pre-built (what a separate build step would leave behind)
        built = fresh(floor / "built")
        staged = sorted(p for p in (ours / "cdk.out").glob("asset.*") if p.is_dir())
        for i in range(N_FUNCTIONS):
            shutil.copytree(staged[min(i, len(staged) - 1)], built / f"fn{i}", symlinks=True)
        self.record("cdk synth 10 fns, no change (ours)", lambda i: measure(synth, env, ours), "synth")
        measure(synth, env, floor)  # first synth of the floor stages its assets
        self.record("cdk synth 10 fns, no change (floor: Code.from_asset)", lambda i: measure(synth, env, floor),
                    "synth")

        def edit(app: Path, folder: str) -> Callable[[int], Sample]:
            def run(i: int) -> Sample:
                handler = app / folder / "index.py"
                handler.write_text(handler.read_text() + f"# edit {time.time_ns()}\n")
                return measure(synth, env, app)
            return run
        self.record("cdk synth 10 fns, one handler edited (ours)", edit(ours, "fns/fn0"), "synth")
        self.record("cdk synth 10 fns, one handler edited (floor)", edit(floor, "built/fn0"), "synth")


def report_hits(cache: Path) -> dict[str, Any]:
    """What the build reports in a cache folder say after a synth: how many bundles, how many found both their
    lock and their tree in the store (locally or in the remote), their warnings about the cache or the remote
    tier, and the seconds our bundler spent (each report's own time, summed)."""
    reports = [json.loads(p.read_text()) for p in (cache / "reports").glob("*.json")]
    return {"reports": len(reports),
            "hits": sum(1 for r in reports if r.get("cache") == {"resolve": "hit", "install": "hit"}),
            "warned": [w for r in reports for w in r.get("warnings", ()) if w.startswith(("remote cache ", "cache "))],
            "bundling": sum(r.get("seconds", 0.0) for r in reports)}


def filesystem(path: Path) -> str:
    """``<device> (<type>)`` of the mount holding ``path``: file-creation costs depend on it."""
    best = ("?", "?", "")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, kind = line.split()[:3]
        if str(path.resolve()).startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[2]):
            best = (device, kind, mount)
    return f"{best[0]} ({best[1]})"


def tree_stats(tree: Path) -> tuple[int, int]:
    """(files, bytes) of an installed tree."""
    files = size = 0
    for dirpath, _, names in os.walk(tree):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return files, size


def _only(value: str) -> list[str]:
    rows = [v.strip() for v in value.split(",") if v.strip()]
    if rows in (["bundle"], ["synth"]) or (rows and set(rows) <= set(_manyfns.ROWS)):
        return rows
    raise argparse.ArgumentTypeError(f"{value!r}: use bundle, synth, or any of {','.join(_manyfns.ROWS)}")


def many_functions(only: Sequence[str], work: Path, out: Path) -> int:
    """Issue 23's rows (``bench/_manyfns.py``): one sample each, into their own section of ``out``."""
    start, load_start = time.perf_counter(), os.getloadavg()
    bench = Bench(fresh(work), 1, None)
    rows = _manyfns.ManyFunctions(work, bench.results)
    bench.facts["only"] = list(only)
    if "prefetch" in only:
        print("many functions (prefetch):", flush=True)
        rows.prefetch_rows()
    if "far" in only:
        print(f"many functions, the index {_manyfns.FAR * 1000:.0f} ms away (prefetch):", flush=True)
        rows.far_rows()
    if "cold" in only or "zip" in only:
        print("the bench set:", flush=True)
        cold, run, _, _ = bench.ours("arm64")
        uv_cold = bench.uv("arm64")[1]
        if "cold" in only:
            rows.cold_rows(run, uv_cold)
        else:  # the zip rows need the bench set in the cache
            bench.rows.add(cold, run(0), "bundle")
        if "zip" in only:
            rows.zip_rows(bench.entry, work / "c-ours-arm64-0")
    seconds, load_end = time.perf_counter() - start, os.getloadavg()
    raw = out.with_name("results-manyfns.json")
    if raw.exists():  # rows this run did not measure stay as the earlier run measured them
        earlier = json.loads(raw.read_text())
        kept = Results.from_json(json.dumps(earlier["results"]))
        for name, row in kept.rows.items():
            bench.rows.setdefault(name, row)
        for name, value in kept.facts.items():
            bench.facts.setdefault(name, value)
        bench.facts["earlier"] = earlier.get("written", "an earlier run")
    _manyfns.write(out, _manyfns.section(bench.results, seconds, (load_start, load_end)))
    raw.write_text(json.dumps({
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seconds": seconds,
        "load_start": load_start, "load_end": load_end,
        "results": json.loads(bench.results.to_json())}, indent=1) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="samples per scenario (median and min–max reported)")
    parser.add_argument("--quick", action="store_true", help="arm64 only, no aws-lambda-builders, no synth")
    parser.add_argument("--arch", action="append", choices=["arm64", "x86_64"], help="default: both")
    parser.add_argument("--no-remote", action="store_true", help="skip the remote-cache rows (no S3 server)")
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="scratch folder (deleted first)")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--only", type=_only, metavar="ROWS",
                        help="bundle or synth: run one half only; or any of prefetch,cold,zip (comma-separated): "
                             "issue 23's rows only, one sample each, written into their own section of --out")
    parser.add_argument("--render", type=Path, metavar="RESULTS.json",
                        help="measure nothing: write --out again from the raw figures a run saved")
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        text = report(Results.from_json(json.dumps(data["results"])), data["arches"], data["seconds"],
                      (data["load_start"], data["load_end"]))
        args.out.write_text(text)
        return 0
    if args.only and set(args.only) <= set(_manyfns.ROWS):
        return many_functions(args.only, args.work / "manyfns", args.out)
    args.only = args.only[0] if args.only else None
    arches = args.arch or (["arm64"] if args.quick else ["arm64", "x86_64"])
    start, load_start = time.perf_counter(), os.getloadavg()
    work = fresh(args.work) if not (args.work / "tools").exists() else args.work
    remote = None if args.no_remote else RemoteBench(fresh(work / "s3"))
    try:
        bench = Bench(work, args.runs, remote)
        bench.setup_tools()
        bench.facts["filesystem"] = filesystem(work)
        if remote is not None:
            bench.facts["index unreachable"] = remote.prove_index_unreachable(uv_bin())
            bench.facts["server"] = remote.version()
        for arch in arches if args.only != "synth" else []:
            print(f"{RUNTIME} / {arch}:", flush=True)
            scenarios = [bench.ours(arch), bench.uv(arch), bench.pip(arch)]
            if not args.quick:
                scenarios.append(bench.builders(arch))
            if remote is not None:
                scenarios.append(bench.ours_writer(arch))
            bench.record_rounds([(cold, run) for cold, run, _, _ in scenarios], "bundle")
            for _, _, warm, run in scenarios:
                if run is not None:
                    bench.record(warm, run, "bundle")
            if remote is not None:
                bench.ours_fresh_machine(arch)
            bench.copies(arch)
            bench.integrity(arch)
            if remote is not None:
                bench.remote_profile(arch)
        if not args.quick and args.only != "bundle":
            print("cdk synth:", flush=True)
            bench.synth()
    finally:
        if remote is not None:
            remote.stop()
    seconds, load_end = time.perf_counter() - start, os.getloadavg()
    text = report(bench.results, arches, seconds, (load_start, load_end))
    args.out.write_text(text)
    # the raw samples beside the text: every figure of results.md can be checked against them
    args.out.with_suffix(".json").write_text(json.dumps({
        "arches": arches, "seconds": seconds, "load_start": load_start, "load_end": load_end,
        "results": json.loads(bench.results.to_json())}, indent=1) + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
