"""Typed records (``records.py``): every record survives JSON unchanged, and a damaged record is a
``RecordError`` naming the field (the store quarantines such an entry), never a crash or a wrong value."""

from __future__ import annotations

import json

import pytest

from cdk_native_python.core.records import (
    BuildReport,
    DependencyRecord,
    OutputRecord,
    PackageRecord,
    RecordError,
    SizeRecord,
    SlimResult,
    StripResult,
    TreeRecord,
    VerificationResult,
    Violation,
    digest,
    dumps,
    from_json,
    loads,
    to_json,
)
from cdk_native_python.core.reporter import Notice

TREE = TreeRecord(
    target="python3.12/arm64",
    packages={"purepkg": PackageRecord("1.0", ("py3-none-any",), 120),
              "nativepkg": PackageRecord("2.0", ("cp312-cp312-manylinux_2_17_aarch64",), 4096)},
    graph={"purepkg": DependencyRecord("1.0", ("depa",)), "depa": DependencyRecord("2.0")},
    stripped=StripResult({"boto3": "provided by the runtime"}, {"botocore": "xraylike"}),
    slimmed=SlimResult(3, 3000, {"tests": 2500, "__pycache__": 500}, 7, "cpython-312"),
    verification=VerificationResult(9, 1, "2.17", (Violation("a.so", "nativepkg", "needs glibc 2.99"),)),
    size_bytes=4216, zipped_estimate_bytes=2000)

REPORT = BuildReport(
    target="python3.12/arm64", runtime="python3.12", architecture="arm64", glibc="2.34", asset_hash="abc",
    packages=dict(TREE.packages), stripped={"boto3": "provided"}, slimmed=TREE.slimmed,
    verification=TREE.verification, size=SizeRecord(1, 2, 3, 4), source_files=("index.py",),
    cache={"resolve": "hit", "install": "miss"}, placement="hardlink", seconds=1.5, warnings=("w",),
    name="App/Api", layer=True, roots=("purepkg",), graph=dict(TREE.graph),
    notices=(Notice("runtime-provided-shipped", "botocore is shipped", "info"),),
    output=OutputRecord("fn.zip", "zip", False, 3, 100, "ff"))


@pytest.mark.parametrize("record", [TREE, REPORT, BuildReport("t", "r", "a", "g", "h")],
                         ids=["tree", "report", "report-defaults"])
def test_every_record_survives_json_unchanged(record: object) -> None:
    text = dumps(record)
    back = loads(type(record), text)
    assert back == record and dumps(back) == text
    assert isinstance(back, type(record))
    assert from_json(type(record), json.loads(json.dumps(to_json(record)))) == record


def test_digest_is_stable_and_decided_by_content_only() -> None:
    a = digest({"b": 1, "a": [1, 2]})
    assert a == digest({"a": [1, 2], "b": 1}) and len(a) == 32 and len(digest(TREE, 12)) == 12
    assert a != digest({"a": [2, 1], "b": 1})
    assert digest(TREE) == digest(loads(TreeRecord, dumps(TREE)))


def _damaged(path: list[str | int], value: object) -> str:
    data = to_json(TREE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(("path", "value", "says"), [
    (["size_bytes"], "4216", "TreeRecord.size_bytes: expected int, found str"),
    (["size_bytes"], True, "TreeRecord.size_bytes: expected int, found bool"),
    (["size_bytes"], 1.5, "TreeRecord.size_bytes: expected int, found float"),
    (["target"], None, "TreeRecord.target: expected str, found NoneType"),
    (["packages"], [], "TreeRecord.packages: expected an object"),
    (["packages", "purepkg", "wheel_tags"], "py3-none-any", "TreeRecord.packages.purepkg.wheel_tags: expected a list"),
    (["packages", "purepkg", "wheel_tags", 0], 3, r"wheel_tags\[0\]: expected str"),
    (["verification", "violations", 0], "a.so", r"violations\[0\]: expected an object"),
    (["slimmed", "by_rule", "tests"], "2500", "TreeRecord.slimmed.by_rule.tests: expected int"),
    (["stripped", "extra"], {}, "TreeRecord.stripped: unknown field 'extra'"),
    (["unexpected"], 1, "TreeRecord: unknown field 'unexpected'"),
])
def test_a_wrong_type_or_an_unknown_field_is_a_record_error_naming_it(path: list[str | int], value: object,
                                                                      says: str) -> None:
    with pytest.raises(RecordError, match=says):
        loads(TreeRecord, _damaged(path, value))


def test_a_missing_required_field_or_text_that_is_not_json_is_a_record_error() -> None:
    data = to_json(TREE)
    del data["target"]
    with pytest.raises(RecordError, match="TreeRecord: target is missing"):
        from_json(TreeRecord, data)
    del data["packages"]  # a field with a default may be absent (records written before it existed)
    data["target"] = "t"
    assert from_json(TreeRecord, data).packages == {}
    for text in ("{", "", "[]", "null", '"tree"'):
        with pytest.raises(RecordError):
            loads(TreeRecord, text)
    with pytest.raises(RecordError, match="expected one of"):
        loads(Notice, '{"level": "fatal", "code": "c", "message": "m"}')
    assert loads(BuildReport, dumps(REPORT)).output == REPORT.output
    assert loads(BuildReport, dumps(BuildReport("t", "r", "a", "g", "h"))).output is None


ESC = "\x1b[2J"


@pytest.mark.parametrize(("path", "value"), [
    (["packages", f"evil{ESC}"], {"version": "1.0"}),  # a name
    (["packages", "purepkg", "version"], f"1.0{ESC}"),
    (["packages", "purepkg", "version"], " 1.0\n"),  # PEP 440 tolerates surrounding whitespace: we do not
    (["packages", "purepkg", "version"], "not a version"),
    (["graph", "purepkg", "requires"], ["depa\n-e /tmp/x"]),
    (["graph", "depa", "version"], "${HOME}"),
    (["stripped", "removed", "Boto3"], "not normalized"),
    (["size_bytes"], 2**64),  # a number larger than any size
])
def test_names_versions_and_numbers_of_a_tree_outside_the_grammar_are_a_record_error(path: list[str],
                                                                                     value: object) -> None:
    data = to_json(TREE)
    where = data
    for part in path[:-1]:
        where = where[part]
    where[path[-1]] = value
    with pytest.raises(RecordError):
        from_json(TreeRecord, data)


@pytest.mark.parametrize("roots", [(f"purepkg{ESC}",), ("purepkg[x y]",), ("PurePkg",)])
def test_a_reports_roots_are_names_with_extras(roots: tuple[str, ...]) -> None:
    data = to_json(REPORT)
    data["roots"] = list(roots)
    with pytest.raises(RecordError, match="roots"):
        from_json(BuildReport, data)
    data["roots"] = ["aws-lambda-powertools[tracer,validation]"]
    assert from_json(BuildReport, data).roots == ("aws-lambda-powertools[tracer,validation]",)
