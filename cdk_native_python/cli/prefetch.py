"""``cdk-native-python prefetch``: every bundle of a CDK app built at once, so that the synth that follows is warm.

CDK stages assets one by one, inside the constructors, so an app of N functions with distinct dependency sets
pays N cold builds in a row. Cold work is bound by index round trips and downloads, not by the CPU, so it
overlaps well even on a 2-CPU runner. ``prefetch``:

1. runs the app (``app`` from ``cdk.json``, or ``--app``) the way the CDK CLI does (``CDK_CONTEXT_JSON``,
   ``CDK_OUTDIR``), with bundling skipped (``aws:cdk:bundling-stacks`` = ``[]``) and
   ``$CDK_NATIVE_PYTHON_PREFETCH_FILE`` set: our constructs make no resolution and write each request down
   (:mod:`~cdk_native_python.pipeline.requestlog`);
2. builds the distinct requests in a pool of threads, each as soon as the app writes it (the app writes into a
   pipe prefetch reads, so building overlaps the rest of the app's run): ``engine.prepare`` (resolve) and
   ``install.install`` (the installed tree), which fill the local store (and a writable remote tier). Threads
   share nothing but the store, which is safe across threads and processes (one ``flock`` per key: the second
   builder of a key waits and finds the entry); each bundle has its own reporter. Requests for one installed
   tree (equal resolution, target and install options) are installed once; the others wait for it.
3. exits 0 when every bundle is in the store; otherwise names each failed construct, after the others finished.

The synth that follows finds every resolution and tree in the store: it only walks sources and stages links.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BundlingError, ConfigurationError, IndexUnreachableError
from ..core.progress import PREFIX, console, count, heading
from ..core.reporter import Reporter
from ..pipeline import engine, requestlog
from ..pipeline.install import install, tree_key
from ..pipeline.requestlog import RequestRecord
from ..store.local import LocalStore, open_store

#: CDK's context key naming the stacks to bundle (``cxapi.BUNDLING_STACKS``): none, for the app run
BUNDLING_STACKS = "aws:cdk:bundling-stacks"

EXIT_OK = 0
#: one or more bundles failed (each is named with its construct path)
EXIT_FAILED = 1
#: no app to run (no cdk.json with "app", no --app), or the app itself failed
EXIT_USAGE = 2
#: every failed bundle failed because a package index could not be reached
EXIT_NETWORK = 3

DESCRIPTION = """\
Run the CDK app with bundling skipped, collect every bundle its NativePythonFunction and
NativePythonLayerVersion constructs ask for, and build them all at once (resolve and install
into the cache, and a writable remote cache), so that the `cdk synth` / `cdk deploy` that
follows is warm. Identical requests are built once."""

EPILOG = """\
examples:
  # in CI: build every bundle in parallel and deploy beside the builds (its synth waits for each
  # bundle still being built and finds it in the cache)
  cdk-native-python prefetch -- cdk deploy --all

  # the same in two steps: the deploy starts once every bundle is in the cache
  cdk-native-python prefetch && cdk deploy --all

  # with a team's remote cache (S3) that CI may write to
  CDK_NATIVE_PYTHON_REMOTE_CACHE=s3://my-bucket/cdk-native-python \\
  CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE=1 cdk-native-python prefetch -- cdk deploy --all

