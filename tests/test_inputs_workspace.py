"""Monorepos (``inputs/workspace.py`` and the readers it steers): uv workspace members as entries, walked through
the root's real ``uv.lock``; poetry ``path`` dependencies with ``develop = true`` and ``[tool.uv.sources]`` paths
in a member layout. Locks come from the real ``uv lock`` against the hermetic index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdk_native_python import inputs
from cdk_native_python.core.errors import InputError
from cdk_native_python.inputs import uvlock, workspace
from cdk_native_python.pipeline.engine import build, prepare
from cdk_native_python.store.local import LocalStore
from tests.helpers import HANDLER, build_request, fails, says
from tests.inputhelpers import local_package, uv_lock, write
from tests.wheelfactory import WheelIndex


def names(spec: inputs.DependencySpec | None) -> list[str]:
    assert spec is not None
    return sorted(line.split(" ")[0].split("==")[0] for line in spec.requirements)


def member(folder: Path, name: str, deps: tuple[str, ...], sources: str = "") -> Path:
    """A function project (virtual: no build system, as uv makes it) with its handler."""
    write(folder / "pyproject.toml", f'[project]\nname = "{name}"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
          f'dependencies = [{", ".join(repr(d).replace(chr(39), chr(34)) for d in deps)}]\n{sources}')
    write(folder / "index.py", HANDLER)
    return folder


WORKSPACE_SOURCES = '[tool.uv.sources]\nshared = { workspace = true }\n'


@pytest.fixture(scope="module")
def workspace_template(tmp_path_factory: pytest.TempPathFactory, wheel_index: WheelIndex) -> Path:
    """The issue's layout: a virtual root with ``members = ["packages/*", "functions/*"]`` and one lock;
    ``api`` uses ``shared`` (which needs depa and the member ``base``) and purepkg, ``other`` and ``twin`` need
    only six, ``legacy`` is excluded."""
    root = tmp_path_factory.mktemp("ws") / "repo"
    write(root / "pyproject.toml", '[tool.uv.workspace]\nmembers = ["packages/*", "functions/*"]\n'
          f'exclude = ["functions/legacy"]\n\n[[tool.uv.index]]\nname = "hermetic"\nurl = "{wheel_index.url}"\n'
          "default = true\n")
    local_package(root / "packages" / "shared", "shared", ("depa", "base"),
                  extra="[tool.uv.sources]\nbase = { workspace = true }\n")
    local_package(root / "packages" / "base", "base")
    member(root / "functions" / "api", "api", ("shared", "purepkg"), WORKSPACE_SOURCES)
    member(root / "functions" / "other", "other", ("six",))
    member(root / "functions" / "twin", "twin", ("six",))
    member(root / "functions" / "legacy", "legacy", ("six",))
    uv_lock(root)
    return root


@pytest.fixture
def repo(workspace_template: Path, tmp_path: Path) -> Path:
    shutil.copytree(workspace_template, tmp_path / "repo")
    return tmp_path / "repo"


# -- discovery, as uv does it ----------------------------------------------------------------------------------


def test_workspace_is_found_as_uv_finds_it(repo: Path) -> None:
    api = repo / "functions" / "api"
    found = workspace.find(api)
    assert found is not None and found.root == repo.resolve() and found.includes(api)
    assert workspace.find(repo / "functions" / "legacy") is None  # excluded: a project on its own
    assert sorted(found.member_folders()) == ["api", "base", "other", "shared", "twin"]
    # a project nested in a non-workspace project stops the walk there, as in uv
    inner = member(repo / "functions" / "api" / "examples" / "demo", "demo", ("six",))
    assert workspace.find(inner) is None
    # globs match one path component: functions/* does not reach functions/api/sub
    deep = member(repo / "functions" / "x" / "deep", "deep", ("six",))
    (repo / "functions" / "x" / "index.py").write_text(HANDLER)
    assert workspace.find(deep) is None


# -- a member as the entry -------------------------------------------------------------------------------------


def test_a_member_bundles_its_own_dependencies_through_the_root_lock(repo: Path) -> None:
    api = inputs.load(repo / "functions" / "api")
    assert names(api) == ["base", "depa", "purepkg", "shared"]  # base: a member shared depends on
    assert api is not None and api.locked and api.source == repo / "uv.lock"
    (shared,) = [line for line in api.requirements if line.startswith("shared")]
    assert shared == f"shared @ {(repo / 'packages' / 'shared').resolve().as_uri()}"
    assert [n.code for n in api.notices] == ["workspace-member"]
    assert str(repo / "uv.lock") in api.notices[0].message and "member 'api'" in api.notices[0].message
    assert names(inputs.load(repo / "functions" / "other")) == ["six"]
    # the same through dependency_file: the walk starts at the member, not at the (dependency-free) root
    explicit = inputs.load(repo / "functions" / "api", Path("../../uv.lock"))
    assert explicit is not None and explicit.requirements == api.requirements
    # an entry below the member's folder is plain handler code unless dependency_file names the lock; then it
    # belongs to the member, as for uv run from there
    src = repo / "functions" / "api" / "src"
    write(src / "index.py", HANDLER)
    assert inputs.load(src) is None
    assert names(inputs.load(src, Path("../../../uv.lock"))) == ["base", "depa", "purepkg", "shared"]


def test_a_member_without_the_root_lock_takes_the_roots_members_for_workspace_sources(repo: Path) -> None:
    (repo / "uv.lock").unlink()  # the first failure: 'shared is a workspace source but no member ...'
    spec = inputs.load(repo / "functions" / "api")
    assert spec is not None and not spec.locked
    assert spec.requirements == (f"shared @ {(repo / 'packages' / 'shared').resolve().as_uri()}", "purepkg")


def test_extras_and_groups_of_the_member_are_walked(repo: Path) -> None:
    text = (repo / "functions" / "api" / "pyproject.toml").read_text()
    (repo / "functions" / "api" / "pyproject.toml").write_text(
        text.replace(WORKSPACE_SOURCES, '[project.optional-dependencies]\nfast = ["usesattrs"]\n\n'
                     '[dependency-groups]\nprod = ["jmespath"]\n\n' + WORKSPACE_SOURCES))
    uv_lock(repo)
    assert names(inputs.load(repo / "functions" / "api")) == ["base", "depa", "purepkg", "shared"]
    chosen = inputs.load(repo / "functions" / "api", extras=["fast"], groups=["prod"])
    assert names(chosen) == ["attrs", "base", "depa", "jmespath", "purepkg", "shared", "usesattrs"]


def test_members_share_one_lock_read_and_one_resolution(repo: Path, wheel_index: WheelIndex, tmp_path: Path) -> None:
    lock = repo / "uv.lock"
    assert uvlock._parsed(lock) is uvlock._parsed(lock)  # read once per process while unchanged
    store = LocalStore(tmp_path / "cache")
    other = prepare(build_request(repo / "functions" / "other", wheel_index), store)
    twin = prepare(build_request(repo / "functions" / "twin", wheel_index), store)
    assert other.resolution == twin.resolution and twin.resolve_hit  # the same set: one resolution entry
    assert len(list((store.root / "resolutions").iterdir())) == 1


def test_an_edit_in_a_shared_package_rebundles_exactly_its_users(repo: Path, wheel_index: WheelIndex,
                                                                  tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    api, other = repo / "functions" / "api", repo / "functions" / "other"

    def hashes() -> tuple[str, str]:
        return (prepare(build_request(api, wheel_index), store).asset_hash,
                prepare(build_request(other, wheel_index), store).asset_hash)

    before = hashes()
    assert hashes() == before  # nothing changed, nothing re-bundled
    (repo / "packages" / "shared" / "shared" / "__init__.py").write_text("VALUE = 2\n")
    after = hashes()
    assert after[0] != before[0] and after[1] == before[1]
    (repo / "packages" / "base" / "base" / "__init__.py").write_text("VALUE = 3\n")  # used through shared
    last = hashes()
    assert last[0] != after[0] and last[1] == before[1]

    # the bundle holds the member's packages and the shared package installed as a wheel, not the root's nor six
    result = build(build_request(api, wheel_index), tmp_path / "out", store)
    assert sorted(result.packages) == ["base", "depa", "purepkg", "shared"]
    out = tmp_path / "out"
    assert (out / "shared" / "__init__.py").read_text() == "VALUE = 2\n"
    assert not list(out.glob("*.pth")) and not list(out.glob("__editable__*"))  # non-editable
    assert (out / "index.py").is_file() and (out / "pyproject.toml").is_file()  # the member's folder is the source
    assert not (out / "api-0.1.dist-info").exists()  # the entry member is not installed as a package too


# -- errors ----------------------------------------------------------------------------------------------------


def test_a_lock_that_yields_nothing_for_a_project_that_declares_dependencies_is_an_error(repo: Path) -> None:
    lock = repo / "uv.lock"
    text = lock.read_text()
    start = text.index('name = "api"')
    edges = text.index("dependencies = [", start)
    lock.write_text(text[:edges] + "dependencies = []\n" + text[text.index("]\n", edges) + 2:])  # a broken lock
    err = fails(InputError, lambda: inputs.load(repo / "functions" / "api"))
    assert err.code == "lock-yields-nothing"
    says(err, str(lock), str(repo / "functions" / "api" / "pyproject.toml"), "shared, purepkg",
         hint="dependency_file")


def test_an_entry_outside_the_workspace_of_its_lock_is_an_error(repo: Path) -> None:
    legacy = repo / "functions" / "legacy"
    err = fails(InputError, lambda: inputs.load(legacy, Path("../../uv.lock")))
    assert err.code == "not-a-workspace-member"
    says(err, str(legacy), str(repo.resolve()), "'packages/*', 'functions/*'", "functions/legacy",
         hint="remove functions/legacy from [tool.uv.workspace] exclude")
    stray = member(repo / "tools" / "job", "job", ("six",))  # matched by no members glob
    says(fails(InputError, lambda: inputs.load(stray, Path("../../uv.lock"))), str(stray),
         hint="add tools/job to [tool.uv.workspace] members")
    # on its own (no dependency_file) it is its own project, as for uv: its pyproject.toml, resolved
    spec = inputs.load(legacy)
    assert spec is not None and not spec.locked and spec.requirements == ("six",)


def test_a_workspace_source_that_names_no_member_is_an_error(repo: Path) -> None:
    (repo / "uv.lock").unlink()
    shutil.rmtree(repo / "packages" / "shared")
    err = fails(InputError, lambda: inputs.load(repo / "functions" / "api"))
    assert err.code == "workspace-member-missing"
    says(err, "shared", str(repo.resolve()), "'packages/*'", hint="members")


# -- the other monorepo shapes: path dependencies from functions/api to ../../packages/shared ----------------


def _edit_rebundles(entry: Path, shared: Path, index: WheelIndex, tmp_path: Path) -> list[str]:
    """Build ``entry``; an edit in ``shared`` changes its asset hash. Returns the bundle's packages."""
    store = LocalStore(tmp_path / "cache")
    before = prepare(build_request(entry, index), store).asset_hash
    result = build(build_request(entry, index), tmp_path / "out", store)
    assert (tmp_path / "out" / "shared" / "__init__.py").read_text() == "VALUE = 1\n"
    assert not list((tmp_path / "out").glob("*.pth"))  # editable/develop in the checkout, a plain wheel in Lambda
    assert prepare(build_request(entry, index), store).asset_hash == before
    (shared / "shared" / "__init__.py").write_text("VALUE = 2\n")
    assert prepare(build_request(entry, index), store).asset_hash != before
    return sorted(result.packages)


