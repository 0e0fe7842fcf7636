"""Every dependency format read into a DependencySpec, and all of them meaning the same set.

The fixtures under tests/fixtures/formats lock one logical set (click, orjson, python-dateutil ->
tzdata, appnope only on darwin, ujson behind the "fast" extra, iniconfig in the "dev" group), most
"made on macOS". Offline tests evaluate each emitted marker for a Lambda target with
:class:`Target`, as the installer will; the ``pypi`` tests install the files for real, and bundle each format
end to end (the same set, byte-identical trees). Also here: what every reader shares (detection, the size and
file-type checks of ``_read.py``, local archives in locks, URL credentials split off, ``_lockutil`` markers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdk_native_python.core.errors import (
    InputError,
)
from cdk_native_python.core.hints import speak
from cdk_native_python.core.spec import DependencySpec
from cdk_native_python.core.target import Target
from cdk_native_python.inputs import _lockutil, pipfile, poetry, pylock, pyproject, uvlock
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.store.local import LocalStore
from tests import treehelpers
from tests.helpers import ARM312, PASSWORD, elf_machine, refused, write_function
from tests.inputhelpers import LOCKS, Reader, pins_for, write

TARGETS = [Target.from_runtime("python3.12", "arm64"), Target.from_runtime("python3.11", "x86_64")]

X86_311 = Target.from_runtime("python3.11", "x86_64")
MAIN_SET = {"click": "8.5.1", "orjson": "3.13.0", "python-dateutil": "4.0.0", "tzdata": "2026.6"}


# -- the same set from every lock ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", LOCKS)
@pytest.mark.parametrize("target", [ARM312, X86_311], ids=str)
def test_every_lock_means_the_same_set_for_the_target(fmt: str, target: Target) -> None:
    reader, path = LOCKS[fmt]
    spec = reader(path)
    assert spec.locked and _hashed(spec)
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
    assert pins_for(reader(path, extras=["fast"], groups=["dev"]), ARM312) == {
        **MAIN_SET,
        "ujson": "6.1.0",
        "iniconfig": "2.3.1",
    }
    assert pins_for(reader(path, extras=["fast"]), ARM312) == {**MAIN_SET, "ujson": "6.1.0"}


def test_python_version_split_packages_keep_their_markers() -> None:
    """uv.lock and poetry 2 hold two python-dateutil versions; each keeps the marker that splits them."""
    for fmt in ("uv.lock", "poetry2", "pylock.toml"):
        spec = LOCKS[fmt][0](LOCKS[fmt][1])
        pins = pins_for(spec, Target.from_runtime("python3.10", "x86_64"))
        assert pins["python-dateutil"] == "3.0.0" and pins["six"] == "1.17.0", fmt


# -- credentials -----------------------------------------------------------------------------------


# -- local paths and VCS ---------------------------------------------------------------------------


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
    if _hashed(spec):
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


SAMESET = Path(__file__).parent / "fixtures" / "sameset"


SAMESET_FILES = {"requirements": "requirements.txt", "pipfile": "Pipfile.lock", "poetry": "poetry.lock",
                 "uv": "uv.lock", "pylock": "pylock.toml", "hashed": "requirements.txt"}


TARGET = Target.from_runtime("python3.12", "x86_64")


def tree(fmt: str, root: Path, cache: LocalStore) -> tuple[dict[str, bytes], dict[str, str]]:
    entry = root / fmt
    shutil.copytree(SAMESET / fmt, entry)
    (entry / "index.py").write_text("def handler(event, context):\n    return 1\n")
    result = build(BuildRequest(entry=entry, target=TARGET), root / f"out-{fmt}", cache)
    assert result.report.source_files and SAMESET_FILES[fmt] in result.report.source_files
    out = root / f"out-{fmt}"
    files = treehelpers.files(out)
    return {k: v for k, v in files.items() if k not in result.report.source_files}, dict(result.report.stripped)


FORMATS_DIR = Path(__file__).parent / "fixtures" / "formats"


LOCKED = ["uv", "poetry1", "poetry2", "pipfile", "pylock"]


def bundle(fmt: str, target: Target, root: Path, cache: LocalStore) -> dict[str, str]:
    entry = root / fmt
    shutil.copytree(FORMATS_DIR / fmt, entry)
    (entry / "index.py").write_text("def handler(event, context):\n    return 1\n")
    result = build(BuildRequest(entry=entry, target=target), root / f"out-{fmt}", cache)
    so = [p for p in (root / f"out-{fmt}").rglob("*.so")]
    assert so, "orjson's extension module should be there"
    machine = 183 if target.machine == "aarch64" else 62
    assert all(elf_machine(p.read_bytes()) == machine for p in so)
    return result.packages


URL = "https://alice:{secret}@pkgs.example.com/privpkg-1.0-py3-none-any.whl#sha256=" + "b" * 64


def _url_in_every_format(root: Path) -> list[Path]:
    """The same credentialed URL dependency in each format that can hold one; returns the files to read."""
    link = URL.format(secret=PASSWORD)
    project = '[project]\nname = "app"\nversion = "1"\n'
    files = {
        "req/requirements.txt": f"privpkg @ {link}\n",
        "pp/pyproject.toml": project + f'dependencies = ["privpkg @ {link}"]\n',
        "src/pyproject.toml": project + 'dependencies = ["privpkg"]\n[tool.uv.sources]\n'
                              f'privpkg = {{ url = "{link}" }}\n',
        "pl/pylock.toml": f'lock-version = "1.0"\n[[packages]]\nname = "privpkg"\nversion = "1.0"\n'
                          f'archive = {{ url = "{link}", hashes = {{ sha256 = "{"b" * 64}" }} }}\n',
        "pip/Pipfile.lock": json.dumps({"_meta": {"sources": []}, "default": {
            "privpkg": {"file": link, "hashes": ["sha256:" + "b" * 64]}}}),
        "uv/pyproject.toml": project + 'dependencies = ["privpkg"]\n',
        "uv/uv.lock": textwrap.dedent(f"""\
            version = 1
            [[package]]
            name = "app"
            version = "1"
            source = {{ virtual = "." }}
            dependencies = [{{ name = "privpkg" }}]
            [package.metadata]
            requires-dist = [{{ name = "privpkg" }}]
            [[package]]
            name = "privpkg"
            version = "1.0"
            source = {{ url = "{link}" }}
            wheels = [{{ url = "{link}", hash = "sha256:{"b" * 64}" }}]
            """),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return [root / n for n in ("req/requirements.txt", "pp/pyproject.toml", "src/pyproject.toml",
                               "pl/pylock.toml", "pip/Pipfile.lock", "uv/uv.lock")]


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe with a writer that connects only if someone opens it for reading (then writes ``six``):
    a reader that opens it does not hang the tests, it reads a line and is caught by the assertions."""
    path = tmp_path / "deps" / "pipe.txt"  # beside the function (in it, the source walk refuses it first)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    stop = threading.Event()

    def writer() -> None:
        while not stop.wait(0.2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody reads
            except OSError:
                continue
            os.write(fd, b"six\n")
            os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()


def _locks(archive: str, digest: str) -> dict[str, dict[str, str]]:
    """The same local-archive dependency ``evil`` in each lock format that can name one."""
    return {
        "pylock.toml": {"pylock.toml": textwrap.dedent(f"""\
            lock-version = "1.0"
            created-by = "hand"
            [[packages]]
            name = "evil"
            version = "1.0"
            archive = {{ path = "{archive}", hashes = {{ sha256 = "{digest}" }} }}
            """)},
        "poetry.lock": {"pyproject.toml": '[project]\nname = "app"\nversion = "1"\ndependencies = ["evil"]\n',
                        "poetry.lock": textwrap.dedent(f"""\
            [[package]]
            name = "evil"
            version = "1.0"
            groups = ["main"]
            files = [{{ file = "evil-1.0-py3-none-any.whl", hash = "sha256:{digest}" }}]
            [package.source]
            type = "file"
            url = "{archive}"
            [metadata]
            lock-version = "2.1"
            """)},
        "Pipfile.lock": {"Pipfile.lock": json.dumps({"_meta": {"sources": []}, "default": {
            "evil": {"file": archive, "hashes": [f"sha256:{digest}"]}}})},
    }


def test_13_several_dependency_files_choose_by_upstreams_order(tmp_path: Path) -> None:
    """Not an error any more: aws_lambda_python_alpha's order picks Pipfile.lock, and a notice names both."""
    from cdk_native_python import inputs

    entry = write_function(tmp_path, "purepkg\n", files={"Pipfile.lock": json.dumps({"_meta": {}, "default": {}})})
    spec = inputs.load(entry)
    assert spec is not None and spec.kind == "Pipfile.lock"
    (notice,) = spec.notices
    assert notice.code == "dependency-file-chosen" and notice.level == "info"
    assert notice.message.startswith("using Pipfile.lock, ignoring requirements.txt beside it")
    assert speak(notice.message) == notice.message.replace("\u27e6dependency_file\u27e7", "dependency_file")
    assert "dependency_file chooses another" in speak(notice.message)
    assert "--dependency-file chooses another" in speak(notice.message, "cli")


@pytest.mark.pypi
def test_five_formats_of_one_set_give_byte_identical_trees(tmp_path: Path) -> None:
    pypi_store = LocalStore(tmp_path / "cache")
    trees = {fmt: tree(fmt, tmp_path, pypi_store) for fmt in SAMESET_FILES}
    reference, stripped = trees["requirements"]
    names = {k.split("/")[0].split("-")[0].lower() for k in reference if ".dist-info/" in k}
    assert names == {"aws_xray_sdk", "wrapt", "requests", "urllib3", "idna", "certifi", "charset_normalizer"}
    assert set(stripped) == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
    for fmt, (files, why) in trees.items():
        assert sorted(files) == sorted(reference), fmt
        assert files == reference, fmt
        assert why == stripped, fmt


@pytest.mark.pypi
@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_all_lock_formats_install_the_same_set(tmp_path: Path, pypi_store: LocalStore, target: Target) -> None:
    sets = {fmt: bundle(fmt, target, tmp_path, pypi_store) for fmt in LOCKED}
    reference = sets["uv"]
    assert "orjson" in reference and "appnope" not in reference
    for fmt, packages in sets.items():
        assert packages == reference, fmt


@pytest.mark.pypi
def test_requirements_and_pyproject_resolve_the_same_names(tmp_path: Path, pypi_store: LocalStore) -> None:
    target = TARGETS[0]
    reference = bundle("uv", target, tmp_path, pypi_store)
    deps = ["orjson>=3.10", "click>=8.1", "python-dateutil>=2.9", "appnope>=0.1.4; sys_platform == 'darwin'"]
    req = tmp_path / "req"
    req.mkdir()
    (req / "index.py").write_text("")
    (req / "requirements.txt").write_text("\n".join(deps) + "\n")
    pyproj = tmp_path / "pyproj"
    pyproj.mkdir()
    (pyproj / "index.py").write_text("")
    (pyproj / "pyproject.toml").write_text(
        '[project]\nname = "fn"\nversion = "0"\ndependencies = [' + ", ".join(f'"{d}"' for d in deps) + "]\n")
    from_requirements = build(BuildRequest(entry=req, target=target), tmp_path / "o1", pypi_store).packages
    from_pyproject = build(BuildRequest(entry=pyproj, target=target), tmp_path / "o2", pypi_store).packages
    assert set(from_requirements) == set(from_pyproject) == set(reference)
    assert "appnope" not in from_pyproject


def test_url_credentials_are_split_off_in_every_format(tmp_path: Path) -> None:
    from cdk_native_python.inputs import read_file

    for path in _url_in_every_format(tmp_path):
        spec = read_file(path)
        assert len(spec.requirements) == 1, (path, spec.requirements)
        line = spec.requirements[0]
        assert line.startswith("privpkg @ https://pkgs.example.com/privpkg-1.0-py3-none-any.whl"), (path, line)
        assert f"--hash=sha256:{'b' * 64}" in line, (path, line)
        assert [(c.host, c.username, c.password) for c in spec.credentials] == [
            ("pkgs.example.com", "alice", PASSWORD)], path
        for text in (line, repr(spec), json.dumps(spec.key())):
            assert PASSWORD not in text, (path, text)


def test_fifo_is_refused_without_opening_it(tmp_path: Path, fifo: Path) -> None:
    entry = write_function(tmp_path)
    requirements = fifo.parent / "requirements.txt"
    requirements.write_text("-r pipe.txt\n")
    start = time.monotonic()
    refused(tmp_path, entry, str(fifo), "FIFO", code="input-not-a-file", hint="regular file",
            dependency_file=requirements)
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("name", ["requirements.txt", "pylock.toml", "Pipfile.lock"])
def test_huge_file_is_refused_without_reading_it(tmp_path: Path, name: str) -> None:
    """Beside the function (in it, the source walk refuses the size first, also without reading)."""
    entry = write_function(tmp_path)
    huge = tmp_path / "deps" / name
    huge.parent.mkdir()
    with open(huge, "wb") as f:  # sparse: 3 GiB of size without 3 GiB of writes
        f.truncate(3 << 30)
    start = time.monotonic()
    refused(tmp_path, entry, str(huge), "16 MiB", code="input-too-large",
            hint="point it at the dependency file itself", dependency_file=huge, cli_memory_limit=2 << 30)
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("fmt", ["pylock.toml", "poetry.lock", "Pipfile.lock"])
@pytest.mark.parametrize("case", ["/etc/passwd", "missing", "not-an-archive", "outside-the-project"])
def test_local_archive_in_a_lock_is_checked_at_read_time(tmp_path: Path, fmt: str, case: str) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "evil-1.0-py3-none-any.whl"
    outside.parent.mkdir()
    from tests.wheelfactory import build_wheel

    build_wheel(outside.parent, "evil", "1.0")
    archive, says = {
        "/etc/passwd": ("/etc/passwd", "not a wheel or source archive"),
        "missing": ("dist/evil-1.0-py3-none-any.whl", "does not exist"),
        "not-an-archive": ("dist/evil-1.0-py3-none-any.whl", "not a wheel or source archive"),
        "outside-the-project": (str(outside), "outside the project"),
    }[case]
    entry = write_function(project, files=_locks(archive, "a" * 64)[fmt])
    if case == "not-an-archive":
        (entry / "dist").mkdir()
        (entry / archive).write_text("root:x:0:0:root:/root:/bin/bash\n")
    refused(tmp_path, entry, str(entry / fmt), "evil", says, code="local-archive",
            hint="point it at a wheel (.whl) file inside")


def _hashed(spec: DependencySpec) -> bool:
    """Every pinned requirement carries its hashes (local folders have none)."""
    return bool(spec.requirements) and all("--hash=" in r for r in spec.requirements if "file://" not in r)


@pytest.mark.parametrize("fmt", ["pylock", "hashed", "uv"])
def test_the_manifest_beside_a_lock_decides_its_roots(fmt: str, tmp_path: Path) -> None:
    """pylock.toml and a hashed requirements.txt (both from ``uv export``) beside their pyproject.toml say what the
    user asked for as uv.lock does: ``boto3>=1.34`` as written, not the lock's pins; alone, the lock's pins stand
    in and messages say the lock pinned them."""
    from cdk_native_python import inputs
    from cdk_native_python.pipeline.strip import StripOptions

    entry = tmp_path / fmt
    shutil.copytree(SAMESET / fmt, entry)
    spec = inputs.load(entry)
    assert spec is not None and spec.roots == ("aws-xray-sdk", "boto3", "requests")
    assert sorted(spec.user_requirements()) == ["aws-xray-sdk>=2.14", "boto3>=1.34", "requests>=2.31"]
    assert spec.notices == ()  # the pyproject.toml was read with the lock, not ignored beside it
    options = StripOptions().for_build(TARGET, spec)
    assert options.specifiers == (("boto3", ">=1.34"),) and not options.pinned_by_lock
    if fmt == "uv":
        return
    (entry / "pyproject.toml").unlink()
    alone = inputs.load(entry)
    assert alone is not None and alone.requested == ()
    options = StripOptions().for_build(TARGET, alone)
    assert ("boto3", "==1.44.8") in options.specifiers  # boto3 ships at the pin
    # a pylock.toml is the lock's words; a requirements file's pins are written in the user's own file
    assert options.pinned_by_lock is (fmt == "pylock")
