"""The code registry (``codes.py``) and the package's source cannot drift apart.

The package is read with ``ast``: every place that raises an error or reports a notice with a code is found,
its code resolved (a literal, a class's default, or one of the few computed codes listed below with where
their values come from), and checked against the registry: registered, raised with the registered class
(or a subclass), reported at the registered level. Every registered code must be used somewhere, and no two
codes may say the same thing. A missing entry is one situation with one code wherever it is met.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdk_native_python.cdk.bundling import entry_folder, target_of
from cdk_native_python.cli import main as cli
from cdk_native_python.core import codes, errors
from cdk_native_python.core.codes import CODES
from cdk_native_python.core.errors import BundlingError

PACKAGE = Path(codes.__file__).parent.parent  # the package root (codes.py lives in core/)
ERROR_CLASSES = {name for name, value in vars(errors).items()
                 if isinstance(value, type) and issubclass(value, BundlingError)}


@dataclass(frozen=True)
class Site:
    """A place in the source that gives a code."""

    where: str
    code: str
    #: the error class it raises, or ``None`` for a notice
    error_class: str | None
    #: ``error``, ``warning`` or ``info``
    levels: frozenset[str]


def _constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _function(tree: ast.Module, name: str) -> ast.AST:
    return next(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                and n.name == name)


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    """The value of the module-level assignment to ``name``."""
    return next(n.value for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None
                and any(isinstance(t, ast.Name) and t.id == name
                        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])))


def _computed(rel: str, tree: ast.Module, expr: ast.expr) -> set[str] | None:
    """The codes a computed ``code`` expression can take, for the few places that compute one (None: unknown)."""
    text = ast.unparse(expr)
    if isinstance(expr, ast.IfExp) and all(isinstance(e, ast.Constant) for e in (expr.body, expr.orelse)):
        return _constants(expr.body) | _constants(expr.orelse)
    if rel == "store/remote.py" and text == "code" and "code = f'remote-cache-{kind}'" in ast.unparse(
            _function(tree, "_failed")):
        # _failed's code = f"remote-cache-{kind}": the kinds are the first words of Problem(...) and of
        # _classify's answers
        kinds = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                 and isinstance(c.func, ast.Name) and c.func.id == "Problem"
                 and isinstance(c.args[0], ast.Constant) and isinstance(c.args[0].value, str)}
        kinds |= {r.value.elts[0].value for r in ast.walk(_function(tree, "_classify"))
                  if isinstance(r, ast.Return) and isinstance(r.value, ast.Tuple)
                  and isinstance(r.value.elts[0], ast.Constant) and isinstance(r.value.elts[0].value, str)}
        return {f"remote-cache-{kind}" for kind in kinds}
    if rel == "core/source.py" and text == "code":  # kind, code = _special(mode)
        return {r.value.elts[1].value for r in ast.walk(_function(tree, "_special"))
                if isinstance(r, ast.Return) and isinstance(r.value, ast.Tuple)
                and isinstance(r.value.elts[1], ast.Constant) and isinstance(r.value.elts[1].value, str)}
    if rel == "pipeline/diagnose.py" and text.startswith("f'{prefix}-"):
        # download_error's f"{prefix}-<answer>": the prefixes are those of _KINDS; a 404 of the user's own URL is
        # the literal url-not-found, and only a URL or a listed file is fetched with uv's HEAD first
        suffix = text.removeprefix("f'{prefix}-").removesuffix("'")
        prefixes = {v.elts[1].value for v in _assigned(tree, "_KINDS").values}  # type: ignore[attr-defined]
        if suffix == "not-found":
            prefixes -= {"url"}
        if suffix == "head-unsupported":
            prefixes = {"url", "download"}
        return {f"{p}-{suffix}" for p in prefixes}
    if rel == "inputs/requirements.py" and text == "exc.code":  # an include's error, re-raised naming the file
        return set()
    return None


def sites(package: Path = PACKAGE) -> Iterator[Site]:
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            where = f"{rel}:{node.lineno}"
            keyword = next((k.value for k in node.keywords if k.arg == "code"), None)
            if name in ERROR_CLASSES or (rel == "core/source.py" and name == "refuse"):
                error_class = "InputError" if name == "refuse" else name
                expr = node.args[3] if name == "refuse" else keyword
                if expr is None:
                    yield Site(where, getattr(errors, error_class).default_code, error_class,
                               frozenset({"error"}))
                    continue
                levels = frozenset({"error"})
            elif name == "Notice" and node.args:
                expr = node.args[0]
                level = node.args[2] if len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg == "level"), None)
                levels = frozenset(_constants(level) if level is not None else {"warning"})
                error_class = None
            elif isinstance(func, ast.Attribute) and name in ("warn", "info") and node.args:
                expr, levels, error_class = node.args[0], frozenset({"warning" if name == "warn" else "info"}), None
            else:
                continue
            if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
                found = {expr.value}
            else:
                computed = _computed(rel, tree, expr)
                if computed is None:
                    if rel == "core/reporter.py":  # Reporter.warn/info: the code comes from their callers
                        continue
                    raise AssertionError(f"{where}: the code {ast.unparse(expr)} is computed; write it as a literal "
                                         "or teach tests/test_codes.py where its values come from")
                found = computed
            for code in found:
                yield Site(where, code, error_class, levels)


SITES = list(sites())


def test_every_code_the_package_gives_is_registered() -> None:
    unknown = sorted({f"{s.code} ({s.where})" for s in SITES if s.code not in CODES})
    assert not unknown, f"add these to cdk_native_python/core/codes.py: {unknown}"


def test_errors_are_raised_with_their_registered_class_and_notices_at_their_level() -> None:
    wrong = []
    for site in SITES:
        registered = CODES.get(site.code)
        if registered is None:
            continue
        if site.error_class is not None:
            ok = registered.error_class is not None and issubclass(getattr(errors, site.error_class),
                                                                    getattr(errors, registered.error_class))
        else:
            # a notice at a registered level (a code registered as both an error and a warning is an error in one
            # command and a warning in a build that carries on: cache-not-ours)
            ok = site.levels <= set(registered.levels)
        if not ok:
            wrong.append(f"{site.where}: {site.code} as {site.error_class or sorted(site.levels)}, registered as "
                         f"{registered.error_class or registered.levels}")
    assert not wrong, wrong


def test_every_registered_code_is_used() -> None:
    unused = sorted(set(CODES) - {s.code for s in SITES})
    assert not unused, f"nothing raises or reports {unused}: remove them from codes.py or use them"


def test_the_registry_is_well_formed_and_says_each_thing_once() -> None:
    for code in CODES.values():
        assert code.name == code.name.lower() and " " not in code.name and code.meaning and code.levels
        assert ("error" in code.levels) == (code.error_class is not None), code
        assert code.error_class is None or code.error_class in ERROR_CLASSES, code
    meanings = [c.meaning for c in CODES.values()]
    assert len(set(meanings)) == len(meanings), "two codes with one meaning name one situation: keep one"


def test_the_exit_code_follows_the_class() -> None:
    assert {CODES[c].error_class for c in ("entry-missing", "input-missing", "environment-invalid")} == {
        "ConfigurationError", "InputError"}
    expected = {"ConfigurationError": 2, "InputError": 2, "IndexUnreachableError": 3, "ResolutionError": 1,
                "InstallError": 1, "VerificationError": 1, "CacheError": 1, "HookError": 1, "OutputError": 1}
    for name, status in expected.items():
        assert cli.exit_code(getattr(errors, name)("x")) == status == getattr(errors, name).exit_status


def test_a_missing_entry_is_entry_missing_wherever_it_is_met(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Construct (``entry=``), engine and command line (``--source``) name one situation with one code."""
    with pytest.raises(BundlingError) as construct:
        entry_folder(str(tmp_path / "nowhere"))
    from cdk_native_python.core.target import Target
    from cdk_native_python.pipeline import engine
    from cdk_native_python.pipeline.options import BundlingOptions
    from cdk_native_python.store.local import LocalStore

    request = BundlingOptions().request(tmp_path / "nowhere", Target.from_runtime("python3.12"))
    with pytest.raises(BundlingError) as engine_error:
        engine.prepare(request, LocalStore(tmp_path / "cache"))
    args = cli.parser().parse_args(["build", "--runtime", "python3.12", "--source", str(tmp_path / "nowhere"),
                                    "--zip", str(tmp_path / "out.zip")])
    assert isinstance(args, argparse.Namespace)
    with pytest.raises(BundlingError) as flag:
        cli.build(args)
    assert construct.value.code == engine_error.value.code == flag.value.code == "entry-missing"


def test_a_runtime_that_is_not_python_is_runtime_unsupported_from_the_construct_too() -> None:
    from aws_cdk import aws_lambda as lambda_

    with pytest.raises(BundlingError) as construct:
        target_of(lambda_.Runtime.NODEJS_20_X, None)
    with pytest.raises(BundlingError) as engine_error:
        from cdk_native_python.core.target import Target
        Target.from_runtime("nodejs20.x")
    assert construct.value.code == engine_error.value.code == "runtime-unsupported"
