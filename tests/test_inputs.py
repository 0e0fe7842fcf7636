"""Every dependency format read into a DependencySpec, and all of them meaning the same set.

The fixtures under tests/fixtures/formats lock one logical set (click, orjson, python-dateutil ->
tzdata, appnope only on darwin, ujson behind the "fast" extra, iniconfig in the "dev" group), most
"made on macOS". Offline tests evaluate each emitted marker for a Lambda target with
:class:`Target`, as the installer will; the ``pypi`` tests install the files for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cdk_native_python.errors import InputError
from cdk_native_python.inputs import _lockutil, pipfile, poetry, pylock, pyproject, uvlock
from cdk_native_python.spec import DependencySpec
from cdk_native_python.target import Target

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
Reader = Callable[..., DependencySpec]
LOCKS: dict[str, tuple[Reader, Path]] = {
    "Pipfile.lock": (pipfile.read, FIXTURES / "pipfile" / "Pipfile.lock"),
    "poetry1": (poetry.read, FIXTURES / "poetry1" / "poetry.lock"),
    "poetry2": (poetry.read, FIXTURES / "poetry2" / "poetry.lock"),
    "uv.lock": (uvlock.read, FIXTURES / "uv" / "uv.lock"),
    "pylock.toml": (pylock.read, FIXTURES / "pylock" / "pylock.toml"),
}
ARM_312 = Target.from_runtime("python3.12", "arm64")
X86_311 = Target.from_runtime("python3.11", "x86_64")
MAIN_SET = {"click": "8.5.1", "orjson": "3.13.0", "python-dateutil": "4.0.0", "tzdata": "2026.6"}


def pins_for(spec: DependencySpec, target: Target) -> dict[str, str]:
    """name -> version of the lines whose marker holds on ``target`` (what the installer will keep)."""
    out: dict[str, str] = {}
    for line in spec.requirements:
        req = Requirement(line.split(" --hash=")[0])
        if target.evaluate(req.marker):
            version = str(req.specifier).removeprefix("==")
            assert req.name not in out, f"two versions of {req.name} selected for {target}"
            out[req.name] = version
    return out


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# -- the same set from every lock ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", LOCKS)
@pytest.mark.parametrize("target", [ARM_312, X86_311], ids=str)
def test_every_lock_means_the_same_set_for_the_target(fmt: str, target: Target) -> None:
    reader, path = LOCKS[fmt]
    spec = reader(path)
    assert spec.locked and spec.has_hashes
    assert spec.source == path
    assert pins_for(spec, target) == MAIN_SET
    # the lock was made on macOS: appnope is there, guarded, and never selected for Lambda
    appnope = [line for line in spec.requirements if line.startswith("appnope==")]
    assert len(appnope) == 1 and 'sys_platform == "darwin"' in appnope[0]
    assert spec.indexes.key() == {"index_url": None, "extra_index_urls": [], "find_links": [], "no_index": False}


@pytest.mark.parametrize("fmt", LOCKS)
def test_lines_are_single_line_pins_with_hashes(fmt: str) -> None:
    reader, path = LOCKS[fmt]
    for line in reader(path).requirements:
        assert "\n" not in line
        body, *hashes = line.split(" --hash=")
        assert "==" in body and hashes
        assert all(h.startswith("sha256:") and len(h) == 71 for h in hashes)


@pytest.mark.parametrize("fmt", ["poetry1", "poetry2", "uv.lock", "pylock.toml"])
def test_extras_and_groups_are_opt_in(fmt: str) -> None:
    reader, path = LOCKS[fmt]
    assert pins_for(reader(path, extras=["fast"], groups=["dev"]), ARM_312) == {
        **MAIN_SET,
        "ujson": "6.1.0",
        "iniconfig": "2.3.1",
    }
    assert pins_for(reader(path, extras=["fast"]), ARM_312) == {**MAIN_SET, "ujson": "6.1.0"}


def test_pipfile_lock_develop_only_when_chosen() -> None:
    path = LOCKS["Pipfile.lock"][1]
    assert "iniconfig" not in pins_for(pipfile.read(path), ARM_312)
    assert pins_for(pipfile.read(path, groups=["develop"]), ARM_312)["iniconfig"] == "2.3.1"
    assert pipfile.read(path, groups=["dev"]).requirements == pipfile.read(path, groups=["develop"]).requirements


def test_python_version_split_packages_keep_their_markers() -> None:
    """uv.lock and poetry 2 hold two python-dateutil versions; each keeps the marker that splits them."""
    for fmt in ("uv.lock", "poetry2", "pylock.toml"):
        spec = LOCKS[fmt][0](LOCKS[fmt][1])
        pins = pins_for(spec, Target.from_runtime("python3.10", "x86_64"))
        assert pins["python-dateutil"] == "3.0.0" and pins["six"] == "1.17.0", fmt


def test_pipfile_without_lock_is_open() -> None:
    spec = pipfile.read_pipfile(FIXTURES / "pipfile" / "Pipfile")
    assert not spec.locked and spec.kind == "Pipfile"
    assert 'appnope>=0.1.4; sys_platform == "darwin"' in spec.requirements
    assert "orjson>=3.10" in spec.requirements
    assert "iniconfig>=2" in pipfile.read_pipfile(FIXTURES / "pipfile" / "Pipfile", groups=["develop"]).requirements


def test_pyproject_without_lock_is_open(tmp_path: Path) -> None:
    project = write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "fn"
        version = "1"
        dependencies = ["orjson>=3.10", "appnope; sys_platform == 'darwin'"]
        [project.optional-dependencies]
        fast = ["ujson"]
        all = ["fn[fast]", "click"]
        [dependency-groups]
        test = ["iniconfig"]
        dev = [{include-group = "test"}, "six"]
        [[tool.uv.index]]
        name = "corp"
        url = "https://corp.example/simple"
        default = true
        [[tool.uv.index]]
        name = "extra"
        url = "https://extra.example/simple"
        """,
    )
    spec = pyproject.read(project, extras=["all"], groups=["dev"])
    assert not spec.locked and spec.kind == "pyproject.toml"
    assert spec.requirements == (
        "orjson>=3.10",
        'appnope; sys_platform == "darwin"',
        "ujson",
        "click",
        "iniconfig",
        "six",
    )
    assert spec.indexes.index_url == "https://corp.example/simple"
    assert spec.indexes.extra_index_urls == ("https://extra.example/simple",)
    with pytest.raises(InputError, match="extra 'nope' is not defined"):
        pyproject.read(project, extras=["nope"])
    with pytest.raises(InputError, match="dependency group 'nope'"):
        pyproject.read(project, groups=["nope"])