def test_uv_sources_path_in_a_member_layout(tmp_path: Path, wheel_index: WheelIndex) -> None:
    repo = tmp_path / "repo"
    shared = local_package(repo / "packages" / "shared", "shared", ("depa",))
    api = member(repo / "functions" / "api", "api", ("shared", "purepkg"),
                 '[tool.uv.sources]\nshared = { path = "../../packages/shared", editable = true }\n\n'
                 f'[[tool.uv.index]]\nname = "hermetic"\nurl = "{wheel_index.url}"\ndefault = true\n')
    uv_lock(api)  # the function's own lock, not a workspace
    assert _edit_rebundles(api, shared, wheel_index, tmp_path) == ["depa", "purepkg", "shared"]


def test_poetry_path_dependency_with_develop_in_a_member_layout(tmp_path: Path, wheel_index: WheelIndex) -> None:
    repo = tmp_path / "repo"
    shared = local_package(repo / "packages" / "shared", "shared")
    api = repo / "functions" / "api"
    write(api / "pyproject.toml", """
        [tool.poetry]
        name = "api"
        version = "0.1.0"
        package-mode = false

        [tool.poetry.dependencies]
        python = ">=3.11"
        six = "*"
        shared = { path = "../../packages/shared", develop = true }
        """)
    six = next(p for p in wheel_index.projects()["six"])
    import hashlib

    digest = hashlib.sha256(six.read_bytes()).hexdigest()
    write(api / "poetry.lock", f"""
        [[package]]
        name = "shared"
        version = "0.1"
        description = ""
        optional = false
        python-versions = ">=3.11"
        files = []
        develop = true

        [package.source]
        type = "directory"
        url = "../../packages/shared"

        [[package]]
        name = "six"
        version = "{six.name.split("-")[1]}"
        description = ""
        optional = false
        python-versions = "*"
        files = [{{file = "{six.name}", hash = "sha256:{digest}"}}]

        [metadata]
        lock-version = "2.0"
        python-versions = ">=3.11"
        content-hash = "{"0" * 64}"
        """)
    write(api / "index.py", HANDLER)
    assert _edit_rebundles(api, shared, wheel_index, tmp_path) == ["shared", "six"]


