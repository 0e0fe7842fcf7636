"""Pipfile and Pipfile.lock (``inputs/pipfile.py``): groups, sources and their environment placeholders,
``"version": "*"`` entries decided for the target (with a real pipenv lock in the ``pypi`` tier), local paths."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdk_native_python.core.errors import (
    InputError,
)
from cdk_native_python.core.target import Target
from cdk_native_python.inputs import pipfile
from tests.cdkhelpers import bad_app, cdk_synth, needs_cdk, only_asset
from tests.helpers import ARM312, X86312, cli_build, engine_build, refused, write_function
from tests.inputhelpers import FIXTURES, LOCKS, pins_for, write
from tests.wheelfactory import WheelIndex

#: the CPU the tests do NOT run on: a marker on it is false where pipenv locks, true for that Lambda target
OTHER_MACHINE = "aarch64" if platform.machine() in ("x86_64", "AMD64") else "x86_64"


OTHER_TARGET = Target.from_runtime("python3.12", "arm64" if OTHER_MACHINE == "aarch64" else "x86_64")


HOST_TARGET = X86312 if OTHER_MACHINE == "aarch64" else ARM312


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def lock_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    """``depa`` 1.0 and 2.0, and ``needsdepa`` 1.0 (any depa) and 2.0 (depa>=2): resolved unconstrained,
    needsdepa 2.0 would not work with a lock's depa 1.0."""
    with WheelIndex(tmp_path_factory.mktemp("lock-index")) as index:
        for version in ("1.0", "2.0"):
            index.add_wheel("depa", version)
        index.add_wheel("needsdepa", "1.0", requires=("depa",))
        index.add_wheel("needsdepa", "2.0", requires=("depa>=2",))
        yield index


def pipfile_text(index_url: str, pin: str, other_machine_only: str) -> str:
    """A Pipfile with a pin, a package for macOS, one for Windows and one for the CPU the tests do not run on."""
    return textwrap.dedent(f"""\
        [[source]]
        url = "{index_url}"
        verify_ssl = true
        name = "index"

        [packages]
        {pin}
        appnope = {{version = "*", sys_platform = "== 'darwin'"}}
        colorama = {{version = "*", markers = "sys_platform == 'win32'"}}
        {other_machine_only} = {{version = "*", markers = "platform_machine == '{OTHER_MACHINE}'"}}
        """)


def pipenv_style_lock(index: WheelIndex) -> dict[str, str]:
    """A Pipfile and the Pipfile.lock pipenv 2026 writes for it on a machine where three markers are false.

    Exactly pipenv's shapes: ``appnope`` (a ``sys_platform = ...`` key in the Pipfile) loses its marker in the
    lock, ``colorama`` (a ``markers = ...`` key) keeps it; neither has a version or hashes. Neither is on the
    index: resolving them would fail.
    """
    depa = Path(index.find_links) / "depa-1.0-py3-none-any.whl"
    lock = {
        "_meta": {"hash": {"sha256": "0" * 64}, "pipfile-spec": 6, "requires": {},
                  "sources": [{"name": "index", "url": index.url, "verify_ssl": True}]},
        "default": {
            "appnope": {"version": "*"},
            "colorama": {"markers": "sys_platform == 'win32'", "version": "*"},
            "depa": {"hashes": [_sha256(depa)], "index": "index", "version": "==1.0"},
            "needsdepa": {"markers": f"platform_machine == '{OTHER_MACHINE}'", "version": "*"},
        },
        "develop": {},
    }
    return {"Pipfile": pipfile_text(index.url, 'depa = "==1.0"', "needsdepa"),
            "Pipfile.lock": json.dumps(lock, indent=4)}


#: attrs: not one the runtime provides (those are stripped once resolved, which would hide the resolution)
PIPFILE = pipfile_text("https://pypi.org/simple", 'six = "==1.16.0"', "attrs")


