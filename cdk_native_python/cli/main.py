"""``cdk-native-python build``: the construct's bundles outside CDK (SAM, Serverless, Terraform, plain zips).

The command builds a :class:`~cdk_native_python.pipeline.engine.BuildRequest` through the same
:class:`~cdk_native_python.pipeline.options.BundlingOptions` the constructs use and runs the same engine, so a
folder or zip built here holds exactly what ``cdk synth`` would put in the asset, and shares its cache.
It never imports aws-cdk-lib.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import os
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._version import __version__
from ..core import progress, settings
from ..core._fs import atomic_write, held_tempdir, remove_dead, replacing, sha256_file, tmp_prefix
from ..core.errors import EXIT_BUNDLING, EXIT_NETWORK, EXIT_USAGE, BundlingError, InputError, OutputError, UsageError
from ..core.progress import echo
from ..core.records import OutputRecord, dumps
from ..core.reporter import Reporter
from ..core.target import Target, lambda_name, machine_of
from ..pipeline import uv
from ..pipeline.engine import BuildRequest, BuildResult
from ..pipeline.engine import build as engine_build
from ..pipeline.options import BundlingOptions
from ..store import Store
from ..store.local import open_store
from .commands import COMMANDS, run_command
from .commands import register as register_commands
from .zipmembers import Member, MemberCache

PROG = "cdk-native-python"

EXIT_OK = 0
EXIT_INTERNAL = 4

#: the earliest time a zip can hold (DOS date): the reproducible-builds default when SOURCE_DATE_EPOCH is unset
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  the bundle was written
  {EXIT_BUNDLING}  bundling failed: no wheel for the target, conflict, hash mismatch, native code for
     another platform, over Lambda's 250 MB size limit, an output that cannot be written
     (disk full, read-only, ...), ... (the message names the package or the file)
  {EXIT_USAGE}  usage error: bad or conflicting options, a missing or malformed dependency file,
     an output folder that is not empty, a source folder holding a link loop, a named pipe,
     a socket, a device or a file name that is not UTF-8
  {EXIT_NETWORK}  a package index could not be reached (network, DNS, proxy, credentials)
  {EXIT_INTERNAL}  internal error in cdk-native-python (please report it; -v shows the traceback)
"""

BUILD_DESCRIPTION = """\
Bundle a Lambda function (handler source + dependencies) or a layer (dependencies under
python/) for one runtime and architecture, into a new folder or a reproducible zip. Uses the
same engine and cache as the NativePythonFunction / NativePythonLayerVersion constructs."""

BUILD_EPILOG = f"""\
examples:
  # a function (source + dependencies) as a deterministic zip for Lambda arm64 / python3.12
  {PROG} build --runtime python3.12 --arch arm64 \\
      --source src -r src/requirements.txt --zip dist/fn.zip

  # dependencies only, into a new folder (e.g. for SAM's CodeUri or Terraform's archive_file)
  {PROG} build --runtime python3.13 -r poetry.lock --output build/deps

  # a layer (packages under python/) and a machine-readable report
  {PROG} build --runtime python3.12 --arch arm64 -r requirements.txt \\
      --layer --zip dist/layer.zip --report dist/layer.json

  # a private index only
  {PROG} build --runtime python3.12 -r requirements.txt --zip fn.zip \\
      --index-url https://pypi.example.com/simple

The dependency file may be in any supported format (requirements*.txt, uv.lock, poetry.lock,
Pipfile.lock, pylock.toml, pyproject.toml); without -r it is detected in --source.
Zips are reproducible: sorted entries, one fixed timestamp ($SOURCE_DATE_EPOCH, else
1980-01-01), 0644 files, 0755 folders and executables. The cache is shared with `cdk synth`
($CDK_NATIVE_PYTHON_CACHE_DIR), so a warm build needs no network.

{EXIT_CODES}"""


def _runtime(value: str) -> str:
    try:
        Target.from_runtime(value, "x86_64")
    except BundlingError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} (e.g. python3.12)") from None
    return value