def test_a_cycle_back_to_the_entry_member_does_not_install_it(tmp_path: Path, wheel_index: WheelIndex) -> None:
    root = tmp_path / "repo"
    write(root / "pyproject.toml", '[tool.uv.workspace]\nmembers = ["packages/*"]\n\n[[tool.uv.index]]\n'
          f'name = "hermetic"\nurl = "{wheel_index.url}"\ndefault = true\n')
    sources = '[tool.uv.sources]\n{} = {{ workspace = true }}\n'
    api = local_package(root / "packages" / "api", "api", ("shared",), extra=sources.format("shared"))
    local_package(root / "packages" / "shared", "shared", ("api", "six"), extra=sources.format("api"))
    uv_lock(root)
    # api's code is the entry folder, copied as the handler's source: never also installed from the lock
    assert names(inputs.load(api)) == ["shared", "six"]


def test_a_folder_whose_pyproject_only_configures_tools_is_no_project(repo: Path, tmp_path: Path) -> None:
    # handler code beside a tools-only pyproject.toml, sharing another folder's lock: the lock's root project
    shared_deps = tmp_path / "deps"
    write(shared_deps / "pyproject.toml", '[project]\nname = "deps"\nversion = "1"\ndependencies = ["six"]\n')
    write(shared_deps / "uv.lock", (repo / "uv.lock").read_text().replace('name = "other"', 'name = "deps"')
          .replace('{ virtual = "functions/other" }', '{ virtual = "." }'))
    fn = tmp_path / "fn"
    write(fn / "pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    assert names(inputs.load(fn, Path("../deps/uv.lock"))) == ["six"]


def test_an_absolute_workspace_glob_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.uv.workspace]\nmembers = ["/etc/*"]\n')
    api = member(tmp_path / "api", "api", ("six",))
    err = fails(InputError, lambda: workspace.find(api))
    assert err.code == "workspace-glob"
    says(err, str(tmp_path / "pyproject.toml"), "/etc/*", hint="relative to the workspace root")


def test_the_roots_sources_apply_to_members_unless_their_own_override(repo: Path) -> None:
    (repo / "uv.lock").unlink()
    api = repo / "functions" / "api" / "pyproject.toml"
    api.write_text(api.read_text().replace(WORKSPACE_SOURCES, ""))
    root = repo / "pyproject.toml"
    root.write_text(root.read_text() + "\n" + WORKSPACE_SOURCES)  # declared once, at the root, as uv allows
    shared = f"shared @ {(repo / 'packages' / 'shared').resolve().as_uri()}"
    assert inputs.load(repo / "functions" / "api").requirements == (shared, "purepkg")  # type: ignore[union-attr]
    # the member's own entry wins (a path relative to the member's folder)
    local_package(repo / "functions" / "api" / "vendored", "shared")
    api.write_text(api.read_text() + '[tool.uv.sources]\nshared = { path = "vendored" }\n')
    vendored = f"shared @ {(repo / 'functions' / 'api' / 'vendored').resolve().as_uri()}"
    assert inputs.load(repo / "functions" / "api").requirements == (vendored, "purepkg")  # type: ignore[union-attr]