# -- credentials -----------------------------------------------------------------------------------


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


def test_poetry_sources_and_env_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    lock = (FIXTURES / "poetry2" / "poetry.lock").read_text()
    lock = lock.replace(
        'name = "orjson"\nversion = "3.13.0"\n',
        'name = "orjson"\nversion = "3.13.0"\nsource = {type = "legacy", url = "https://corp.example/simple", '
        'reference = "corp"}\n',
    )
    (folder / "poetry.lock").write_text(lock)
    manifest = (FIXTURES / "poetry2" / "pyproject.toml").read_text()
    manifest += (
        '\n[[tool.poetry.source]]\nname = "corp"\nurl = "https://corp.example/simple"\npriority = "supplemental"\n'
    )
    manifest += (
        '\n[[tool.poetry.source]]\nname = "unused"\nurl = "https://unused.example/simple"\npriority = "explicit"\n'
    )
    (folder / "pyproject.toml").write_text(manifest)
    monkeypatch.setenv("POETRY_HTTP_BASIC_CORP_USERNAME", "bob")
    monkeypatch.setenv("POETRY_HTTP_BASIC_CORP_PASSWORD", "pa ss")
    spec = poetry.read(folder / "poetry.lock")
    assert spec.indexes.index_url == "https://pypi.org/simple"
    assert spec.indexes.extra_index_urls == ("https://bob:pa%20ss@corp.example/simple",)
    assert "bob" not in json.dumps(spec.key())


