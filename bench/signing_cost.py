"""Helper: what signed remote entries cost (not part of ``results.md``; docs/remote-cache.md quotes it).

    .venv/bin/python bench/signing_cost.py [--runs 2] [--arch arm64]

Three measurements, with the bench's set (``bench/requirements.txt``, PyPI needed for the cold builds):

* in process, 1000 signed pointers: parsing and checking each against a trusted key, against parsing and
  checking only its binding (no trusted keys), per entry;
* in process, one whole remote fetch of the set's installed tree (pointer, check, download + sha256, unpack)
  from the tests' S3 server on 127.0.0.1, with and without the signature check;
* the remote row of ``results.md`` with signing on: ``ours cold`` (no remote), against ``ours fresh machine +
  warm remote`` (empty cache, the index unreachable, read-only credentials, trusting only the writer's key)
  after a signed writer filled the remote; whole processes (``_ours.py``, as ``bench/run.py`` runs them).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _remote import RemoteBench, entry_keys, fetch_phases  # noqa: E402
from _stats import measure  # noqa: E402

from cdk_native_python.store.remote import Pointer  # noqa: E402
from cdk_native_python.store.signing import TRUSTED_KEYS_ENV  # noqa: E402

VENV_PY = HERE.parent / ".venv" / "bin" / "python"


def pointers(bench: RemoteBench, n: int) -> list[tuple[str, bytes]]:
    signer = bench.signing_key.signer()
    return [(f"k{i:04d}", Pointer("trees", f"k{i:04d}", f"{i:064x}", 1000 + i, "tar+zstd",
                                  "cdk-native-python 0.1.0; uv 0.9.5").signed(signer).to_bytes()) for i in range(n)]


def check_all(items: list[tuple[str, bytes]], trusted: tuple[object, ...]) -> float:
    start = time.perf_counter()
    for key, data in items:
        Pointer.parse(data, key).check("trees", key, trusted, key)  # type: ignore[arg-type]
    return time.perf_counter() - start


def ours(bench: RemoteBench, entry: Path, arch: str, cache: Path, out: Path, env: dict[str, str]) -> float:
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return measure([str(VENV_PY), str(HERE / "_ours.py"), str(entry), "python3.12", arch, str(out), str(cache)],
                   env).seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--arch", default="arm64")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        work = Path(tmp)
        bench = RemoteBench(work / "s3")
        try:
            items = pointers(bench, 1000)
            check_all(items, (bench.public_key,))  # cryptography imported and warmed once
            signed = statistics.median(check_all(items, (bench.public_key,)) for _ in range(5))
            bound = statistics.median(check_all(items, ()) for _ in range(5))
            # seconds for 1000 entries is, as a number, milliseconds per entry
            print(f"1000 pointers: parse + binding + Ed25519 check {signed * 1000:.1f} ms "
                  f"({signed:.3f} ms per entry); parse + binding only "
                  f"{bound * 1000:.1f} ms; the signature costs {signed - bound:.3f} ms per entry")

            entry = work / "fn"
            entry.mkdir()
            shutil.copy(HERE / "requirements.txt", entry / "requirements.txt")
            (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
            colds, writers, readers, unverified = [], [], [], []
            for i in range(args.runs):
                colds.append(ours(bench, entry, args.arch, work / f"cold-{i}", work / f"o-cold-{i}", {}))
                writers.append(ours(bench, entry, args.arch, work / f"writer-{i}", work / f"o-w-{i}",
                                    bench.writer_env(f"p{i}")))
                readers.append(ours(bench, entry, args.arch, work / f"reader-{i}", work / f"o-r-{i}",
                                    bench.reader_env(f"p{i}")))
                # the same reader trusting no key (signatures not checked, binding still): the A/B of signing
                env = {k: v for k, v in bench.reader_env(f"p{i}").items() if k != TRUSTED_KEYS_ENV}
                unverified.append(ours(bench, entry, args.arch, work / f"plain-{i}", work / f"o-p-{i}", env))
            cold, reader = statistics.median(colds), statistics.median(readers)
            print(f"ours cold {args.arch}: {cold:.2f} s ({', '.join(f'{c:.2f}' for c in colds)})")
            print(f"ours cold, writing the remote (signing) {args.arch}: {statistics.median(writers):.2f} s "
                  f"({', '.join(f'{c:.2f}' for c in writers)})")
            print(f"ours fresh machine + warm remote (verifying) {args.arch}: {reader:.2f} s "
                  f"({', '.join(f'{c:.2f}' for c in readers)})")
            print(f"ours fresh machine + warm remote (no trusted keys) {args.arch}: "
                  f"{statistics.median(unverified):.2f} s ({', '.join(f'{c:.2f}' for c in unverified)})")
            print(f"remote row: {cold / reader:.1f}x faster than cold with signatures checked, "
                  f"{cold / statistics.median(unverified):.1f}x without")

            (key,) = entry_keys(work / "writer-0", "trees")
            for trusted in (True, False):
                samples = []
                for j in range(5):
                    dest = work / f"fetch-{trusted}-{j}" / "entry"
                    dest.mkdir(parents=True)
                    phases = fetch_phases(bench.reader("p0", trusted=trusted), "trees", key, dest)
                    samples.append(phases)
                    shutil.rmtree(dest.parent)
                total = statistics.median(p.pointer + p.verify + p.download + p.unpack for p in samples)
                check = statistics.median(p.verify for p in samples)
                print(f"one whole fetch of the tree ({samples[0].archive_bytes / 1e6:.1f} MB archive), "
                      f"{'with' if trusted else 'without'} the signature check: {total * 1000:.0f} ms "
                      f"(check {check * 1000:.3f} ms)")
        finally:
            bench.stop()


if __name__ == "__main__":
    main()