def _arch(value: str) -> str:
    """Lambda's names, also accepting the machine names people type (``aarch64``, ``amd64``)."""
    machine = machine_of(value)
    if machine is None:
        raise argparse.ArgumentTypeError(f"unknown architecture {value!r}: use x86_64 or arm64")
    return lambda_name(machine)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROG,
        description="Docker-free bundling of Python AWS Lambda functions and layers: dependencies are resolved\n"
                    "and installed from manylinux wheels for the Lambda target (runtime, architecture, glibc),\n"
                    "with markers and wheel tags evaluated for the target, never for this machine.",
        epilog=f"Run '{PROG} build --help' for the options and examples.\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    b = commands.add_parser("build", help="bundle a function or a layer into a folder or a deterministic zip",
                            description=BUILD_DESCRIPTION, epilog=BUILD_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)

    target = b.add_argument_group("target")
    target.add_argument("--runtime", required=True, type=_runtime, metavar="RUNTIME",
                        help="Lambda runtime: python3.8 ... python3.14 (required)")
    target.add_argument("--arch", "--architecture", dest="arch", default="x86_64", metavar="ARCH", type=_arch,
                        help="Lambda architecture: x86_64 (default) or arm64 (aarch64 and amd64 are accepted)")

    inputs = b.add_argument_group("inputs")
    inputs.add_argument("-r", "--dependency-file", metavar="FILE", type=Path,
                        help="dependency file in any supported format (default: detected in --source)")
    inputs.add_argument("--source", metavar="DIR", type=Path,
                        help="the handler's source folder, copied into the bundle root (with --layer: under python/, "
                             "as a layer's shared code)")
    inputs.add_argument("--group", dest="groups", action="append", default=[], metavar="NAME",
                        help="dependency group to include (poetry, uv.lock, pyproject, pylock, Pipfile 'develop')")
    inputs.add_argument("--extra", dest="extras", action="append", default=[], metavar="NAME",
                        help="project extra to include (pyproject-based formats)")
    inputs.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave matching source paths out (always left out: .venv, __pycache__, tests, .git, ...)")
    inputs.add_argument("--resolve-pipfile", action="store_true",
                        help="resolve a Pipfile that has no Pipfile.lock (otherwise an error asks you to lock it)")

    out = b.add_argument_group("output (one of)")
    where = out.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", "-o", metavar="DIR", type=Path,
                       help="write the bundle into DIR, which must not exist or be empty (a name ending in .zip "
                            "writes a zip file, as --zip does)")
    where.add_argument("--zip", metavar="FILE.zip", type=Path, help="write a deterministic zip (replaced atomically)")
    out.add_argument("--layer", action="store_true",
                     help="layer layout: --source and dependencies under python/ (as PythonLayerVersion)")
    out.add_argument("--report", metavar="FILE.json", type=Path,
                     help="write the build report (packages, wheel tags, stripped, sizes, cache hits) as JSON")

    index = b.add_argument_group("package sources (merged with those in the dependency file)")
    index.add_argument("--index-url", metavar="URL", help="primary index (default: PyPI)")
    index.add_argument("--extra-index-url", dest="extra_index_urls", action="append", default=[], metavar="URL")
    index.add_argument("--find-links", action="append", default=[], metavar="PATH_OR_URL",
                       help="folder or page of wheels")
    index.add_argument("--no-index", action="store_true", help="use --find-links only")
    index.add_argument("--allow-build", action="append", default=[], metavar="PKG",
                       help="let PKG build from an sdist on this machine (its build code runs; must be pure Python)")

    contents = b.add_argument_group("contents")
    contents.add_argument("--keep-boto3", action="store_true",
                          help="ship the packages the runtime provides (boto3, botocore, s3transfer, jmespath, "
                               "python-dateutil, urllib3) instead of using the runtime's")
    contents.add_argument("--strip", action="append", default=[], metavar="PKG",
                          help="also remove PKG (with what only it needs)")
    contents.add_argument("--keep", action="append", default=[], metavar="PKG", help="never remove PKG")
    contents.add_argument("--no-slim", action="store_true",
                          help="keep files Lambda never reads (bytecode, test suites, ...) in dependencies")
    contents.add_argument("--verify-exclude", action="append", default=[], metavar="GLOB",
                          help="accept matching files as they are in the native-code verification")

    run = b.add_argument_group("run")
    run.add_argument("--cache-dir", metavar="DIR", type=Path,
                     help="cache location (default: $CDK_NATIVE_PYTHON_CACHE_DIR or the user cache directory)")
    run.add_argument("--refresh", action="store_true", help="re-resolve floating requirements now")
    run.add_argument("--remote-cache", metavar="s3://BUCKET[/PREFIX]",
                     help="share resolutions and installed trees through this S3 bucket (default: "
                          "$CDK_NATIVE_PYTHON_REMOTE_CACHE); read-only unless --remote-cache-write")
    run.add_argument("--remote-cache-write", action="store_true",
                     help="also upload what this build makes (trusted CI only; default: "
                          "$CDK_NATIVE_PYTHON_REMOTE_CACHE_WRITE); signed with the key of "
                          "$CDK_NATIVE_PYTHON_REMOTE_CACHE_SIGNING_KEY or ..._SIGNING_KEY_FILE")
    run.add_argument("--remote-cache-trusted-key", dest="remote_cache_trusted_keys", action="append", default=[],
                     metavar="ed25519:BASE64",
                     help="accept only remote entries signed by this key (repeatable, for rotation; default: "
                          "$CDK_NATIVE_PYTHON_REMOTE_CACHE_TRUSTED_KEYS)")
    noise = run.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    noise.add_argument("-v", "--verbose", action="store_true",
                       help="one line per package, and a traceback on internal errors")
    register_commands(commands)  # explain, report
    return top