@pytest.fixture(scope="session")
def pipenv_lock(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``Pipfile`` and the ``Pipfile.lock`` the current pipenv (from PyPI) writes for it, once per session."""
    root = tmp_path_factory.mktemp("pipenv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "pipenv"], check=True,
                   timeout=900)
    project = root / "project"
    project.mkdir()
    (project / "Pipfile").write_text(PIPFILE)
    env = {**os.environ, "PIPENV_VENV_IN_PROJECT": "1", "PIPENV_YES": "1", "PIPENV_NOSPIN": "1",
           "PIPENV_IGNORE_VIRTUALENVS": "1", "PIPENV_VERBOSITY": "-1"}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run([str(venv / "bin" / "pipenv"), "lock"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lock = json.loads((project / "Pipfile.lock").read_text())
    # the premise: pipenv could not pin what is false here
    for name in ("appnope", "colorama", "attrs"):
        assert lock["default"][name].get("version") == "*", lock["default"][name]
    return {"Pipfile": PIPFILE, "Pipfile.lock": (project / "Pipfile.lock").read_text()}


def test_pipfile_lock_develop_only_when_chosen() -> None:
    path = LOCKS["Pipfile.lock"][1]
    assert "iniconfig" not in pins_for(pipfile.read(path), ARM312)
    assert pins_for(pipfile.read(path, groups=["develop"]), ARM312)["iniconfig"] == "2.3.1"
    assert pipfile.read(path, groups=["dev"]).requirements == pipfile.read(path, groups=["develop"]).requirements


def test_pipfile_without_lock_is_open() -> None:
    spec = pipfile.read_pipfile(FIXTURES / "pipfile" / "Pipfile")
    assert not spec.locked and spec.kind == "Pipfile"
    assert 'appnope>=0.1.4; sys_platform == "darwin"' in spec.requirements
    assert "orjson>=3.10" in spec.requirements
    assert "iniconfig>=2" in pipfile.read_pipfile(FIXTURES / "pipfile" / "Pipfile", groups=["develop"]).requirements


def test_pipfile_source_env_placeholders_expand_and_stay_out_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = json.loads(LOCKS["Pipfile.lock"][1].read_text())
    lock["_meta"]["sources"] = [
        {"name": "corp", "url": "https://ci:${PYPI_TOKEN}@corp.example/simple", "verify_ssl": True},
        {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True},
    ]
    path = tmp_path / "Pipfile.lock"
    path.write_text(json.dumps(lock))
    monkeypatch.setenv("PYPI_TOKEN", "s3cret")
    spec = pipfile.read(path)
    assert spec.indexes.index_url == "https://ci:s3cret@corp.example/simple"
    assert spec.indexes.extra_index_urls == ("https://pypi.org/simple",)
    assert "s3cret" not in json.dumps(spec.key()) and "ci:" not in json.dumps(spec.key())
    monkeypatch.setenv("PYPI_TOKEN", "other")
    assert pipfile.read(path).digest() == spec.digest()
    monkeypatch.delenv("PYPI_TOKEN")
    with pytest.raises(InputError, match=r"PYPI_TOKEN\} is not set") as err:
        pipfile.read(path)
    assert "export PYPI_TOKEN" in str(err.value)


def test_lock_with_a_corrupt_hash(tmp_path: Path) -> None:
    lock = json.loads(LOCKS["Pipfile.lock"][1].read_text())
    lock["default"]["click"]["hashes"] = ["sha256:not-hex"]
    path = write(tmp_path / "Pipfile.lock", json.dumps(lock))
    with pytest.raises(InputError, match="package click: malformed hash"):
        pipfile.read(path)


def test_pipfile_lock_star_entries_are_decided_for_the_target(tmp_path: Path, lock_index: WheelIndex) -> None:
    entry = write_function(tmp_path, files=pipenv_style_lock(lock_index))
    # false for the target (darwin, win32, the other CPU): skipped, without a word
    host = engine_build(tmp_path, entry, HOST_TARGET, out="host")
    assert host.packages == {"depa": "1.0"}
    assert not host.report.warnings
    # true for the target: resolved for it, constrained by the lock's pins (needsdepa 2.0 would need depa 2.0)
    other = engine_build(tmp_path, entry, OTHER_TARGET, out="other")
    assert other.packages == {"depa": "1.0", "needsdepa": "1.0"}
    assert any("needsdepa" in w and "Pipfile.lock" in w for w in other.report.warnings), other.report.warnings
    assert list(other.report.warnings) == list(other.report.warnings)
    # the reader keeps the markers to decide (the Pipfile's for appnope, whose lock entry lost it)
    spec = pipfile.read(entry / "Pipfile.lock")
    assert sorted(spec.unpinned) == ["appnope; sys_platform == \"darwin\"", "colorama; sys_platform == \"win32\"",
                                     f"needsdepa; platform_machine == \"{OTHER_MACHINE}\""]
    assert spec.for_target(HOST_TARGET).unpinned == ()
    narrowed = spec.for_target(OTHER_TARGET)
    assert [n.code for n in narrowed.notices] == ["lock-unpinned"]
    assert narrowed.key() == spec.for_target(OTHER_TARGET).key() != spec.for_target(HOST_TARGET).key()
    # the CLI says the same
    proc = cli_build(tmp_path, entry, target=OTHER_TARGET)
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "needsdepa" in proc.stderr
    assert (tmp_path / "cli-out" / "needsdepa").is_dir() and (tmp_path / "cli-out" / "depa").is_dir()


def test_pipfile_lock_star_entry_without_any_marker_is_resolved_with_a_warning(tmp_path: Path,
                                                                               lock_index: WheelIndex) -> None:
    lock = json.loads(pipenv_style_lock(lock_index)["Pipfile.lock"])
    del lock["default"]["appnope"], lock["default"]["colorama"]
    lock["default"]["needsdepa"] = {"version": "*"}
    # no Pipfile beside it: nothing says when
    entry = write_function(tmp_path, files={"Pipfile.lock": json.dumps(lock)})
    result = engine_build(tmp_path, entry, HOST_TARGET)
    assert result.packages == {"depa": "1.0", "needsdepa": "1.0"}
    assert any("needsdepa" in w for w in result.report.warnings), result.report.warnings


@pytest.mark.synth
@needs_cdk
def test_pipfile_lock_star_entries_through_cdk_synth(tmp_path: Path, lock_index: WheelIndex) -> None:
    arch = "ARM_64" if OTHER_TARGET.machine == "aarch64" else "X86_64"
    app = bad_app(tmp_path, f"entry='fn', runtime=lambda_.Runtime.PYTHON_3_12, "
                         f"architecture=lambda_.Architecture.{arch}", None)
    write_function(app, files=pipenv_style_lock(lock_index))
    proc = cdk_synth(tmp_path, app)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("does not pin needsdepa") == 1, proc.stderr  # said once, on the function
    asset = only_asset(tmp_path)
    assert (asset / "needsdepa-1.0.dist-info").is_dir() and (asset / "depa-1.0.dist-info").is_dir()


@pytest.mark.pypi
def test_real_pipenv_lock_through_engine_and_cli(tmp_path: Path, pipenv_lock: dict[str, str]) -> None:
    entry = write_function(tmp_path, files=pipenv_lock)
    host = engine_build(tmp_path, entry, HOST_TARGET, out="host")
    assert host.packages == {"six": "1.16.0"}
    other = engine_build(tmp_path, entry, OTHER_TARGET, out="other")
    assert other.packages["six"] == "1.16.0"  # the lock's pin, though newer six releases exist
    assert "attrs" in other.packages
    assert any("attrs" in w and "Pipfile.lock" in w for w in other.report.warnings), other.report.warnings
    proc = cli_build(tmp_path, entry, target=OTHER_TARGET)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli-out" / "attrs").is_dir()
    assert "does not pin attrs" in proc.stderr


@pytest.mark.pypi
@pytest.mark.synth
@needs_cdk
def test_real_pipenv_lock_through_cdk_synth(tmp_path: Path, pipenv_lock: dict[str, str]) -> None:
    arch = "ARM_64" if OTHER_TARGET.machine == "aarch64" else "X86_64"
    app = bad_app(tmp_path, f"entry='fn', runtime=lambda_.Runtime.PYTHON_3_12, "
                         f"architecture=lambda_.Architecture.{arch}", None)
    write_function(app, files=pipenv_lock)
    proc = cdk_synth(tmp_path, app)
    assert proc.returncode == 0, proc.stderr
    assert "does not pin attrs" in proc.stderr  # the warning, as an annotation on the function
    asset = only_asset(tmp_path)
    assert (asset / "attrs").is_dir() and (asset / "six.py").is_file()


def test_pipfile_lock_path_to_a_non_project_folder(tmp_path: Path) -> None:
    entry = write_function(tmp_path, files={"Pipfile.lock": json.dumps({"_meta": {"sources": []}, "default": {
        "evil": {"path": "/etc", "editable": True}}})})
    refused(tmp_path, entry, str(entry / "Pipfile.lock"), "evil", "/etc", "not a Python project",
            code="not-a-python-project", hint="pyproject.toml")
