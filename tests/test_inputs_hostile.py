"""Dependency files nobody here wrote: what real tools emit, what a careless or hostile hand writes.

Each case runs through the engine and through ``cdk-native-python build`` (a subprocess); the Pipfile.lock
and URL cases also through a real ``cdk synth``. A case either works, or fails with a one-line error that
names the file (and line or package) at fault, exits 2 from the CLI, and leaves nothing behind.

* Pipfile.lock ``"version": "*"`` entries (what pipenv writes for a package whose marker is false on the
  machine that locked): skipped when false for the target, resolved for it (with the lock's pins as
  constraints, and a warning) when true. The real current pipenv makes one lock per session (``pypi``).
* Direct URL requirements (``name @ https://user:password@host/pkg.whl``) behind a loopback server that
  demands basic auth: they work, hashes are enforced, and the password is in no file of the cache, the
  output or the report, in no message, and changes no hash.
* Requirements files: a UTF-8 BOM works; ``/dev/zero``, FIFOs, huge and binary files are refused by name
  without being read; an invalid line is echoed as a short excerpt only.
* Local archives in locks (``/etc/passwd``, a missing file, a non-archive, a wheel outside the project)
  and ``-e`` of a folder that is no Python project are refused at read time, naming the file and package.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python import uv
from cdk_native_python.engine import BuildRequest, BuildResult, build
from cdk_native_python.errors import (
    BundlingError,
    IndexUnreachableError,
    InputError,
    InstallError,
    ResolutionError,
)
from cdk_native_python.inputs import pipfile
from cdk_native_python.records import to_json
from cdk_native_python.spec import IndexOptions
from cdk_native_python.store.local import LocalStore
from cdk_native_python.target import Target
from tests.test_bad_inputs import CDK, _app, _env
from tests.wheelfactory import SENTINEL_ENV, WheelIndex

ARM312 = Target.from_runtime("python3.12", "arm64")
X86312 = Target.from_runtime("python3.12", "x86_64")
PASSWORD = "Pw-7f3a9c-do-not-leak"
OTHER_PASSWORD = "another-Pw-41d2e0"
#: the CPU the tests do NOT run on: a marker on it is false where pipenv locks, true for that Lambda target
OTHER_MACHINE = "aarch64" if platform.machine() in ("x86_64", "AMD64") else "x86_64"
OTHER_TARGET = Target.from_runtime("python3.12", "arm64" if OTHER_MACHINE == "aarch64" else "x86_64")
HOST_TARGET = X86312 if OTHER_MACHINE == "aarch64" else ARM312


# -- helpers ----------------------------------------------------------------------------------------

def write_function(root: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A function folder ``root/fn`` with a handler and ``files``."""
    entry = root / "fn"
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    for name, content in (files or {}).items():
        path = entry / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return entry


def engine_build(tmp_path: Path, entry: Path, target: Target = ARM312, *, index: WheelIndex | None = None,
                 cache: str = "cache", out: str = "out", **kw: Any) -> BuildResult:
    indexes = IndexOptions(index_url=index.url) if index is not None else IndexOptions()
    request = BuildRequest(entry=entry, target=target, indexes=indexes, **kw)
    return build(request, tmp_path / out, LocalStore(tmp_path / cache))


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


def refused(tmp_path: Path, entry: Path, *culprits: str, code: str | None = None, hint: str = "",
            dependency_file: Path | None = None, cli_memory_limit: int | None = None) -> InputError:
    """The engine raises an InputError naming every culprit; the CLI exits 2 with the same, and no traceback."""
    with pytest.raises(InputError) as info:
        engine_build(tmp_path, entry, dependency_file=dependency_file)
    err = info.value
    for culprit in culprits:
        assert culprit in str(err), f"{culprit!r} not named in:\n{err}"
    assert err.hint and hint.lower() in err.hint.lower(), err.hint
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


# -- 1. Pipfile.lock "*" entries ----------------------------------------------------------------------

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
@pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
def test_pipfile_lock_star_entries_through_cdk_synth(tmp_path: Path, lock_index: WheelIndex) -> None:
    arch = "ARM_64" if OTHER_TARGET.machine == "aarch64" else "X86_64"
    app = _app(tmp_path, f"entry='fn', runtime=lambda_.Runtime.PYTHON_3_12, "
                         f"architecture=lambda_.Architecture.{arch}", None)
    write_function(app, files=pipenv_style_lock(lock_index))
    proc = synth(tmp_path, app)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("does not pin needsdepa") == 1, proc.stderr  # said once, on the function
    asset = only_asset(tmp_path)
    assert (asset / "needsdepa-1.0.dist-info").is_dir() and (asset / "depa-1.0.dist-info").is_dir()


