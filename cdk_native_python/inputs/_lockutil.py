"""Pieces shared by the lock-file readers (Pipfile.lock, poetry.lock, uv.lock, pylock.toml, pyproject).

Every reader ends in the same few shapes: a pinned line with hashes and a marker kept for the installer
to evaluate *for the target*, a ``name @ file://`` line for a local folder plus a content fingerprint
(or for a local archive, checked to be one), a ``name @ https://`` line with its credentials split off,
an index list, and markers combined along dependency paths. Keeping those here means the formats
cannot drift apart in how they write a line that ``uv pip install -r`` must accept, nor in what they let
through: every local path and URL a dependency file names is checked here, at read time, so a mistake is
reported against the file and package that made it, never as a resolver error about our cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from packaging.markers import InvalidMarker, Marker

from ..core.distributions import normalize
from ..core.errors import InputError, excerpt
from ..core.source import tree_digest
from ..core.spec import Credential, IndexOptions, redact, split_credentials, strip_credentials
from . import _markers

PYPI = "https://pypi.org/simple"
_ENV_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_VCS_HINT = "publish the package as a wheel to an index, or vendor it as a local folder and depend on its path"


#: PEP 503 normalised name: lock files and manifests spell names differently (``PyYAML``/``pyyaml``)
name = normalize


def expand_env(text: str, where: str) -> str:
    """``${VAR}``/``$VAR`` from the environment at read time, so secrets stay out of committed files."""

    def sub(m: re.Match[str]) -> str:
        var = m.group(1) or m.group(2)
        if var not in os.environ:
            raise InputError(
                f"{where}: environment variable ${{{var}}} is not set",
                f"export {var} before running cdk synth, or remove it from the file",
            )
        return os.environ[var]

    return _ENV_VAR.sub(sub, text)


def with_credentials(url: str, user_var: str, password_var: str) -> str:
    """Add ``user:password@`` from the tool's own environment variables (poetry's, uv's) when set.

    The spec's ``key()`` strips credentials again, so they reach uv but never a cache key or a log.
    """
    user, password = os.environ.get(user_var), os.environ.get(password_var)
    parts = urlsplit(url)
    if not (user or password) or parts.username or not parts.hostname:
        return url
    auth = quote(user or "", safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit((parts.scheme, f"{auth}@{parts.netloc}", parts.path, parts.query, parts.fragment))


def env_name(index_name: str) -> str:
    """Index name as tools put it in variable names (``my-index`` -> ``MY_INDEX``)."""
    return re.sub(r"[^A-Za-z0-9]", "_", index_name).upper()


def indexes(urls: Iterable[str]) -> IndexOptions:
    """First URL is the primary index, the others extra; only PyPI means the defaults (same cache key
    as a plain requirements file)."""
    unique = list(dict.fromkeys(u.rstrip("/") for u in urls if u))
    if not unique or unique == [PYPI]:
        return IndexOptions()
    return IndexOptions(index_url=unique[0], extra_index_urls=tuple(unique[1:]))


def add_registries(declared: IndexOptions, registries: Iterable[str]) -> IndexOptions:
    """Indexes a lock names that the manifest does not declare become extra indexes (PyPI is the
    default anyway); declared ones keep their place and their credentials."""
    known = {strip_credentials(u).rstrip("/") for u in (declared.index_url or PYPI, *declared.extra_index_urls)}
    extra = [u.rstrip("/") for u in registries if strip_credentials(u).rstrip("/") not in known]
    return IndexOptions(
        index_url=declared.index_url,
        extra_index_urls=tuple(dict.fromkeys((*declared.extra_index_urls, *extra))),
        find_links=declared.find_links,
        no_index=declared.no_index,
    )


def pin(package: str, version: str, marker: str | None, hashes: Iterable[str]) -> str:
    """``name==1.0 ; marker --hash=sha256:...`` on one line, as ``uv pip install -r`` reads it."""
    line = f"{name(package)}=={version}"
    return _finish(line, marker, hashes)


def declared(package: str, specifier: str, marker: str | None) -> str:
    """What the user declared for a root (``boto3>=1.34 ; marker``), for ``DependencySpec.requested``."""
    return f"{name(package)}{specifier}" + (f" ; {marker}" if marker else "")


def url_requirement(package: str, url: str, marker: str | None, hashes: Iterable[str] = ()) -> str:
    return _finish(f"{name(package)} @ {url}", marker, hashes)


def _finish(line: str, marker: str | None, hashes: Iterable[str]) -> str:
    if marker:
        line += f" ; {marker}"
    for h in dict.fromkeys(hashes):
        line += f" --hash={h}"
    return line


def hash_of(value: str, where: str, hint: str = "regenerate the lock file") -> str:
    """Validate ``algo:hex`` so a corrupt lock fails here, not as an obscure installer error."""
    if not re.fullmatch(r"(sha256|sha384|sha512):[0-9a-fA-F]+", value):
        raise InputError(f"{where}: malformed hash {excerpt(value)!r}", hint, code="malformed-hash")
    return value


#: what a VCS requirement starts with, or names after ``name @``
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_VCS_REFERENCE = re.compile(r"@\s*(git|hg|svn|bzr)\+")


def is_vcs(requirement: str) -> bool:
    return requirement.startswith(VCS_PREFIXES) or bool(_VCS_REFERENCE.search(requirement))


def hashes_table(table: Any, where: str) -> list[str]:
    """PEP 751 ``hashes = {sha256 = "..."}`` -> ``["sha256:..."]``."""
    if not isinstance(table, dict):
        return []
    return [hash_of(f"{algo}:{digest}", where) for algo, digest in table.items() if algo in _ALGOS]


_ALGOS = ("sha256", "sha384", "sha512")


#: archive suffixes uv installs from, and the first bytes each format starts with
_ARCHIVES = (
    (".whl", b"PK\x03\x04"), (".zip", b"PK\x03\x04"), (".tar.gz", b"\x1f\x8b"), (".tgz", b"\x1f\x8b"),
    (".tar.bz2", b"BZh"), (".tar.xz", b"\xfd7zXZ\x00"),
)  # fmt: skip
#: files that make a folder a Python project uv can build
PROJECT_FILES = ("pyproject.toml", "setup.py")


def project_root(lock: Path) -> Path:
    """Where the local archives a lock names must live: its repository (the nearest folder above it with
    ``.git``, ``.hg`` or ``.svn``), or the lock's own folder outside any repository."""
    folder = lock.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in (".git", ".hg", ".svn")):
            return candidate
    return folder