def test_uv_index_credentials_from_uv_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "fn"
        version = "1"
        dependencies = ["orjson"]
        [[tool.uv.index]]
        name = "my-corp"
        url = "https://corp.example/simple"
        """,
    )
    monkeypatch.setenv("UV_INDEX_MY_CORP_USERNAME", "u")
    monkeypatch.setenv("UV_INDEX_MY_CORP_PASSWORD", "p")
    spec = pyproject.read(project)
    assert spec.indexes.extra_index_urls == ("https://u:p@corp.example/simple",)
    assert spec.key()["indexes"] == {
        "index_url": None,
        "extra_index_urls": ["https://corp.example/simple"],
        "find_links": [],
        "no_index": False,
    }


# -- local paths and VCS ---------------------------------------------------------------------------

UV_WORKSPACE_LOCK = """
version = 1
revision = 3
requires-python = ">=3.12"

[manifest]
members = ["app", "shared"]

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "shared" }]

[package.metadata]
requires-dist = [{ name = "shared", editable = "libs/shared" }]

[[package]]
name = "shared"
version = "0.2.0"
source = { editable = "libs/shared" }
"""


def test_uv_workspace_member_is_a_fingerprinted_path(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "app"
        version = "0.1.0"
        dependencies = ["shared"]
        [tool.uv.sources]
        shared = { workspace = true }
        [tool.uv.workspace]
        members = ["libs/*"]
        """,
    )
    member = tmp_path / "libs" / "shared"
    write(member / "pyproject.toml", '[project]\nname = "shared"\nversion = "0.2.0"\n')
    write(member / "shared" / "__init__.py", "X = 1\n")
    write(member / ".venv" / "junk.py", "ignored\n")
    lock = write(tmp_path / "uv.lock", UV_WORKSPACE_LOCK)
    spec = uvlock.read(lock)
    assert spec.requirements == (f"shared @ {member.resolve().as_uri()}",)
    assert len(spec.path_fingerprints) == 1
    # the same through the no-lock reader
    assert pyproject.read(tmp_path / "pyproject.toml").requirements == spec.requirements
    (member / ".venv" / "junk.py").write_text("still ignored\n")
    assert uvlock.read(lock).digest() == spec.digest()
    (member / "shared" / "__init__.py").write_text("X = 2\n")
    assert uvlock.read(lock).digest() != spec.digest()


def test_pyproject_path_source(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "lib" / "__init__.py", "")
    write(tmp_path / "lib" / "pyproject.toml", "[project]\nname = 'lib'\nversion = '1'\n")  # a buildable project
    project = write(
        tmp_path / "fn" / "pyproject.toml",
        """
        [project]
        name = "fn"
        version = "1"
        dependencies = ["lib; python_version >= '3.9'"]
        [tool.uv.sources]
        lib = { path = "../lib", editable = true }
        """,
    )
    spec = pyproject.read(project)
    assert spec.requirements == (f'lib @ {(tmp_path / "lib").resolve().as_uri()} ; python_version >= "3.9"',)
    assert spec.path_fingerprints