def synth(tmp_path: Path, app: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CDK), "synth", "--quiet", "--no-notices", "-o", str(tmp_path / "cdk.out")], cwd=app,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=900, check=False)


def only_asset(tmp_path: Path) -> Path:
    assets = [p for p in (tmp_path / "cdk.out").glob("asset.*") if p.is_dir()]
    assert len(assets) == 1, assets
    return assets[0]


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
@pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
def test_real_pipenv_lock_through_cdk_synth(tmp_path: Path, pipenv_lock: dict[str, str]) -> None:
    arch = "ARM_64" if OTHER_TARGET.machine == "aarch64" else "X86_64"
    app = _app(tmp_path, f"entry='fn', runtime=lambda_.Runtime.PYTHON_3_12, "
                         f"architecture=lambda_.Architecture.{arch}", None)
    write_function(app, files=pipenv_lock)
    proc = synth(tmp_path, app)
    assert proc.returncode == 0, proc.stderr
    assert "does not pin attrs" in proc.stderr  # the warning, as an annotation on the function
    asset = only_asset(tmp_path)
    assert (asset / "attrs").is_dir() and (asset / "six.py").is_file()


# -- 2. direct URL requirements -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    """A server that demands ``alice:PASSWORD`` for everything, holding a wheel (needing ``depa`` from the
    public index) and an sdist whose setup code leaves a trace."""
    with WheelIndex(tmp_path_factory.mktemp("private"), auth=("alice", PASSWORD)) as index:
        index.add_wheel("privpkg", "1.0", requires=("depa",))
        index.add_sdist("privsdist", "1.0")
        yield index


@pytest.fixture
def password(private: WheelIndex) -> Iterator[str]:
    private.auth = ("alice", PASSWORD)
    yield PASSWORD
    private.auth = ("alice", PASSWORD)


def url(private: WheelIndex, filename: str, secret: str | None = PASSWORD, fragment: str = "") -> str:
    base = private.file_url(filename)
    if secret is not None:
        base = base.replace("http://", f"http://alice:{secret}@")
    return base + fragment


WHEEL = "privpkg-1.0-py3-none-any.whl"


def beside(root: Path, requirements: str) -> tuple[Path, Path]:
    """A function ``root/fn`` and, beside it as in a monorepo, its requirements file: a password written in
    that file is the user's own doing (warned about), and the source copy does not carry it into the bundle."""
    path = root / "requirements.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(requirements)
    return write_function(root), path


def wheel_hash(private: WheelIndex) -> str:
    return hashlib.sha256((private.root / WHEEL).read_bytes()).hexdigest()


#: what a build writes under a test's tmp_path (its inputs, which hold the secret, are elsewhere)
OUTPUTS = ("cache", "cache2", "out", "out2", "cli-cache", "cli-out", "cli-report.json", "cdk.out")


def no_leak(secret: str, tmp_path: Path, texts: tuple[str, ...] = ()) -> None:
    """``secret`` (plain or percent-encoded) is in no file a build wrote (caches, outputs, report), nor in ``texts``."""
    needles = {secret.encode(), secret.replace("-", "%2D").encode()}
    for name in OUTPUTS:
        root = tmp_path / name
        files = [root] if root.is_file() else list(root.rglob("*")) if root.is_dir() else []
        found = [p for p in files if p.is_file() and not p.is_symlink() and any(n in p.read_bytes() for n in needles)]
        assert not found, found
    for text in texts:
        assert secret not in text


