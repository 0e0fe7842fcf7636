"""Run a command; print its wall time and the peak RSS of its largest process (it and every descendant)."""

import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
seconds = time.perf_counter() - start
# RUSAGE_CHILDREN's ru_maxrss is the largest peak among all waited-for descendants (KiB on Linux)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kib / 1024, "rc": proc.returncode,
                  "stderr": proc.stderr[-2000:]}))
