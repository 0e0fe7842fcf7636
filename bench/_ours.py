"""One bundle through the engine, as a process (what `cdk synth` or the CLI runs), for the benchmark.

    python bench/_ours.py ENTRY RUNTIME ARCH OUT CACHE [PHASES.json]

The store is opened as the constructs and the CLI open it (``open_store``), so the remote tier is on when
``$CDK_NATIVE_PYTHON_REMOTE_CACHE`` says so. With a sixth argument, writes where the process's time went:
interpreter start-up and imports, each uv call (kind, seconds), prepare (inputs + resolution) and bundle
(install + stage + checks + report), every store entry the build asked for (kind, where it came from:
``local`` / ``remote`` / ``built``, seconds, the reuse check included), every remote fetch and push
(seconds, the first one includes importing boto3 and making its client), the cache hits and the warnings,
so the benchmark can check that a warm build made no resolution or install call and that a fresh machine
took everything from the remote.
"""

from __future__ import annotations

import json
import sys
import time

_t0 = time.perf_counter()

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.uvcalls: the uv calls of the build

from cdk_native_python.core.reporter import Notice, Reporter  # noqa: E402
from cdk_native_python.core.target import Target  # noqa: E402
from cdk_native_python.pipeline import uv  # noqa: E402
from cdk_native_python.pipeline.engine import BuildRequest, bundle, prepare  # noqa: E402
from cdk_native_python.store import Entry, RemoteTier  # noqa: E402
from cdk_native_python.store.local import LocalStore, open_store  # noqa: E402
from tests.uvcalls import observed  # noqa: E402

_imported = time.perf_counter()
uv_calls: list[tuple[str, float]] = []
entries: list[dict[str, Any]] = []
remote_calls: list[dict[str, Any]] = []
warnings: list[str] = []


class TimedStore:
    """The store the engine gets: the real one, with each entry's time and origin written down."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store

    def get_or_create(self, kind: str, key: str, build: Any, **options: Any) -> Entry:
        start = time.perf_counter()
        entry = self._store.get_or_create(kind, key, build, **options)
        entries.append({"kind": kind, "origin": entry.origin, "seconds": time.perf_counter() - start})
        return entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class TimedRemote:
    """The store's remote tier, with each fetch and push timed."""

    def __init__(self, remote: RemoteTier) -> None:
        self._remote = remote

    def fetch(self, kind: str, key: str, dest: Path) -> bool:
        start = time.perf_counter()
        ok = self._remote.fetch(kind, key, dest)
        remote_calls.append({"op": "fetch", "kind": kind, "ok": ok, "seconds": time.perf_counter() - start})
        return ok

    def push(self, kind: str, key: str, src: Path) -> None:
        start = time.perf_counter()
        self._remote.push(kind, key, src)
        remote_calls.append({"op": "push", "kind": kind, "ok": True, "seconds": time.perf_counter() - start})


def main() -> None:
    entry, runtime, arch, out, cache_dir = sys.argv[1:6]

    def sink(notice: Notice, subject: str) -> None:
        warnings.append(f"{notice.code}: {notice.message}")
        print(notice.line(subject), file=sys.stderr)

    reporter = Reporter(sink=sink)
    local = open_store(Path(cache_dir), tools=uv.tools, reporter=reporter)
    if local.remote is not None:
        local.remote = TimedRemote(local.remote)
    store: Any = TimedStore(local)
    request = BuildRequest(entry=Path(entry), target=Target.from_runtime(runtime, arch))
    with observed(lambda call: uv_calls.append((call.kind, call.seconds))):
        t1 = time.perf_counter()
        plan = prepare(request, store, reporter)
        t2 = time.perf_counter()
        result = bundle(plan, Path(out), store, reporter)
        t3 = time.perf_counter()
    print(result.summary("bench"), file=sys.stderr)
    if len(sys.argv) > 6:
        phases = {"imports": _imported - _t0, "prepare": t2 - t1, "bundle": t3 - t2,
                  "uv": uv_calls, "resolve_hit": result.resolve_hit, "install_hit": result.install_hit,
                  "entries": entries, "remote": remote_calls, "warnings": warnings,
                  "placement": result.report.placement, "packages": len(result.packages),
                  "size_bytes": result.report.size.unzipped_bytes}
        Path(sys.argv[6]).write_text(json.dumps(phases))


if __name__ == "__main__":
    main()
