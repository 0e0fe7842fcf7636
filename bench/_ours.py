"""One bundle through the engine, as a process (what `cdk synth` or the CLI runs), for the benchmark.

    python bench/_ours.py ENTRY RUNTIME ARCH OUT CACHE [PHASES.json]

With a sixth argument, writes where the process's time went: interpreter start-up and imports, each uv
call (kind, seconds), prepare (inputs + resolution) and bundle (install + stage + checks + report), and the
cache hits, so the benchmark can check that a warm build really made no resolution or install call.
"""

from __future__ import annotations

import json
import sys
import time

_t0 = time.perf_counter()

from pathlib import Path  # noqa: E402

from cdk_native_python import uv  # noqa: E402
from cdk_native_python.engine import BuildRequest, bundle, prepare  # noqa: E402
from cdk_native_python.store.local import LocalStore  # noqa: E402
from cdk_native_python.target import Target  # noqa: E402

_imported = time.perf_counter()
uv_calls: list[tuple[str, float]] = []


def main() -> None:
    entry, runtime, arch, out, cache_dir = sys.argv[1:6]
    cache = LocalStore(Path(cache_dir))
    request = BuildRequest(entry=Path(entry), target=Target.from_runtime(runtime, arch))
    with uv.observed(lambda call: uv_calls.append((call.kind, call.seconds))):
        t1 = time.perf_counter()
        plan = prepare(request, cache)
        t2 = time.perf_counter()
        result = bundle(plan, Path(out), cache)
        t3 = time.perf_counter()
    print(result.summary("bench"), file=sys.stderr)
    if len(sys.argv) > 6:
        phases = {"imports": _imported - _t0, "prepare": t2 - t1, "bundle": t3 - t2,
                  "uv": uv_calls, "resolve_hit": result.resolve_hit, "install_hit": result.install_hit,
                  "placement": result.report.placement, "packages": len(result.packages),
                  "size_bytes": result.report.size.unzipped_bytes}
        Path(sys.argv[6]).write_text(json.dumps(phases))


if __name__ == "__main__":
    main()