def python_project(folder: Path, where: str) -> None:
    """``folder`` is something uv can build (never fingerprint or build ``/`` or ``/etc``)."""
    if not any((folder / name).is_file() for name in PROJECT_FILES):
        raise InputError(
            f"{where}: {folder} is not a Python project (it has no {' or '.join(PROJECT_FILES)})",
            "point it at the folder holding the package's pyproject.toml (or setup.py)",
            code="not-a-python-project",
        )


def local_archive(location: Path, where: str, project: Path | None) -> Path:
    """``location`` resolved, when it is a wheel or sdist file (inside ``project``, when given)."""
    hint = "point it at a wheel (.whl) file" + (f" inside {project}" if project else "") + \
        ", relative to the file that names it"
    real = location.resolve()
    if not real.exists():
        raise InputError(f"{where}: local archive {location} does not exist", hint, code="local-archive")
    magic = next((m for suffix, m in _ARCHIVES if real.name.endswith(suffix)), None)
    head = b""
    if real.is_file() and magic is not None:
        with open(real, "rb") as f:
            head = f.read(len(magic))
    if magic is None or head != magic:
        raise InputError(
            f"{where}: local archive {location} is not a wheel or source archive "
            f"({', '.join(suffix for suffix, _ in _ARCHIVES)})", hint, code="local-archive")
    if project is not None and not real.is_relative_to(project):
        raise InputError(f"{where}: local archive {location} is outside the project {project}", hint,
                         code="local-archive")
    return real


def remote_url(url: str, where: str) -> tuple[str, list[str], Credential | None]:
    """A direct URL as a requirement may hold it: (the URL without credentials or hash fragment, the
    fragment's hashes, the credential). Only http(s) is fetched (VCS URLs are refused before)."""
    clean, credential = split_credentials(url)
    parts = urlsplit(clean)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{where}: {excerpt(redact(url))!r} is not an http(s) URL",
                         "use an https:// URL of a wheel, a local path, or a name from an index",
                         code="unsupported-url")
    hashes = []
    for item in filter(None, parts.fragment.split("&")):
        algo, _, digest = item.partition("=")
        if algo in _ALGOS:
            hashes.append(hash_of(f"{algo}:{digest}", where))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")), hashes, credential


