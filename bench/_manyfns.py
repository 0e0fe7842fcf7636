"""The rows of issue 23 (many functions, cold builds in parallel), run by ``bench/run.py --only prefetch,zip,cold``.

* ``prefetch``: an app of 8 (and 20) functions with as many distinct small dependency sets, cold: plain
  ``cdk synth`` against ``cdk-native-python prefetch && cdk synth``; the warm app: ``prefetch`` against the
  app's own no-change synth; a uv workspace app of 3 member functions and one shared package over one
  ``uv.lock`` (made by the real ``uv lock`` before the clock starts), cold: ``prefetch && cdk synth``.
* ``far``: the two cold pairs again with the package index 100 ms away (``_latency.py``: a proxy of PyPI on
  127.0.0.1 that answers each request after 100 ms): the round trips a CI runner pays to pypi.org, which the
  mirror this machine reaches does not (a cold set costs ~1 s here, ~5 s when the issue was measured).
* ``cold``: one cold build of the bench set against ``uv pip install --target``, cold (``_ours.py``).
* ``zip``: a warm ``build --zip`` of the bench set, beside a warm ``build --output``.

The section is written into ``results.md`` between two markers (the rest of the file is another run's), the
raw samples into ``results-manyfns.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _latency import far_index
from _report import Ratio, Within
from _stats import Results, Sample, cpu_model, measure

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
CDK = ROOT / "node_modules" / ".bin" / "cdk"
SYNTH = [str(CDK), "synth", "--quiet", "--no-notices", "-o", "cdk.out"]
ENV = {"CDK_NATIVE_PYTHON_QUIET": "1", "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "1",
       "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
START, END = "<!-- issue 23 rows: begin -->", "<!-- issue 23 rows: end -->"
ROWS = ("prefetch", "far", "cold", "zip")
#: the far index's delay per request, in seconds
FAR = 0.1
#: samples of the cold-set row (each other row: one)
COLD_SAMPLES = 3

#: popular packages with wheels for every target: function i depends on three of them (a distinct set each, 2 to
#: 15 packages once resolved, as a team's functions would)
SMALL = ("requests", "pydantic", "httpx", "jinja2", "sqlalchemy", "pyyaml", "orjson", "structlog", "rich", "click",
         "marshmallow", "tenacity", "cachetools", "tabulate", "msgpack", "ujson", "simplejson", "toolz", "pyjwt",
         "python-dotenv", "attrs", "cryptography", "aiohttp", "arrow")


def sets(n: int) -> list[list[str]]:
    return [sorted({SMALL[i % len(SMALL)], SMALL[(i + 7) % len(SMALL)], SMALL[(i + 13) % len(SMALL)]})
            for i in range(n)]


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def app(folder: Path, requirements: Sequence[str], index_url: str | None = None) -> Path:
    """A CDK app of one NativePythonFunction (python3.12 / arm64) per entry of ``requirements`` (resolving from
    ``index_url``, a team default in cdk.json, when given)."""
    fresh(folder)
    config: dict[str, object] = {"app": f"{VENV_PY} app.py"}
    if index_url:
        config["context"] = {"cdk-native-python": {"index_url": index_url}}
    (folder / "cdk.json").write_text(json.dumps(config))
    for i, text in enumerate(requirements):
        (folder / "fns" / f"fn{i}").mkdir(parents=True)
        (folder / "fns" / f"fn{i}" / "index.py").write_text(f"N = {i}\n\ndef handler(event, context):\n    return N\n")
        (folder / "fns" / f"fn{i}" / "requirements.txt").write_text(text)
    (folder / "app.py").write_text(
        "import aws_cdk as cdk\nfrom aws_cdk import aws_lambda as lambda_\n"
        "from cdk_native_python import NativePythonFunction\n"
        "app = cdk.App()\nstack = cdk.Stack(app, 'Bench')\n"
        f"for i in range({len(requirements)}):\n"
        "    NativePythonFunction(stack, f'Fn{i}', entry=f'fns/fn{i}', runtime=lambda_.Runtime.PYTHON_3_12,\n"
        "                         architecture=lambda_.Architecture.ARM_64)\napp.synth()\n")
    return folder


WORKSPACE_ROW = "uv workspace of 3 functions over 1 uv.lock, cold: prefetch + cdk synth"


def workspace_app(folder: Path) -> Path:
    """A uv workspace (``functions/*`` and ``packages/shared``, as ``integ/workspace``) whose three member
    functions each depend on ``shared`` and a small set of their own, locked by the real ``uv lock``."""
    fresh(folder)
    (folder / "cdk.json").write_text(json.dumps({"app": f"{VENV_PY} app.py"}))
    (folder / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*", "functions/*"]\n')
    shutil.copytree(ROOT / "integ" / "workspace" / "packages", folder / "packages")
    for i, extra in enumerate(sets(3)):
        member = folder / "functions" / f"fn{i}"
        member.mkdir(parents=True)
        (member / "index.py").write_text("import shared\n\ndef handler(event, context):\n    return 'ok'\n")
        deps = ", ".join(f'"{d}"' for d in ["shared", *extra])
        (member / "pyproject.toml").write_text(
            f'[project]\nname = "fn{i}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n\n'
            '[tool.uv.sources]\nshared = { workspace = true }\n')
    uv = ROOT / ".venv" / "bin" / "uv"
    # the lock only needs the host's interpreter to exist, never a download of another one
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run([str(uv), "lock", "--quiet"], cwd=folder, check=True, env={**env, "UV_PYTHON_DOWNLOADS": "never"})
    (folder / "app.py").write_text(
        "import aws_cdk as cdk\nfrom aws_cdk import aws_lambda as lambda_\n"
        "from cdk_native_python import NativePythonFunction\n"
        "app = cdk.App()\nstack = cdk.Stack(app, 'Workspace')\n"
        "for i in range(3):\n"
        "    NativePythonFunction(stack, f'Fn{i}', entry=f'functions/fn{i}', runtime=lambda_.Runtime.PYTHON_3_12,\n"
        "                         architecture=lambda_.Architecture.ARM_64)\napp.synth()\n")
    return folder


def prefetch_cmd() -> list[str]:
    return [str(VENV_PY), "-m", "cdk_native_python.cli", "prefetch", "--quiet"]


def both(first: Sample, second: Sample) -> Sample:
    """Two processes one after the other, as one sample (their seconds summed, the larger peak)."""
    peaks = [p for p in (first.peak_mb, second.peak_mb) if p is not None]
    return Sample(first.seconds + second.seconds, max(peaks) if peaks else None, first.load)


class ManyFunctions:
    def __init__(self, work: Path, results: Results) -> None:
        self.work, self.results = work, results

    def add(self, name: str, sample: Sample) -> None:
        self.results.rows.add(name, sample, "manyfns")
        self.results.rows.show(name)

    def cold_pair(self, label: str, requirements: Sequence[str], index_url: str | None = None) -> None:
        """Plain cold synth, then prefetch + synth cold, of the same app (each with an empty cache, no cdk.out)."""
        folder = app(self.work / f"app-{label}", requirements, index_url)
        env = {**ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(fresh(self.work / f"c-{label}-plain"))}
        self.add(f"{label}, cold: cdk synth", measure(SYNTH, env, folder))
        shutil.rmtree(folder / "cdk.out", ignore_errors=True)
        env = {**ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(fresh(self.work / f"c-{label}-prefetch"))}
        pre = measure(prefetch_cmd(), env, folder)
        synth = measure(SYNTH, env, folder)
        self.add(f"{label}, cold: prefetch", pre)
        self.add(f"{label}, cold: prefetch + cdk synth", both(pre, synth))
        # the command after `--` starts once the app has made its requests, beside the builds
        shutil.rmtree(folder / "cdk.out", ignore_errors=True)
        env = {**ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(fresh(self.work / f"c-{label}-then"))}
        self.add(f"{label}, cold: prefetch -- cdk synth", measure([*prefetch_cmd(), "--", *SYNTH], env, folder))
        self.results.facts.setdefault("prefetched synth reports", {})[label] = _hits(
            Path(env["CDK_NATIVE_PYTHON_CACHE_DIR"]))

    def prefetch_rows(self) -> None:
        eight = ["\n".join(s) + "\n" for s in sets(8)]
        self.cold_pair("8 fns, 8 distinct sets", eight)
        self.cold_pair("20 fns, 20 distinct sets", ["\n".join(s) + "\n" for s in sets(20)])
        # the warm app: the 8-function app that was just prefetched and synthesized
        folder = self.work / "app-8 fns, 8 distinct sets"
        env = {**ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(self.work / "c-8 fns, 8 distinct sets-prefetch")}
        self.add("8 fns, warm: prefetch", measure(prefetch_cmd(), env, folder))
        self.add("8 fns, warm: cdk synth, no change", measure(SYNTH, env, folder))
        # a uv workspace of 3 member functions over one uv.lock (see the module's docstring)
        folder = workspace_app(self.work / "app-workspace")
        env = {**ENV, "CDK_NATIVE_PYTHON_CACHE_DIR": str(fresh(self.work / "c-workspace"))}
        pre = measure(prefetch_cmd(), env, folder)
        self.add(WORKSPACE_ROW, both(pre, measure(SYNTH, env, folder)))

    def far_rows(self) -> None:
        """The cold pairs with the index ``FAR`` seconds away (see the module's docstring)."""
        with far_index(FAR) as index:
            for n in (8, 20):
                self.cold_pair(far(f"{n} fns, {n} distinct sets"), ["\n".join(s) + "\n" for s in sets(n)],
                               f"{index.url}/simple")
            self.results.facts["far index requests"] = index.requests

    def cold_rows(self, ours: Callable[[int], Sample], uv: Callable[[int], Sample]) -> None:
        """Three samples each, in turns (ours, uv, ours, ...): a cold set's time swings by seconds with the
        mirror's own cache and load, more than the difference measured."""
        for i in range(COLD_SAMPLES):
            self.add("bench set, cold: ours", ours(i))
            self.add("bench set, cold: uv pip install --target", uv(i))

    def zip_rows(self, entry: Path, cache: Path) -> None:
        """Warm builds of the bench set from ``cache`` (filled by the cold row): --output and --zip."""
        env = {"CDK_NATIVE_PYTHON_CACHE_DIR": str(cache), "CDK_NATIVE_PYTHON_QUIET": "1"}
        base = [str(VENV_PY), "-m", "cdk_native_python.cli", "build", "--runtime", "python3.12", "--arch", "arm64",
                "--source", str(entry), "-r", str(entry / "requirements.txt")]
        out = self.work / "zip-out"
        # the first zip from this cache places the tree and deflates each file into the store: warm is the next
        measure([*base, "--zip", str(fresh(out) / "warmup.zip")], env)
        self.add("bench set, warm: build --output", measure([*base, "--output", str(fresh(out) / "folder")], env))
        self.add("bench set, warm: build --zip", measure([*base, "--zip", str(fresh(out) / "fn.zip")], env))


def far(label: str) -> str:
    return f"{label}, index {FAR * 1000:.0f} ms away"


def _hits(cache: Path) -> str:
    reports = [json.loads(p.read_text()) for p in (cache / "reports").glob("*.json")]
    hits = sum(1 for r in reports if r.get("cache") == {"resolve": "hit", "install": "hit"})
    return f"{hits} of {len(reports)} bundles found resolution and tree in the store"


TARGETS = (
    Ratio("#23 app of 8 fns, 8 distinct sets, cold: prefetch + synth vs plain synth",
          "8 fns, 8 distinct sets, cold: prefetch + cdk synth", "8 fns, 8 distinct sets, cold: cdk synth", 0.5),
    Ratio("#23 app of 20 fns, 20 distinct sets, cold: prefetch + synth vs plain synth",
          "20 fns, 20 distinct sets, cold: prefetch + cdk synth", "20 fns, 20 distinct sets, cold: cdk synth", 0.35),
    Ratio(f"#23 app of 8 fns, 8 distinct sets, cold, index {FAR * 1000:.0f} ms away: prefetch + synth vs plain synth",
          far("8 fns, 8 distinct sets") + ", cold: prefetch + cdk synth",
          far("8 fns, 8 distinct sets") + ", cold: cdk synth", 0.5),
    Ratio(f"#23 app of 20 fns, 20 distinct sets, cold, index {FAR * 1000:.0f} ms away: prefetch + synth vs plain "
          "synth", far("20 fns, 20 distinct sets") + ", cold: prefetch + cdk synth",
          far("20 fns, 20 distinct sets") + ", cold: cdk synth", 0.35),
    Ratio("#23 app of 8 fns, 8 distinct sets, cold: `prefetch -- cdk synth` vs plain synth",
          "8 fns, 8 distinct sets, cold: prefetch -- cdk synth", "8 fns, 8 distinct sets, cold: cdk synth", 0.5),
    Ratio("#23 app of 20 fns, 20 distinct sets, cold: `prefetch -- cdk synth` vs plain synth",
          "20 fns, 20 distinct sets, cold: prefetch -- cdk synth", "20 fns, 20 distinct sets, cold: cdk synth", 0.35),
    Ratio(f"#23 app of 8 fns, 8 distinct sets, cold, index {FAR * 1000:.0f} ms away: `prefetch -- cdk synth` vs "
          "plain synth", far("8 fns, 8 distinct sets") + ", cold: prefetch -- cdk synth",
          far("8 fns, 8 distinct sets") + ", cold: cdk synth", 0.5),
    Ratio(f"#23 app of 20 fns, 20 distinct sets, cold, index {FAR * 1000:.0f} ms away: `prefetch -- cdk synth` "
          "vs plain synth", far("20 fns, 20 distinct sets") + ", cold: prefetch -- cdk synth",
          far("20 fns, 20 distinct sets") + ", cold: cdk synth", 0.35),
    Ratio("#23 warm app of 8 fns: prefetch vs the app's no-change synth", "8 fns, warm: prefetch",
          "8 fns, warm: cdk synth, no change", 1.3),
    Ratio("#23 one cold set (the bench set) vs `uv pip install --target` cold", "bench set, cold: ours",
          "bench set, cold: uv pip install --target", 1.15),
)


def section(results: Results, seconds: float, loads: tuple[Sequence[float], Sequence[float]]) -> str:
    rows = results.rows
    lines = [START, "", "## Many functions: prefetch, one cold set, warm zip (issue 23)", "",
             f"Written by `bench/run.py --only {','.join(results.facts.get('only', ROWS))}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             + (f" (the rows it did not measure are from the run of {results.facts['earlier']})"
                if results.facts.get("earlier") else "") + f": {platform.machine()}, {os.cpu_count()} CPUs "
             f"({cpu_model()}), one sample per row (three, in turns, for the cold set); {seconds / 60:.1f} min. "
             "**The machine was shared**: load "
             f"average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in loads[0])} at the start, "
             f"{', '.join(f'{x:.2f}' for x in loads[1])} at the end (per row below). Functions target python3.12 / "
             "arm64; each of the 8 (20) functions depends on three popular packages, a set of its own "
             f"(`bench/_manyfns.py`). The rows *index {FAR * 1000:.0f} ms away* resolve through `bench/_latency.py`, "
             "a proxy of PyPI on 127.0.0.1 that answers each request after that delay (downloads by a redirect): "
             "the round trips of a runner far from its index, which this machine's mirror (~1 s per cold set) "
             "does not have.", "",
             "| target | measured | limit | result |", "|---|---|---|---|"]
    for target in TARGETS:
        v = target.verdict(rows)
        lines.append(f"| {v.title} | {v.measured} | {v.limit} | **{v.result}** |")
    ws = rows.get(WORKSPACE_ROW)
    lines.append("| #23 workspace app of 3 functions over 1 lock, cold (a uv workspace: 3 member functions and "
                 "one shared package, one uv.lock) | " + (ws.text(2) if ws else "–") + " | recorded | **"
                 + ("recorded" if ws else "not measured") + "** |")
    v = Within("#23 warm `build --zip` of the bench set", "bench set, warm: build --zip", 1.5).verdict(
        {f"{k} ": r for k, r in rows.items()})
    lines.append(f"| {v.title} | {v.measured} | {v.limit} | **{v.result}** |")
    lines += ["", "| scenario | median s | min–max s | n | peak MB (largest process) | load |",
              "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.name} | {r.median:.2f} | {r.spread(2)} | {len(r.samples)} | "
              f"{'–' if r.peak_mb is None else f'{r.peak_mb:.0f}'} | {r.loads()} |" for r in rows.values()
              if r.group == "manyfns"]
    facts = results.facts.get("prefetched synth reports", {})
    if facts:
        lines += ["", "The synth after prefetch: " + "; ".join(f"{k}: {v}" for k, v in facts.items()) + "."]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write(out: Path, text: str) -> None:
    """``text`` in place of the previous section between the markers, or at the end of ``out``."""
    old = out.read_text() if out.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    out.write_text(new)
