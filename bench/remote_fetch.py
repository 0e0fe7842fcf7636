"""Helper: compare the remote tier's archive formats on any installed tree (not part of ``results.md``).

    .venv/bin/python bench/remote_fetch.py TREE [TREE...] [--runs 5] [--formats tar+zstd,tar+gzip]

``bench/run.py`` measures the remote rows of ``results.md`` (the default format, the bench set, whole
processes and the steps of one fetch); this script is for choosing a format or looking at another tree.

Each TREE is an entry folder (e.g. one made with ``uv pip install --target TREE/tree ...``). The script
starts the tests' real S3 server (SeaweedFS on 127.0.0.1, ``tests/s3server.py``), pushes every tree as a
writer would, then times, per format:

* ``push``: archive + upload (what trusted CI pays once per new entry);
* ``fresh process``: a new Python process that imports our module, makes a boto3 client and fetches a
  lock entry and then the tree (pointer + download + sha256 + extract each): what a fresh CI runner pays
  for one dependency set, whole;
* the in-process phases of one fetch: ``download+verify`` and ``extract``;
* ``cp -a`` of the tree, interleaved: the floor of any way to put that many files on this disk.

Numbers are medians of ``--runs``. The machine's load average is printed with them: on a shared
machine the extract phase (thousands of file creations) moves with other processes' load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _remote import fetch_phases  # noqa: E402

from cdk_native_python.store import archive, remote  # noqa: E402
from cdk_native_python.store.remote import Pointer, RemoteCache, RemoteConfig  # noqa: E402
from tests import s3server  # noqa: E402

_FRESH = """
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from cdk_native_python.store.remote import RemoteCache, RemoteConfig
rc = RemoteCache(RemoteConfig(sys.argv[1]))
lock = Path(sys.argv[3]) / "lock"
tree = Path(sys.argv[3]) / "tree"
lock.mkdir()
tree.mkdir()
ok = rc.fetch("locks", sys.argv[2], lock) and rc.fetch("trees", sys.argv[2], tree)
print(ok, time.perf_counter() - t0)
"""


def _tree_stats(tree: Path) -> tuple[int, int]:
    files = size = 0
    for path in tree.rglob("*"):
        if path.is_file():
            files += 1
            size += path.stat().st_size
    return files, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--formats", default=f"{archive.ZSTD},{archive.GZIP}")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="remote-bench-"))
    server = s3server.start(work / "server")
    try:
        os.environ.update(server.env(s3server.WRITER))
        bucket = server.new_bucket("bench")
        url = f"s3://{bucket}/bench"
        for tree in args.trees:
            files, size = _tree_stats(tree)
            print(f"\n## {tree} ({files} files, {size / 1e6:.0f} MB)")
            for fmt in args.formats.split(","):
                _bench(server, url, tree, fmt, args.runs, work)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _bench(server: s3server.S3Server, url: str, tree: Path, fmt: str, runs: int, work: Path) -> None:
    key = hashlib.sha256(f"{tree.resolve()}:{fmt}".encode()).hexdigest()[:32]
    writer = RemoteCache(RemoteConfig(url, write=True))
    lock = work / "lock-entry"
    lock.mkdir(exist_ok=True)
    (lock / "requirements.lock").write_text("".join(f"package-{i}==1.0 \\\n    --hash=sha256:{'0' * 64}\n"
                                                     for i in range(40)))
    writer.push("locks", key, lock)
    start = time.perf_counter()
    if fmt == archive.DEFAULT_FORMAT:
        writer.push("trees", key, tree)
    else:  # the same protocol, another format
        client = remote._default_client()
        with tempfile.TemporaryFile() as spool:
            packed = archive.pack(tree, spool, fmt)
            spool.seek(0)
            writer._put_create_only(client, writer.content_key(packed.digest), spool, packed.size, packed.digest,
                                    "application/octet-stream")
        body = Pointer(packed.digest, packed.size, fmt).to_bytes()
        writer._put_create_only(client, writer.pointer_key("trees", key), body, len(body),
                                hashlib.sha256(body).hexdigest(), "application/json")
    push = time.perf_counter() - start
    reader = RemoteCache(RemoteConfig(url))
    client = remote._default_client()
    pointer_key = reader.pointer_key("trees", key)
    pointer = reader._read_pointer(client, pointer_key)
    assert pointer is not None and pointer.format == fmt

    fresh, download, extract, floor = [], [], [], []
    for i in range(runs):
        dest = work / f"fresh-{i}"
        dest.mkdir()
        out = subprocess.run([sys.executable, "-c", _FRESH, url, key, str(dest)], capture_output=True, text=True,
                             cwd=ROOT, check=True)
        ok, seconds = out.stdout.split()
        assert ok == "True", out
        fresh.append(float(seconds))
        shutil.rmtree(dest)
        # the phases, in process
        dest = work / f"phases-{i}"
        dest.mkdir()
        phases = fetch_phases(reader, "trees", key, dest)
        download.append(phases.download)
        extract.append(phases.unpack)
        shutil.rmtree(dest)
        # the floor for any way of materialising the tree: copying it, file by file, from the page cache
        t = time.perf_counter()
        subprocess.run(["cp", "-a", str(tree), str(work / "floor")], check=True)
        floor.append(time.perf_counter() - t)
        shutil.rmtree(work / "floor")
    load = os.getloadavg()[0]
    print(f"{fmt}: archive {pointer.size / 1e6:.1f} MB, push {push:.2f} s; fetch in a fresh process "
          f"{statistics.median(fresh):.2f} s (min {min(fresh):.2f}); phases: download+verify "
          f"{statistics.median(download):.2f} s, extract {statistics.median(extract):.2f} s; "
          f"cp -a of the tree {statistics.median(floor):.2f} s [median of {runs}, load average {load:.1f}]")


if __name__ == "__main__":
    main()