def _quiet(*_: object) -> None:
    """-q: warnings are in the report, not on the terminal."""


def _build_argv(argv: Sequence[str]) -> int:
    """``build`` from its command line, for ``explain`` (which builds to get a report, into a folder it deletes:
    linked, not copied)."""
    return build(parser().parse_args(argv), link=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits 2 on a usage error, 0 for --help / --version
    if args.command is None:
        parser().print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings.check()  # a mistyped CDK_NATIVE_PYTHON_* value is a usage error before anything runs
        with progress.shown(quiet=args.quiet, verbose=args.verbose):
            return run_command(args, _build_argv) if args.command in COMMANDS else build(args)
    except BundlingError as exc:
        _error(*exc.spoken("cli"))
        return exit_code(exc)
    except KeyboardInterrupt:
        echo(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`cache info | head -1`): say nothing, as a tool killed by
        # SIGPIPE would; stdout goes to /dev/null so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except OSError as exc:
        # the file system refused (permissions, a loop of links, ...): the user's environment, not a bug
        names = " -> ".join(os.fsdecode(f) for f in (exc.filename, exc.filename2) if isinstance(f, (str, bytes)))
        _error(f"{exc.strerror or exc}" + (f": {names}" if names else ""), os_hint(exc))
        return EXIT_BUNDLING
    except Exception as exc:
        if getattr(args, "verbose", False):
            traceback.print_exc()
        _error(f"internal error: {type(exc).__name__}: {exc}",
               "this is a bug in cdk-native-python; please report it with the command you ran"
               + ("" if getattr(args, "verbose", False) else " and the traceback shown with -v"))
        return EXIT_INTERNAL


#: what an errno says about its cause, and what to do: every hint must be true for the error it is shown with
_OS_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk holding that path is full: free space on it, or use a location on another disk",
    errno.EDQUOT: "your disk quota there is used up: free space, or use a location on another file system",
    errno.EACCES: "you lack permission for that path: change its permissions, or use another location",
    errno.EPERM: "the operation is not permitted on that path: change its permissions, or use another location",
    errno.EROFS: "that path is on a read-only file system: use a writable location",
    errno.ELOOP: "a symbolic link on that path leads back to itself (a loop): fix or remove the link",
    errno.ENOENT: "that path, a folder on it or a link's target does not exist: check the path",
    errno.ENOTDIR: "a part of that path is a file where a folder is needed: check the path",
    errno.EISDIR: "that path is a folder where a file is needed: check the path",
    errno.EEXIST: "something (perhaps a link) already exists where a new file or folder was to be made: check it",
    errno.ENXIO: "that path is a socket or a device, not a regular file: use a regular file or folder",
    errno.ENAMETOOLONG: "that path is too long for its file system: use a shorter one",
    errno.EMFILE: "this process has too many open files: raise the limit (ulimit -n)",
    errno.ENFILE: "the system has too many open files: close some programs, or raise the limit",
}


