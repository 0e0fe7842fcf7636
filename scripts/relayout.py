#!/usr/bin/env python3
"""Move the flat modules of ``cdk_native_python/`` into subpackages that show the layers (issue 25, item 4).

Run ONCE, from a clean work tree, at the repository's root::

    .venv/bin/python scripts/relayout.py --dry-run          # what it would do; changes nothing
    .venv/bin/python scripts/relayout.py [--map prefetch=cli.prefetch] [--keep name]
    git commit -m "relayout: ..."                            # the tool stages, never commits

It ``git mv``s each module of :data:`MAPPING` that exists (a missing one is skipped with a message), writes
the new subpackages' ``__init__.py``, and rewrites every reference to a moved module in ``cdk_native_python/``,
``tests/``, ``bench/``, ``scripts/``, ``integ/``, ``tools/``, ``.ci/``, ``pyproject.toml`` and the Markdown
pages (``CHANGELOG.md`` is history and is left alone):

- import statements, found with :mod:`ast` (absolute, relative at any
  level, ``from cdk_native_python import engine, uv`` split by the modules' new packages); a relative import
  is recomputed from the importing module's NEW place, so modules that did not move are fixed too;
- every other dotted reference ``cdk_native_python.<old>`` (``mock.patch("cdk_native_python.x.y")``,
  ``python -m ...``, the console script, docs code blocks), by regex with word boundaries, outside the import
  statements it already rewrote;
- paths ``cdk_native_python/<old>.py`` anywhere, and bare ``<old>.py`` in ``docs/**/*.md``.

A flat module it does not know stops the run before anything changes, with the layer its imports suggest:
add it with ``--map OLD=NEW`` (repeatable), or ``--keep OLD`` to leave it at the root. After the rewrite it
runs ``ruff --fix`` (import order only; what ruff still finds is printed) and prints the layer check of
``tests/test_imports.py``.
It refuses to run twice (``cdk_native_python/core/`` exists) and on a dirty tree (``--allow-dirty``).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "cdk_native_python"

#: old module (relative to the package) -> new module. Entries whose file does not exist are skipped, so
#: modules other branches may add (codes, settings, hints, prefetch, requestlog, keygen, ...) are listed too.
MAPPING: dict[str, str] = {
    # core: the shared foundations; they import only each other (and _version)
    "errors": "core.errors",
    "codes": "core.codes",
    "settings": "core.settings",
    "hints": "core.hints",
    "progress": "core.progress",
    "reporter": "core.reporter",
    "records": "core.records",
    "target": "core.target",
    "runtimes": "core.runtimes",
    "distributions": "core.distributions",
    "spec": "core.spec",
    "budget": "core.budget",
    # the entry's walk and digest: inputs/ (path dependencies) and several steps use it, so it sits below them
    "source": "core.source",
    "_fs": "core._fs",
    "_elffile": "core._elffile",
    # pipeline: the engine and its steps (above inputs/ and store/)
    "engine": "pipeline.engine",
    "options": "pipeline.options",
    "resolve": "pipeline.resolve",
    "install": "pipeline.install",
    "strip": "pipeline.strip",
    "slim": "pipeline.slim",
    "verify": "pipeline.verify",
    "stage": "pipeline.stage",
    "localbuild": "pipeline.localbuild",
    "pins": "pipeline.pins",
    "layerset": "pipeline.layerset",
    "hooks": "pipeline.hooks",
    "why": "pipeline.why",
    "diagnose": "pipeline.diagnose",
    "indexes": "pipeline.indexes",
    "uv": "pipeline.uv",
    "requestlog": "pipeline.requestlog",
    # cdk: the construct adapters (the only modules that import aws_cdk, with pipeline.hooks)
    "bundling": "cdk.bundling",
    "function": "cdk.function",
    "layer": "cdk.layer",
    # cli: the command line, one module per command
    "cli": "cli.main",
    "commands": "cli.commands",
    "explain": "cli.explain",
    "show": "cli.report",
    "cachecmd": "cli.cache",
    "prefetch": "cli.prefetch",
    "keygen": "cli.keygen",
    "zipmembers": "cli.zipmembers",  # the zip writer's cache of deflated members: only build --zip uses it
}

#: modules that stay at the package's root
STAY = {"__init__", "_version"}

#: the new subpackages and their docstrings (the layer order is tests/test_imports.py's LAYERS)
PACKAGES: dict[str, str] = {
    "core": "The shared foundations: errors, records, the target, the reporter, the entry's walk. They import "
            "nothing above them\n(``tests/test_imports.py`` enforces the layers of ``docs/design.md``).",
    "pipeline": "The engine and its steps: resolve, install (strip, slim, verify), stage, the bundling options. "
                "They use\n``inputs/``, ``store/`` and ``core/``, never CDK (``hooks`` loads it only when a "
                "construct's hooks run).",
    "cdk": "The construct adapters: ``NativePythonFunction``, ``NativePythonLayerVersion`` and their bundling. "
           "The only\nlayer that imports aws_cdk; it turns props into ``pipeline.options.BundlingOptions`` and "
           "calls the engine.",
    "cli": "The command line ``cdk-native-python``: ``main`` (the parser, ``build``, exit codes) and one module "
           "per other\ncommand, registered in ``commands``. It never imports aws-cdk-lib.",
}

#: files the tool writes besides the __init__s: ``python -m cdk_native_python.cli`` keeps working
EXTRA_FILES: dict[str, str] = {
    "cli/__main__.py": '"""``python -m cdk_native_python.cli``: the command line."""\n\nimport sys\n\n'
                       "from .main import main\n\nsys.exit(main())\n",
}

#: Python files whose text names modules by file (``cli.py``) and feeds generated pages: rewritten like docs
BARE_NAMES_IN = {"scripts/gen_docs.py"}
#: run after the rewrite, when present: generated pages name module paths
REGENERATE = [("scripts/gen_docs.py",)]
SCAN_DIRS = ("cdk_native_python", "tests", "bench", "scripts", "integ", "tools", ".ci", "docs")
SCAN_ROOT_FILES = ("pyproject.toml", "README.md", "CONTRIBUTING.md", "cdk.json", "mkdocs.yml")
SKIP_PARTS = {".venv", "node_modules", "__pycache__", ".git", "cdk.out", ".mypy_cache", ".ruff_cache",
              ".pytest_cache", "fixtures"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".yml", ".yaml", ".json", ".sh"}

#: tests/test_imports.py gets this block (the layer order, as data, and its test) unless it has LAYERS already
LAYER_TEST = '''

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
    (pkg / "core" / "low.py").write_text("from ..pipeline import high\\n")
    (pkg / "pipeline" / "high.py").write_text("")
    (pkg / "cli" / "top.py").write_text("from ..pipeline import high\\n")
    (pkg / "pipeline" / "mid.py").write_text("def f():\\n    from ..cli import top\\n")
    inner, _ = _graph(pkg)
    assert _upward(inner) == ["cdk_native_python.core.low -> cdk_native_python.pipeline.high",
                              "cdk_native_python.pipeline.mid -> cdk_native_python.cli.top"]
'''


@dataclass
class Summary:
    moved: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # path -> number of references rewritten
    notes: list[str] = field(default_factory=list)

    def count(self, path: str, n: int) -> None:
        if n:
            self.files[path] = self.files.get(path, 0) + n


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check)


def module_of(path: Path) -> tuple[str, bool] | None:
    """(dotted module name, is a package __init__) of a .py file under the package, else None."""
    parts = path.with_suffix("").parts
    if not parts or parts[0] != PACKAGE:
        return None
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def relative(from_package: str, target: str) -> str:
    """``target`` written relative to ``from_package`` (``..pipeline.engine``, ``.`` or ``..``)."""
    a, b = from_package.split("."), target.split(".")
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return "." * (len(a) - common + 1) + ".".join(b[common:])


class Rewriter:
    def __init__(self, renames: dict[str, str], summary: Summary) -> None:
        #: full dotted old name -> full dotted new name
        self.renames = renames
        self.summary = summary
        names = sorted((o[len(PACKAGE) + 1:] for o in renames), key=len, reverse=True)
        alt = "|".join(re.escape(n) for n in names)
        self.dotted = re.compile(rf"(?<![\w.]){PACKAGE}\.({alt})(?![\w])")
        self.slashed = re.compile(rf"(?<![\w.]){PACKAGE}/({'|'.join(re.escape(n.replace('.', '/')) for n in names)})"
                                  r"\.py(?![\w])")
        slashes = "|".join(re.escape(n.replace(".", "/")) for n in names)
        self.bare = re.compile(rf"(?<![\w/.-])({slashes})\.py(?![\w])(\)?)( {{2,}})?")

    def new_name(self, old: str) -> str:
        """The new full name of ``old`` or of the module ``old`` is inside (``a.b.c`` when ``a.b`` moved)."""
        if old in self.renames:
            return self.renames[old]
        for o, n in self.renames.items():
            if old.startswith(o + "."):
                return n + old[len(o):]
        return old

    # -- text ------------------------------------------------------------------------------------------
    def text(self, text: str, *, bare: bool) -> tuple[str, int]:
        n = 0

        def dotted(m: re.Match[str]) -> str:
            nonlocal n
            old = m.group(1)
            if old == "cli" and re.search(r"-m[\"',\s]+$", text[max(0, m.start() - 8):m.start()]):
                return m.group(0)  # `python -m cdk_native_python.cli` runs cli/__main__.py
            n += 1
            return self.renames[f"{PACKAGE}.{old}"]

        def slashed(m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            return self.renames[f"{PACKAGE}.{m.group(1).replace('/', '.')}"].replace(".", "/") + ".py"

        text = self.dotted.sub(dotted, text)
        text = self.slashed.sub(slashed, text)
        if bare:
            text, k = self.bare_names(text)
            n += k
        return text, n

    def bare_names(self, text: str) -> tuple[str, int]:
        """``engine.py`` -> ``pipeline/engine.py`` (a name that is not part of a longer path)."""
        n = 0

        def bare_name(m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            new = self.renames[f"{PACKAGE}.{m.group(1).replace('/', '.')}"][len(PACKAGE) + 1:].replace(".", "/")
            # in a drawing (`(spec.py)      (resolve)`) the wider name takes room from the spaces after it
            spaces = m.group(3) or ""
            grow = len(new) - len(m.group(1))
            return f"{new}.py{m.group(2)}{spaces[:max(1, len(spaces) - grow)] if spaces else ''}"

        return self.bare.sub(bare_name, text), n

    # -- python ----------------------------------------------------------------------------------------
    def python(self, path: Path, text: str, new_module: tuple[str, bool] | None) -> tuple[str, int]:
        """Rewrite the import statements of one file (found by ast), then the other references (regex)."""
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            self.summary.notes.append(f"{path}: not parsed ({exc.msg}); only its strings were rewritten")
            return self.text(text, bare=False)
        old_module = module_of(path)
        lines = text.splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))

        def at(lineno: int, col: int) -> int:
            # ast columns are UTF-8 byte offsets
            return offsets[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode(errors="replace"))

        edits: list[tuple[int, int, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                start, end = at(node.lineno, node.col_offset), at(node.end_lineno or node.lineno,
                                                                  node.end_col_offset or 0)
                new = self.statement(node, text[start:end], old_module, new_module, path)
                if new is not None and "\n" in new.strip():
                    # split into several statements: a noqa comment after the old one goes on each new line
                    tail = text[end:].split("\n", 1)[0]
                    noqa = re.search(r"#\s*noqa\b.*$", tail)
                    if noqa:
                        new = new.replace("\n", f"  {noqa.group(0)}\n")
                if new is not None:
                    edits.append((start, end, new))
        count = len(edits)
        out, pos = [], 0
        for start, end, new in sorted(edits):
            chunk, n = self.text(text[pos:start], bare=False)
            out += [chunk, new]
            count += n
            pos = end
        chunk, n = self.text(text[pos:], bare=False)
        out.append(chunk)
        return "".join(out), count + n

    def statement(self, node: ast.Import | ast.ImportFrom, source: str, old_module: tuple[str, bool] | None,
                  new_module: tuple[str, bool] | None, path: Path) -> str | None:
        old_pkg = new_pkg = None
        if old_module is not None and new_module is not None:
            old_pkg = old_module[0] if old_module[1] else old_module[0].rpartition(".")[0]
            new_pkg = new_module[0] if new_module[1] else new_module[0].rpartition(".")[0]
        if isinstance(node, ast.Import):
            new_text, n = self.text(source, bare=False)
            return new_text if n else None
        if node.level:
            if old_pkg is None or new_pkg is None:
                return None
            base = old_pkg.split(".")[: len(old_pkg.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target != PACKAGE and not target.startswith(PACKAGE + "."):
            return None
        relative_style = node.level > 0

        def spell(full: str) -> str:
            assert new_pkg is not None or not relative_style
            return relative(new_pkg, full) if relative_style and new_pkg is not None else full

        # each name: (new parent, new leaf); a name that is a moved module may land in another package
        placed: list[tuple[str, str, str | None]] = []
        for alias in node.names:
            full = f"{target}.{alias.name}"
            new_full = self.new_name(full) if alias.name != "*" else full
            if new_full == full:
                placed.append((self.new_name(target), alias.name, alias.asname))
            else:
                parent, _, leaf = new_full.rpartition(".")
                placed.append((parent, leaf, alias.asname or (alias.name if leaf != alias.name else None)))
        parents = {parent for parent, _, _ in placed}
        same = all(leaf == alias.name for (_, leaf, _), alias in zip(placed, node.names, strict=True))
        if len(parents) == 1 and same:
            (parent,) = parents
            if parent == target and spell(target) == "." * node.level + (node.module or ""):
                return None
            return self._replace_module(source, spell(parent))
        groups: dict[str, list[str]] = {}
        for parent, leaf, asname in placed:
            groups.setdefault(parent, []).append(leaf if asname in (None, leaf) else f"{leaf} as {asname}")
        indent = " " * node.col_offset
        statements = [f"from {spell(parent)} import {', '.join(names)}" for parent, names in groups.items()]
        if "#" in source:
            self.summary.notes.append(f"{path}:{node.lineno}: a comment inside a split import was dropped")
        return f"\n{indent}".join(statements)

    @staticmethod
    def _replace_module(source: str, module: str) -> str:
        """``source`` (one ``from X import ...`` statement) with X replaced, the rest (names, comments) kept."""
        new, n = re.subn(r"^from\s+[.\w]+\s+import\b", f"from {module} import", source, count=1)
        assert n == 1, source
        return new


def python_file(path: Path) -> bool:
    if path.suffix == ".py":
        return True
    if path.suffix:
        return False
    try:
        head = path.read_bytes()[:100]
    except OSError:
        return False
    return head.startswith(b"#!") and b"python" in head.split(b"\n")[0]


def scanned(root: Path) -> Iterable[Path]:
    for name in SCAN_ROOT_FILES:
        if (root / name).is_file():
            yield Path(name)
    for top in SCAN_DIRS:
        if not (root / top).is_dir():
            continue
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or SKIP_PARTS & set(rel.parts):
                continue
            text = path.suffix in TEXT_SUFFIXES or (not path.suffix and rel.parts[0] in ("scripts", ".ci", "tools"))
            if text and rel != Path("scripts/relayout.py"):
                yield rel


def suggest(name: str, root: Path) -> str:
    """The folder a new flat module belongs to: the lowest that holds everything it imports, or the one
    adapter (cli, cdk) when only that adapter's modules import it."""
    text = (root / PACKAGE / f"{name}.py").read_text(encoding="utf-8")
    above: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            targets = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            above.update(MAPPING.get(t, t).split(".")[0] for t in targets)
        elif isinstance(node, ast.ImportFrom) and node.module:
            above.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            above.update(a.name.split(".")[0] for a in node.names)
    users = set()
    mention = re.compile(rf"(from \.+{name} import|from \.+ import [^\n]*\b{name}\b|{PACKAGE}\.{name}\b)")
    for path in (root / PACKAGE).rglob("*.py"):
        if path.stem != name and mention.search(path.read_text(encoding="utf-8")):
            rel = path.relative_to(root / PACKAGE).with_suffix("").parts
            users.add(MAPPING.get(rel[0], rel[0]).split(".")[0])
    if above & {"aws_cdk", "constructs", "jsii", "cdk"} or users == {"cdk"}:
        return f"cdk.{name}"
    if "cli" in above or users == {"cli"} or ("argparse" in above and "add_parser" in text):
        return f"cli.{name}"
    if above & {"pipeline", "inputs", "store"}:
        return f"pipeline.{name}"
    return f"core.{name}"