@pytest.mark.parametrize("form", ["name @ url", "name @ url#sha256", "bare url"])
def test_url_wheel_with_credentials_works_and_leaks_nowhere(tmp_path: Path, wheel_index: WheelIndex,
                                                            private: WheelIndex, password: str, form: str) -> None:
    fragment = f"#sha256={wheel_hash(private)}" if form.endswith("sha256") else ""

    def project(name: str, secret: str) -> tuple[Path, Path]:
        prefix = "" if form == "bare url" else "privpkg @ "
        return beside(tmp_path / name, prefix + url(private, WHEEL, secret, fragment) + "\n")

    entry, requirements = project("a", password)
    result = engine_build(tmp_path, entry, index=wheel_index, dependency_file=requirements)
    assert result.packages == {"privpkg": "1.0", "depa": "2.0"}
    no_leak(password, tmp_path, texts=(json.dumps(to_json(result.report)), result.summary("fn", verbose=True)))
    # written in the file, the password is in the repository: said, without saying it
    assert any("password written in the file" in w for w in result.report.warnings), result.report.warnings
    # the asset hash does not depend on the password (another password, another cache, same project)
    private.auth = ("alice", OTHER_PASSWORD)
    other, other_requirements = project("b", OTHER_PASSWORD)
    again = engine_build(tmp_path, other, index=wheel_index, cache="cache2", out="out2",
                         dependency_file=other_requirements)
    assert again.asset_hash == result.asset_hash
    # the CLI: output, report, stdout/stderr and its cache hold no password either
    proc = cli_build(tmp_path, other, "-r", str(other_requirements), "--index-url", wheel_index.url)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli-out" / "privpkg").is_dir()
    no_leak(OTHER_PASSWORD, tmp_path, texts=(proc.stdout, proc.stderr))
    assert json.loads((tmp_path / "cli-report.json").read_text())["asset_hash"] == result.asset_hash


def test_url_wheel_hash_is_enforced(tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex,
                                    password: str) -> None:
    entry = write_function(tmp_path,
            files={"requirements.txt": f"privpkg @ {url(private, WHEEL, fragment='#sha256=' + '0' * 64)}\n"})
    with pytest.raises(BundlingError) as info:
        engine_build(tmp_path, entry, index=wheel_index)
    assert isinstance(info.value, (InstallError, ResolutionError)), type(info.value)
    assert "privpkg" in str(info.value) and "hash" in str(info.value).lower()
    no_leak(password, tmp_path, texts=(str(info.value),))
    proc = cli_build(tmp_path, entry, "--index-url", wheel_index.url)
    assert proc.returncode == 1 and "privpkg" in proc.stderr, proc.stderr
    no_leak(password, tmp_path, texts=(proc.stderr, proc.stdout))


