"""``DependencySpec`` + ``Target`` → ``Lock``: the exact, hashed set of wheels to install.

Resolution is uv's (``uv pip compile --python-platform --python-version``), so markers and wheel tags
are evaluated for the Lambda target. Only wheels are allowed (``--only-binary :all:``); a package the
user allowed to build from source is built once into a wheelhouse (and must come out pure Python),
then resolution runs again wheel-only with that wheelhouse as a find-links source.

Cache policy: the lock is cached under a key of the *normalized inputs* (requirements, constraints,
index URLs without credentials, target, allowed builds, engine version). A floating requirement such
as ``requests>=2`` is therefore re-resolved only when an input changes, or when the caller asks for a
refresh (``refresh=True``, ``CDK_NATIVE_PYTHON_REFRESH=1``, or deleting the cache); this keeps synth
reproducible and offline-capable. Lock files (uv.lock, poetry.lock, ...) skip resolution entirely.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from . import uv
from .cache import Cache, digest
from .errors import IndexUnreachableError, InstallError, ResolutionError
from .fingerprint import tree_digest
from .spec import DependencySpec, IndexOptions, redact
from .target import Target

LOCK_FILE = "requirements.lock"
#: who required what, from the resolver's annotations: lets the install skip packages stripping removes
GRAPH_FILE = "graph.json"
ENGINE_VERSION = "2"


@dataclass(frozen=True)
class Lock:
    """A pinned requirements file for one target (``path``) and where its wheels come from."""

    key: str
    path: Path
    indexes: IndexOptions
    spec: DependencySpec
    #: names the user asked for directly (the roots kept when stripping)
    roots: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def graph(self) -> dict[str, set[str]] | None:
        """``name -> names it requires`` on the target, when the resolver recorded it (not for lock files
        read as they are, whose install is stripped afterwards from the installed metadata)."""
        path = self.path.parent / GRAPH_FILE
        if not path.is_file():
            return None
        required_by: dict[str, list[str]] = json.loads(path.read_text())
        edges: dict[str, set[str]] = {name: set() for name in required_by}
        for dep, users in required_by.items():
            for user in users:
                if user in edges:
                    edges[user].add(dep)
        return edges

    @property
    def portable_text(self) -> str:
        """The lock without this machine's cache location (where local wheels live): for keys and
        asset hashes, which must not change when the same inputs are built in another cache."""
        root = self.path.parents[2]  # <cache>/locks/<key>/<file>
        return self.text.replace(root.as_uri(), "cache:").replace(str(root), "<cache>")


def roots_of(spec: DependencySpec) -> tuple[str, ...]:
    names = []
    for line in (*spec.requirements, *spec.unpinned):
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if m and not line.startswith("/"):
            names.append(canonicalize_name(m.group(1)))
    return tuple(sorted(set(names)))


def resolve(
    spec: DependencySpec,
    target: Target,
    cache: Cache,
    *,
    allow_build: Sequence[str] = (),
    refresh: bool = False,
) -> tuple[Lock, bool]:
    """Return ``(lock, cache_hit)``."""
    allowed = sorted({str(canonicalize_name(n)) for n in allow_build})
    key = digest({
        "engine": ENGINE_VERSION,
        "spec": spec.key(),
        "target": target.key(),
        "allow_build": allowed,
    })
    refresh = refresh or os.environ.get("CDK_NATIVE_PYTHON_REFRESH", "") not in ("", "0")
    wheelhouse = cache.root / "wheelhouse" / target.runtime
    indexes = spec.indexes
    if allowed and wheelhouse.is_dir():
        indexes = replace(indexes, find_links=(*indexes.find_links, str(wheelhouse)))

    entry = cache.get("locks", key, LOCK_FILE)
    if entry is not None and not refresh:
        return Lock(key, entry / LOCK_FILE, indexes, spec, roots_of(spec)), True

    def build(tmp: Path) -> None:
        nonlocal indexes
        local_spec = with_local_wheels(spec, target, cache, indexes)
        local_spec = with_url_sdists(local_spec, target, cache, indexes, allowed, wheelhouse)
        if local_spec.locked:
            text = local_spec.requirements_text()
            if local_spec.unpinned:
                added, indexes = _resolve_unpinned(local_spec, target, cache, indexes, allowed, wheelhouse, tmp)
                text += added
            (tmp / LOCK_FILE).write_text(text)
            return
        indexes = _compile(local_spec, target, cache, indexes, allowed, wheelhouse, tmp / LOCK_FILE)

    with cache.lock("locks", key):
        if refresh and cache.get("locks", key) is not None:
            cache.discard("locks", key)  # renamed away first: readers never see a half-deleted lock
        elif (hit := cache.get("locks", key, LOCK_FILE)) is not None:
            return Lock(key, hit / LOCK_FILE, indexes, spec, roots_of(spec)), True
        entry = cache.publish("locks", key, build)
    return Lock(key, entry / LOCK_FILE, indexes, spec, roots_of(spec)), False


_LOCAL = re.compile(r"^\s*(?:(?P<name>[A-Za-z0-9][A-Za-z0-9._\[\],-]*)\s*@\s*)?(?:file://)?(?P<path>/[^;\s]*)"
                    r"(?P<rest>\s*;.*)?$")


def with_local_wheels(spec: DependencySpec, target: Target, cache: Cache, indexes: IndexOptions) -> DependencySpec:
    """Replace local folder requirements (the user's own packages) by wheels built from them.

    Building a folder of the user's repository runs the user's own build backend, never a third
    party's; the result must be pure Python, since nothing native is built on the host for the target.
    Wheels are cached by the folder's content, so an unchanged local package is built once.
    """
    lines: list[str] = []
    changed = False
    for line in spec.requirements:
        m = _LOCAL.match(line)
        path = Path(unquote(m.group("path"))) if m else None
        if m is None or path is None or not path.is_dir():
            lines.append(line)
            continue
        wheel = _build_local(path, target, cache, indexes, spec.source)
        name = m.group("name") or wheel.name.split("-")[0]
        lines.append(f"{name} @ {wheel.as_uri()}" + (m.group("rest") or ""))
        changed = True
    return replace(spec, requirements=tuple(lines)) if changed else spec


def _build_local(path: Path, target: Target, cache: Cache, indexes: IndexOptions, source: Path) -> Path:
    key = digest({"engine": ENGINE_VERSION, "path": str(path), "content": tree_digest(path)})

    def build(tmp: Path) -> None:
        result = uv.run(["build", "--wheel", "--out-dir", str(tmp), str(path), *indexes.uv_args()],
                        cache.root / "uv")
        if result.returncode != 0:
            detail = "\n    ".join(result.message.splitlines()[-10:])
            raise ResolutionError(f"building the local package {path} (from {source}) failed:\n    {detail}",
                                  "fix its pyproject.toml / setup so that 'uv build --wheel' succeeds there")
        for wheel in tmp.glob("*.whl"):
            _, _, _, tags = parse_wheel_filename(wheel.name)
            if any(t.abi != "none" or t.platform != "any" for t in tags):
                raise ResolutionError(
                    f"the local package {path} built a platform-specific wheel ({wheel.name})",
                    f"native code is never built on the host for {target}: publish manylinux wheels of it "
                    "(e.g. with cibuildwheel) and depend on those")

    entry, _ = cache.get_or_create("local", key, build)
    wheels = sorted(entry.glob("*.whl"))
    if not wheels:
        raise ResolutionError(f"building the local package {path} produced no wheel", "check its build backend")
    return wheels[0]


def _compile(
    spec: DependencySpec,
    target: Target,
    cache: Cache,
    indexes: IndexOptions,
    allowed: list[str],
    wheelhouse: Path,
    out: Path,
) -> IndexOptions:
    work = out.parent
    (work / "requirements.in").write_text(spec.requirements_text())
    args = ["pip", "compile", str(work / "requirements.in"), "-o", str(out),
            "--python-platform", target.uv_python_platform, "--python-version", target.python_version,
            "--only-binary", ":all:", "--generate-hashes", "--no-header", "--quiet"]
    if spec.constraints:
        (work / "constraints.txt").write_text(spec.constraints_text())
        args += ["--constraint", str(work / "constraints.txt")]
    built: set[str] = set()
    while True:
        result = uv.run([*args, *indexes.uv_args()], cache.root / "uv", credentials=spec.credentials)
        if result.returncode == 0:
            for f in ("requirements.in", "constraints.txt"):
                (work / f).unlink(missing_ok=True)
            text, required_by = split_annotations(out.read_text())
            (work / GRAPH_FILE).write_text(json.dumps(required_by, indent=1, sort_keys=True) + "\n")
            out.write_text(apply_user_hashes(text, spec))
            return indexes
        missing = uv.no_wheels(result.message)
        if missing and canonicalize_name(missing[0]) in allowed and canonicalize_name(missing[0]) not in built:
            name = canonicalize_name(missing[0])
            _build_allowed(name, missing[1], target, cache, indexes, wheelhouse)
            built.add(name)
            if str(wheelhouse) not in indexes.find_links:
                indexes = replace(indexes, find_links=(*indexes.find_links, str(wheelhouse)))
            continue
        if uv.no_space(result.message):
            raise cache.full(f"resolving {spec.source} for {target}")
        raise explain_failure(result.message, spec, target, indexes, allowed)


_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==|@)")


def split_annotations(text: str) -> tuple[str, dict[str, list[str]]]:
    """uv's annotated lock → (the lock without comments, ``name -> [names that require it]``).

    ``# via -r requirements.in`` (a root) and ``-c`` constraints are not packages and are dropped.
    """
    lines: list[str] = []
    required_by: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            via = stripped.lstrip("#").strip()
            via = via[len("via"):].strip() if via.startswith("via") else via
            for user in filter(None, (u.strip() for u in via.split(","))):
                if current and not user.startswith("-"):
                    required_by[current].append(str(canonicalize_name(user.split("[")[0])))
            continue
        m = _PINNED.match(line)
        if m:
            current = str(canonicalize_name(m.group(1)))
            required_by.setdefault(current, [])
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else ""), required_by


def lock_without(text: str, names: Iterable[str]) -> str:
    """The lock minus the requirement blocks (a pin and its indented ``--hash`` lines) of ``names``."""
    drop = {str(canonicalize_name(n)) for n in names}
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line and not line[0].isspace():
            m = _PINNED.match(line)
            skipping = m is not None and str(canonicalize_name(m.group(1))) in drop
        if not skipping:
            out.append(line)
    return "\n".join(out) + ("\n" if out else "")


_HASH_OPT = re.compile(r"--hash=(\S+)")


def apply_user_hashes(lock_text: str, spec: DependencySpec) -> str:
    """Pin the user's own ``--hash`` values into the lock.

    ``uv pip compile --generate-hashes`` writes the hashes the index *currently* serves; a user who
    pinned hashes wants the opposite check (the file must be the one they recorded), so their hashes
    replace the generated ones and the installer rejects any other file as a hash mismatch.
    """
    pinned: dict[str, list[str]] = {}
    for line in (*spec.requirements, *spec.constraints):
        hashes = _HASH_OPT.findall(line)
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if hashes and m:
            pinned.setdefault(str(canonicalize_name(m.group(1))), []).extend(hashes)
    if not pinned:
        return lock_text
    out: list[str] = []
    for entry in lock_text.replace("\\\n", " ").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", entry)
        name = str(canonicalize_name(m.group(1))) if m else ""
        if name in pinned and not entry.lstrip().startswith("#"):
            head = _HASH_OPT.sub("", entry).rstrip()
            entry = " ".join([head, *(f"--hash={h}" for h in pinned[name])])
        out.append(entry)
    return "\n".join(out) + "\n"


def explain_failure(
    message: str, spec: DependencySpec, target: Target, indexes: IndexOptions, allowed: Sequence[str] = ()
) -> Exception:
    """Turn uv's diagnostics into an error that names the package, the target and the fix."""
    source = spec.source
    direct = uv.failed_direct_download(message)
    if direct is not None:
        return _direct_url_error(*direct, source)
    if uv.unauthorized(message):
        return IndexUnreachableError(
            f"the package index refused the credentials while resolving {source} for {target}: "
            f"{indexes.describe()}",
            "check the user/token in the index URL (or ~/.netrc, or the environment variable it comes from)",
        )
    missing = uv.no_wheels(message)
    if missing:
        name, version = missing
        return no_wheel_error(name, version, target, indexes, source, allowed)
    unknown = uv.not_found(message)
    if unknown:
        return ResolutionError(
            f"package {unknown!r} (from {source}) was not found on {indexes.describe()}",
            "check the spelling of the name, or add the index that hosts it (--index-url / --extra-index-url)",
        )
    if uv.unreachable(message):
        return IndexUnreachableError(
            f"cannot reach the package index {indexes.describe()} to resolve {source}",
            "check the network / VPN / proxy, or the index URL; warm builds work offline once resolved",
        )
    detail = "\n    ".join(message.splitlines()[-8:])
    return ResolutionError(
        f"no set of wheels satisfies {source} for {target}:\n    {detail}",
        "relax the conflicting version pins shown above",
    )


def _direct_url_error(requirement: str, cause: str, source: Path) -> Exception:
    """A direct URL requirement (``name @ https://...``) could not be fetched: name it, not the index."""
    host = urlsplit(requirement.split("@", 1)[1].strip()).hostname
    what = f"cannot download {requirement} (from {source}): {cause}"
    if uv.unauthorized(cause):
        return IndexUnreachableError(what, f"check the credentials for {host}: in the URL as written (or the "
                                     "environment variable it comes from), or in ~/.netrc")
    if uv.unreachable(cause):
        return IndexUnreachableError(what, f"check the network / VPN / proxy to {host}")
    return ResolutionError(what, "check the URL: it must point at an existing wheel (or an allowed sdist)")


def no_wheel_error(
    name: str, version: str | None, target: Target, indexes: IndexOptions, source: Path,
    allowed: Sequence[str] = (),
) -> ResolutionError:
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
    hint = (f"use a version of {name} that publishes a wheel for {target.machine} Linux "
            f"({target.manylinux} or older), or drop it for this target with a marker")
    if sdists and canonicalize_name(name) not in allowed:
        hint += (f"; if {name} is pure Python, allow building it: "
                 f"BundlingOptions(allow_build=['{name}'])")
    return ResolutionError(f"{what} (from {source}) has no wheel for {target}{available}", hint)


def _build_allowed(
    name: str, version: str | None, target: Target, cache: Cache, indexes: IndexOptions, wheelhouse: Path
) -> None:
    """Build the user-allowed sdist of ``name`` into a pure-Python wheel in the wheelhouse."""
    from .indexes import download, project_files

    sdists = [(f, u) for f, u in project_files(name, indexes) if f.endswith((".tar.gz", ".zip"))]
    if version:
        sdists = [(f, u) for f, u in sdists if f"-{version}." in f] or sdists
    if not sdists:
        raise ResolutionError(
            f"{name} is allowed to build from source, but no source distribution of it was found on "
            f"{indexes.describe()}", f"check that the index hosts an sdist of {name}")
    filename, url = sdists[-1]
    with tempfile.TemporaryDirectory(dir=cache.root / "tmp", prefix=cache.tmp_prefix("sdist")) as tmpdir:
        _build_sdist(download(url, Path(tmpdir)), filename, name, target, cache, indexes, wheelhouse)


def _build_sdist(sdist: Path, filename: str, name: str, target: Target, cache: Cache, indexes: IndexOptions,
                 wheelhouse: Path) -> Path:
    """Build the downloaded, user-allowed ``sdist`` into a pure-Python wheel in the wheelhouse; its path."""
    out = sdist.parent / "out"
    result = uv.run(["build", "--wheel", "--out-dir", str(out), str(sdist), *indexes.uv_args()], cache.root / "uv")
    if result.returncode != 0:
        detail = "\n    ".join(result.message.splitlines()[-10:])
        raise ResolutionError(f"building {filename} (allowed to build from source) failed:\n    {detail}",
                              f"fix the sdist's build, or use a version of {name} that has wheels")
    built = sorted(out.glob("*.whl"))
    if not built:
        raise ResolutionError(f"building {filename} produced no wheel", "check its build backend")
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for wheel in built:
        _, _, _, tags = parse_wheel_filename(wheel.name)
        if any(t.abi != "none" or t.platform != "any" for t in tags):
            raise ResolutionError(
                f"{filename} built a platform-specific wheel ({wheel.name}) on this host",
                f"native code is never built on the host for {target}: use a version of {name} "
                "that publishes manylinux wheels")
        os.replace(wheel, wheelhouse / wheel.name)
    return wheelhouse / built[0].name


# -- what a lock leaves open and direct URLs to sdists ---------------------------------------------------------


def _resolve_unpinned(spec: DependencySpec, target: Target, cache: Cache, indexes: IndexOptions, allowed: list[str],
                      wheelhouse: Path, work: Path) -> tuple[str, IndexOptions]:
    """Lock lines for a locked spec's unpinned entries (those that hold for ``target``), resolved for it with the
    lock's pins as constraints; a package the lock pins for the target keeps its locked line."""
    pins = [Requirement(_HASH_OPT.sub("", line)) for line in spec.requirements]
    constraints = tuple(str(r) for r in pins if r.url is None and r.specifier)
    covered = {str(canonicalize_name(r.name)) for r in pins if target.evaluate(r.marker)}
    folder = work / "unpinned"
    folder.mkdir()
    open_spec = replace(spec, requirements=spec.unpinned, constraints=constraints, locked=False, unpinned=())
    indexes = _compile(open_spec, target, cache, indexes, allowed, wheelhouse, folder / LOCK_FILE)
    text = lock_without((folder / LOCK_FILE).read_text(), covered)
    shutil.rmtree(folder)  # its graph covers only these entries: the lock as a whole has none
    return text, indexes


_URL_LINE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*@\s*"
                       r"(?P<url>https?://\S+)(?P<rest>.*)$")
