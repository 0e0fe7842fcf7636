"""Read pip requirements files into a :class:`DependencySpec`.

We parse the file ourselves instead of handing it to the resolver as-is because (a) includes and
relative paths must be flattened so the cache key covers everything the result depends on, and (b) a
mistake must be reported as ``file:line`` with a fix, before any resolver runs.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import InputError
from ..fingerprint import tree_digest
from ..spec import DependencySpec, IndexOptions

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
# options that change nothing for a target-aware, wheel-only install and are accepted silently
_IGNORED_FLAGS = {"--pre", "--prefer-binary", "--use-feature", "--trusted-host", "--only-binary", "--no-binary"}
_VCS = ("git+", "hg+", "svn+", "bzr+")


@dataclass
class _State:
    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    paths: list[str] = field(default_factory=list)


def read(path: Path) -> DependencySpec:
    """Read ``path`` and everything it includes (``-r``/``-c``) into one flat spec."""
    state = _State()
    _read_file(path.resolve(), state, stack=(), constraint=False)
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
        path_fingerprints=tuple(state.paths),
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


def _read_file(path: Path, state: _State, stack: tuple[Path, ...], constraint: bool) -> None:
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise InputError(f"requirements include loop: {chain}", "remove one of the -r/-c lines that form the loop")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = f" (included from {stack[-1]})" if stack else ""
        raise InputError(
            f"requirements file {path} does not exist{where}",
            "fix the -r/-c path (it is relative to the including file) or create the file",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read requirements file {path}: {exc}", "make it a readable UTF-8 file") from None

    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        line = _expand(line, where)
        try:
            tokens = shlex.split(line, posix=True)
        except ValueError as exc:
            raise InputError(f"{where}: cannot parse {line!r} ({exc})", "check the quoting on that line") from None
        if tokens[0].startswith("-") and not tokens[0].startswith("--hash"):
            _option(tokens, path, where, state, stack, constraint)
            continue
        _requirement(line, path, where, state, constraint)


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
        _read_file(target, state, (*stack, path), constraint or name in ("-c", "--constraint"))
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
            raise InputError(f"{where}: unsupported per-requirement option {opt!r}", "only --hash=... is allowed")
        if not re.fullmatch(r"--hash[= ](sha256|sha384|sha512):[0-9a-fA-F]+", opt):
            raise InputError(f"{where}: malformed hash {opt!r}", "write it as --hash=sha256:<64 hex digits>")
    options = [o.replace("--hash ", "--hash=") for o in options]

    if body.startswith(_VCS) or re.search(r"@\s*(git|hg|svn|bzr)\+", body):
        raise InputError(
            f"{where}: VCS requirement {body!r} is not supported",
            "publish the package as a wheel to an index, or vendor it as a local folder and refer to its path",
        )
    if _looks_like_path(body):
        local = Path(body.replace("file://", "", 1) if body.startswith("file://") else body)
        local = (path.parent / local).resolve() if not local.is_absolute() else local
        if not local.exists():
            raise InputError(f"{where}: local path {local} does not exist", "fix the path (relative to the file)")
        if local.is_dir():
            state.paths.append(f"{local}:{tree_digest(local)}")
        (state.constraints if constraint else state.requirements).append(str(local))
        return
    try:
        req = Requirement(body)
    except InvalidRequirement as exc:
        raise InputError(
            f"{where}: {body!r} is not a valid requirement ({exc})",
            "write it as 'name', 'name==1.2.3' or 'name>=1; python_version >= \"3.12\"' (PEP 508)",
        ) from None
    if req.url and req.url.startswith("file:"):
        local = Path(req.url[len("file://") :] if req.url.startswith("file://") else req.url[5:])
        if not local.is_absolute():
            local = (path.parent / local).resolve()
        if local.is_dir():
            state.paths.append(f"{local}:{tree_digest(local)}")
        body = f"{req.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''} @ {local.as_uri()}"
        if req.marker:
            body += f" ; {req.marker}"
    else:
        body = str(req)
    (state.constraints if constraint else state.requirements).append(" ".join([body, *options]))


def _looks_like_path(body: str) -> bool:
    return body.startswith((".", "/", "file:")) or body.endswith((".whl", ".tar.gz", ".zip"))
