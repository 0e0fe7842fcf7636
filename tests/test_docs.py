"""The documentation: the README is a short front door, the site builds strictly, and the pages generated from
the code are the code's (a stale one fails here, so CI fails on it)."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_pages_are_current() -> None:
    done = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_a_stale_page_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    gen = _gen_docs()
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    monkeypatch.setattr(gen, "DOCS", docs)
    assert gen.main(["--check"]) == 0
    codes = docs / "codes.md"
    codes.write_text(codes.read_text(encoding="utf-8").replace("`entry-missing`", "`entry-gone`"), encoding="utf-8")
    assert gen.main(["--check"]) == 1
    assert "docs/codes.md" in capsys.readouterr().err
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0  # rewritten


def test_the_generated_pages_hold_every_code_variable_option_and_flag() -> None:
    from cdk_native_python.cli import main as cli
    from cdk_native_python.core import codes, settings
    from cdk_native_python.pipeline import options

    text = {name: (ROOT / "docs" / name).read_text(encoding="utf-8")
            for name in ("codes.md", "environment.md", "options.md", "cli.md")}
    assert all(f"`{code}`" in text["codes.md"] for code in codes.CODES)
    assert "verification-failed" not in text["codes.md"]
    assert all(v.name in text["environment.md"] for v in settings.VARIABLES)
    assert all(f"`{name}`" in text["options.md"] for name, _ in options.options())
    top = cli.parser()
    commands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for parser in (top, *commands.choices.values()):
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction):
                assert all(f"`{flag}" in text["cli.md"] for flag in action.option_strings), action
    assert "--remote-cache-write" in text["cli.md"] and "`cdk-native-python cache prune`" in text["cli.md"]


def test_the_performance_page_is_the_bench_results() -> None:
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    results = (ROOT / "bench" / "results.md").read_text(encoding="utf-8")
    figures = re.findall(r"\d+\.\d+x", results)
    assert figures and all(f in page for f in figures)


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs is not installed (the test extra has it: scripts/bootstrap)")
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    done = subprocess.run(["scripts/docs", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "codes" / "index.html").is_file()
    assert (tmp_path / "site" / "guide" / "index.html").is_file()


def test_the_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) <= 15 * 1024
    for heading in ("## Quick start", "## Install", "## A function", "## A layer", "## Switching from",
                    "## The command line", "## The remote cache", "## Limits"):
        assert heading in text, heading
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "scripts/test     # set up, then run the test suite" in quick and "scripts/demo" in quick
    for target in re.findall(r"\]\(((?:docs/|CONTRIBUTING|CHANGELOG)[^)#]*)", text):
        assert (ROOT / target).exists(), target
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f": {page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"
