"""A small parser for PEP 508 environment markers, for deciding some atoms before the target is known.

``packaging.markers.Marker`` evaluates a whole marker, but exposes no tree to walk: locks say
``sys_platform == "linux" and extra == "s3"``, and the readers must decide the ``extra`` / group atoms
(the user's selection) while keeping the rest for the installer to evaluate on the target. This module
parses the grammar of PEP 508 (``packaging`` still validates every marker first) into a tree of
:class:`Atom`, ``And`` and ``Or`` nodes, written back with :func:`text`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: PEP 508's marker variables (``extra``, ``extras`` and ``dependency_groups`` are the selection ones)
VARIABLES = frozenset({
    "python_version", "python_full_version", "os_name", "sys_platform", "platform_release", "platform_system",
    "platform_version", "platform_machine", "platform_python_implementation", "implementation_name",
    "implementation_version", "extra", "extras", "dependency_groups",
})
_TOKEN = re.compile(r"""\s*(?:(?P<paren>[()])|(?P<string>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)
                        |(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""", re.VERBOSE)


@dataclass(frozen=True)
class Atom:
    """``left op right``; a side is a variable name or a quoted literal's value."""

    left: str
    op: str
    right: str
    left_is_variable: bool
    right_is_variable: bool

    def side(self, value: str, is_variable: bool) -> str:
        return value if is_variable else f'"{value}"'

    def text(self) -> str:
        return (f"{self.side(self.left, self.left_is_variable)} {self.op} "
                f"{self.side(self.right, self.right_is_variable)}")


@dataclass(frozen=True)
class Group:
    """``and`` or ``or`` of several nodes."""

    kind: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Atom | Group


class MarkerSyntaxError(ValueError):
    pass


def parse(marker: str) -> Node:
    tokens = _tokens(marker)
    node, rest = _or(tokens)
    if rest:
        raise MarkerSyntaxError(f"unexpected {rest[0][1]!r}")
    return node


def _tokens(marker: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(marker):
        if marker[pos:].strip() == "":
            break
        m = _TOKEN.match(marker, pos)
        if not m or m.end() == pos:
            raise MarkerSyntaxError(f"cannot read {marker[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word" and value in ("and", "or"):
            kind = value
        out.append((kind, " ".join(value.split()) if kind == "op" else value))
        pos = m.end()
    return out


Tokens = list[tuple[str, str]]


def _joined(tokens: Tokens, word: str, part: Callable[[Tokens], tuple[Node, Tokens]]) -> tuple[Node, Tokens]:
    """``part (word part)*`` as one node (``and`` binds tighter than ``or``: ``_or`` joins ``_and``s)."""
    node, tokens = part(tokens)
    items = [node]
    while tokens and tokens[0][0] == word:
        node, tokens = part(tokens[1:])
        items.append(node)
    return (items[0] if len(items) == 1 else Group(word, tuple(items))), tokens


def _or(tokens: Tokens) -> tuple[Node, Tokens]:
    return _joined(tokens, "or", _and)


def _and(tokens: Tokens) -> tuple[Node, Tokens]:
    return _joined(tokens, "and", _expr)


def _expr(tokens: list[tuple[str, str]]) -> tuple[Node, list[tuple[str, str]]]:
    if tokens and tokens[0] == ("paren", "("):
        node, rest = _or(tokens[1:])
        if not rest or rest[0] != ("paren", ")"):
            raise MarkerSyntaxError("unbalanced parentheses")
        return node, rest[1:]
    if len(tokens) < 3 or tokens[1][0] != "op":
        raise MarkerSyntaxError("expected 'variable op value'")
    (lk, lv), (_, op), (rk, rv) = tokens[:3]
    for kind, value in ((lk, lv), (rk, rv)):
        if kind == "word" and value not in VARIABLES:
            raise MarkerSyntaxError(f"unknown marker variable {value!r}")
        if kind not in ("word", "string"):
            raise MarkerSyntaxError("expected a variable or a quoted value")
    return Atom(_unquote(lv), op, _unquote(rv), lk == "word", rk == "word"), tokens[3:]


def _unquote(value: str) -> str:
    return value[1:-1] if value[:1] in "'\"" else value