def layer_check(root: Path) -> str:
    test = root / "tests" / "test_imports.py"
    code = ("import sys; sys.path.insert(0, 'tests'); import test_imports as t; "
            "inner, _ = t._graph(); print('\\n'.join(t._upward(inner)) if hasattr(t, '_upward') else ''); "
            "print('CYCLES', t._cycles(inner))")
    if not test.exists():
        return "tests/test_imports.py is missing: no layer check"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    return (out.stdout + out.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--map", action="append", default=[], metavar="OLD=NEW",
                    help="add or override a mapping entry (e.g. prefetch=cli.prefetch); repeatable")
    ap.add_argument("--keep", action="append", default=[], metavar="OLD",
                    help="leave this flat module at the package root (it is reported by the layer check)")
    ap.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    ap.add_argument("--allow-dirty", action="store_true", help="run on a work tree with uncommitted changes")
    ap.add_argument("--no-fix", action="store_true", help="do not run ruff --fix on the rewritten files")
    args = ap.parse_args(argv)
    started = time.monotonic()
    root = Path(sh("git", "rev-parse", "--show-toplevel").stdout.strip())
    os.chdir(root)
    summary = Summary()
    mapping = dict(MAPPING)
    for item in args.map:
        old, sep, new = item.partition("=")
        if not sep or not re.fullmatch(r"[\w.]+", old) or not re.fullmatch(r"[\w.]+", new):
            ap.error(f"--map {item!r}: expected OLD=NEW, e.g. prefetch=cli.prefetch")
        mapping[old] = new
    for old in args.keep:
        mapping.pop(old, None)

    if (root / PACKAGE / "core").exists() or (root / PACKAGE / "pipeline").exists():
        print("relayout: cdk_native_python/core/ or pipeline/ exists already: the layout was done; refusing "
              "to run twice", file=sys.stderr)
        return 2
    if not args.allow_dirty and sh("git", "status", "--porcelain", "--untracked-files=no").stdout.strip():
        print("relayout: the work tree has uncommitted changes; commit or stash them (or --allow-dirty)",
              file=sys.stderr)
        return 2

    flat = sorted(p.stem for p in (root / PACKAGE).glob("*.py"))
    unknown = [m for m in flat if m not in mapping and m not in STAY and m not in args.keep]
    if unknown:
        print("relayout: flat modules the mapping does not know (nothing was changed):", file=sys.stderr)
        for name in unknown:
            print(f"  {name}.py   suggested: --map {name}={suggest(name, root)}   (or --keep {name})",
                  file=sys.stderr)
        return 2
    summary.kept = [m for m in flat if m in args.keep]
    renames: dict[str, str] = {}
    for old, new in mapping.items():
        if (root / PACKAGE / f"{old.replace('.', '/')}.py").is_file():
            renames[f"{PACKAGE}.{old}"] = f"{PACKAGE}.{new}"
            summary.moved.append((old, new))
        else:
            summary.missing.append(old)
    rewriter = Rewriter(renames, summary)

    # 1. rewrite every file's text, computed from the OLD tree, keyed by its NEW path
    written: dict[Path, str] = {}
    for rel in scanned(root):
        text = (root / rel).read_text(encoding="utf-8", errors="surrogateescape")
        old_module = module_of(rel) if rel.suffix == ".py" else None
        new_rel = rel
        if old_module is not None and not old_module[1] and old_module[0] in renames:
            new_rel = Path(*renames[old_module[0]].split(".")).with_suffix(".py")
        if python_file(root / rel):
            new_module = module_of(new_rel) if old_module is not None else None
            new_text, n = rewriter.python(rel, text, new_module)
            if rel.as_posix() in BARE_NAMES_IN:
                new_text, k = rewriter.bare_names(new_text)
                n += k
        else:
            new_text, n = rewriter.text(text, bare=rel.suffix == ".md" and rel.parts[0] == "docs")
        if rel == Path(PACKAGE, "__init__.py"):
            new_text, k = lazy_table(new_text, {o[len(PACKAGE) + 1:]: v[len(PACKAGE) + 1:]
                                                for o, v in renames.items()})
            n += k
        summary.count(str(rel), n)
        if new_text != text or new_rel != rel:
            written[new_rel] = new_text

    if args.dry_run:
        report(summary, root, dry=True, started=started)
        return 0

    # 2. move, 3. write the subpackages' files and the rewritten texts, 4. layer test, design page
    for old, new in summary.moved:
        dest = root / PACKAGE / Path(*new.split(".")).with_suffix(".py")
        dest.parent.mkdir(parents=True, exist_ok=True)
        sh("git", "mv", str(Path(PACKAGE, *old.split(".")).with_suffix(".py")), str(dest.relative_to(root)))
    for sub, doc in PACKAGES.items():
        init = root / PACKAGE / sub / "__init__.py"
        if init.parent.is_dir() and not init.exists():
            init.write_text(f'"""{doc}"""\n', encoding="utf-8")
            sh("git", "add", str(init.relative_to(root)))
    for _old, new in summary.moved:  # a folder named only by --map gets an __init__ too
        folder = (root / PACKAGE / Path(*new.split("."))).parent
        while folder != root / PACKAGE and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text(f'"""{folder.name}: add its layer to LAYERS in '
                                                f'tests/test_imports.py."""\n', encoding="utf-8")
            sh("git", "add", str((folder / "__init__.py").relative_to(root)))
            summary.notes.append(f"{folder.relative_to(root)}/ is new: give it a docstring and a layer")
            folder = folder.parent
    for rel_name, text in EXTRA_FILES.items():
        extra = root / PACKAGE / rel_name
        if extra.parent.is_dir() and not extra.exists():
            extra.write_text(text, encoding="utf-8")
            sh("git", "add", str(extra.relative_to(root)))
    for rel, text in written.items():
        (root / rel).write_text(text, encoding="utf-8", errors="surrogateescape")
    test = root / "tests" / "test_imports.py"
    if test.exists() and "LAYERS" not in test.read_text(encoding="utf-8"):
        test.write_text(test.read_text(encoding="utf-8").rstrip("\n") + "\n" + LAYER_TEST, encoding="utf-8")
        summary.count("tests/test_imports.py", 1)
    design(root, summary)
    for command in REGENERATE:
        if (root / command[0]).exists():
            done = subprocess.run([sys.executable, *command], cwd=root, capture_output=True, text=True)
            summary.notes.append(f"ran {' '.join(command)}: exit {done.returncode} {done.stderr.strip()[-300:]}")
    changed = [str(p) for p in written] + ["tests/test_imports.py", "docs/design.md"]
    if not args.no_fix:
        ruff = root / ".venv" / "bin" / "ruff"
        py = [c for c in changed if c.endswith(".py") and (root / c).exists()]
        if ruff.exists() and py:
            out = subprocess.run([str(ruff), "check", "--fix", "--select", "I", "-q", *py], cwd=root,
                                 capture_output=True, text=True)
            if out.returncode:
                summary.notes.append("ruff --fix left findings:\n" + out.stdout + out.stderr)
            ruff_left(root, py, summary)
        else:
            summary.notes.append("no .venv/bin/ruff: import order not fixed")
    sh("git", "add", "-A", *[p for p in (*SCAN_DIRS, *SCAN_ROOT_FILES) if (root / p).exists()], check=False)
    report(summary, root, dry=False, started=started)
    return 0