def os_hint(exc: OSError) -> str:
    code = errno.errorcode.get(exc.errno or 0, "an unknown error")
    return _OS_HINTS.get(exc.errno or 0, f"the operating system refused the operation ({code}): check that path")


def exit_code(exc: BundlingError) -> int:
    return exc.exit_status


def _error(message: str, hint: str | None) -> None:
    echo(f"{PROG}: error: {message}" + (f"\n  hint: {hint}" if hint else ""))


def build(args: argparse.Namespace, *, link: bool = False) -> int:
    """``build``; ``link``: a folder output may hard-link the cache's read-only files instead of copying them
    (for a folder nobody edits, such as the one ``explain`` reads the report of and deletes)."""
    source: Path | None = args.source.absolute() if args.source else None
    dep_file: Path | None = args.dependency_file.absolute() if args.dependency_file else None
    if source is None and dep_file is None:
        raise UsageError("nothing to bundle: neither --source nor -r/--dependency-file was given",
                         "pass -r requirements.txt (or any dependency file) and/or --source DIR")
    if source is not None and not source.is_dir():
        raise UsageError(f"--source {args.source}: {'not a folder' if source.exists() else 'does not exist'}",
                         "pass the folder holding the handler's source", code="entry-missing")
    if dep_file is not None and not dep_file.is_file():
        # the codes the engine gives a missing or irregular dependency file: one situation, one code
        raise InputError(f"-r {args.dependency_file}: {'not a file' if dep_file.exists() else 'does not exist'}",
                         "pass the path of the dependency file, relative to the current directory",
                         code="input-not-a-file" if dep_file.exists() else "input-missing")
    if args.no_index and not args.find_links:
        raise UsageError("--no-index without --find-links leaves no package source",
                         "add --find-links DIR (a folder of wheels), or drop --no-index")
    flag = "--zip" if args.zip else "--output"
    final: Path = (args.zip or args.output).absolute()
    # a .zip name is a zip whichever flag gave it: a folder named fn.zip/ is never what was meant
    as_zip = args.zip is not None or final.name.lower().endswith(".zip")
    epoch = zip_epoch() if as_zip else ZIP_EPOCH
    report: Path | None = args.report.absolute() if args.report else None
    for path in (final, report):
        _reachable(path)
    if not as_zip:
        _check_output_dir(final)
    elif final.is_dir():
        raise UsageError(f"{flag} {final} is a folder, and a name ending in .zip is written as a zip file",
                         "pass the path of the zip file to write (e.g. dist/fn.zip), or remove that folder"
                         + ("" if args.zip else "; for a folder output, use a name without .zip"))
    excludes = list(args.exclude)
    if source is not None:
        # never bundle the output or the report (or their temporary siblings) into itself when inside the source
        for out in (final, report):
            if out is not None and source in out.parents:
                excludes += [out.relative_to(source).as_posix(),
                             (out.parent / f"{tmp_prefix(out)}*").relative_to(source).as_posix()]

    options = BundlingOptions(
        asset_excludes=excludes, groups=args.groups, extras=args.extras, resolve_pipfile=args.resolve_pipfile,
        index_url=args.index_url, extra_index_urls=args.extra_index_urls,
        find_links=[link if "://" in link else str(Path(link).absolute()) for link in args.find_links],
        no_index=args.no_index, allow_build=args.allow_build, keep_boto3=args.keep_boto3, strip=args.strip,
        keep=args.keep, slim=not args.no_slim, verify_exclude=args.verify_exclude, refresh=args.refresh,
    )
    target = Target.from_runtime(args.runtime, args.arch)
    for folder in {final.parent, *([report.parent] if report else [])}:
        remove_dead(folder)  # what killed builds left next to their outputs
    name = final.name
    reporter = Reporter(name, sink=_quiet if args.quiet else None, interface="cli")
    cache = open_store(args.cache_dir.absolute() if args.cache_dir else None, remote_url=args.remote_cache,
                       remote_write=True if args.remote_cache_write else None,
                       trusted_keys=args.remote_cache_trusted_keys, tools=uv.tools, reporter=reporter)
    with contextlib.ExitStack() as stack:
        # without --source, an empty folder stands in for it: dependencies only, nothing else copied
        entry = source or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cdk-native-python-src-")))
        request = options.request(entry, target, layer=args.layer, name=name)
        if dep_file is not None:
            request = dataclasses.replace(request, dependency_file=dep_file)
        output = OutputRecord(str(final), "zip" if as_zip else "folder", args.layer)
        with writing(flag, final):
            if as_zip:
                result, entries, size, sha256 = build_zip(request, final, cache, reporter, epoch)
                output = dataclasses.replace(output, entries=entries, bytes=size, sha256=sha256)
                written = f"{final} ({entries} entries, {size / 1e6:.1f} MB)"
            else:
                result = build_dir(request, final, cache, reporter, link=link)
                written = f"{final}{os.sep}"
        if report is not None:
            with writing("--report", report):
                atomic_write(report, dumps(dataclasses.replace(result.report, output=output)))
    if not args.quiet:
        echo(result.summary(name, verbose=args.verbose))
        echo(f"[{PROG}] wrote {written}")
    return EXIT_OK


