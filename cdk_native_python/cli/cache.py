"""``cdk-native-python cache info | prune | verify | keygen``: look after the local store (laptops collect
gigabytes), and make the key trusted CI signs the remote cache's entries with.

The command's help (:data:`DESCRIPTION`) says what each action does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..core.errors import ConfigurationError
from ..core.progress import echo
from ..core.reporter import silent
from ..pipeline.options import CONTEXT_KEY
from ..store import signing
from ..store.local import KINDS, EntryInfo, LocalStore
from . import zipmembers

DESCRIPTION = """\
Look after the local cache (laptops collect gigabytes):
  info    where the cache is, and per kind its size and number of entries
  prune   remove entries unused for longer than --older-than and/or, least recently used
          first, until the entries fit in --max-size; with --older-than, reports older than
          that go too (quarantined entries are removed by any run once they are 7 days old)
  verify  re-hash every entry against its manifest; a mismatch is quarantined (exit code 1)
  keygen  write a new Ed25519 signing key for the remote cache to FILE (mode 0600, never
          overwritten) and print the public key line readers trust (docs/remote-cache.md)"""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def human(n: int) -> str:
    """Sizes as ``du -h`` shows them (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def size_bytes(text: str) -> int:
    """``500M``, ``2G``, ``1.5GB``, ``100000`` -> bytes (powers of 1024, as ``du -h``)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500M, 2G)")
    return int(float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower()))


def seconds(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``90m`` -> seconds (a bare number is days)."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 30d, 12h, 2w)")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}[(m.group(2) or "").lower()]
    return float(m.group(1)) * unit


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = commands.add_parser("cache", help="show, prune or verify the local cache",
                            description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = "cache location (default: $CDK_NATIVE_PYTHON_CACHE_DIR or the user cache directory)"
    c.add_argument("--cache-dir", metavar="DIR", type=Path, help=where)
    c.set_defaults(quiet=False, verbose=False)
    # accepted after the action too (`cache info --cache-dir DIR`, as `build --cache-dir DIR` is written);
    # SUPPRESS keeps an absent one from overwriting the value given before the action
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--cache-dir", metavar="DIR", type=Path, default=argparse.SUPPRESS, help=where)
    sub = c.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    sub.add_parser("info", help="location, size per kind and entry counts", parents=[after])
    p = sub.add_parser("prune", help="remove entries by age or total size, least recently used first",
                       parents=[after])
    p.add_argument("--older-than", type=seconds, metavar="AGE",
                   help="remove entries not used for AGE (e.g. 30d, 12h; a bare number is days)")
    p.add_argument("--max-size", type=size_bytes, metavar="SIZE",
                   help="then remove the least recently used entries until they take at most SIZE (e.g. 5G)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    sub.add_parser("verify", help="re-hash every entry against its manifest; quarantine mismatches (exit 1)",
                   parents=[after])
    k = sub.add_parser("keygen", help="write a new signing key for the remote cache; print its public key")
    k.add_argument("key_file", metavar="FILE", type=Path,
                   help="where to write the private key (PEM, mode 0600; must not exist): a secret for trusted CI")


def run(args: argparse.Namespace, out: Callable[[str], None] | None = None) -> int:
    out = out or (lambda text: echo(text, sys.stdout))
    if args.cache_command == "keygen":
        return keygen(args.key_file, out)
    # fallback=False: maintenance of a private temporary cache would be pointless; the command says what it does
    store = LocalStore(args.cache_dir, fallback=False, reporter=silent())
    action = args.cache_command
    if action == "info":
        return info(store, out)
    if action == "prune":
        if args.older_than is None and args.max_size is None:
            raise ConfigurationError("cache prune needs --older-than AGE and/or --max-size SIZE",
                                     "e.g. cdk-native-python cache prune --older-than 30d --max-size 5G")
        return prune(store, args.older_than, args.max_size, out, dry_run=args.dry_run)
    return verify(store, out)


def keygen(path: Path, out: Callable[[str], None]) -> int:
    public = signing.keygen(path)
    out(f"wrote the private key {path} (mode 0600): give it to trusted CI only, as "
        f"{signing.SIGNING_KEY_FILE_ENV}={path} or its content in {signing.SIGNING_KEY_ENV}")
    out(f"public key (id {public.id}); readers trust it with cdk.json's context:")
    out(f'  "{CONTEXT_KEY}": {{"remoteCacheTrustedKeys": ["{public.line}"]}}')
    return 0


def _folder_bytes(path: Path) -> tuple[int, int]:
    """(bytes, files) under ``path``, not following links."""
    total = files = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                continue
    return total, files


def info(store: LocalStore, out: Callable[[str], None]) -> int:
    entries = store.entries()
    out(f"cache: {store.root}")
    out(f"{'kind':<14}{'entries':>9}{'size':>12}")
    grand = 0
    for kind in KINDS:
        mine = [e for e in entries if e.kind == kind]
        size = sum(e.bytes for e in mine)
        grand += size
        out(f"{kind:<14}{len(mine):>9}{human(size):>12}")
    extras = (("reports", store.reports_dir), ("uv", store.uv_cache), ("deflated", store.root / "deflated"),
              ("quarantine", store.root / "quarantine"))
    for extra, folder in extras:
        size, count = _folder_bytes(folder)
        grand += size
        out(f"{extra:<14}{count:>9}{human(size):>12}  (files)")
    out(f"{'total':<14}{'':>9}{human(grand):>12}")
    return 0


def prune(store: LocalStore, older_than: float | None, max_size: int | None, out: Callable[[str], None], *,
          dry_run: bool = False) -> int:
    now = time.time()
    entries = sorted(store.entries(), key=lambda e: e.last_used)  # least recently used first
    doomed: list[EntryInfo] = []
    if older_than is not None:
        doomed = [e for e in entries if now - e.last_used > older_than]
    if max_size is not None:
        left = entries[len(doomed):]  # the entries doomed by age are the least recently used: a prefix
        total = sum(e.bytes for e in left)
        for e in left:
            if total <= max_size:
                break
            doomed.append(e)
            total -= e.bytes
    freed = 0
    for e in doomed:
        out(f"{'would remove' if dry_run else 'removed'} {e.kind}/{e.key} ({human(e.bytes)}, "
            f"last used {time.strftime('%Y-%m-%d %H:%M', time.localtime(e.last_used))})")
        if not dry_run:
            store.remove(e)
        freed += e.bytes
    reports = 0
    if older_than is not None and not dry_run:
        for report in sorted(store.reports_dir.glob("*.json")):
            if now - report.stat().st_mtime > older_than:
                report.unlink()
                reports += 1
    # the deflated members of `build --zip` that no remaining tree holds (those of the trees just removed)
    gone = {e.path for e in doomed}
    referenced = {f.sha256 for e in entries if e.kind == "trees" and e.path not in gone for f in e.sealed.files}
    members = zipmembers.stale(store.root, referenced, now, older_than)
    for blob in members:
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):  # a zip beside us may have replaced it: fine either way
                blob.path.unlink()
        freed += blob.bytes
    out(f"{'would free' if dry_run else 'freed'} {human(freed)} in {len(doomed)} entries"
        + (f" and {len(members)} deflated members" if members else "")
        + (f"; removed {reports} old reports" if reports else ""))
    return 0


def verify(store: LocalStore, out: Callable[[str], None]) -> int:
    bad = 0
    entries = store.entries()
    for e in entries:
        problem = store.verify(e)
        if problem:
            bad += 1
            out(f"quarantined {e.kind}/{e.key}: {problem}")
    out(f"verified {len(entries)} entries: {len(entries) - bad} intact, {bad} quarantined")
    return 1 if bad else 0
