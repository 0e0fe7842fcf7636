"""uv's diagnostics turned into errors that name the package, the target and the fix.

uv's messages are classified in :mod:`~cdk_native_python.pipeline.uv` (``no_wheels``, ``unreachable``, ...); this
module decides what the user is told. A failure to resolve may blame the version pins; a failure to install
a resolved set never does (the pins were satisfiable a moment ago).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..core.distributions import normalize
from ..core.errors import BundlingError, IndexUnreachableError, InstallError, ResolutionError
from ..core.hints import option
from ..core.spec import IndexOptions, redact
from ..core.target import Target
from . import uv

Doing = Literal["resolving", "installing"]


def explain(message: str, source: Path, target: Target, indexes: IndexOptions, *, doing: Doing = "resolving",
            allowed: Sequence[str] = (), requirements: Sequence[str] = ()) -> BundlingError:
    """The error for uv's ``message`` while ``doing`` ``source`` for ``target`` (``requirements``: the spec's
    lines, to tell a direct URL requirement's download from an index's)."""
    fetch = uv.failed_fetch(message)
    if fetch is not None:
        return download_error(fetch, f"while {doing} {source} for {target}", indexes, requirements)
    direct = uv.failed_direct_download(message)
    if direct is not None:  # downloaded, but not a usable wheel or sdist
        cause = message.strip().splitlines()[-1].strip().removeprefix("cause: ")
        return ResolutionError(f"the direct URL requirement {redact(direct)} cannot be used while {doing} {source} "
                               f"for {target}: {cause}", "check that the URL serves the wheel (or sdist) itself, "
                               "not an HTML page or a login form", code="url-unusable")
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
    if _NO_SOLUTION in message:
        return ResolutionError(f"no set of wheels satisfies {source} for {target}:\n    {detail}",
                               "relax the conflicting version pins shown above", code="no-solution")
    # not a conflict (uv says so of every conflict): a hint about pins would send the user the wrong way
    return ResolutionError(f"resolving {source} for {target} failed:\n    {detail}",
                           "the message above is uv's; if it names a file, a package or an option, fix that",
                           code="resolve-failed")


#: how uv begins the report of a version conflict
_NO_SOLUTION = "No solution found when resolving dependencies"


#: what each kind of download is called in a message, and the prefix of its codes
_KINDS: dict[str, tuple[str, str]] = {
    "url": ("the direct URL requirement", "url"), "index": ("the package index page", "index"),
    "find-links": ("the find-links page", "find-links"),
    "file": ("the file (listed by a package index or find-links page)", "download"),
}
#: uv sends a HEAD request before it installs a wheel from a direct URL, and falls back to a plain GET when the
#: server answers 404 or 405, but not 501 (checked with uv 0.13.10; docs/warnings.md)
_HEAD_501 = ("the server does not implement HEAD, which uv sends before downloading a wheel from a URL (it "
             "falls back to GET on 404 or 405, not on 501): have the server answer HEAD (or 405), or download "
             "the wheel and use the local file (name @ file:///path/to/the.whl, or a find_links folder)")


def download_error(fetch: uv.FailedFetch, during: str, indexes: IndexOptions,
                   requirements: Sequence[str] = ()) -> BundlingError:
    """One line naming what could not be downloaded (credentials redacted), what kind of source it is, and the
    server's answer or the network error; the hint is about that cause."""
    kind = _kind_of(fetch, indexes, requirements)
    label, prefix = _KINDS[kind]
    shown = redact(fetch.url)
    if kind == "url":
        shown = redact(fetch.requirement or next(
            (f"{line.split('@', 1)[0].strip()} @ {shown}" for line in requirements
             if (m := _DIRECT.search(line)) and _bare(m.group(1)) == _bare(fetch.url)), shown))
    host = urlsplit(redact(fetch.url)).hostname
    status = fetch.status
    if status is None:
        return IndexUnreachableError(f"cannot reach {label} {shown} {during}: {fetch.cause}",
                                     f"check the network / VPN / proxy to {host}, and the URL",
                                     code=f"{prefix}-unreachable")
    answered = f"{label} {shown} answered HTTP {fetch.cause} {during}"
    if status in (401, 403):
        hint = ("check the user/token in the index URL (or ~/.netrc, or the environment variable it comes from)"
                if kind == "index" else f"check the credentials for {host}: in the URL as written (or the "
                "environment variable it comes from), or in ~/.netrc")
        return IndexUnreachableError(answered, hint, code=f"{prefix}-credentials")
    if status in (404, 410):
        what = {"url": "it must point at an existing wheel (or an allowed sdist) of the version you want",
                "index": "it must be the index's simple API root (e.g. https://host/simple)",
                "find-links": "it must be an HTML page of links to wheels, or a folder",
                "file": "the index or page lists a file the server does not have: ask its owner, or re-lock"}[kind]
        if kind == "url":  # the user's own requirement names a file that is not there
            return ResolutionError(answered, f"check the URL: {what}", code="url-not-found")
        return IndexUnreachableError(answered, f"check the URL: {what}", code=f"{prefix}-not-found")
    if status == 501 and kind in ("url", "file"):
        return IndexUnreachableError(f"{label} {shown} answered HTTP {fetch.cause} to uv's HEAD request {during}",
                                     _HEAD_501, code=f"{prefix}-head-unsupported")
    hint = ("the server failed: retry later, or ask its owner" if status >= 500 and status != 501 else
            f"the server at {host} does not serve this URL as a package source: check the URL")
    return IndexUnreachableError(answered, hint, code=f"{prefix}-http-error")


def _kind_of(fetch: uv.FailedFetch, indexes: IndexOptions, requirements: Sequence[str]) -> str:
    """Which of ``_KINDS`` ``fetch`` was: uv's own words first, then where its URL comes from."""
    url = _bare(fetch.url)
    if fetch.find_links or any(url == _bare(link) for link in indexes.find_links if "://" in link):
        return "find-links"
    if fetch.requirement is not None or url in {_bare(u) for u in direct_urls(requirements)}:
        return "url"
    from .indexes import PYPI  # only when explaining a failure: keeps urllib off the warm path

    bases = [] if indexes.no_index else [indexes.index_url or PYPI, *indexes.extra_index_urls]
    if any(url == _bare(b).rstrip("/") or url.startswith(_bare(b).rstrip("/") + "/") for b in bases):
        return "index"
    return "file"


def direct_urls(requirements: Sequence[str]) -> list[str]:
    """The URLs of the direct references (``name @ URL``) among requirement lines."""
    return [m.group(1) for line in requirements if (m := _DIRECT.search(line))]


def _bare(url: str) -> str:
    """``url`` as compared: no credentials, no ``#sha256=`` fragment."""
    return redact(url).split("#", 1)[0]


_DIRECT = re.compile(r"@\s*([a-z+]+://[^\s;]+)")


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