#: (what it means for the output, what to do) per errno a write can fail with
_WRITE_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space is left on its disk", "free space on the disk that holds {where}, or write the "
                   "output to another disk"),
    errno.EDQUOT: ("your disk quota is used up", "free space within your quota, or write the output to another "
                   "file system"),
    errno.EFBIG: ("the file is larger than its file system allows", "write the output to another file system"),
    errno.EROFS: ("its file system is read-only", "write the output to a writable location"),
    errno.EACCES: ("permission denied", "make {where} writable for you, or write the output elsewhere"),
    errno.EPERM: ("the operation is not permitted", "make {where} writable for you, or write the output elsewhere"),
    errno.ENOTEMPTY: ("files appeared in it during the build", "pass a new or empty folder; the bundle is never "
                      "merged into existing files"),
}


@contextlib.contextmanager
def writing(flag: str, final: Path) -> Iterator[None]:
    """Turn the file system's refusal to write ``final`` into an error naming the output and the real cause
    (the OSError itself may name a file in the cache that was being copied from)."""
    try:
        yield
    except OSError as exc:
        meaning = _WRITE_ERRORS.get(exc.errno or 0)
        ours = (str(final), str(final.parent / tmp_prefix(final)))
        names = [os.fsdecode(f) for f in (exc.filename, exc.filename2) if f]
        if meaning is None or (names and not any(n.startswith(ours) for n in names)):
            raise
        why, fix = meaning
        raise OutputError(f"cannot write {flag} {final}: {why} ({exc.strerror})",
                          fix.format(where=final.parent)) from None


def _reachable(path: Path | None) -> None:
    """Fail now with the file system's own reason (a loop of links, a file where a folder should be) when
    ``path`` can never be written, before anything is built for it."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.stat(path)


def _check_output_dir(path: Path) -> None:
    if path.is_dir():
        if any(path.iterdir()):
            raise UsageError(f"--output {path} is not empty",
                             "pass a new or empty folder (or delete this one first): the bundle is never "
                             "merged into existing files")
    elif path.exists():
        raise UsageError(f"--output {path} is a file", "pass the path of a new or empty folder")


def build_dir(request: BuildRequest, final: Path, cache: Store, reporter: Reporter, *,
              link: bool = False) -> BuildResult:
    """Build into a locked temporary sibling and rename it into place: a failure leaves no output, a kill
    leaves a folder the next run removes. Copies unless ``link``: the folder is the user's to edit."""
    with replacing(final) as part:
        return engine_build(request, part, cache, reporter, link=link)