exit codes (with -- COMMAND: the command's code when it fails, else these):
  0  every bundle is in the cache
  1  one or more bundles failed (each is named with its construct path; the others were built)
  2  no app to run (no cdk.json with "app" here, no --app), the app itself failed, or the command
     after -- cannot be started
  3  every failure was a package index that could not be reached (network, DNS, proxy, credentials)
"""


def default_jobs() -> int:
    """Cold builds wait on the index and on downloads: twice the CPUs (plus two, for 1-CPU runners) keeps the
    network busy while the CPU unpacks; at most 8, to stay polite with a package index and within memory."""
    return min(8, 2 * (os.cpu_count() or 1) + 2)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("prefetch", help="build every bundle of a CDK app at once, so that cdk synth is warm",
                            description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", "-a", metavar="CMD",
                   help='the command that runs the CDK app (default: "app" of ./cdk.json, as the cdk CLI)')
    p.add_argument("--context", "-c", action="append", default=[], metavar="KEY=VALUE",
                   help="context for the app, as cdk's --context (over cdk.json and cdk.context.json)")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help=f"bundles built at once (default: min(8, 2 x CPUs + 2) = {default_jobs()} here)")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.add_argument("-v", "--verbose", action="store_true", help="print every step of every bundle")
    p.add_argument("then", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="a command to start as soon as the app has made its requests, beside the builds still "
                        "running (e.g. -- cdk deploy --all); its synth waits for each bundle being built and finds "
                        "it in the cache. Exit code: the command's when it fails, else prefetch's")


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a whole number of 1 or more, not {value!r}")
    return jobs


# -- running the app ---------------------------------------------------------------------------------------------


def app_command(cwd: Path, given: str | None) -> str:
    if given:
        return given
    cdk_json = cwd / "cdk.json"
    try:
        app = _json_file(cdk_json).get("app")
    except FileNotFoundError:
        app = None
    if not isinstance(app, str) or not app.strip():
        raise ConfigurationError(
            f"no CDK app to run: {cdk_json} " + ("has no \"app\" command" if cdk_json.exists() else "does not exist"),
            "run prefetch where you run cdk (the folder of cdk.json), or pass the app's command with --app",
            code="prefetch-no-app")
    return app


def context(cwd: Path, flags: Sequence[str]) -> dict[str, object]:
    """The app's context as the cdk CLI gives it (cdk.json's, then cdk.context.json's, then ``--context``), with
    bundling skipped."""
    found: dict[str, object] = {}
    for name in ("cdk.json", "cdk.context.json"):
        try:
            data = _json_file(cwd / name)
        except FileNotFoundError:
            continue
        extra = data.get("context", {}) if name == "cdk.json" else data
        if isinstance(extra, dict):
            found.update(extra)
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--context {flag!r} is not KEY=VALUE", "write it as --context key=value",
                                     code="prefetch-context-invalid")
        found[key] = value
    found[BUNDLING_STACKS] = []
    return found


def _json_file(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid JSON ({exc})", f"fix {path.name}",
                                 code="prefetch-no-app") from None
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def app_requests(command: str, cwd: Path, ctx: dict[str, object]) -> Iterator[Iterator[RequestRecord]]:
    """Run the app with bundling skipped; yields its requests as its constructs write them (builds start while
    the app still runs), and raises once they are all read if the app failed."""
    read_end, write_end = os.pipe()
    with tempfile.TemporaryDirectory(prefix="cdk-native-python-prefetch-") as tmp:  # private (0700)
        env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(ctx), "CDK_OUTDIR": str(Path(tmp) / "cdk.out"),
               requestlog.PREFETCH_FILE_ENV: f"/dev/fd/{write_end}"}
        try:
            # the app's own output goes to stderr, where progress goes (stdout stays for scripts, as with cdk)
            proc = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=2, pass_fds=(write_end,))
        finally:
            os.close(write_end)  # the app holds the only write end: end of file when it exits
        with os.fdopen(read_end, encoding="utf-8") as lines:

            def requests() -> Iterator[RequestRecord]:
                for line in lines:
                    if line.strip():
                        yield requestlog.parse(line)
                # the end of the requests is the app's exit: whoever reads them learns of its failure here,
                # before it acts on "every request is known" (a command after `--` is not started)
                if proc.wait() != 0:
                    raise _app_failed(command, proc.returncode)

            try:
                yield requests()
            except BaseException:
                proc.kill()  # interrupted, or a request we cannot read: the app's run is of no use any more
                proc.wait()
                raise
            for _ in lines:  # a consumer that stopped early: let the app finish writing
                pass
        code = proc.wait()
    if code != 0:
        raise _app_failed(command, code)


def _app_failed(command: str, code: int) -> ConfigurationError:
    return ConfigurationError(f"the CDK app `{command}` failed (exit {code}); its output is above",
                              "make `cdk synth` work first: prefetch runs the same app", code="prefetch-app-failed")


# -- building ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How one distinct request ended: its constructs, what was done, or the error."""

    names: tuple[str, ...]
    summary: str = ""
    error: BundlingError | None = None


class Board:
    """What every bundle is doing, shown as one live line on a terminal and as plain lines in a CI log."""

    def __init__(self, jobs: int, verbose: bool) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, str] = {}
        self._done = 0
        self.total = 0
        self._verbose = verbose
        self._console = console()
        self._quiet = self._console.quiet  # -q: errors only
        #: one live line, unless a command after `--` writes to the terminal too (then plain lines)
        self._live = self._console.live
        if not self._quiet:
            self._console.line(f"{PREFIX} prefetch: running the app, building its bundles as they come, "
                               f"{jobs} at a time")

    def added(self) -> None:
        with self._lock:
            self.total += 1
            self._show()

    def phase(self, text: str, subject: str) -> None:
        with self._lock:
            if text:
                self._phases[subject] = text
            else:
                self._phases.pop(subject, None)
            if text and not self._quiet and (self._verbose or not self._live):
                self._console.line(f"{heading(subject)} {text}")  # a CI log: each step of each bundle, once
            self._show()

    def finished(self, outcome: Outcome) -> None:
        with self._lock:
            self._done += 1
            for name in outcome.names:
                self._phases.pop(name, None)
            if outcome.error is not None:
                self._console.line(f"{PREFIX} error: {outcome.error}")
            elif outcome.summary and not self._quiet:
                self._console.line(outcome.summary)
            self._show()

    def plain(self) -> None:
        """From now on plain lines only: another program writes to the same terminal."""
        with self._lock:
            if self._live:
                self._console.idle()
            self._live = False

    def _show(self) -> None:
        if not self._live:
            return
        running = "; ".join(f"{name}: {text}" for name, text in self._phases.items())
        self._console.status(f"{self._done}/{self.total} done" + (f" — {running}" if running else ""), "prefetch")

    def close(self) -> None:
        self._console.idle()


