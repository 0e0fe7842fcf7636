"""Benchmark: how long `cdk deploy` of the example app takes against moto's server, and what each deploy did.

    .venv/bin/python bench/deploy.py               # 3 rounds, writes bench/deploy.md (~5 min, needs PyPI)
    .venv/bin/python bench/deploy.py --rounds 1    # one sample of each

On a copy of the example app (never the repo's ``integ/``), against a server started for the run
(``scripts/deploy_local.py``): a first deploy with an empty bundling cache (resolution and downloads from
PyPI included), then per round the three incremental deploys of issue #15 — nothing changed, one handler
edited, one dependency changed — each timed as the whole ``cdk deploy`` process (synth, bundling,
publishing, CloudFormation), and each checked: what CDK bundled and published, which bundles our summary
says were resolved, how many zips reached the bootstrap bucket, whether the stack changed, and that every
deployed function's zip has Lambda's ``CodeSha256`` (``prove``). A deploy that did more or less than it should
stops the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "scripts"))
import deploy_local  # noqa: E402
from _stats import cpu_model  # noqa: E402

STACK = "NativePythonExample"
BUCKET = "cdk-hnb659fds-assets-123456789012-us-east-1"
#: a different pin per round, so that each round's dependency change is a new resolution
SIX_PINS = ("1.17.0", "1.16.0", "1.15.0", "1.14.0", "1.13.0")


@dataclass(frozen=True)
class Deploy:
    """One timed ``cdk deploy`` and what it did."""

    scenario: str
    seconds: float
    cpu_seconds: float
    synth_seconds: float
    bundled: tuple[str, ...]
    published: tuple[str, ...]
    resolved: tuple[str, ...]
    new_zips: int
    stack_changed: bool
    proven: bool

    def describe(self) -> str:
        def names(items: tuple[str, ...]) -> str:
            return ", ".join(i.split("/")[-1] if "/" in i else i for i in items) or "none"

        return (f"bundled {names(self.bundled)}; published {names(tuple(p.split('/')[0] for p in self.published))}; "
                f"resolved {names(self.resolved)}; {self.new_zips} new zip(s); "
                f"stack {'changed' if self.stack_changed else 'unchanged'}")


class Run:
    def __init__(self, endpoint: deploy_local.Endpoint, app: Path, cache: Path) -> None:
        self.endpoint, self.app = endpoint, app
        self.env = {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(cache)}
        self.deploys: list[Deploy] = []

    def deploy(self, scenario: str, expect_bundled: set[str], expect_resolved: set[str]) -> Deploy:
        objects = deploy_local.bucket_objects(self.endpoint, BUCKET)
        state = self._state()
        run = deploy_local.deploy(self.app, self.endpoint, env=self.env)
        if run.returncode != 0:
            raise SystemExit(f"bench: {scenario}: cdk deploy failed:\n{run.output[-3000:]}")
        new_zips = [k for k in set(deploy_local.bucket_objects(self.endpoint, BUCKET)) - set(objects)
                    if k.endswith(".zip")]
        resolved = tuple(c for c in run.bundled if run.resolved(c))
        proofs = deploy_local.prove(self.endpoint, STACK, cdk_out=self.app / "cdk.out")
        result = Deploy(scenario, run.seconds, run.cpu_seconds, run.synth_seconds or 0.0, run.bundled,
                        run.published, resolved, len(new_zips),
                        self._state() != state, all(p.sha_match and not p.mismatches for p in proofs))
        checks = {f"bundled {sorted(run.bundled)}": {b.split("/")[-1] for b in run.bundled} == expect_bundled,
                  f"resolved {sorted(resolved)}": {r.split("/")[-1] for r in resolved} == expect_resolved,
                  f"{len(new_zips)} new zips": len(new_zips) == len(expect_bundled),
                  f"stack changed: {result.stack_changed}": result.stack_changed == bool(expect_bundled),
                  "not proven: " + "; ".join(p.line() for p in proofs): result.proven}
        wrong = [what for what, ok in checks.items() if not ok]
        if wrong:
            raise SystemExit(f"bench: {scenario} did not do what it should: {', '.join(wrong)}\n{run.output[-3000:]}")
        print(f"  {scenario:<26} {run.seconds:6.2f} s (CPU {run.cpu_seconds:5.2f} s, "
              f"synth {result.synth_seconds:5.2f} s)   {result.describe()}", flush=True)
        self.deploys.append(result)
        return result

    def _state(self) -> tuple[str, str, int] | None:
        try:
            return deploy_local.stack_state(self.endpoint, STACK)
        except Exception:  # no stack yet
            return None


def edit_handler(app: Path, round_no: int) -> None:
    path = app / "integ" / "functions" / "api" / "index.py"
    path.write_text(path.read_text() + f"\n# edited in round {round_no}\n")


def change_dependency(app: Path, round_no: int) -> None:
    path = app / "integ" / "functions" / "worker" / "requirements.txt"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("six")]
    path.write_text("\n".join([*lines, f"six=={SIX_PINS[round_no % len(SIX_PINS)]}"]) + "\n")


def versions() -> str:
    def out(cmd: list[str]) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        return (proc.stdout.strip().splitlines() or ["?"])[0]

    from importlib.metadata import version

    return (f"aws-cdk {out([str(deploy_local.CDK), '--version']).split()[0]}, node {out(['node', '--version'])}, "
            f"moto {version('moto')}, host Python {platform.python_version()}")


def write_report(path: Path, run: Run, setup: dict[str, float], load: tuple[str, str], rounds: int) -> None:
    first = run.deploys[0]
    by_scenario: dict[str, list[Deploy]] = {}
    for d in run.deploys[1:]:
        by_scenario.setdefault(d.scenario, []).append(d)
    rows = [f"| first deploy, empty bundling cache (PyPI included) | {first.seconds:.1f} | – | "
            f"{first.cpu_seconds:.1f} | {first.synth_seconds:.1f} | {first.describe()} |"]
    for scenario, samples in by_scenario.items():
        secs = [d.seconds for d in samples]
        rows.append(f"| {scenario} | **{statistics.median(secs):.1f}** | {', '.join(f'{s:.1f}' for s in secs)} | "
                    f"{statistics.median(d.cpu_seconds for d in samples):.1f} | "
                    f"{statistics.median(d.synth_seconds for d in samples):.1f} | {samples[0].describe()} |")
    text = f"""# Deploy benchmark (`bench/deploy.py`)

