"""uv's diagnostics turned into errors that name the package, the target and the fix.

uv's messages are classified in :mod:`~cdk_native_python.uv` (``no_wheels``, ``unreachable``, ...); this
module decides what the user is told. A failure to resolve may blame the version pins; a failure to install
a resolved set never does (the pins were satisfiable a moment ago).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from . import uv
from .distributions import normalize
from .errors import BundlingError, IndexUnreachableError, InstallError, ResolutionError
from .hints import option
from .spec import IndexOptions
from .target import Target

Doing = Literal["resolving", "installing"]


def explain(message: str, source: Path, target: Target, indexes: IndexOptions, *, doing: Doing = "resolving",
            allowed: Sequence[str] = ()) -> BundlingError:
    """The error for uv's ``message`` while ``doing`` ``source`` for ``target``."""
    direct = uv.failed_direct_download(message)
    if direct is not None:
        return _direct_url_error(*direct, source)
    if uv.unauthorized(message):
        return IndexUnreachableError(
            f"the package index refused the credentials while {doing} {source} for {target}: {indexes.describe()}",
            "check the user/token in the index URL (or ~/.netrc, or the environment variable it comes from)",
            code="index-credentials")
    mismatch = uv.hash_mismatch(message)
    if mismatch:
        return InstallError(
            f"hash mismatch for {mismatch} while {doing} {source} for {target}:\n    "
            + "\n    ".join(message.splitlines()[-6:]),
            f"the file the index serves for {mismatch} is not the one the lock recorded: re-lock from a trusted "
            "index, or fix the --hash entry", code="hash-mismatch")
    missing = uv.no_wheels(message)
    if missing:
        return no_wheel_error(missing[0], missing[1], target, indexes, source, allowed)
    unknown = uv.not_found(message)
    if unknown:
        return ResolutionError(
            f"package {unknown!r} (from {source}) was not found on {indexes.describe()}",
            "check the spelling of the name, or add the index that hosts it (--index-url / --extra-index-url)",
            code="package-not-found")
    if uv.unreachable(message):
        return IndexUnreachableError(
            f"cannot reach the package index {indexes.describe()} while {doing} {source}",
            "check the network / VPN / proxy, or the index URL; warm builds work offline once resolved")
    detail = "\n    ".join(message.splitlines()[-8:])
    if doing == "installing":
        return InstallError(f"installing {source} for {target} failed:\n    {detail}",
                            "the message above is uv's; if it names a file or package, check that it is reachable",
                            code="install-failed")
    return ResolutionError(f"no set of wheels satisfies {source} for {target}:\n    {detail}",
                           "relax the conflicting version pins shown above", code="no-solution")


def _direct_url_error(requirement: str, cause: str, source: Path) -> BundlingError:
    """A direct URL requirement (``name @ https://...``) could not be fetched: name it, not the index."""
    host = urlsplit(requirement.split("@", 1)[1].strip()).hostname
    what = f"cannot download {requirement} (from {source}): {cause}"
    if uv.unauthorized(cause):
        return IndexUnreachableError(what, f"check the credentials for {host}: in the URL as written (or the "
                                     "environment variable it comes from), or in ~/.netrc", code="url-credentials")
    if uv.unreachable(cause):
        return IndexUnreachableError(what, f"check the network / VPN / proxy to {host}", code="url-unreachable")
    return ResolutionError(what, "check the URL: it must point at an existing wheel (or an allowed sdist)",
                           code="url-not-found")


def no_wheel_error(name: str, version: str | None, target: Target, indexes: IndexOptions, source: Path,
                   allowed: Sequence[str] = (), *, needed_for: str = "") -> ResolutionError:
    """``name`` has no wheel for ``target``: list the files that do exist and say how to go on."""
    what = f"{name}=={version}" if version else name
    try:
        from .indexes import project_files  # only when explaining a failure: keeps urllib off the warm path

        files = [f for f, _ in project_files(name, indexes)]
    except Exception:  # the explanation must never hide the original error
        files = []
    if version:
        files = [f for f in files if f"-{version}-" in f or f"-{version}." in f] or files
    wheels = [f for f in files if f.endswith(".whl")]
    sdists = [f for f in files if not f.endswith(".whl")]
    available = ""
    if wheels:
        shown = wheels[-12:]
        available += "\n  wheels that exist: " + ", ".join(shown) + (" ..." if len(wheels) > 12 else "")
    if sdists:
        available += "\n  source distributions: " + ", ".join(sdists[-3:])
    if not files:
        available = "\n  (could not list the files the index has for it)"
    if needed_for:
        hint = ("build requirements are installed from wheels only, so that no package's setup code runs "
                "without your permission: use a build requirement that publishes a wheel")
    else:
        hint = (f"use a version of {name} that publishes a wheel for {target.machine} Linux "
                f"({target.manylinux} or older), or drop it for this target with a marker")
    if sdists and normalize(name) not in {normalize(a) for a in allowed}:
        hint += (f"; if {name} is pure Python, allow building it: {option('allow_build', [name])}")
    if needed_for:
        return ResolutionError(f"{what}, needed for {needed_for}, has no wheel{available}", hint,
                               code="build-requirement-without-wheel")
    return ResolutionError(f"{what} (from {source}) has no wheel for {target}{available}", hint, code="no-wheel")