def ruff_left(root: Path, files: list[str], summary: Summary) -> None:
    """What ruff still finds in the rewritten files (a longer module path can push a line past 120)."""
    ruff = root / ".venv" / "bin" / "ruff"
    out = subprocess.run([str(ruff), "check", "--output-format", "concise", *files], cwd=root, capture_output=True,
                         text=True)
    if out.returncode:
        summary.notes.append("ruff still finds (fix by hand):\n" + out.stdout.strip())


def lazy_table(text: str, renames: dict[str, str]) -> tuple[str, int]:
    """The root facade's ``_LAZY`` table (public name -> module, relative to the package), one entry a line."""
    n = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        table = ast.literal_eval(m.group(1))
        moved = {name: renames.get(module, module) for name, module in table.items()}
        n = sum(moved[name] != table[name] for name in table)
        if not n:
            return m.group(0)
        return "_LAZY = {\n" + "".join(f"    {name!r}: {module!r},\n".replace("'", '"')
                                       for name, module in moved.items()) + "}"

    return re.sub(r"_LAZY\s*=\s*(\{[^}]*\})", sub, text), n


DESIGN_LAYOUT = """\
## The layout

The folders are the layers. A module imports its own folder and the folders below it, never one above
(`tests/test_imports.py`, `LAYERS`); the two adapters do not import each other:

```
cdk_native_python/
  __init__.py   the public names, a lazy facade (nothing inside imports it); _version.py, the version
  cdk/          the construct adapters: function, layer, bundling (the only layer that imports aws_cdk)
  cli/          the command line: main (parser, build, exit codes), commands (the table), one module per command
     │   both turn props or flags into pipeline.options.BundlingOptions → pipeline.engine.BuildRequest
  pipeline/     the engine and its steps: engine, options, resolve, install, strip, slim, verify, stage,
                localbuild, pins, layerset, hooks, why, diagnose, indexes, uv
  inputs/       the dependency-file readers        store/   the local store and its remote tiers
  core/         the foundations: errors, records, target, reporter, progress, spec, source, budget,
                distributions, runtimes, _fs, _elffile
```

Where a new module goes: in the lowest folder that holds everything it imports. Tests keep one file per
module, named after the module (`tests/test_engine.py` for `pipeline/engine.py`); the command line's are
`tests/test_cli.py` (`cli/main.py`), `tests/test_cachecmd.py` (`cli/cache.py`) and `tests/test_explain.py`.

"""