class Builder:
    """Builds distinct requests on threads; one installed tree is installed once (the others wait for it)."""

    def __init__(self, board: Board, jobs: int) -> None:
        self._board = board
        #: one build at a time downloads while it resolves, as a synth's do; several keep the network and
        #: the CPUs busy already (measured: 20 cold sets on 2 CPUs took 21.6 s with it, 17.9 s without)
        self._warm = jobs == 1
        self._lock = threading.Lock()
        self._stores: dict[tuple[str | None, str | None], LocalStore] = {}
        self._trees: dict[tuple[str, str], threading.Lock] = {}
        self._notices = Reporter("prefetch")

    def store(self, record: RequestRecord) -> LocalStore:
        key = (record.cache_dir, record.remote_cache)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = open_store(Path(record.cache_dir) if record.cache_dir else None,
                                               remote_url=record.remote_cache, reporter=self._notices)
            return self._stores[key]

    def build(self, record: RequestRecord, names: list[str]) -> Outcome:
        """Build ``record`` (asked for by the constructs ``names``, a list that may grow while this runs)."""
        start = time.perf_counter()
        subject = names[0]
        reporter = Reporter(subject, on_phase=self._board.phase)
        try:
            store = self.store(record)
            plan = engine.prepare(record.request, store, reporter, warm=self._warm)
            installed = "no dependencies"
            if plan.resolution is not None and plan.spec is not None:
                key = (str(store.root), tree_key(plan.resolution, record.target, plan.request.install))
                with self._lock:
                    gate = self._trees.setdefault(key, threading.Lock())
                with gate:  # a second request for the same tree waits, then finds it in the store
                    tree, hit = install(plan.resolution, plan.spec, record.target, store, plan.request.install,
                                        try_offline=plan.resolve_hit, reporter=reporter)
                installed = (f"{count(len(tree.record.packages), 'package')}, resolve "
                             f"{'cached' if plan.resolve_hit else 'done'}, install {'cached' if hit else 'done'}")
        except BundlingError as exc:
            return Outcome(tuple(names), error=exc.about(subject))
        finally:
            reporter.idle()
        return Outcome(tuple(names), f"{heading(', '.join(names))} {record.target.label} — {installed}, "
                                     f"{time.perf_counter() - start:.2f}s")


