"""The same dependency set in requirements.txt, Pipfile.lock, poetry.lock and uv.lock gives byte-identical
trees: a lock's transitive pins are not "what the user asked for" (tests/fixtures/sameset/generate.py made
the locks with the real uv and pipenv)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdk_native_python.engine import BuildRequest, build
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target

pytestmark = pytest.mark.pypi
SAMESET = Path(__file__).parent / "fixtures" / "sameset"
FORMATS = {"requirements": "requirements.txt", "pipfile": "Pipfile.lock", "poetry": "poetry.lock", "uv": "uv.lock"}
TARGET = Target.from_runtime("python3.12", "x86_64")


def tree(fmt: str, root: Path, cache: LocalStore) -> tuple[dict[str, bytes], dict[str, str]]:
    entry = root / fmt
    shutil.copytree(SAMESET / fmt, entry)
    (entry / "index.py").write_text("def handler(event, context):\n    return 1\n")
    result = build(BuildRequest(entry=entry, target=TARGET), root / f"out-{fmt}", cache)
    assert result.report.source_files and FORMATS[fmt] in result.report.source_files
    out = root / f"out-{fmt}"
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return {k: v for k, v in files.items() if k not in result.report.source_files}, dict(result.report.stripped)


def test_four_formats_of_one_set_give_byte_identical_trees(tmp_path: Path) -> None:
    cache = LocalStore(tmp_path / "cache")
    trees = {fmt: tree(fmt, tmp_path, cache) for fmt in FORMATS}
    reference, stripped = trees["requirements"]
    names = {k.split("/")[0].split("-")[0].lower() for k in reference if ".dist-info/" in k}
    assert names == {"aws_xray_sdk", "wrapt", "requests", "urllib3", "idna", "certifi", "charset_normalizer"}
    assert set(stripped) == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
    for fmt, (files, why) in trees.items():
        assert sorted(files) == sorted(reference), fmt
        assert files == reference, fmt
        assert why == stripped, fmt