def test_url_credentials_from_netrc_and_environment(tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex,
                                                    password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin alice\npassword {password}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    plain = write_function(tmp_path / "a", files={"requirements.txt": f"privpkg @ {url(private, WHEEL, None)}\n"})
    assert engine_build(tmp_path, plain, index=wheel_index).packages["privpkg"] == "1.0"
    monkeypatch.delenv("NETRC")
    monkeypatch.setenv("PRIVATE_TOKEN", password)
    from_env = write_function(tmp_path / "b",
            files={"requirements.txt": f"privpkg @ {url(private, WHEEL, '${PRIVATE_TOKEN}')}\n"})
    result = engine_build(tmp_path, from_env, index=wheel_index, out="out2")
    assert result.packages["privpkg"] == "1.0"
    assert not result.report.warnings  # nothing secret is written in the file
    no_leak(password, tmp_path)


def test_url_credentials_do_not_hide_the_users_netrc(tmp_path: Path, private: WheelIndex, password: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The private netrc handed to uv for the URL's credentials still holds the user's own entries: here
    the index (the same server, named ``localhost``) is authorised only by the user's netrc."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine localhost\nlogin alice\npassword {password}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    private.add_wheel("depa", "1.0")
    entry, requirements = beside(tmp_path / "src", f"privpkg @ {url(private, WHEEL)}\n")
    index = private.url.replace("127.0.0.1", "localhost")
    result = build(BuildRequest(entry=entry, target=ARM312, indexes=IndexOptions(index_url=index),
                                dependency_file=requirements), tmp_path / "out", LocalStore(tmp_path / "cache"))
    assert result.packages == {"privpkg": "1.0", "depa": "1.0"}
    no_leak(password, tmp_path)


def test_url_wrong_password_names_no_secret(tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex,
                                            password: str) -> None:
    entry = write_function(tmp_path, files={"requirements.txt": f"privpkg @ {url(private, WHEEL, 'wrong-Pw-0c1d')}\n"})
    with pytest.raises(IndexUnreachableError) as info:
        engine_build(tmp_path, entry, index=wheel_index)
    # the URL is named (not the index, which is fine), with its status, and where its credentials come from
    assert f"privpkg @ {url(private, WHEEL, None)}" in str(info.value) and "401" in str(info.value)
    assert "credentials for 127.0.0.1" in (info.value.hint or "")
    no_leak("wrong-Pw-0c1d", tmp_path, texts=(str(info.value),))
    proc = cli_build(tmp_path, entry, "--index-url", wheel_index.url)
    assert proc.returncode == 3 and "401" in proc.stderr and "wrong-Pw-0c1d" not in proc.stderr, proc.stderr
    no_leak("wrong-Pw-0c1d", tmp_path, texts=(proc.stdout,))
    # a URL that is not there is not a network problem
    (entry / "requirements.txt").write_text(f"privpkg @ {url(private, 'privpkg-9.0-py3-none-any.whl')}\n")
    with pytest.raises(ResolutionError, match="404"):
        engine_build(tmp_path, entry, index=wheel_index)


def test_url_sdist_builds_only_when_allowed(tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex,
                                           password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "setup-ran"
    monkeypatch.setenv(SENTINEL_ENV, str(sentinel))
    entry, requirements = beside(tmp_path / "src", f"privsdist @ {url(private, 'privsdist-1.0.tar.gz')}\n")
    with pytest.raises(ResolutionError) as info:
        engine_build(tmp_path, entry, index=wheel_index, dependency_file=requirements)
    assert "privsdist" in str(info.value) and "allow_build=['privsdist']" in (info.value.hint or "")
    no_leak(password, tmp_path, texts=(str(info.value),))
    assert not sentinel.exists()
    proc = cli_build(tmp_path, entry, "-r", str(requirements), "--index-url", wheel_index.url)
    assert proc.returncode == 1 and "privsdist" in proc.stderr and "allow_build" in proc.stderr, proc.stderr
    assert not sentinel.exists()
    result = engine_build(tmp_path, entry, index=wheel_index, allow_build=("privsdist",), out="out2",
                          dependency_file=requirements)
    assert result.packages == {"privsdist": "1.0"}
    assert sentinel.read_text().split() == ["privsdist"]
    no_leak(password, tmp_path)
    # its hash is checked against the sdist before anything is built
    sentinel.unlink()
    requirements.write_text(f"privsdist @ {url(private, 'privsdist-1.0.tar.gz', fragment='#sha256=' + '0' * 64)}\n")
    with pytest.raises(InstallError, match="hash mismatch for privsdist"):
        engine_build(tmp_path, entry, index=wheel_index, allow_build=("privsdist",), out="out3",
                     dependency_file=requirements)
    assert not sentinel.exists()


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


@pytest.mark.synth
@pytest.mark.skipif(not CDK.exists(), reason="run scripts/bootstrap (npm ci) first")
def test_url_requirement_through_cdk_synth(tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex,
                                           password: str) -> None:
    props = (f"entry='fn', runtime=lambda_.Runtime.PYTHON_3_12, bundling=BundlingOptions("
             f"index_url={wheel_index.url!r}, dependency_file='../requirements.txt')")
    app = _app(tmp_path, props, None)
    (app / "requirements.txt").write_text(f"privpkg @ {url(private, WHEEL)}\n")
    proc = synth(tmp_path, app)
    assert proc.returncode == 0, proc.stderr
    assert (only_asset(tmp_path) / "privpkg").is_dir()
    no_leak(password, tmp_path, texts=(proc.stdout, proc.stderr))


# -- 3. requirements files: BOM, size, special files, excerpts ------------------------------------------

def test_utf8_bom_is_accepted(tmp_path: Path, wheel_index: WheelIndex) -> None:
    entry = write_function(tmp_path, files={"requirements.txt": "\ufeffpurepkg\n-r more.txt\n".encode(),
                          "more.txt": "\ufeff# shared\nsix\n".encode()})
    assert engine_build(tmp_path, entry, index=wheel_index).packages == {"purepkg": "1.0", "depa": "2.0",
                                                                         "six": "1.0"}
    proc = cli_build(tmp_path, entry, "--index-url", wheel_index.url)
    assert proc.returncode == 0, proc.stderr


def test_dev_zero_is_refused_by_name(tmp_path: Path) -> None:
    entry = write_function(tmp_path, files={"requirements.txt": "six\n-r /dev/zero\n"})
    err = refused(tmp_path, entry, "/dev/zero", f"{entry / 'requirements.txt'}", hint="regular file",
                  cli_memory_limit=2 << 30)
    assert err.code == "input-not-a-file"
    # given as the dependency file itself
    refused(tmp_path, entry, "/dev/zero", dependency_file=Path("/dev/zero"), hint="regular file",
            cli_memory_limit=2 << 30)


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
    refused(tmp_path, entry, str(huge), "16 MiB", code="input-too-large", hint="", dependency_file=huge,
            cli_memory_limit=2 << 30)
    assert time.monotonic() - start < 30


def test_include_of_a_huge_or_binary_file_is_refused(tmp_path: Path) -> None:
    entry = write_function(tmp_path)
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "requirements.txt").write_text("-r big.txt\n")
    (deps / "binary.txt").write_bytes(b"six\n\x00\x01\x02\xff" * 100)
    with open(deps / "big.txt", "wb") as f:
        f.truncate(3 << 30)
    refused(tmp_path, entry, str(deps / "big.txt"), code="input-too-large", cli_memory_limit=2 << 30,
            dependency_file=deps / "requirements.txt")
    (deps / "requirements.txt").write_text("-r binary.txt\n")
    refused(tmp_path, entry, str(deps / "binary.txt"), "binary", code="input-binary",
            dependency_file=deps / "requirements.txt")


SECRET_VALUE = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_an_invalid_line_is_echoed_as_an_excerpt_only(tmp_path: Path) -> None:
    credentials = f"aws_access_key_id=AKIAIOSFODNN7EXAMPLE\naws_secret_access_key={SECRET_VALUE}\n"
    entry = write_function(tmp_path, files={"requirements.txt": "six\n-r creds\n", "creds": credentials})
    err = refused(tmp_path, entry, f"{entry / 'creds'}:1", hint="PEP 508")
    assert "AKIAIOSFODNN7EXAMPLE" not in str(err)
    # the same with the secret first
    (entry / "creds").write_text(f"aws_secret_access_key={SECRET_VALUE}\n")
    err = refused(tmp_path, entry, f"{entry / 'creds'}:1", hint="PEP 508")
    assert SECRET_VALUE not in str(err) and SECRET_VALUE[:12] not in str(err)
    proc = cli_build(tmp_path, entry)
    assert SECRET_VALUE[:12] not in proc.stderr


# -- 4. local archives in lock files ----------------------------------------------------------------------

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
    refused(tmp_path, entry, str(entry / fmt), "evil", says, code="local-archive")


def test_pipfile_lock_path_to_a_non_project_folder(tmp_path: Path) -> None:
    entry = write_function(tmp_path, files={"Pipfile.lock": json.dumps({"_meta": {"sources": []}, "default": {
        "evil": {"path": "/etc", "editable": True}}})})
    refused(tmp_path, entry, str(entry / "Pipfile.lock"), "evil", "/etc", "not a Python project",
            code="not-a-python-project", hint="pyproject.toml")


# -- 5. -e of a folder that is no Python project ------------------------------------------------------------

@pytest.mark.parametrize("folder", ["/", "/etc", "empty"])
def test_editable_of_a_non_project_folder(tmp_path: Path, folder: str) -> None:
    entry = write_function(tmp_path)
    path = str(entry / "empty") if folder == "empty" else folder
    (entry / "empty").mkdir()
    (entry / "requirements.txt").write_text(f"six\n-e {path}\n")
    refused(tmp_path, entry, f"{entry / 'requirements.txt'}:2", path, "not a Python project",
            code="not-a-python-project", hint="pyproject.toml")


# -- index credentials: to uv through a private netrc, never on a command line -------------------------------


def test_index_credentials_never_reach_a_command_line(tmp_path: Path, wheel_index: WheelIndex,
                                                      private: WheelIndex, password: str) -> None:
    """Other local users see every process's arguments (``ps``): an index's password goes to uv in the
    in-memory netrc instead, and the build still authenticates."""
    locked = private.url.replace("http://", f"http://alice:{password}@")
    entry, requirements = beside(tmp_path / "src", f"--extra-index-url {locked}\nprivpkg\n")
    calls: list[uv.Call] = []
    with uv.observed(calls.append):
        result = engine_build(tmp_path, entry, index=wheel_index, dependency_file=requirements)
    assert result.packages["privpkg"] == "1.0" and calls
    assert all(password not in " ".join(call.args) for call in calls), [call.args for call in calls]
    # written in the file, the password is in the repository: said, with what to do instead
    assert any("password written in the file" in w for w in result.report.warnings), result.report.warnings
    no_leak(password, tmp_path)


def test_an_index_password_from_the_environment_is_not_said_to_be_in_the_file(
        tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex, password: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVATE_TOKEN", password)
    entry, requirements = beside(tmp_path / "src", "--extra-index-url "
                                 + private.url.replace("http://", "http://alice:${PRIVATE_TOKEN}@") + "\nprivpkg\n")
    result = engine_build(tmp_path, entry, index=wheel_index, dependency_file=requirements)
    assert result.packages["privpkg"] == "1.0"
    assert not any("password written in the file" in w for w in result.report.warnings)