def build_zip(request: BuildRequest, final: Path, cache: Store, reporter: Reporter,
              epoch: tuple[int, int, int, int, int, int]) -> tuple[BuildResult, int, int, str]:
    """Stage in a locked temporary folder next to the zip (same disk, cleaned after a kill), then zip;
    returns the result, the zip's entries, bytes and sha256."""
    with held_tempdir(final.parent, tmp_prefix(final)) as staging:
        result = engine_build(request, staging / "bundle", cache, reporter)
        entries, size = write_zip(staging / "bundle", final, epoch, MemberCache(cache.root))
    return result, entries, size, sha256_file(final)


def zip_epoch() -> tuple[int, int, int, int, int, int]:
    """``$SOURCE_DATE_EPOCH`` (reproducible-builds.org) as a zip timestamp, clamped to what zip can hold."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return ZIP_EPOCH
    try:
        seconds = int(raw)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds",
                         "set it to an integer Unix time (e.g. $(git log -1 --format=%ct)) or unset it",
                         code="environment-invalid") from None
    t = time.gmtime(max(seconds, 315_532_800))  # 1980-01-01T00:00:00Z
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)


def write_zip(root: Path, dest: Path, date_time: tuple[int, int, int, int, int, int] = ZIP_EPOCH,
              members: MemberCache | None = None) -> tuple[int, int]:
    """Zip ``root`` into ``dest`` reproducibly; returns (entries, bytes of the zip).

    Entries are sorted, carry ``date_time``, Unix permissions 0644 (0755 for folders and executables) and
    paths relative to ``root`` only. Written in a locked temporary folder next to ``dest``, then renamed over it.
    Files are deflated once and kept in ``members`` (the store), so a warm zip copies their streams.
    """
    members = members or MemberCache(None)
    items: list[tuple[str, Path | None, int]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)  # a link to a folder is not followed (nothing the engine stages makes one)
            else:
                items.append((prefix + d + "/", None, stat.S_IFDIR | 0o755))
        for name in filenames:
            file = Path(dirpath, name)
            if not file.is_file():
                continue  # a dangling link or a link to a folder
            mode = 0o755 if file.stat().st_mode & 0o111 else 0o644
            items.append((prefix + name, file, stat.S_IFREG | mode))
    items.sort(key=lambda item: item[0])
    with replacing(dest) as part:
        with open(part, "wb") as raw:
            with zipfile.ZipFile(raw, "w") as zf:
                for arcname, path, mode in items:
                    info = zipfile.ZipInfo(arcname, date_time=date_time)
                    info.create_system = 3  # Unix, so external_attr carries the permissions
                    info.external_attr = mode << 16
                    if path is None:
                        info.external_attr |= 0x10  # MS-DOS directory flag
                        zf.writestr(info, b"")
                        continue
                    _write_member(zf, info, members.member(path))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(part, 0o644)
    return len(items), dest.stat().st_size


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, member: Member) -> None:
    """Write a member whose deflate stream is ready, exactly as ``ZipFile.open(info, "w")`` would on a seekable
    file (local header with the final CRC and sizes, no data descriptor), without compressing it again."""
    info.compress_type = zipfile.ZIP_DEFLATED
    info.flag_bits = 0
    info.CRC, info.file_size, info.compress_size = member.crc, member.size, len(member.stream)
    assert zf.fp is not None
    zip64 = member.size * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule (members of a Lambda zip never are)
    info.header_offset = zf.fp.tell()
    zf._writecheck(info)  # type: ignore[attr-defined]  # duplicate names, member count: zipfile's checks
    zf.fp.write(info.FileHeader(zip64))
    zf.fp.write(member.stream)
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info
    zf.start_dir = zf.fp.tell()  # where the central directory goes


if __name__ == "__main__":
    sys.exit(main())
