"""One bundle through the engine, as a process (what `cdk synth` or the CLI runs), for the benchmark."""

import sys
from pathlib import Path

from cdk_native_python.cache import Cache
from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.target import Target

entry, runtime, arch, out, cache = sys.argv[1:6]
request = BuildRequest(entry=Path(entry), target=Target.from_runtime(runtime, arch))
result = build(request, Path(out), Cache(Path(cache)))
print(result.summary("bench"), file=sys.stderr)