Written by `bench/deploy.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()},
{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}; {versions()}.
Load average (1, 5, 15 min) when the run started: {load[0]}; when it ended: {load[1]} (the machine is shared:
wall times include other work).

The example app (`integ/`: two functions, arm64/python3.13 with pydantic and cryptography, x86_64/python3.12
with numpy and orjson), copied to a temporary folder, deployed with the real `cdk deploy` to moto's server on
127.0.0.1 (started by the run; `cdk bootstrap` took {setup['bootstrap']:.1f} s). Each time is the whole
`cdk deploy` process: synth (running the app), bundling, asset publishing and CloudFormation. After every deploy
the run checked what it did (below) and proved every function (zip sha256 == Lambda's `CodeSha256`, properties
== template's); a deploy that did more or less stops the run. {rounds} round(s) of the three incremental deploys;
wall-clock median in bold, then every sample; *CPU s* is the median CPU time of the `cdk deploy` process and
everything it ran (node, the app, our bundler, uv), which other work on the machine does not inflate; *synth* is
CDK's own "Synthesis time" (running the app, with bundling), part of the wall time.

| deploy | wall s (median) | wall samples | CPU s | of which synth, wall s | what it did |
|---|---:|---|---:|---:|---|
{chr(10).join(rows)}

- *nothing changed*: CDK finds every `cdk.out/asset.<hash>` in place (our asset hash comes from the lock, the
  target and the source, so nothing is resolved, installed or hashed), sees the template unchanged and skips the
  stack: what remains is running the app and comparing templates.
- *one handler edited* (a line appended to `integ/functions/api/index.py`): only Api is re-staged, from the
  cached install (`resolve cached, install cached`), zipped and published; Worker is untouched.
- *one dependency changed* (`six==X` added to the Worker's requirements, a different pin each round): only
  Worker is resolved again (PyPI round trip), installed, staged and published.

Run it: `.venv/bin/python bench/deploy.py` (`--rounds 1` for one sample of each).
"""
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "deploy.md")
    args = parser.parse_args()
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp, deploy_local.moto_endpoint() as endpoint:
        work = Path(tmp)
        start = time.perf_counter()
        deploy_local.bootstrap(endpoint)
        setup = {"bootstrap": time.perf_counter() - start}
        app = deploy_local.copy_example(work / "app")
        run = Run(endpoint, app, work / "cache")
        print(f"bench: deploying {app} to {endpoint.url}", flush=True)
        run.deploy("first deploy (cold cache)", {"Api", "Worker"}, {"Api", "Worker"})
        for i in range(args.rounds):
            run.deploy("nothing changed", set(), set())
            edit_handler(app, i)
            run.deploy("one handler edited", {"Api"}, set())
            change_dependency(app, i)
            run.deploy("one dependency changed", {"Worker"}, {"Worker"})
        load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        write_report(args.output, run, setup, (load_start, load_end), args.rounds)
    print(f"bench: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