_SDIST_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz")


def with_url_sdists(spec: DependencySpec, target: Target, cache: Cache, indexes: IndexOptions, allowed: list[str],
                    wheelhouse: Path) -> DependencySpec:
    """Replace direct URLs to source distributions by the wheels built from them, for allowed packages only.

    Building runs the sdist's own code on this machine, so a package not in ``allow_build`` is refused here,
    before anything is downloaded. The download gets the spec's credentials for its host (in memory) and the
    line's hashes are checked against the sdist, which the wheel then stands for.
    """
    lines: list[str] = []
    for line in spec.requirements:
        m = _URL_LINE.match(line)
        if m is None or not urlsplit(m["url"]).path.endswith(_SDIST_SUFFIXES):
            lines.append(line)
            continue
        name, filename = m["name"], unquote(urlsplit(m["url"]).path.rsplit("/", 1)[-1])
        if str(canonicalize_name(name)) not in allowed:
            raise ResolutionError(
                f"{name} (from {spec.source}) is a source distribution ({redact(m['url'])}): building it would run "
                "its setup code on this machine", f"if {name} is pure Python, allow building it: "
                f"BundlingOptions(allow_build=['{name}']) (--allow-build {name}); or point the URL at a wheel")
        wheel = _build_url_sdist(m["url"], filename, name, _HASH_OPT.findall(m["rest"]), spec, target, cache,
                                 indexes, wheelhouse)
        lines.append(f"{name}{m['extras'] or ''} @ {wheel.as_uri()}{_HASH_OPT.sub('', m['rest']).rstrip()}")
    return replace(spec, requirements=tuple(lines)) if lines != list(spec.requirements) else spec


