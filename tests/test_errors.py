"""The error model (``errors.py``): every user-caused failure is a ``BundlingError`` with a message, a hint and a
stable code; naming the construct keeps all three; a user's line is echoed as a short excerpt only."""

from __future__ import annotations

import inspect

import pytest

from cdk_native_python.core import errors
from cdk_native_python.core.errors import BundlingError, ConfigurationError, InstallError, excerpt


def test_str_is_the_headline_then_the_hint() -> None:
    err = InstallError("hash mismatch for depa==1.0", "re-lock from a trusted index", code="hash-mismatch")
    assert str(err) == "hash mismatch for depa==1.0\n  hint: re-lock from a trusted index"
    assert str(InstallError("no hint")) == "no hint" and InstallError("x").code == "install-failed"
    assert err.code == "hash-mismatch" and err.headline == err.message


def test_about_names_the_construct_and_keeps_class_hint_and_code() -> None:
    err = InstallError("hash mismatch for depa==1.0", "re-lock", code="hash-mismatch")
    named = err.about("Stack/Api")
    assert type(named) is InstallError and named.hint == "re-lock" and named.code == "hash-mismatch"
    assert str(named) == "Stack/Api could not be bundled: hash mismatch for depa==1.0\n  hint: re-lock"
    assert err.subject is None  # the original is unchanged (CDK may bundle the same asset for another construct)
    assert named.about("Other/Fn").headline.startswith("Other/Fn could not be bundled: ")


def test_every_error_class_is_a_bundling_error_with_its_own_stable_code() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, BundlingError) and c is not BundlingError]
    assert len(classes) >= 8
    codes = [c.default_code for c in classes if "default_code" in vars(c)]  # UsageError keeps its parent's
    assert len(set(codes)) == len(codes), codes
    assert all(code == code.lower() and " " not in code for code in codes)
    assert ConfigurationError("x", code="entry-missing").code == "entry-missing"


@pytest.mark.parametrize(("text", "shown"), [
    ("  short line  ", "short line"),
    ("x" * 60, "x" * 60),
    ("aws_secret_access_key=" + "K" * 80, "aws_secret_access_key=" + "K" * 37 + "…"),
])
def test_excerpt_shows_at_most_the_limit(text: str, shown: str) -> None:
    assert excerpt(text) == shown and len(excerpt(text)) <= errors.ECHO_LIMIT
    assert excerpt("abcdef", limit=4) == "abc…"