def vcs_cases(tmp_path: Path) -> list[tuple[Reader, Path]]:
    uv = tmp_path / "uv"
    write(uv / "pyproject.toml", '[project]\nname = "app"\nversion = "1"\ndependencies = ["lib"]\n')
    write(
        uv / "uv.lock",
        """
        version = 1
        [[package]]
        name = "app"
        version = "1"
        source = { virtual = "." }
        dependencies = [{ name = "lib" }]
        [package.metadata]
        requires-dist = [{ name = "lib" }]
        [[package]]
        name = "lib"
        version = "1"
        source = { git = "https://github.com/x/lib?rev=main#abc" }
        """,
    )
    lock = json.loads(LOCKS["Pipfile.lock"][1].read_text())
    lock["default"]["lib"] = {"git": "https://github.com/x/lib", "ref": "abc"}
    pip = tmp_path / "pip" / "Pipfile.lock"
    write(pip, json.dumps(lock))
    po = tmp_path / "poetry"
    write(po / "pyproject.toml", '[project]\nname = "app"\nversion = "1"\ndependencies = ["lib"]\n')
    write(
        po / "poetry.lock",
        """
        [[package]]
        name = "lib"
        version = "1"
        files = []
        groups = ["main"]
        [package.source]
        type = "git"
        url = "https://github.com/x/lib"
        reference = "main"
        resolved_reference = "abc"
        [metadata]
        lock-version = "2.1"
        """,
    )
    pl = write(
        tmp_path / "pl" / "pylock.toml",
        """
        lock-version = "1.0"
        [[packages]]
        name = "lib"
        vcs = { type = "git", url = "https://github.com/x/lib", commit-id = "abc" }
        """,
    )
    pp = write(
        tmp_path / "pp" / "pyproject.toml",
        '[project]\nname = "a"\nversion = "1"\ndependencies = ["lib"]\n'
        '[tool.uv.sources]\nlib = { git = "https://x/lib" }\n',
    )
    return [(uvlock.read, uv / "uv.lock"), (pipfile.read, pip), (poetry.read, po / "poetry.lock"),
            (pylock.read, pl), (pyproject.read, pp)]  # fmt: skip


def test_vcs_dependencies_are_rejected_in_every_format(tmp_path: Path) -> None:
    for reader, path in vcs_cases(tmp_path):
        with pytest.raises(InputError, match="VCS dependencies are not supported") as err:
            reader(path)
        assert str(path) in str(err.value) and "lib" in str(err.value)
        assert err.value.hint and "wheel" in err.value.hint


# -- broken and stale inputs -----------------------------------------------------------------------


def test_malformed_files_name_file_and_line(tmp_path: Path) -> None:
    bad_json = write(tmp_path / "j" / "Pipfile.lock", '{\n  "default": {\n    "x": ,\n}\n')
    with pytest.raises(InputError, match=r"Pipfile.lock:3:\d+ is not valid JSON"):
        pipfile.read(bad_json)
    bad_toml = write(tmp_path / "t" / "pylock.toml", 'lock-version = "1.0"\n[[packages]\nname = "x"\n')
    with pytest.raises(InputError, match=r"pylock.toml is not valid TOML.*line 2"):
        pylock.read(bad_toml)


@pytest.mark.parametrize("fmt", ["poetry1", "uv.lock"])
def test_lock_without_its_pyproject(tmp_path: Path, fmt: str) -> None:
    src = LOCKS[fmt][1]
    copy = tmp_path / src.name
    copy.write_text(src.read_text())
    with pytest.raises(InputError, match=r"has no pyproject\.toml next to it"):
        LOCKS[fmt][0](copy)


@pytest.mark.parametrize(
    ("fmt", "manifest", "hint"),
    [
        ("poetry2", "pyproject.toml", "poetry lock"),
        ("uv.lock", "pyproject.toml", "uv lock"),
        ("Pipfile.lock", "Pipfile", "pipenv lock"),
    ],
)
def test_stale_lock(tmp_path: Path, fmt: str, manifest: str, hint: str) -> None:
    reader, src = LOCKS[fmt]
    (tmp_path / src.name).write_text(src.read_text())
    text = (src.parent / manifest).read_text()
    if manifest == "Pipfile":
        text = text.replace("[packages]\n", '[packages]\nboto3 = "*"\n')
    else:
        text = text.replace("dependencies = [\n", 'dependencies = [\n    "boto3",\n', 1)
    (tmp_path / manifest).write_text(text)
    with pytest.raises(InputError, match=r"is out of date: boto3") as err:
        reader(tmp_path / src.name)
    assert err.value.hint and hint in err.value.hint