@dataclass
class Sources:
    """What a reader collects besides its lines: content fingerprints of local folders (so editing one
    invalidates the caches) and credentials split off URLs (so no line holds one).

    ``project`` confines local archives (see :func:`project_root`); None accepts them anywhere.
    ``fingerprint=False`` checks local folders without hashing them (for lines that never reach a key).
    """

    project: Path | None = None
    fingerprint: bool = True
    fingerprints: list[str] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)

    def local(self, package: str, location: Path, marker: str | None, where: str,
              hashes: Iterable[str] = ()) -> str:
        """A local folder (a Python project, fingerprinted) or archive (checked) as a ``file://`` line."""
        local = location.resolve()
        if local.is_dir():
            self.folder(local, where)
            return url_requirement(package, local.as_uri(), marker)
        if not local.exists() and not any(location.name.endswith(suffix) for suffix, _ in _ARCHIVES):
            raise InputError(
                f"{where}: local path {location} for {package} does not exist",
                "fix the path (it is relative to the file's folder) or create the package there",
            )
        return url_requirement(package, local_archive(location, where, self.project).as_uri(), marker, hashes)

    def folder(self, local: Path, where: str) -> None:
        """Check that folder ``local`` is a Python project, and fingerprint it (before it is ever walked)."""
        python_project(local, where)
        if self.fingerprint:
            self.fingerprints.append(f"{local}:{tree_digest(local)}")

    def remote(self, url: str, where: str) -> tuple[str, list[str]]:
        """An http(s) URL without its credentials (kept here) and hash fragment: (URL, fragment hashes)."""
        clean, hashes, credential = remote_url(url, where)
        if credential is not None:
            self.credentials.append(credential)
        return clean, hashes

    def url(self, package: str, url: str, marker: str | None, where: str, hashes: Iterable[str] = ()) -> str:
        """A remote archive (or, for ``file:``, a local one) as a requirement line without credentials."""
        if url.startswith("file:"):
            return self.local(package, Path(unquote(urlsplit(url).path)), marker, where, hashes)
        if url.startswith(VCS_PREFIXES):
            raise vcs_error(where, package, redact(url))
        clean, fragment_hashes = self.remote(url, where)
        return url_requirement(package, clean, marker, [*hashes, *fragment_hashes])


#: what an error about an unparsable line echoes of it: enough to recognise the line (the message names
#: file:line), too little to quote a secret whole when ``-r`` points at the wrong file
LINE_ECHO = 32


def echo(text: str) -> str:
    """What a message may quote of a user's line: an excerpt, credentials removed."""
    return excerpt(redact(text), LINE_ECHO)


def invalid_requirement(where: str, text: str, exc: Exception, hint: str) -> InputError:
    """``text`` is not PEP 508: echo an excerpt and the parser's reason, never the parser's copy of the line."""
    reason = str(exc).splitlines()[0].strip() if str(exc).strip() else "not PEP 508"
    return InputError(f"{where}: {echo(text)!r} is not a valid requirement ({reason})",
                      hint, code="invalid-requirement")


def vcs_error(where: str, package: str, url: str) -> InputError:
    return InputError(
        f"{where}: {package} comes from version control ({excerpt(redact(url))}); VCS dependencies are not "
        "supported", _VCS_HINT, code="vcs-requirement")


def marker_or_error(text: str, where: str) -> Marker:
    try:
        return Marker(text)
    except InvalidMarker:
        raise InputError(f"{where}: invalid marker {excerpt(text)!r}", "fix or regenerate the lock file") from None


# -- markers -------------------------------------------------------------------------------------

#: how to decide a marker atom on one of the selection variables; returns None for "not mine"
AtomDecider = Callable[[str, str, str], bool | None]


def selection_decider(extras: Iterable[str], groups: Iterable[str]) -> AtomDecider:
    """Decide ``extra``/``extras``/``dependency_groups`` atoms for the selected extras and groups.

    uv writes conflict markers as ``extra == 'extra-<n>-<package>-<extra>'`` and
    ``'group-<n>-<package>-<group>'``; those are decided by their trailing extra/group name.
    """
    chosen_extras = {name(e) for e in extras}
    chosen_groups = {name(g) for g in groups}

    def decide(variable: str, op: str, value: str) -> bool | None:
        if variable not in ("extra", "extras", "dependency_groups"):
            return None
        value = value.strip()
        pool = chosen_groups if variable == "dependency_groups" else chosen_extras
        m = re.fullmatch(r"(extra|group)-(\d+)-(.+)", value)
        if variable == "extra" and m:
            rest = m.group(3)[int(m.group(2)) + 1 :] if len(m.group(3)) > int(m.group(2)) else m.group(3)
            pool = chosen_groups if m.group(1) == "group" else chosen_extras
            value = rest
        hit = name(value) in pool
        if op in ("==", "in"):
            return hit
        if op in ("!=", "not in"):
            return not hit
        return None

    return decide


