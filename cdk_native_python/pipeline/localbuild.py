"""Wheels built on this machine: the user's own local packages, and sdists the user allowed to build.

Nothing else is ever built here. Both kinds must come out as pure-Python wheels (native code is never
compiled on the host for a Lambda target), and both are entries of the store (``wheels/<key>/``):

* a local folder (``-e ./lib``, a path dependency, a workspace member) is keyed by its *content* only, so
  the same project checked out at two paths builds the same wheel and gives the same asset hash. Its
  build requirements are installed from wheels only (``uv build --no-build``): a build requirement that
  exists only as an sdist is built first only when the user allowed it, like any other package;
* an allowed sdist is keyed by its file name and where it came from (files on an index never change).

Pins refer to these wheels through the store placeholder (see :mod:`~cdk_native_python.pipeline.pins`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import parse_wheel_filename

from ..core.distributions import normalize
from ..core.errors import IndexUnreachableError, InstallError, ResolutionError
from ..core.hints import option
from ..core.records import digest
from ..core.source import tree_digest
from ..core.spec import DependencySpec, IndexOptions, redact, strip_credentials
from ..core.target import Target
from ..store import Store
from . import uv
from .diagnose import no_wheel_error
from .pins import HASH_OPTION, STORE_PLACEHOLDER

#: bump when what a build produces changes (keys of ``wheels/`` entries). Unlike resolutions and trees, the
#: keys leave out uv's version (:func:`uv.tools`): a wheel's content is the source's and its build backend's
#: (uv is only the frontend), and these keys reach the pins and so the asset hash, which must not change
#: between a laptop and a CI runner on two uv patch releases.
VERSION = "3"

_URL_LINE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*@\s*"
                       r"(?P<url>https?://\S+)(?P<rest>.*)$")
_SDIST_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz")
_LOCAL = re.compile(r"^\s*(?:(?P<name>[A-Za-z0-9][A-Za-z0-9._\[\],-]*)\s*@\s*)?(?:file://)?(?P<path>/[^;\s]*)"
                    r"(?P<rest>\s*;.*)?$")


@dataclass(frozen=True)
class Builder:
    """Builds wheels into the store, for one target, from the given package sources."""

    store: Store
    target: Target
    indexes: IndexOptions
    #: normalized names of packages the user allowed to build from an sdist
    allowed: frozenset[str] = frozenset()

    def store_uri(self, wheel: Path) -> str:
        """``file://{store}/wheels/<key>/<file>``: a store path written the same on every machine."""
        rel = wheel.relative_to(self.store.root).as_posix()
        return f"file://{STORE_PLACEHOLDER}/{rel}"

    def local_wheels(self, spec: DependencySpec) -> DependencySpec:
        """``spec`` with every local folder requirement replaced by a wheel built from it."""
        lines: list[str] = []
        changed = False
        for line in spec.requirements:
            m = _LOCAL.match(line)
            path = Path(unquote(m.group("path"))) if m else None
            if m is None or path is None or not path.is_dir():
                lines.append(line)
                continue
            wheel = self.local_package(path, spec.source)
            name = m.group("name") or wheel.name.split("-")[0]
            lines.append(f"{name} @ {self.store_uri(wheel)}" + (m.group("rest") or ""))
            changed = True
        # the wheels' keys hold the folders' contents: the spec no longer depends on where the folders are
        return replace(spec, requirements=tuple(lines), path_fingerprints=()) if changed else spec

    def local_package(self, path: Path, source: Path) -> Path:
        """A pure-Python wheel of the user's own package in ``path`` (built once per content)."""
        key = digest({"v": VERSION, "local": tree_digest(path)})

        def build(dest: Path) -> None:
            self._uv_build(str(path), dest, f"the local package {path} (from {source})",
                           "fix its pyproject.toml / setup so that 'uv build --wheel' succeeds there")

        return _only_wheel(self.store.get_or_create("wheels", key, build).path, f"the local package {path}")

    def url_sdists(self, spec: DependencySpec) -> DependencySpec:
        """``spec`` with every direct URL to an sdist replaced by the wheel built from it (allowed packages only:
        building runs the sdist's own code on this machine, so any other is refused before anything is fetched)."""
        lines: list[str] = []
        for line in spec.requirements:
            m = _URL_LINE.match(line)
            if m is None or not urlsplit(m["url"]).path.endswith(_SDIST_SUFFIXES):
                lines.append(line)
                continue
            name = m["name"]
            if normalize(name) not in self.allowed:
                raise ResolutionError(
                    f"{name} (from {spec.source}) is a source distribution ({redact(m['url'])}): building it would "
                    "run its setup code on this machine", f"if {name} is pure Python, allow building it: "
                    f"{option('allow_build', [name])}; or point the URL at a wheel",
                    code="sdist-not-allowed")
            wheel = self._url_sdist(m["url"], name, HASH_OPTION.findall(m["rest"]), spec)
            rest = HASH_OPTION.sub("", m["rest"]).rstrip()
            lines.append(f"{name}{m['extras'] or ''} @ {self.store_uri(wheel)}{rest}")
        return replace(spec, requirements=tuple(lines)) if lines != list(spec.requirements) else spec

    def _url_sdist(self, url: str, name: str, hashes: list[str], spec: DependencySpec) -> Path:
        """The wheel built from the sdist at ``url`` (its hashes checked first), once per URL and hashes."""
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        key = digest({"v": VERSION, "url-sdist": strip_credentials(url), "hashes": sorted(hashes)})

        def build(dest: Path) -> None:
            from .indexes import download

            host = urlsplit(url).hostname
            credential = next((c for c in reversed(spec.credentials) if c.host == host), None)
            with self.store.scratch("sdist") as tmp:
                try:
                    sdist = download(url, tmp, credential)
                except OSError as exc:
                    raise IndexUnreachableError(
                        f"cannot download {redact(url)} (from {spec.source}): {redact(str(exc))}",
                        "check the URL, the network, and the credentials for its host (in the URL, ~/.netrc or the "
                        "environment variable it comes from)", code="url-unreachable") from None
                if hashes and not _matches(sdist, hashes):
                    raise InstallError(f"hash mismatch for {name} @ {redact(url)} (from {spec.source})",
                                       f"the file served is not the one recorded: fix the hash of {name}, or check "
                                       "the server", code="hash-mismatch")
                self._uv_build(str(sdist), dest, f"{filename} (allowed to build from source, for {spec.source})",
                               f"fix the sdist's build, or use a version of {name} that has wheels")

        return _only_wheel(self.store.get_or_create("wheels", key, build).path, filename)

    def allowed_sdist(self, name: str, version: str | None, source: Path) -> Path:
        """Build the sdist of ``name`` (allowed by the user) into a pure wheel; returns its store folder."""
        from .indexes import project_files  # urllib only when something is built: off the warm path

        sdists = [(f, u) for f, u in project_files(name, self.indexes) if f.endswith((".tar.gz", ".zip"))]
        if version:
            sdists = [(f, u) for f, u in sdists if f"-{version}." in f] or sdists
        if not sdists:
            raise ResolutionError(
                f"{name} is allowed to build from source, but no source distribution of it was found on "
                f"{self.indexes.describe()}", f"check that the index hosts an sdist of {name}",
                code="no-sdist")
        filename, url = sdists[-1]
        key = digest({"v": VERSION, "sdist": filename, "from": strip_credentials(url)})

        def build(dest: Path) -> None:
            from .indexes import download

            with self.store.scratch("sdist") as tmp:
                sdist = download(url, tmp)
                self._uv_build(str(sdist), dest, f"{filename} (allowed to build from source, for {source})",
                               f"fix the sdist's build, or use a version of {name} that has wheels")

        entry = self.store.get_or_create("wheels", key, build).path
        _only_wheel(entry, filename)
        return entry

    def _uv_build(self, what: str, dest: Path, label: str, hint: str) -> None:
        """``uv build --wheel`` of ``what`` into ``dest``, build requirements from wheels only.

        A build requirement without a wheel is built first when allowed (then found through find-links),
        and refused otherwise, naming it: its setup code never runs without the user's permission.
        """
        find_links: list[str] = []
        while True:
            indexes = replace(self.indexes, find_links=(*self.indexes.find_links, *find_links))
            args = ["build", "--wheel", "--no-build", "--out-dir", str(dest), what, *indexes.uv_args()]
            result = uv.run(args, self.store.uv_cache, credentials=indexes.credentials())
            if result.returncode == 0:
                break
            missing = uv.no_wheels(result.message)
            if missing and normalize(missing[0]) in self.allowed:
                folder = str(self.allowed_sdist(missing[0], missing[1], Path(what)))
                if folder not in find_links:
                    find_links.append(folder)
                    continue
            if missing:
                raise no_wheel_error(missing[0], missing[1], self.target, self.indexes, Path(what),
                                     tuple(self.allowed), needed_for=f"building {label}")
            detail = "\n    ".join(result.message.splitlines()[-10:])
            raise ResolutionError(f"building {label} failed:\n    {detail}", hint, code="build-failed")
        for wheel in dest.glob("*.whl"):
            require_pure(wheel, label, self.target)


def _matches(path: Path, hashes: Sequence[str]) -> bool:
    """Does ``path`` have one of ``hashes`` (``algo:hex``)?"""
    data = path.read_bytes()
    return any(hashlib.new(h.split(":", 1)[0], data).hexdigest() == h.split(":", 1)[1].lower() for h in hashes)


def require_pure(wheel: Path, label: str, target: Target) -> None:
    """A wheel built on this host must be pure Python: native code is never built here for the target."""
    _, _, _, tags = parse_wheel_filename(wheel.name)
    if any(t.abi != "none" or t.platform != "any" for t in tags):
        raise ResolutionError(
            f"{label} built a platform-specific wheel ({wheel.name}) on this host",
            f"native code is never built on the host for {target}: publish manylinux wheels of "
            f"{wheel.name.split('-')[0]} (e.g. with cibuildwheel) and depend on those", code="native-build-refused")


def _only_wheel(entry: Path, label: str) -> Path:
    wheels = sorted(entry.glob("*.whl"))
    if not wheels:
        raise ResolutionError(f"building {label} produced no wheel", "check its build backend",
                              code="build-failed")
    return wheels[0]


def allowed_names(names: Sequence[str]) -> frozenset[str]:
    return frozenset(normalize(n) for n in names)
