"""Options named in messages, spoken in the language of the interface the user is in.

A message or hint deep in the pipeline does not know whether a construct or ``cdk-native-python build``
asked for the bundle. So it never spells an option itself: it names it with :func:`option`
(``option("keep_boto3", True)``), and the boundary that shows the text renders it with :func:`speak`:
the :class:`~cdk_native_python.core.reporter.Reporter` (given its interface by the CLI or the construct) for
notices, :class:`~cdk_native_python.core.errors.BundlingError` (construct language by default; the CLI asks for
its own) for errors. The construct says ``keep_boto3=True``, the CLI ``--keep-boto3``; ``strip=['pandas']``
becomes ``--strip pandas``. One table, :data:`CLI_FLAGS`, maps the options' fields (``options.py``) to
the CLI's flags; an option the CLI has no flag for keeps its construct spelling.
"""

from __future__ import annotations

import ast
import re
import shlex
from typing import Literal

__all__ = ["CLI_FLAGS", "Interface", "option", "speak"]

Interface = Literal["construct", "cli"]

#: the option (its field in options.py and the construct's keyword) -> the ``cdk-native-python build`` flag
CLI_FLAGS: dict[str, str] = {
    "keep_boto3": "--keep-boto3", "keep": "--keep", "strip": "--strip", "asset_excludes": "--exclude",
    "allow_build": "--allow-build", "resolve_pipfile": "--resolve-pipfile", "dependency_file": "--dependency-file",
    "verify_exclude": "--verify-exclude", "index_url": "--index-url", "extra_index_urls": "--extra-index-url",
    "find_links": "--find-links", "no_index": "--no-index", "groups": "--group", "extras": "--extra",
    "cache_dir": "--cache-dir", "remote_cache": "--remote-cache", "refresh": "--refresh",
}
#: options the CLI turns *off* with a flag: ``slim=False`` is ``--no-slim``
_OFF_FLAGS: dict[str, str] = {"slim": "--no-slim"}

_UNSET = object()
_TOKEN = re.compile(r"\u27e6([a-z][a-z0-9_]*)(?:=(.*?))?\u27e7")


def option(name: str, value: object = _UNSET) -> str:
    """``name`` (with ``value``, a Python literal; ``...`` for "some list") as a message names it, to be
    rendered by :func:`speak`."""
    if value is _UNSET:
        return f"\u27e6{name}\u27e7"
    return f"\u27e6{name}={'[...]' if value is ... else repr(value)}\u27e7"


def speak(text: str, interface: Interface = "construct") -> str:
    """``text`` with every :func:`option` it holds spelt for ``interface``."""
    if "\u27e6" not in text:
        return text
    return _TOKEN.sub(lambda m: _spell(m.group(1), m.group(2), interface), text)


def _spell(name: str, value: str | None, interface: Interface) -> str:
    construct = name if value is None else f"{name}={value}"
    if interface == "construct":
        return construct
    if name in _OFF_FLAGS:
        return _OFF_FLAGS[name] if value == "False" else f"no {_OFF_FLAGS[name]}"
    flag = CLI_FLAGS.get(name)
    if flag is None:
        return construct
    if value is None:
        return flag
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return flag
    if literal is True:
        return flag
    if literal is False:
        return f"no {flag}"
    if isinstance(literal, (list, tuple)):
        if ... in literal:  # "strip=[...]": some list, the flag says it
            return flag
        return " ".join(f"{flag} {shlex.quote(str(v))}" for v in literal) or flag
    return f"{flag} {shlex.quote(str(literal))}"