def reduce_marker(marker: str | None, decide: AtomDecider, where: str) -> bool | str:
    """Partially evaluate ``marker``: atoms ``decide`` knows become constants, the rest stay as text.

    Returns True (always), False (never) or the remaining marker string for the installer to evaluate
    on the target. This is how extras/groups are applied without knowing the target's environment.
    """
    if not marker:
        return True
    marker_or_error(marker, where)  # packaging validates; our own small tree is what we walk
    try:
        tree = _markers.parse(marker)
    except _markers.MarkerSyntaxError as exc:
        raise InputError(f"{where}: invalid marker {excerpt(marker)!r} ({exc})", "fix or regenerate the lock file",
                         code="invalid-marker") from None
    return _reduce(tree, decide)


def marker_text(reduced: bool | str) -> str | None:
    """A reduced marker that is not False, as an edge marker (None = unconditional)."""
    return reduced if isinstance(reduced, str) else None


def _reduce(node: _markers.Node, decide: AtomDecider) -> bool | str:
    if isinstance(node, _markers.Atom):
        return _atom(node, decide)
    values = [_reduce(item, decide) for item in node.items]
    texts = [v for v in values if isinstance(v, str)]
    if node.kind == "and":
        if any(v is False for v in values):
            return False
        return and_markers(*texts) or True
    if any(v is True for v in values):
        return True
    if not texts:
        return False
    return " or ".join(texts)


def _atom(atom: _markers.Atom, decide: AtomDecider) -> bool | str:
    for variable, value, is_variable, is_value in ((atom.left, atom.right, atom.left_is_variable,
                                                    atom.right_is_variable),
                                                   (atom.right, atom.left, atom.right_is_variable,
                                                    atom.left_is_variable)):
        if is_variable and not is_value:
            decided = decide(variable, atom.op, value)
            if decided is not None:
                return decided
    return atom.text()


def and_markers(*markers: str | None) -> str | None:
    parts = [m for m in markers if m]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" if " or " in p else p for p in parts)


def or_markers(markers: Sequence[str | None]) -> str | None:
    """None (no restriction) wins; otherwise the alternatives joined."""
    if not markers or any(m is None for m in markers):
        return None
    unique = list(dict.fromkeys(m for m in markers if m))
    if len(unique) == 1:
        return unique[0]
    return " or ".join(f"({m})" if " and " in m or " or " in m else m for m in unique)


# -- walking a lock's dependency graph ------------------------------------------------------------

N = TypeVar("N", bound=Hashable)


class MarkerWalk(Generic[N]):
    """Which locked packages are reachable from the selected roots, and under which markers.

    A package's marker is the OR over all paths of the AND of the edge markers along the path, kept as
    a set of conjunctions (absorbing supersets) so cycles settle instead of growing forever. Extras are
    nodes of their own (``(package, extra)``) so an extra's dependencies inherit exactly the markers of
    the paths that asked for it.
    """

    def __init__(self, edges: Callable[[N, str | None], Iterable[tuple[N, str | None, tuple[str, ...]]]]) -> None:
        """``edges(node, extra)`` yields (child, edge marker or None, extras asked of the child)."""
        self._edges = edges
        self._dnf: dict[tuple[N, str | None], set[frozenset[str]]] = {}

    def add_root(self, node: N, marker: str | None, extras: Sequence[str] = ()) -> None:
        conj = frozenset([marker]) if marker else frozenset()
        self._visit([(k, conj) for k in [(node, None), *((node, name(e)) for e in extras)]])

    def _visit(self, work: list[tuple[tuple[N, str | None], frozenset[str]]]) -> None:
        while work:
            key, conj = work.pop()
            dnf = self._dnf.setdefault(key, set())
            if any(existing <= conj for existing in dnf):
                continue
            dnf.difference_update({existing for existing in dnf if conj < existing})
            dnf.add(conj)
            for child, marker, extras in self._edges(*key):
                child_conj = conj | {marker} if marker else conj
                work.append(((child, None), child_conj))
                work.extend(((child, name(e)), child_conj) for e in extras)

    def packages(self) -> dict[N, str | None]:
        """Reached node -> combined marker string (None = unconditional)."""
        out: dict[N, str | None] = {}
        for (node, extra), dnf in self._dnf.items():
            if extra is None:
                out[node] = _dnf_text(dnf)
        return out


def _dnf_text(dnf: set[frozenset[str]]) -> str | None:
    if frozenset() in dnf:
        return None
    conjunctions = sorted(and_markers(*sorted(c)) or "" for c in dnf)
    text = or_markers(conjunctions)
    return str(Marker(text)) if text else None
