"""Hints speak the language of the interface the user is in (hints.py): the construct names its options
(``keep_boto3=True``), ``cdk-native-python build`` its flags (``--keep-boto3``), through one table."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.cli import main as cli
from cdk_native_python.core.errors import InputError
from cdk_native_python.core.hints import CLI_FLAGS, option, speak
from cdk_native_python.core.reporter import Notice, Reporter, silent
from cdk_native_python.pipeline.options import BundlingOptions
from tests.helpers import ROOT, cli_build, engine_build, says, write_function


def _build_flags() -> set[str]:
    build = next(a for a in cli.parser()._subparsers._group_actions[0].choices.items() if a[0] == "build")[1]  # type: ignore[union-attr]
    return {flag for action in build._actions for flag in action.option_strings}


def test_the_table_maps_real_options_to_real_flags() -> None:
    fields = {f.name for f in dataclasses.fields(BundlingOptions)}
    assert set(CLI_FLAGS) <= fields, set(CLI_FLAGS) - fields
    flags = _build_flags()
    assert set(CLI_FLAGS.values()) <= flags, set(CLI_FLAGS.values()) - flags


@pytest.mark.parametrize(("name", "value", "construct", "command_line"), [
    ("keep_boto3", True, "keep_boto3=True", "--keep-boto3"),
    ("keep_boto3", False, "keep_boto3=False", "no --keep-boto3"),
    ("strip", ["pandas"], "strip=['pandas']", "--strip pandas"),
    ("strip", ..., "strip=[...]", "--strip"),
    ("asset_excludes", ["my data"], "asset_excludes=['my data']", "--exclude 'my data'"),
    ("allow_build", ["a", "b"], "allow_build=['a', 'b']", "--allow-build a --allow-build b"),
    ("resolve_pipfile", True, "resolve_pipfile=True", "--resolve-pipfile"),
    ("dependency_file", None, "dependency_file", "--dependency-file"),
    ("slim", False, "slim=False", "--no-slim"),
    ("compile_bytecode", False, "compile_bytecode=False", "compile_bytecode=False"),  # no flag: as it is
])
def test_each_interface_spells_an_option_its_way(name: str, value: Any, construct: str, command_line: str) -> None:
    text = f"set {option(name) if value is None else option(name, value)} to go on"
    assert speak(text) == speak(text, "construct") == f"set {construct} to go on"
    assert speak(text, "cli") == f"set {command_line} to go on"


def test_the_reporter_and_errors_speak_their_interface() -> None:
    said = f"ships ({option('keep_boto3', True)} says you mean it)"
    construct, command_line = silent(), Reporter(sink=lambda _n, _s: None, interface="cli")
    for reporter in (construct, command_line, command_line.child()):
        reporter.warn("runtime-provided-shipped", said)
    assert construct.notices == [Notice("runtime-provided-shipped", "ships (keep_boto3=True says you mean it)")]
    assert command_line.notices == [Notice("runtime-provided-shipped", "ships (--keep-boto3 says you mean it)")]
    err = InputError(f"{option('dependency_file')} is wrong", f"fix {option('dependency_file')}")
    assert str(err) == "dependency_file is wrong\n  hint: fix dependency_file" and err.hint == "fix dependency_file"
    assert err.spoken("cli") == ("--dependency-file is wrong", "fix --dependency-file")


def test_no_message_spells_an_option_itself() -> None:
    """Every option a message names goes through hints.option: a literal ``keep_boto3=True`` or ``(CLI: --x)``
    in the package's strings would say the construct's words on the command line (or the reverse)."""
    spelt = re.compile(r"\b(" + "|".join(CLI_FLAGS) + r")=[\[\w'\"(]|\(CLI: ")
    found = []
    for path in sorted((ROOT / "cdk_native_python").rglob("*.py")):
        rel = path.relative_to(ROOT / "cdk_native_python").as_posix()
        if rel in ("core/hints.py", "cli/main.py", "pipeline/options.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)  # type: ignore[attr-defined]
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and spelt.search(node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value[:80]}")
    assert found == []


def test_the_boto3_warning_names_the_flag_on_the_command_line(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "boto3==1.0\n")
    built = engine_build(tmp_path, entry, index=wheel_index)
    (warning,) = [w for w in built.report.warnings if "runtime provides" in w]
    assert warning.endswith("(keep_boto3=True says you mean it)")
    proc = cli_build(tmp_path, entry, "--index-url", wheel_index.url)
    assert proc.returncode == 0, proc.stderr
    assert "(--keep-boto3 says you mean it)" in proc.stderr and "keep_boto3" not in proc.stderr


def test_a_refused_input_names_the_flag_on_the_command_line(tmp_path: Path) -> None:
    entry = write_function(tmp_path, files={"Pipfile": '[packages]\nrequests = "*"\n'})
    with pytest.raises(InputError) as info:
        engine_build(tmp_path, entry)
    says(info.value, "Pipfile.lock", hint="or set resolve_pipfile=True to resolve")
    proc = cli_build(tmp_path, entry)
    assert proc.returncode == 2 and "or set --resolve-pipfile to resolve" in proc.stderr, proc.stderr
    assert "resolve_pipfile" not in proc.stderr
