"""The public API, pinned: what ``from cdk_native_python import ...`` gives, the console script and
``python -m cdk_native_python.cli``. The modules behind them may move (docs/design.md, "The layout"); these
names may not."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import cdk_native_python

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = ["BundlingOptions", "CommandHooks", "ICommandHooks", "NativePythonFunction", "NativePythonLayerVersion",
          "PythonFunction", "PythonLayerVersion", "__version__"]


def test_the_root_exports_exactly_the_public_names() -> None:
    assert sorted(cdk_native_python.__all__) == PUBLIC


def test_every_public_name_imports_from_the_root_with_the_upstream_aliases() -> None:
    from cdk_native_python import (
        BundlingOptions,
        CommandHooks,
        ICommandHooks,
        NativePythonFunction,
        NativePythonLayerVersion,
        PythonFunction,
        PythonLayerVersion,
        __version__,
    )

    assert PythonFunction is NativePythonFunction
    assert PythonLayerVersion is NativePythonLayerVersion
    assert ICommandHooks is CommandHooks
    assert dataclasses.is_dataclass(BundlingOptions)
    assert isinstance(__version__, str) and __version__[0].isdigit()
    for name in PUBLIC:  # the star import too
        namespace: dict[str, object] = {}
        exec("from cdk_native_python import *", namespace)
        assert name in namespace


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        cdk_native_python.NoSuchConstruct  # noqa: B018
    with pytest.raises(ImportError):
        exec("from cdk_native_python import NoSuchConstruct", {})


def test_the_console_script_names_a_callable_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, attr = scripts["cdk-native-python"].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_python_dash_m_runs_the_command_line() -> None:
    out = subprocess.run([sys.executable, "-m", "cdk_native_python.cli", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    assert "build" in out.stdout
