"""TOML loading with errors that name the file and line (size and type bounded by :mod:`._read`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ._read import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def load_toml(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}", "fix the syntax at the position shown") from None
    return data
