"""``cdk-native-python explain`` and ``report``: why a package is in a bundle (or not) and what would change that,
from a real build's report; run as the installed command line against local wheels (``--find-links``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cdk_native_python.cli.explain import explain
from cdk_native_python.core.records import BuildReport, from_json, to_json
from cdk_native_python.core.reporter import silent
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.engine import build
from cdk_native_python.pipeline.options import BundlingOptions
from cdk_native_python.store.local import LocalStore
from tests import helpers
from tests.tracerset import SET, tracer_function


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line in ``cwd``, with the store ``cwd/cache``."""
    return helpers.cli(cwd, *args, env={"CDK_NATIVE_PYTHON_CACHE_DIR": str(cwd / "cache")})


def flags(tracer_index: Path, *more: str) -> list[str]:
    return ["--runtime", "python3.12", "--arch", "arm64", "--source", "fn", "--find-links", str(tracer_index),
            "--no-index", *more]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    tracer_function(tmp_path / "fn")
    return tmp_path


@pytest.fixture
def report_file(project: Path, tracer_index: Path) -> Path:
    out = cli(project, "build", *flags(tracer_index, "--zip", "fn.zip", "--report", "fn.json", "-q"))
    assert out.returncode == 0, out.stderr
    return project / "fn.json"


def test_explain_tells_why_a_runtime_provided_package_is_shipped(project: Path, tracer_index: Path) -> None:
    before = set(project.iterdir())
    out = cli(project, "explain", "BotoCore", *flags(tracer_index))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "botocore 1.35.0 is in the bundle (python3.12/arm64).",
        "  wheel: py3-none-any (pure Python: serves every target); 0.0 MB installed",
        "  required through: powerlike[tracer] → xraylike → botocore",
        "  required directly by: boto3 (stripped), s3transfer (stripped), xraylike",
        "  not stripped although the Lambda runtime provides it: xraylike requires botocore==1.35.0; python3.12 only "
        "guarantees botocore >= 1.38.36, below 2",
        "  the bundled copy is imported before the runtime's (it shadows it)",
    ]
    assert set(project.iterdir()) == before | {project / "cache"}  # built into a temporary folder only


@pytest.mark.parametrize(("package", "extra", "says"), [
    ("boto3", (), ["boto3 1.35.0 is not in the bundle of fn.zip (python3.12/arm64): it was stripped (provided by "
                   "the Lambda runtime (python3.12 guarantees boto3 >= 1.38.36, below 2)).",
                   "  a direct requirement: boto3",
                   "  to ship it anyway: --keep boto3, or --keep-boto3 to ship all of boto3, botocore, s3transfer, "
                   "jmespath, snapshot-restore-py, python-dateutil, urllib3, six"]),
    ("s3transfer", (), ["  required through: boto3 → s3transfer", "  required directly by: boto3 (stripped)"]),
    ("cattrslike", (), ["cattrslike 23.2.0 is not in the bundle of fn.zip (python3.12/arm64): it was stripped (only "
                        "needed by jsii).", "  required through: aws-cdk-lib → jsii → cattrslike",
                        "  removed with jsii; to ship it anyway: --keep cattrslike, or "
                        "keep what needs it"]),
    ("aws-cdk-lib", (), ["  aws-cdk-lib is only needed at synth time (aws-cdk-lib, constructs, jsii, ...); to ship "
                         "it anyway: --keep aws-cdk-lib"]),
    ("powerlike", ("--strip", "powerlike"), ["  remove 'powerlike' from --strip to ship it"]),
    ("Wrapt", (), ["wrapt 1.16.0 is in the bundle of fn.zip (python3.12/arm64).",
                   "  required through: powerlike[tracer] → xraylike → wrapt"]),
])
def test_explain_from_a_report_says_why_and_what_would_change_it(project: Path, tracer_index: Path, package: str,
                                                                 extra: tuple[str, ...], says: list[str]) -> None:
    built = cli(project, "build", *flags(tracer_index, *extra, "--zip", "fn.zip", "--report", "fn.json", "-q"))
    assert built.returncode == 0, built.stderr
    out = cli(project, "explain", package, "--report", "fn.json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(line in lines for line in says), out.stdout


def test_explain_a_package_nothing_requires(report_file: Path) -> None:
    out = cli(report_file.parent, "explain", "--report", str(report_file), "botcore")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "botcore is not in the bundle of fn.zip (python3.12/arm64): nothing it depends on requires it on "
        "python3.12/arm64 (requirements and their markers are evaluated for the target).",
        "  did you mean: botocore, boto3?",
        "  the bundle holds 6 packages (`cdk-native-python report` lists them)",
    ]


