"""Read pip requirements files into a :class:`DependencySpec`.

We parse the file ourselves instead of handing it to the resolver as-is because (a) includes and
relative paths must be flattened so the cache key covers everything the result depends on, and (b) a
mistake must be reported as ``file:line`` with a fix, before any resolver runs.

Files are read through :mod:`._read` (regular files only, size-bounded, a UTF-8 BOM accepted as pip
does). A line the parser rejects is echoed as a short excerpt: ``-r`` pointed at the wrong file must
not print a secret. Direct URLs (``name @ https://user:pw@host/pkg.whl#sha256=...``) lose their
credentials (kept in the spec for the installer) and their hash fragment (turned into ``--hash``).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

from ..core.errors import InputError
from ..core.hints import option
from ..core.reporter import Notice
from ..core.spec import DependencySpec, IndexOptions
from . import _lockutil as lu
from ._read import read_text

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
# options that change nothing for a target-aware, wheel-only install and are accepted silently
#: ``scheme://user:password@`` with the password written out (``${VAR}`` is expanded later, never matched)
_LITERAL_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s$]+@")
_IGNORED_FLAGS = {"--pre", "--prefer-binary", "--use-feature", "--trusted-host", "--only-binary", "--no-binary"}


@dataclass
class _State:
    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    sources: lu.Sources = field(default_factory=lu.Sources)
    notices: list[Notice] = field(default_factory=list)


def read(path: Path, *, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> DependencySpec:
    """Read ``path`` and everything it includes (``-r``/``-c``) into one flat spec."""
    if groups or extras:
        chosen = ", ".join([*(f"group {g}" for g in groups), *(f"extra {e}" for e in extras)])
        raise InputError(f"{path}: {chosen} chosen, but a requirements file has no groups or extras",
                         "write the extra on the requirement itself (name[extra]), or point "
                         f"{option('dependency_file')} at a pyproject.toml, uv.lock, poetry.lock or pylock.toml",
                         code="selection-not-supported")
    state = _State()
    _read_file(path.resolve(), state, stack=(), constraint=False, included_at=None)
    return DependencySpec(
        source=path,
        requirements=tuple(state.requirements),
        constraints=tuple(state.constraints),
        indexes=IndexOptions(
            index_url=state.index_url,
            extra_index_urls=tuple(state.extra_index_urls),
            find_links=tuple(state.find_links),
            no_index=state.no_index,
        ),
        kind="requirements.txt",
        path_fingerprints=tuple(state.sources.fingerprints),
        credentials=tuple(state.sources.credentials),
        notices=tuple(state.notices),
    )


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``\\`` continuations and drop comments, keeping the first physical line number."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        line = raw
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        stripped = re.sub(r"(^|\s)#.*$", "", buf).strip()
        if stripped:
            out.append((start, stripped))
        buf = ""
    if buf.strip():
        out.append((start, re.sub(r"(^|\s)#.*$", "", buf).strip()))
    return out


def _expand(value: str, where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in os.environ:
            raise InputError(
                f"{where}: environment variable ${{{m.group(1)}}} is not set",
                f"export {m.group(1)} before running cdk synth, or remove it from the file",
            )
        return os.environ[m.group(1)]

    return _ENV_VAR.sub(sub, value)


def _read_file(path: Path, state: _State, stack: tuple[Path, ...], constraint: bool, included_at: str | None) -> None:
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise InputError(f"requirements include loop: {chain}", "remove one of the -r/-c lines that form the loop")
    origin = f" (included at {included_at})" if included_at else ""
    if not os.path.lexists(path) or (path.is_symlink() and not path.exists()):
        raise InputError(
            f"requirements file {path} does not exist{origin}",
            "fix the -r/-c path (it is relative to the including file) or create the file",
            code="input-missing",
        )
    try:
        text = read_text(path, "requirements file")
    except InputError as exc:
        raise InputError(exc.raw[0] + origin, exc.raw[1], code=exc.code) from None

    for number, raw in _logical_lines(text):
        where = f"{path}:{number}"
        line = _expand(raw, where)
        try:
            tokens = shlex.split(line, posix=True)
        except ValueError as exc:
            raise InputError(f"{where}: cannot parse {lu.echo(line)!r} ({exc})",
                             "check the quoting on that line") from None
        if tokens[0].startswith("-") and not tokens[0].startswith("--hash"):
            _option(tokens, path, where, state, stack, constraint)
        else:
            _requirement(line, path, where, state, constraint)
        if _LITERAL_PASSWORD.search(raw):  # a requirement's URL or an index's, written in the file (not ${VAR})
            state.notices.append(Notice(
                "credential-in-file", f"{where}: a URL holds a password written in the file, so it is in your "
                "repository and in any bundle that copies this file: write ${VAR} there and set VAR in the "
                "environment, or put the credentials in ~/.netrc"))


def _option_value(tokens: list[str], where: str) -> tuple[str, str]:
    head = tokens[0]
    if "=" in head and head.startswith("--"):
        name, value = head.split("=", 1)
        return name, value
    if head.startswith("-") and not head.startswith("--") and len(head) > 2:
        return head[:2], head[2:]
    if len(tokens) < 2:
        raise InputError(f"{where}: option {head} needs a value", f"write it as '{head} VALUE'")
    return head, tokens[1]


def _option(
    tokens: list[str], path: Path, where: str, state: _State, stack: tuple[Path, ...], constraint: bool
) -> None:
    head = tokens[0].split("=", 1)[0]
    if head == "--no-index":
        state.no_index = True
        return
    if head in _IGNORED_FLAGS:
        return
    name, value = _option_value(tokens, where)
    if name in ("-r", "--requirement", "-c", "--constraint"):
        target = (path.parent / value).resolve()
        _read_file(target, state, (*stack, path), constraint or name in ("-c", "--constraint"), included_at=where)
    elif name in ("-i", "--index-url"):
        state.index_url = value
    elif name == "--extra-index-url":
        state.extra_index_urls.append(value)
    elif name in ("-f", "--find-links"):
        state.find_links.append(_absolute_location(value, path))
    elif name in ("-e", "--editable"):
        _requirement(value, path, where, state, constraint)
    else:
        raise InputError(
            f"{where}: option {name} is not supported in a Lambda requirements file",
            "remove it; supported options are -r, -c, -i/--index-url, --extra-index-url, -f/--find-links, "
            "--no-index, -e PATH and per-line --hash",
        )


def _absolute_location(value: str, relative_to: Path) -> str:
    if "://" in value:
        return value
    return str((relative_to.parent / value).resolve())


def _requirement(line: str, path: Path, where: str, state: _State, constraint: bool) -> None:
    # split off per-requirement options (--hash=...), keep them verbatim for the installer
    parts = re.split(r"\s+(?=--)", line)
    body, options = parts[0].strip(), [p.strip() for p in parts[1:]]
    for opt in options:
        if not opt.startswith("--hash"):
            raise InputError(f"{where}: unsupported per-requirement option {lu.echo(opt)!r}",
                             "only --hash=... is allowed")
        # "--hash=" or "--hash " then the value; any other spelling is checked whole, and so refused
        lu.hash_of(opt[len("--hash="):] if opt[6:7] in ("=", " ") else opt, where,
                   "write it as --hash=sha256:<64 hex digits>")
    options = [o.replace("--hash ", "--hash=") for o in options]
    out = state.constraints if constraint else state.requirements

    if lu.is_vcs(body):
        raise lu.vcs_error(where, lu.echo(body.split("@")[0].strip()) or "a requirement", body)
    if re.match(r"^[a-z][a-z0-9+.-]*://", body, re.IGNORECASE) and not body.startswith("file:"):
        body = f"{_name_of_url(body, where)} @ {body}"  # a bare URL: pip names it after its file
    elif _looks_like_path(body):
        local = Path(unquote(body[len("file://"):]) if body.startswith("file://") else body)
        local = (path.parent / local).resolve() if not local.is_absolute() else local
        out.append(" ".join([str(_local(local, where, state)), *options]))
        return
    try:
        req = Requirement(body)
    except InvalidRequirement as exc:
        raise lu.invalid_requirement(
            where, body, exc, "write it as 'name', 'name==1.2.3' or 'name>=1; python_version >= \"3.12\"' (PEP 508)"
        ) from None
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    if req.url and req.url.startswith("file:"):
        local = Path(unquote(req.url[len("file://"):]) if req.url.startswith("file://") else req.url[5:])
        if not local.is_absolute():
            local = (path.parent / local).resolve()
        body = f"{req.name}{extras} @ {_local(local, where, state).as_uri()}"
    elif req.url:
        url, hashes = state.sources.remote(req.url, where)
        body = f"{req.name}{extras} @ {url}"
        options += [f"--hash={h}" for h in hashes]
    else:
        body = str(req)
    if req.url and req.marker:
        body += f" ; {req.marker}"
    out.append(" ".join([body, *options]))


def _local(local: Path, where: str, state: _State) -> Path:
    """A local path requirement: a Python project folder (fingerprinted) or a wheel/sdist file."""
    if not local.exists():
        raise InputError(f"{where}: local path {local} does not exist", "fix the path (relative to the file)",
                         code="local-path")
    if local.is_dir():
        state.sources.folder(local, where)
        return local
    return lu.local_archive(local, where, project=None)


def _name_of_url(url: str, where: str) -> str:
    """The project name in a bare URL's file name (``.../pkg-1.0-py3-none-any.whl`` -> ``pkg``)."""
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        raise InputError(f"{where}: cannot tell which package the URL {lu.echo(url)!r} is",
                         "name it: write 'name @ URL'", code="invalid-requirement") from None


def _looks_like_path(body: str) -> bool:
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@", body):
        return False  # name @ url
    return body.startswith((".", "/", "file:")) or body.endswith((".whl", ".tar.gz", ".zip"))
