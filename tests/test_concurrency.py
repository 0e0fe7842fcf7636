"""Concurrency and crashes: many processes share one cache; processes die at random moments; the cache stays true.

Workers are separate Python processes running the engine (resolve + install + stage) against the hermetic
wheel index over HTTP. Every bundle is compared file by file with a bundle built alone with a clean cache,
and every cache entry is checked: it matches its manifest, a ``resolutions/`` entry has its pins and record,
a ``trees/`` entry's tree holds exactly the distributions its record lists; no scratch folder survives.
Workers report the phase they are in (``resolving``, ``installing``) through the engine's reporter, which
is how the SIGKILL test aims at the work.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cdk_native_python.distributions import installed
from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.install import RECORD_FILE as TREE_RECORD
from cdk_native_python.pins import PINS_FILE, RECORD_FILE
from cdk_native_python.records import TreeRecord, loads
from cdk_native_python.reporter import silent
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store import manifest
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

SETS = {
    "pure": "purepkg\n",
    "pure-native": "purepkg\nnativepkg\n",
    "native-markers": "nativepkg\nmarkerdeps\n",
    "boto": "usesdateutil\nboto3\npurepkg\n",
    "infra": "usesattrs\naws-cdk-lib\nnativepkg\n",
}
TARGETS = [(f"python3.{m}", arch) for m in (11, 12, 13, 14) for arch in ("arm64", "x86_64")]

WORKER = '''\
import json, sys, time
from pathlib import Path
from cdk_native_python.store.local import LocalStore
from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.reporter import Reporter
from cdk_native_python.spec import IndexOptions
from cdk_native_python.target import Target

cfg = json.loads(sys.argv[1])
phases = open(cfg["phases"], "a", buffering=1)
reporter = Reporter(on_phase=lambda text, subject: phases.write(text + "\\n"))
go = Path(cfg["go"])
while not go.exists():
    time.sleep(0.002)
request = BuildRequest(entry=Path(cfg["entry"]), target=Target.from_runtime(cfg["runtime"], cfg["arch"]),
                       indexes=IndexOptions(index_url=cfg["index"]))
result = build(request, Path(cfg["out"]), LocalStore(Path(cfg["cache"]), reporter=reporter), reporter)
print(json.dumps({"packages": result.packages, "resolve_hit": result.resolve_hit,
                  "install_hit": result.install_hit}))
'''


class Bench:
    """Shared fixtures of one test: entries per set, reference bundles, the worker script."""

    def __init__(self, tmp: Path, index: Any) -> None:
        self.tmp, self.index = tmp, index
        self.worker = tmp / "worker.py"
        self.worker.write_text(WORKER)
        self.entries = {}
        for name, reqs in SETS.items():
            entry = tmp / "src" / name
            entry.mkdir(parents=True)
            (entry / "index.py").write_text(f"NAME = {name!r}\n\ndef handler(event, context):\n    return NAME\n")
            (entry / "requirements.txt").write_text(reqs)
            self.entries[name] = entry
        self._refs: dict[tuple[str, str, str], dict[str, str]] = {}
        self._n = 0

    def reference(self, name: str, runtime: str, arch: str) -> dict[str, str]:
        """The bundle built alone, with its own clean cache."""
        key = (name, runtime, arch)
        if key not in self._refs:
            out = self.tmp / "ref" / "-".join(key)
            build(self.request(name, runtime, arch), out, LocalStore(self.tmp / "ref-cache" / "-".join(key)),
                  silent())
            self._refs[key] = contents(out)
        return self._refs[key]

    def request(self, name: str, runtime: str, arch: str) -> BuildRequest:
        return BuildRequest(entry=self.entries[name], target=Target.from_runtime(runtime, arch),
                            indexes=IndexOptions(index_url=self.index.url))

    def start(self, cache: Path, go: Path, name: str, runtime: str, arch: str) -> tuple[subprocess.Popen[str], Path]:
        """A worker; its phases are written to ``<out>.phases`` as they start."""
        self._n += 1
        out = self.tmp / "out" / f"{self._n:03d}-{name}-{runtime}-{arch}"
        out.parent.mkdir(parents=True, exist_ok=True)
        cfg = {"go": str(go), "entry": str(self.entries[name]), "runtime": runtime, "arch": arch,
               "index": self.index.url, "out": str(out), "cache": str(cache), "phases": f"{out}.phases"}
        proc = subprocess.Popen([sys.executable, str(self.worker), json.dumps(cfg)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        return proc, out


def contents(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check_cache(root: Path) -> tuple[int, int]:
    """Every published entry is complete and true to its manifest and record; returns (#resolutions, #trees)."""
    locks = [e for e in (root / "resolutions").iterdir() if e.is_dir()] if (root / "resolutions").exists() else []
    for entry in locks:
        assert sorted(p.name for p in entry.iterdir()) == [manifest.NAME, PINS_FILE, RECORD_FILE], entry
        assert manifest.corrupted(entry, manifest.load(entry)) is None, entry
        assert "==" in (entry / PINS_FILE).read_text(), entry
        assert json.loads((entry / RECORD_FILE).read_text())["required_by"], entry
    trees = list((root / "trees").iterdir()) if (root / "trees").exists() else []
    for entry in trees:
        assert sorted(p.name for p in entry.iterdir()) == [manifest.NAME, "tree", TREE_RECORD], entry
        assert manifest.corrupted(entry, manifest.load(entry)) is None, entry
        record = loads(TreeRecord, (entry / TREE_RECORD).read_text())
        assert {n: d.version for n, d in installed(entry / "tree").items()} == record.versions, entry
        for dist in (entry / "tree").glob("*.dist-info"):  # every file a wheel recorded is there, whole
            for line in (dist / "RECORD").read_text().splitlines():
                path, algo_digest, _ = line.rsplit(",", 2)
                if algo_digest.startswith("sha256="):
                    data = (entry / "tree" / path).read_bytes()
                    got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                    assert got == algo_digest[len("sha256="):], (entry, path)
    return len(locks), len(trees)


def leftovers(root: Path) -> list[str]:
    LocalStore(root)  # a new run cleans what dead processes left behind
    return sorted(p.name for p in (root / "tmp").iterdir())


PROCS, ROUNDS = 8, 3


def test_8_processes_x_3_rounds_share_one_cache(tmp_path: Path, wheel_index: Any) -> None:
    bench = Bench(tmp_path, wheel_index)
    cache = tmp_path / "shared-cache"
    names = list(SETS)
    builders: dict[tuple[str, str, str], int] = {}
    total = 0
    start = time.perf_counter()
    for rnd in range(ROUNDS):
        go = tmp_path / f"go-{rnd}"
        jobs = []
        for i in range(PROCS):
            # overlapping sets: neighbours share packages and, in pairs, the very same (set, target)
            name = names[(i // 2 + rnd) % len(names)]
            runtime, arch = TARGETS[(i // 2 + 3 * rnd) % len(TARGETS)]
            proc, out = bench.start(cache, go, name, runtime, arch)
            jobs.append((proc, out, (name, runtime, arch)))
        time.sleep(1.0)  # let every interpreter start, then release them together
        go.touch()
        for proc, out, key in jobs:
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr[-3000:]
            report = json.loads(stdout.strip().splitlines()[-1])
            if not report["install_hit"]:
                builders[key] = builders.get(key, 0) + 1
            assert contents(out) == bench.reference(*key), f"round {rnd}: {out.name} differs from a clean build"
            total += 1
    seconds = time.perf_counter() - start
    n_locks, n_trees = check_cache(cache)
    print(f"{PROCS} processes x {ROUNDS} rounds = {total} bundles on one cache in {seconds:.1f}s: "
          f"{n_locks} locks, {n_trees} trees, installs per tree key {sorted(builders.values())}")
    # each distinct (set, target) was installed by exactly one process; the others waited and reused it
    quarantined = sorted(p.name for p in (cache / "quarantine").iterdir()) if (cache / "quarantine").exists() else []
    assert not quarantined
    assert all(count == 1 for count in builders.values()), builders
    assert n_trees == len(builders)
    assert leftovers(cache) == []


KILL_ITERATIONS, PER_ITERATION = 12, 3


def test_sigkill_12_iterations_x_3_processes_during_resolve_and_install(tmp_path: Path, wheel_index: Any) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "7")))
    bench = Bench(tmp_path, wheel_index)
    cache = tmp_path / "shared-cache"
    combos = [(n, r, a) for n in SETS for r, a in TARGETS]
    rng.shuffle(combos)
    used = combos[:KILL_ITERATIONS]
    stats = {"killed": 0, "killed-with-children": 0, "finished": 0, "seen-resolving": 0, "seen-installing": 0}
    groups: list[int] = []
    for it, combo in enumerate(used):
        go = tmp_path / f"go-{it}"
        jobs = [bench.start(cache, go, *combo) for _ in range(PER_ITERATION)]
        groups += [proc.pid for proc, _ in jobs]
        time.sleep(0.8)
        go.touch()
        for proc, _ in sorted(jobs, key=lambda _: rng.random()):
            # Aim at the work, not at the clock (a build takes 0.1 s or 2 s depending on the machine and on
            # how warm uv's cache is): wait until some process has a resolution or an install under way,
            # then strike after a random few milliseconds.
            phase = rng.choice(["resolving", "installing"])
            deadline = time.perf_counter() + 5
            said = ""
            while proc.poll() is None and time.perf_counter() < deadline:
                said = " ".join(Path(f"{out}.phases").read_text() for _, out in jobs if Path(f"{out}.phases").exists())
                if phase in said:
                    break
                time.sleep(0.003)
            time.sleep(rng.uniform(0.0, 0.12))
            stats["seen-resolving"] += "resolving" in said
            stats["seen-installing"] += "installing" in said
            if proc.poll() is None:
                if rng.random() < 0.5:
                    os.killpg(proc.pid, signal.SIGKILL)  # the process and its uv child
                    stats["killed-with-children"] += 1
                else:
                    os.kill(proc.pid, signal.SIGKILL)  # only the process: its uv child runs on, orphaned
                stats["killed"] += 1
            else:
                stats["finished"] += 1
        for proc, _ in jobs:
            proc.communicate(timeout=300)
    for pgid in groups:  # end the orphans we started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    time.sleep(0.2)
    check_cache(cache)
    # afterwards, every bundle built on the crashed-into cache equals a clean build
    go = tmp_path / "go-after"
    go.touch()
    for combo in used:
        proc, out = bench.start(cache, go, *combo)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        assert contents(out) == bench.reference(*combo), f"{combo} differs from a clean build after crashes"
    n_locks, n_trees = check_cache(cache)
    left = leftovers(cache)
    print(f"SIGKILL {KILL_ITERATIONS} iterations x {PER_ITERATION} processes: {stats}; afterwards "
          f"{len(used)} bundles correct, {n_locks} locks and {n_trees} trees complete, leftovers {left}")
    assert stats["killed"] >= KILL_ITERATIONS  # the test did kill processes mid-build
    assert stats["seen-resolving"] and stats["seen-installing"]  # ... while they resolved and installed
    assert left == []