def test_explain_a_package_a_layer_provides_and_a_layers_own(tmp_path: Path, tracer_index: Path) -> None:
    target = Target.from_runtime("python3.12", "arm64")
    options = BundlingOptions(find_links=[str(tracer_index)], no_index=True)
    store = LocalStore(tmp_path / "cache")
    entry = tracer_function(tmp_path / "fn", "powerlike[tracer]\n")
    function = options.request(entry, target, name="App/Api", provided=(("wrapt", "1.16.0", "App/Shared"),))
    report = build(function, tmp_path / "out", store, silent()).report
    assert explain(report, "wrapt").splitlines() == [
        "wrapt 1.16.0 is not in the bundle of App/Api (python3.12/arm64): it was stripped (provided by layer "
        "App/Shared).",
        "  required through: powerlike[tracer] → xraylike → wrapt",
        "  required directly by: xraylike",
        "  at run time the layer's copy is imported; to ship the function's own copy (it shadows the layer's): "
        "--keep wrapt",
    ]
    layer = options.request(tracer_function(tmp_path / "layer", "wrapt\n"), target, name="App/Shared", layer=True)
    held = build(layer, tmp_path / "layer-out", store, silent()).report
    assert explain(held, "wrapt").splitlines()[:2] == [
        "wrapt 1.16.0 is in the layer of App/Shared (python3.12/arm64), under python/.",
        "  wheel: py3-none-any (pure Python: serves every target); 0.0 MB installed",
    ]


def test_a_lock_file_without_a_resolver_graph_is_explained_from_the_metadata(project: Path, tracer_index: Path) -> None:
    entries = []
    for name, version, _ in SET:
        wheel = tracer_index / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        entries.append(f'[[packages]]\nname = "{name}"\nversion = "{version}"\n'
                       f'wheels = [{{ name = "{wheel.name}", hashes = {{ sha256 = "{sha}" }} }}]\n')
    (project / "fn" / "requirements.txt").unlink()
    (project / "fn" / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "test"\n\n' + "\n".join(entries))
    out = cli(project, "explain", "jmespath", *flags(tracer_index))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # the lock does not say what was asked for: the chain starts at what nothing else in it requires (boto3 here),
    # and its pins stand in for what the user asked for, so the pinned jmespath ships rather than be guessed away
    assert "  required through: boto3 → jmespath" in lines, out.stdout
    assert lines[0] == "jmespath 1.0.1 is in the bundle (python3.12/arm64)."
    # the user wrote no version: the message says the lock pinned it
    assert any("the lock pinned jmespath==1.0.1" in line for line in lines), out.stdout


def test_report_prints_tables_and_json_for_scripts(report_file: Path) -> None:
    out = cli(report_file.parent, "report", str(report_file))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("fn.zip (function): python3.12 / manylinux_2_34 aarch64, glibc 2.34\n")
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and len(line.split()) > 3}
    assert rows["package"].split() == ["package", "version", "size", "wheel", "tags", "required", "by"]
    assert rows["botocore"].split()[1:5] == ["1.35.0", "0.0", "MB", "py3-none-any"]
    assert ("xraylike, [provided by the runtime, shipped: xraylike requires botocore==1.35.0; python3.12 only "
            "guarantees botocore >= 1.38.36, below 2]") in rows["botocore"]
    assert "you (powerlike[tracer])" in rows["powerlike"]
    assert "  boto3        provided by the Lambda runtime" in text
    assert "  cattrslike   only needed by jsii" in text
    assert ("warning [cdk-native-python:runtime-provided-shipped] botocore 1.35.0 (0.0 MB), which the Lambda "
            "runtime provides") in text
    as_json = cli(report_file.parent, "report", "--json", str(report_file))
    assert as_json.returncode == 0
    data = json.loads(as_json.stdout)
    assert data == to_json(from_json(BuildReport, json.loads(report_file.read_text())))
    assert data["graph"]["xraylike"] == {"requires": ["botocore", "wrapt"], "version": "2.14.0"}
    assert data["roots"] == ["aws-cdk-lib", "boto3", "powerlike[tracer]"]


@pytest.mark.parametrize(("content", "says"), [(None, "cannot read report"), ("{", "is not a cdk-native-python"),
                                               ('{"target": 3}', "is not a cdk-native-python")])
