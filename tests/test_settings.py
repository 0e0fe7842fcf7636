"""Environment variables (``settings.py``): one table, one grammar for on/off, read in one module.

The package's source is read with ``ast``: no module but ``settings.py`` names a ``CDK_NATIVE_PYTHON_*``
variable as a string or reads one from the environment, so a new variable cannot skip the table (and its
documentation, ``docs/environment.md``, generated from it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_native_python.cli import main as cli
from cdk_native_python.core import settings
from cdk_native_python.core.errors import ConfigurationError
from cdk_native_python.core.progress import Console
from cdk_native_python.core.reporter import Reporter
from cdk_native_python.core.settings import PREFIX, QUIET, REFRESH, REMOTE_CACHE_WRITE, VARIABLES, VERBOSE, Flag

PACKAGE = Path(settings.__file__).parent.parent  # the package root (settings.py lives in core/)
ROOT = PACKAGE.parent
OURS = [v for v in VARIABLES if v.name.startswith(PREFIX)]


def _environ_reads(tree: ast.AST) -> list[ast.AST]:
    """``os.environ[...]``, ``os.environ.get(...)``, ``os.getenv(...)``, ``environ.get(...)`` nodes."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
            found.append(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if ((owner.endswith("environ") and node.func.attr in ("get", "pop", "setdefault"))
                    or (owner == "os" and node.func.attr == "getenv")) and node.args:
                found.append(node.args[0])
    return found


def test_only_settings_names_or_reads_our_variables() -> None:
    """A literal variable name outside settings.py, or an environment read whose key is one (or comes from
    settings), means a variable is read around the table."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(settings.__file__):
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PREFIX)
                    and node.value[len(PREFIX):].replace("_", "").isalnum()):
                wrong.append(f"{rel}:{node.lineno}: the name {node.value}")
        for key in _environ_reads(tree):
            text = ast.unparse(key)
            if PREFIX in text or "settings" in text or text.endswith("_ENV") or text == "ENV_VAR":
                wrong.append(f"{rel}:{getattr(key, 'lineno', 0)}: os.environ read of {text}")
    assert not wrong, f"read these through cdk_native_python.core.settings: {wrong}"


def test_every_variable_of_ours_is_in_the_table_with_a_type_default_and_meaning() -> None:
    names = [v.name for v in VARIABLES]
    assert len(set(names)) == len(names)
    assert {v.name for v in OURS} == {f"{PREFIX}{n}" for n in (
        "CACHE_DIR", "REFRESH", "VERBOSE", "QUIET", "REMOTE_CACHE", "REMOTE_CACHE_WRITE", "REMOTE_CACHE_TRUSTED_KEYS",
        "REMOTE_CACHE_SIGNING_KEY", "REMOTE_CACHE_SIGNING_KEY_FILE", "REMOTE_CACHE_TIMEOUT", "NO_DOWNLOAD_AHEAD",
        "PREFETCH_FILE")}
    assert all(v.type and v.default and v.meaning for v in OURS)


@pytest.mark.parametrize("flag", [v for v in VARIABLES if isinstance(v, Flag)], ids=lambda v: v.name)
def test_on_off_has_one_grammar(flag: Flag) -> None:
    for word in ("1", "true", "yes", "on", "TRUE", " Yes ", "On"):
        assert flag.on({flag.name: word}) is True
    for word in ("0", "false", "no", "off", "FALSE", "Off", "", "  "):
        assert flag.on({flag.name: word}) is False
    assert flag.on({}) is False
    for word in ("maybe", "2", "enabled", "y"):
        with pytest.raises(ConfigurationError) as err:
            flag.on({flag.name: word})
        assert err.value.code == "environment-invalid" and flag.name in err.value.message
        assert err.value.hint and "1, true, yes or on" in err.value.hint


def test_quiet_false_means_not_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to turn quiet mode on: any value but empty or 0 was on."""
    monkeypatch.setenv(QUIET.name, "false")
    monkeypatch.setenv(VERBOSE.name, "no")
    console = Console()
    assert console.quiet is False and console.verbose is False
    said: list[str] = []
    monkeypatch.setattr("cdk_native_python.core.reporter._stderr", said.append)
    Reporter("Stack/Fn", on_phase=None).warn("size-near-limit", "close to the limit")
    assert said and "close to the limit" in said[0]
    monkeypatch.setenv(QUIET.name, "true")
    Reporter("Stack/Fn", on_phase=None).warn("size-near-limit", "again")
    assert len(said) == 1


def test_refresh_reads_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REFRESH.name, "off")
    assert REFRESH.on() is False
    monkeypatch.setenv(REFRESH.name, "yes")
    assert REFRESH.on() is True


def test_a_bad_value_is_a_usage_error_naming_the_variable_before_anything_runs(tmp_path: Path) -> None:
    """The command line checks every variable first: exit 2, one line naming it, nothing written."""
    out = tmp_path / "fn.zip"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), VERBOSE.name: "loud"}
    done = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "build", "--runtime", "python3.12",
                           "-r", str(tmp_path / "requirements.txt"), "--zip", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == cli.EXIT_USAGE == 2
    assert f"error: {VERBOSE.name}='loud' is neither on nor off" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_check_reads_every_flag() -> None:
    settings.check({})
    with pytest.raises(ConfigurationError) as err:
        settings.check({REMOTE_CACHE_WRITE.name: "sometimes"})
    assert REMOTE_CACHE_WRITE.name in err.value.message