def design(root: Path, summary: Summary) -> None:
    """docs/design.md: the module paths are rewritten by the mapping with the other pages; this adds the
    layout section and the import-order sentence."""
    path = root / "docs" / "design.md"
    if not path.exists():
        summary.notes.append("docs/design.md is missing: no layout section written")
        return
    text = path.read_text(encoding="utf-8")
    if "## The layout" not in text:
        anchor = "## The records"
        if anchor in text:
            text = text.replace(anchor, DESIGN_LAYOUT + anchor, 1)
            summary.count("docs/design.md", 1)
        else:
            summary.notes.append("docs/design.md: no '## The records' heading: add the layout section by hand")
    old = re.compile(r"Imports go one way, downward:\s+constructs\s+→\s+bundling\s+→\s+options\s+→\s+engine\s+→"
                     r"\s+steps\s+→\s+store\s+→\s+records/errors/reporter")
    new = ("Imports go one way, downward: `cdk/` and `cli/` → `pipeline/` (options → engine → steps) →\n"
           "`inputs/`, `store/` → `core/` (records, errors, reporter: [the layout](#the-layout))")
    if old.search(text):
        text = old.sub(new, text, count=1)
        summary.count("docs/design.md", 1)
    else:
        summary.notes.append("docs/design.md: the 'Imports go one way' sentence changed: check it by hand")
    path.write_text(text, encoding="utf-8")


def report(summary: Summary, root: Path, *, dry: bool, started: float) -> None:
    print(f"relayout{' (dry run: nothing changed)' if dry else ''}:")
    print(f"  moved {len(summary.moved)} modules:")
    for old, new in summary.moved:
        print(f"    {old + '.py':18} -> {new.replace('.', '/')}.py")
    if summary.missing:
        print(f"  skipped (not in this tree): {', '.join(summary.missing)}")
    if summary.kept:
        print(f"  kept at the root: {', '.join(summary.kept)}")
    print(f"  rewrote {sum(summary.files.values())} references in {len(summary.files)} files")
    for path, n in sorted(summary.files.items()):
        print(f"    {n:4}  {path}")
    for note in summary.notes:
        print(f"  NOTE {note}")
    if not dry:
        print("  layer check (tests/test_imports.py: upward imports, then cycles):")
        for line in layer_check(root).splitlines():
            print(f"    {line}")
        print("  next: scripts/bootstrap (the console script moved to cdk_native_python.cli.main:main),")
        print("        .venv/bin/ruff check . && .venv/bin/mypy && pytest tests/test_imports.py ..., git commit")
    print(f"  took {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