def _build_url_sdist(url: str, filename: str, name: str, hashes: list[str], spec: DependencySpec, target: Target,
                     cache: Cache, indexes: IndexOptions, wheelhouse: Path) -> Path:
    from .indexes import download

    host = urlsplit(url).hostname
    credential = next((c for c in reversed(spec.credentials) if c.host == host), None)
    with tempfile.TemporaryDirectory(dir=cache.root / "tmp", prefix=cache.tmp_prefix("sdist")) as tmpdir:
        try:
            sdist = download(url, Path(tmpdir), credential)
        except OSError as exc:
            raise IndexUnreachableError(f"cannot download {redact(url)} (from {spec.source}): {redact(str(exc))}",
                                        "check the URL, the network, and the credentials for its host "
                                        "(in the URL, ~/.netrc or the environment variable it comes from)") from None
        data = sdist.read_bytes()
        if hashes and not any(hashlib.new(h.split(":", 1)[0], data).hexdigest() == h.split(":", 1)[1].lower()
                              for h in hashes):
            raise InstallError(f"hash mismatch for {name} @ {redact(url)} (from {spec.source})",
                               f"the file served is not the one recorded: fix the hash of {name}, or check the server")
        return _build_sdist(sdist, filename, name, target, cache, indexes, wheelhouse)