def build_all(records: Iterable[RequestRecord], jobs: int, *, verbose: bool = False,
              then: Callable[[], None] | None = None) -> tuple[list[Outcome], int]:
    """Build the distinct ``records`` ``jobs`` at a time, each as soon as it arrives; (every outcome in the app's
    order, the number of requests). ``then`` is called once every request is known, while builds still run."""
    groups: dict[str, list[str]] = {}
    futures: list[concurrent.futures.Future[Outcome]] = []
    board = Board(jobs, verbose)
    builder = Builder(board, jobs)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="prefetch") as pool:
            try:
                for record in records:
                    board.added()
                    names = groups.get(record.same_bundle())
                    if names is not None:  # the same bundle again (another construct, the same entry and options)
                        names.append(record.name)
                        continue
                    names = groups[record.same_bundle()] = [record.name]
                    future = pool.submit(builder.build, record, names)
                    future.add_done_callback(lambda f: board.finished(f.result()))
                    futures.append(future)
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the app failed: what has not started never will
                raise
            if then is not None:
                board.plain()
                then()
        return [f.result() for f in futures if not f.cancelled()], board.total
    finally:
        board.close()


def report(outcomes: Sequence[Outcome], requests: int, seconds: float) -> int:
    """The last line, and the exit code."""
    failed = [o for o in outcomes if o.error is not None]
    out = console()
    same = f" ({len(outcomes)} distinct)" if len(outcomes) != requests else ""
    if not failed:
        if not out.quiet:
            out.line(f"{PREFIX} prefetch: {count(requests, 'bundle')}{same} ready in {seconds:.1f}s")
        return EXIT_OK
    names = ", ".join(name for o in failed for name in o.names)
    print(f"{PREFIX} prefetch: {len(failed)} of {count(len(outcomes), 'bundle')} failed: {names}", file=sys.stderr)
    return EXIT_NETWORK if all(isinstance(o.error, IndexUnreachableError) for o in failed) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cwd = Path.cwd()
    command = app_command(cwd, args.app)
    ctx = context(cwd, args.context)
    argv = _command(args.then)
    then = Follower(argv, cwd) if argv else None
    try:
        with app_requests(command, cwd, ctx) as records:
            outcomes, requests = build_all(records, args.jobs or default_jobs(), verbose=args.verbose,
                                           then=then.start if then is not None else None)
        if not requests:
            if not console().quiet:
                console().line(f"{PREFIX} prefetch: the app `{command}` made no bundle request "
                               "(no NativePythonFunction or NativePythonLayerVersion)")
            code = EXIT_OK
        else:
            code = report(outcomes, requests, time.perf_counter() - start)
    except BaseException:
        if then is not None:
            then.stop()
        raise
    if then is None:
        return code
    followed = then.wait()
    return followed if followed != 0 else code


def _command(words: Sequence[str]) -> list[str]:
    """The command after ``--`` (argparse keeps the ``--`` in what follows the options)."""
    return list(words[1:] if words[:1] == ["--"] else words)


class Follower:
    """The command given after ``--``: started once the app has made every request (:func:`build_all` calls
    :meth:`start`), beside the builds still running. Its own synth finds each bundle in the store, waiting on a
    bundle being built here (one lock per key, across processes) rather than building it a second time."""

    def __init__(self, argv: Sequence[str], cwd: Path) -> None:
        self._argv = list(argv)
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != requestlog.PREFETCH_FILE_ENV}  # its synth bundles
        # named by its program only: its arguments may carry secrets (`--parameters Password=...`)
        program = self._argv[0]
        if not console().quiet:
            console().line(f"{PREFIX} prefetch: every request is known; starting `{program}` (the command after --)")
        try:
            self._proc = subprocess.Popen(self._argv, cwd=self._cwd, env=env)
        except OSError as exc:
            raise ConfigurationError(f"cannot start `{program}`: {exc.strerror or exc}",
                                     "check the command after `--` (it runs as given, without a shell)",
                                     code="prefetch-command-failed") from None

    def wait(self) -> int:
        """The command's exit code (0 when it never started: prefetch's own code says why)."""
        return self._proc.wait() if self._proc is not None else 0

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait()
