"""Imports go one way, downward (docs/design.md): no module of the package imports one that imports it
back, and the engine and the command line never import CDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cdk_native_python"

#: the construct layer: the only modules allowed to import aws_cdk / constructs / jsii
CONSTRUCT_LAYER = {"cdk_native_python.cdk.bundling", "cdk_native_python.cdk.function", "cdk_native_python.cdk.layer",
                   "cdk_native_python.pipeline.hooks"}
CDK_ROOTS = {"aws_cdk", "constructs", "jsii"}


def _modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(modules of the package, other top-level packages) that ``name`` imports anywhere in its body: a
    function-level import is still an import. The package root (a lazy facade) is left out."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    inner: set[str] = set()
    outer: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                inner.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            inner.update(alias.name for alias in node.names)
    outer = {m.split(".")[0] for m in inner if m not in modules}
    return {m for m in inner if m in modules and m not in (name, "cdk_native_python")}, outer


def _graph(package: Path = PACKAGE) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules(package)
    inner, outer = {}, {}
    for name, path in modules.items():
        inner[name], outer[name] = _imports(name, path, modules)
    return inner, outer


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    inner, _ = _graph()
    assert len(inner) > 40  # the walk found the package
    assert _cycles(inner) == []


def test_the_check_finds_a_planted_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "cdk_native_python"
    (pkg / "store").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "top.py").write_text("from .store import local\n")
    (pkg / "store" / "__init__.py").write_text("")
    (pkg / "store" / "local.py").write_text("def f():\n    from .. import top\n")
    inner, _ = _graph(pkg)
    assert _cycles(inner) == [["cdk_native_python.store.local", "cdk_native_python.top"]]


def test_only_the_construct_layer_imports_cdk() -> None:
    _, outer = _graph()
    importing = {name for name, tops in outer.items() if tops & CDK_ROOTS}
    assert importing and importing <= CONSTRUCT_LAYER, importing - CONSTRUCT_LAYER


def test_the_command_line_and_the_engine_load_without_cdk() -> None:
    code = ("import sys\n"
            "import cdk_native_python.cli.main\n"
            "import cdk_native_python.pipeline.engine\n"
            "import cdk_native_python.cli.commands\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(CDK_ROOTS)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


#: the layers, top to bottom (docs/design.md): a module imports its own subpackage and the layers below it;
#: subpackages that share a layer do not import each other. ``_version`` (a leaf) is below everything and the
#: package root (the lazy facade) above; nothing inside imports the root.
LAYERS: list[tuple[str, ...]] = [("cdk", "cli"), ("pipeline",), ("inputs", "store"), ("core",)]
LEAVES = {"_version"}


def _layer_of(module: str) -> tuple[int, str] | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in LEAVES:
        return None
    for rank, names in enumerate(LAYERS):
        if parts[1] in names:
            return rank, parts[1]
    raise AssertionError(f"{module} is in no layer: move it into a subpackage or add one to LAYERS")


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer, or sideways into another subpackage of the same layer."""
    found = []
    for name, targets in graph.items():
        if name == "cdk_native_python":
            continue
        here = _layer_of(name)
        for target in sorted(targets):
            there = _layer_of(target)
            if there is None:
                continue
            if here is None or (here[1] != there[1] and there[0] <= here[0]):
                found.append(f"{name} -> {target}")
    return sorted(found)


def test_imports_follow_the_layers() -> None:
    inner, _ = _graph()
    assert {m.split(".")[1] for m in inner if m.count(".")} >= {n for layer in LAYERS for n in layer}
    assert _upward(inner) == []


def test_the_layer_check_finds_an_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "cdk_native_python"
    for sub in ("core", "pipeline", "cli"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "low.py").write_text("from ..pipeline import high\n")
    (pkg / "pipeline" / "high.py").write_text("")
    (pkg / "cli" / "top.py").write_text("from ..pipeline import high\n")
    (pkg / "pipeline" / "mid.py").write_text("def f():\n    from ..cli import top\n")
    inner, _ = _graph(pkg)
    assert _upward(inner) == ["cdk_native_python.core.low -> cdk_native_python.pipeline.high",
                              "cdk_native_python.pipeline.mid -> cdk_native_python.cli.top"]
