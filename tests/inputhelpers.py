"""The lock-file fixtures of ``tests/fixtures/formats`` and what a reader's result means for a target."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import Requirement

from cdk_native_python.core.spec import DependencySpec
from cdk_native_python.core.target import Target
from cdk_native_python.inputs import pipfile, poetry, pylock, uvlock

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


Reader = Callable[..., DependencySpec]


LOCKS: dict[str, tuple[Reader, Path]] = {
    "Pipfile.lock": (pipfile.read, FIXTURES / "pipfile" / "Pipfile.lock"),
    "poetry1": (poetry.read, FIXTURES / "poetry1" / "poetry.lock"),
    "poetry2": (poetry.read, FIXTURES / "poetry2" / "poetry.lock"),
    "uv.lock": (uvlock.read, FIXTURES / "uv" / "uv.lock"),
    "pylock.toml": (pylock.read, FIXTURES / "pylock" / "pylock.toml"),
}


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


# -- projects for the monorepo shapes: a local package uv can build offline, and the real ``uv lock`` ------------

#: a PEP 517 backend in the package's own folder (no index needed): a pure wheel of the module folder ``{module}``
_BACKEND = '''
import os, time, zipfile
NAME, VERSION, REQUIRES = {name!r}, {version!r}, {requires!r}
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    stamp = time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time())))[:6]
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    meta = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n"
    meta += "".join(f"Requires-Dist: {{r}}\\n" for r in REQUIRES)
    files = {{f"{{info}}/METADATA": meta.encode(),
             f"{{info}}/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}}
    for folder, _, names in os.walk(NAME):
        for n in names:
            if not n.endswith(".pyc"):
                files[os.path.join(folder, n)] = open(os.path.join(folder, n), "rb").read()
    files[f"{{info}}/RECORD"] = "".join(f"{{k}},," + chr(10) for k in [*files, f"{{info}}/RECORD"]).encode()
    name = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, data in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(path, date_time=stamp), data)
    return name
def get_requires_for_build_wheel(config_settings=None):
    return []
'''


def local_package(folder: Path, name: str, requires: tuple[str, ...] = (), code: str = "VALUE = 1\n",
                  version: str = "0.1", extra: str = "") -> Path:
    """A buildable pure-Python project ``name`` in ``folder`` (module ``name/``), with its own backend."""
    deps = ", ".join(f'"{r}"' for r in requires)
    write(folder / "pyproject.toml", f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.11"\n'
          f'dependencies = [{deps}]\n{extra}\n[build-system]\nrequires = []\nbuild-backend = "backend"\n'
          'backend-path = ["."]\n')
    (folder / "backend.py").write_text(_BACKEND.format(name=name, version=version, requires=list(requires)))
    write(folder / name / "__init__.py", code)
    return folder


def uv_lock(folder: Path) -> Path:
    """The real ``uv lock`` in ``folder`` (its pyproject.toml names the index); returns the lock."""
    from tests.wheelfactory import find_uv

    # the pyproject.toml's default index, whatever UV_* settings the machine running the tests has (UV_NO_CONFIG
    # would also hide the pyproject.toml's own [tool.uv] from uv lock)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_CACHE_DIR=str(folder / ".uv-cache"))
    proc = subprocess.run([find_uv(), "lock", "--quiet"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(folder / ".uv-cache", ignore_errors=True)
    return folder / "uv.lock"
