"""The commands of ``cdk-native-python`` besides ``build`` (``cli/main.py``), registered in ONE table.

Each command is its own module with ``add_parser(commands)`` and ``run(args[, build])``: ``cache``
(:mod:`.cache`), ``explain`` (:mod:`.explain`), ``prefetch`` (:mod:`.prefetch`), ``report`` (:mod:`.report`).
Adding one is a module and a line in :data:`TABLE` (``--help`` lists the commands in its order).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from . import cache, explain, prefetch, report

#: runs ``build`` with these command-line arguments (``cli/main.py`` passes its own, which sits above this module)
BuildCommand = Callable[[Sequence[str]], int]
#: the parser's subcommands (argparse's class is generic only for type checkers)
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@dataclass(frozen=True)
class Command:
    add_parser: Callable[[SubParsers], None]
    #: runs the parsed command; errors are raised for the command line to print
    run: Callable[[argparse.Namespace, BuildCommand], int]


TABLE: dict[str, Command] = {
    "cache": Command(cache.add_parser, lambda args, _build: cache.run(args)),
    "prefetch": Command(prefetch.add_parser, lambda args, _build: prefetch.run(args)),
    "explain": Command(explain.add_parser, explain.run),
    "report": Command(report.add_parser, report.run),
}
COMMANDS = tuple(TABLE)


def register(commands: SubParsers) -> None:
    """Add every command of :data:`TABLE` to the command line's parser."""
    for command in TABLE.values():
        command.add_parser(commands)


def run_command(args: argparse.Namespace, build: BuildCommand) -> int:
    """Run the command ``args`` names; ``build`` is for a command that builds (``explain`` without a report)."""
    return TABLE[args.command].run(args, build)