def test_a_bad_report_is_a_usage_error(tmp_path: Path, content: str | None, says: str) -> None:
    if content is not None:
        (tmp_path / "r.json").write_text(content)
    for args in (("report", "r.json"), ("explain", "six", "--report", "r.json")):
        out = cli(tmp_path, *args)
        assert out.returncode == 2 and says in out.stderr and "hint:" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


CLIPBOARD = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # OSC 52: writes the reader's clipboard
CLEAR = "\x1b[2J"


def test_what_a_crafted_report_says_reaches_the_terminal_without_escapes(report_file: Path) -> None:
    """Only names and versions are refused on load; every other text of a report is printed through the filter."""
    data = json.loads(report_file.read_text())
    data["name"] = f"fn{CLEAR}.zip"
    data["warnings"] = [*data["warnings"], f"look{CLIPBOARD} here\x9b31m"]
    data["notices"][0]["message"] += CLIPBOARD
    data["packages"]["botocore"]["wheel_tags"] = [f"py3{CLEAR}-none-any"]
    data["stripped"]["boto3"] = f"provided{CLIPBOARD} by\x7f the runtime\r"
    crafted = report_file.parent / "crafted.json"
    crafted.write_text(json.dumps(data))
    shown = cli(report_file.parent, "report", str(crafted))
    assert shown.returncode == 0, shown.stderr
    assert "look here" in shown.stdout and "fn.zip (function)" in shown.stdout and "py3-none-any" in shown.stdout
    why = cli(report_file.parent, "explain", "boto3", "--report", str(crafted))
    assert why.returncode == 0, why.stderr
    for out in (shown, why):
        text = out.stdout + out.stderr
        assert not any(c in text for c in "\x1b\x07\x9b\x7f\r"), repr(text)
    assert "\\u001b" in cli(report_file.parent, "report", "--json", str(crafted)).stdout  # JSON escapes it itself


@pytest.mark.parametrize("field", ["name", "version", "root", "required-by"])
def test_a_report_whose_names_or_versions_hold_escapes_is_refused(report_file: Path, field: str) -> None:
    data = json.loads(report_file.read_text())
    if field == "name":
        data["packages"][f"evil{CLEAR}"] = data["packages"].pop("botocore")
    elif field == "version":
        data["packages"]["botocore"]["version"] = f"1.0{CLIPBOARD}"
    elif field == "root":
        data["roots"] = [f"boto3{CLEAR}"]
    else:
        data["graph"]["xraylike"]["requires"] = [f"botocore\n{CLEAR}"]
    crafted = report_file.parent / "crafted.json"
    crafted.write_text(json.dumps(data))
    for args in (("report", str(crafted)), ("explain", "boto3", "--report", str(crafted))):
        out = cli(report_file.parent, *args)
        assert out.returncode == 2 and "is not a cdk-native-python build report" in out.stderr, out.stderr
        assert "\x1b" not in out.stderr + out.stdout and "Traceback" not in out.stderr


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _sparse(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(3 * 1024**3)  # 3 GiB, no block written


BAD_FILES: dict[str, tuple[Callable[[Path], None] | None, str]] = {
    "fifo": (_fifo, "not a regular file"),
    "dev-zero": (None, "not a regular file"),
    "folder": (lambda p: p.mkdir(), "not a regular file"),
    "sparse-3gib": (_sparse, "3,221,225,472 bytes"),
    "nested": (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "too deeply nested"),
    "long-int": (lambda p: p.write_text('{"target": ' + "9" * 4301 + "}"), "is not a cdk-native-python"),
    "4300-digits": (lambda p: p.write_text('{"target": "t", "runtime": "r", "architecture": "a", "glibc": "g", '
                                           '"asset_hash": "h", "seconds": ' + "9" * 4300 + "}"), "out of range"),
    "not-utf-8": (lambda p: p.write_bytes(b'{"target": "\xff\xfe"}'), "is not a cdk-native-python"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_report_file_that_is_no_report_is_a_usage_error(tmp_path: Path, case: str) -> None:
    make, says = BAD_FILES[case]
    path = Path("/dev/zero") if make is None else tmp_path / "r.json"
    if make is not None:
        make(path)
    for args in (("report", str(path)), ("explain", "six", "--report", str(path))):
        out = helpers.cli(tmp_path, *args, timeout=60, memory_limit=1024**3)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.splitlines()
        assert len(lines) == 2 and says in lines[0] and lines[1].startswith("  hint: "), out.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    top = cli(tmp_path, "--help")
    assert "explain" in top.stdout and "report" in top.stdout
    assert "--report" in cli(tmp_path, "explain", "--help").stdout
    assert "--json" in cli(tmp_path, "report", "--help").stdout