def test_unknown_selections_are_errors() -> None:
    with pytest.raises(InputError, match="extra 'nope'"):
        uvlock.read(LOCKS["uv.lock"][1], extras=["nope"])
    with pytest.raises(InputError, match="dependency group 'nope'"):
        poetry.read(LOCKS["poetry2"][1], groups=["nope"])
    with pytest.raises(InputError, match="no 'nope' section"):
        pipfile.read(LOCKS["Pipfile.lock"][1], groups=["nope"])
    with pytest.raises(InputError, match="not in the lock's extras"):
        pylock.read(LOCKS["pylock.toml"][1], extras=["nope"])
    with pytest.raises(InputError, match="extras fast cannot be chosen"):
        pipfile.read(LOCKS["Pipfile.lock"][1], extras=["fast"])


def test_lock_with_a_corrupt_hash(tmp_path: Path) -> None:
    lock = json.loads(LOCKS["Pipfile.lock"][1].read_text())
    lock["default"]["click"]["hashes"] = ["sha256:not-hex"]
    path = write(tmp_path / "Pipfile.lock", json.dumps(lock))
    with pytest.raises(InputError, match="package click: malformed hash"):
        pipfile.read(path)


# -- markers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("'fast' in extras", True),
        ("'slow' in extras", False),
        ("'dev' in dependency_groups and sys_platform == 'linux'", 'sys_platform == "linux"'),
        ("'dev' not in dependency_groups or python_version < '3.11'", 'python_version < "3.11"'),
        ("extra == 'fast' and (os_name == 'posix' or os_name == 'nt')", 'os_name == "posix" or os_name == "nt"'),
        ("extra == 'extra-3-app-fast'", True),
        ("extra == 'group-3-app-dev'", False),
        ("sys_platform == 'darwin'", 'sys_platform == "darwin"'),
    ],
)
def test_reduce_marker_decides_only_the_selection_variables(marker: str, expected: bool | str) -> None:
    decide = _lockutil.selection_decider(["fast"], ["dev2"] if "group-" in marker else ["dev"])
    if "not in dependency_groups" in marker:
        decide = _lockutil.selection_decider([], ["dev"])
    assert _lockutil.reduce_marker(marker, decide, "x") == expected


def test_walk_combines_markers_along_paths_and_settles_on_cycles() -> None:
    graph: dict[str, list[tuple[str, str | None, tuple[str, ...]]]] = {
        "a": [("b", "sys_platform == 'win32'", ()), ("c", None, ())],
        "b": [("a", "python_version < '3.12'", ()), ("d", None, ())],
        "c": [("d", "os_name == 'nt'", ())],
        "d": [],
    }
    walk: _lockutil.MarkerWalk[str] = _lockutil.MarkerWalk(lambda node, extra: graph[node] if extra is None else [])
    walk.add_root("a", None)
    result = walk.packages()
    assert result["a"] is None and result["c"] is None
    assert result["b"] == 'sys_platform == "win32"'
    assert result["d"] == 'os_name == "nt" or sys_platform == "win32"'


# -- real installs ---------------------------------------------------------------------------------


@pytest.mark.pypi
@pytest.mark.parametrize("fmt", LOCKS)
def test_install_each_lock_for_arm64_312(fmt: str, tmp_path: Path, pypi_cache: Path) -> None:
    from uv import find_uv_bin

    spec = LOCKS[fmt][0](LOCKS[fmt][1])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(spec.requirements_text())
    target = tmp_path / "site"
    args = [find_uv_bin(), "pip", "install", "--target", str(target), "--no-deps", "--python-platform",
            "aarch64-manylinux_2_34", "--python-version", "3.12", "--only-binary", ":all:", "-r", str(requirements),
            *spec.indexes.uv_args()]  # fmt: skip
    if spec.has_hashes:
        args.append("--require-hashes")
    env = {**os.environ, "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(pypi_cache)}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    dists = [p.name.removesuffix(".dist-info").rsplit("-", 1) for p in target.glob("*.dist-info")]
    installed = {name.lower().replace("_", "-"): version for name, version in dists}
    assert installed == MAIN_SET
    assert not (target / "appnope").exists()
    assert list((target / "orjson").glob("*.cpython-312-aarch64-linux-gnu.so"))  # the compiled one, for the target


@pytest.fixture(scope="module")
def pypi_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the install tests, so the five formats download each wheel once."""
    return tmp_path_factory.mktemp("uv-cache")
