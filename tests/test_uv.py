"""uv's diagnostics, as the installed uv really writes them, are classified and stripped of credentials.

We parse uv's messages, so the pinned uv range in pyproject.toml is proven here: every classifier is fed the
output of a real uv run against the hermetic index (not a message typed into the test).

Credentials reach uv through a private netrc, never a command line: direct URL requirements
(``name @ https://user:password@host/pkg.whl``) and index URLs behind a loopback server that demands basic
auth work, hashes are enforced, and the password is in no file of the cache, the output or the report, in no
message, and changes no hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from cdk_native_python.core.errors import (
    BundlingError,
    IndexUnreachableError,
    InstallError,
    ResolutionError,
)
from cdk_native_python.core.records import to_json
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.pipeline import uv
from cdk_native_python.pipeline.engine import BuildRequest, build
from cdk_native_python.store.local import LocalStore
from tests.cdkhelpers import bad_app, cdk_synth, needs_cdk, only_asset
from tests.helpers import ARM312, PASSWORD, cli_build, closed_port, engine_build, uv_compile, uv_install, write_function
from tests.uvcalls import Call, observed
from tests.wheelfactory import SENTINEL_ENV, WheelIndex


def url(private: WheelIndex, filename: str, secret: str | None = PASSWORD, fragment: str = "") -> str:
    base = private.file_url(filename)
    if secret is not None:
        base = base.replace("http://", f"http://alice:{secret}@")
    return base + fragment


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    """A server that demands ``alice:PASSWORD`` for everything, holding a wheel (needing ``depa`` from the
    public index) and an sdist whose setup code leaves a trace."""
    with WheelIndex(tmp_path_factory.mktemp("private"), auth=("alice", PASSWORD)) as index:
        index.add_wheel("privpkg", "1.0", requires=("depa",))
        index.add_sdist("privsdist", "1.0")
        yield index


def test_the_installed_uv_is_in_the_range_the_package_declares() -> None:
    from importlib.metadata import requires, version

    (spec,) = [r for r in requires("cdk-native-python") or [] if r.startswith("uv")]
    assert Version(version("uv")) in SpecifierSet(spec[2:].split(";")[0])
    assert "<" in spec  # an upper bound: these tests prove the messages of the versions it admits


def test_no_wheel_for_the_target(tmp_path: Path, wheel_index: Any) -> None:
    result = uv_compile(tmp_path, "macpkg\n", "--index-url", wheel_index.url)
    assert result.returncode != 0 and uv.no_wheels(result.message) == ("macpkg", "1.0")
    sdist_only = uv_compile(tmp_path, "sdistonly\n", "--index-url", wheel_index.url)
    assert uv.no_wheels(sdist_only.message) is not None and uv.no_wheels(sdist_only.message)[0] == "sdistonly"


def test_unknown_package(tmp_path: Path, wheel_index: Any) -> None:
    result = uv_compile(tmp_path, "no-such-package-here\n", "--index-url", wheel_index.url)
    assert uv.not_found(result.message) == "no-such-package-here"
    assert not uv.unreachable(result.message) and uv.no_wheels(result.message) is None


def test_unreachable_index(tmp_path: Path) -> None:
    result = uv_compile(tmp_path, "purepkg\n", "--index-url", f"http://127.0.0.1:{closed_port()}/simple")
    assert uv.unreachable(result.message) and uv.not_found(result.message) is None


def test_refused_credentials_are_classified_and_never_shown(tmp_path: Path, locked_index: str) -> None:
    locked = locked_index.replace("http://", "http://alice:s3cr3t-t0ken@")
    result = uv_compile(tmp_path, "purepkg\n", "--index-url", locked)
    assert result.returncode != 0 and uv.unauthorized(result.message)
    assert "s3cr3t-t0ken" not in result.message  # our view of what uv said has no secret


def test_hash_mismatch(tmp_path: Path, wheel_index: Any) -> None:
    result = uv_install(tmp_path, "purepkg==1.0 --hash=sha256:" + "0" * 64 + "\n", "--index-url", wheel_index.url)
    assert result.returncode != 0 and uv.hash_mismatch(result.message) == "purepkg==1.0"


def test_credentials_are_removed_from_every_url_in_a_message() -> None:
    stderr = ("error: Failed to fetch: `https://bob:pa55@pypi.example.com/simple/x/`\n"
              "  Caused by: https://__token__:pypi-AgEIcHlwaS@upload.example.org/x 401\n")
    message = uv.Result(1, "", stderr).message
    assert "pa55" not in message and "pypi-AgEIcHlwaS" not in message and "bob" not in message
    assert "https://pypi.example.com/simple/x/" in message


def test_observers_see_every_run(tmp_path: Path, wheel_index: Any) -> None:
    calls: list[Call] = []
    with observed(calls.append):
        uv_compile(tmp_path, "purepkg\n", "--index-url", wheel_index.url)
    uv_compile(tmp_path, "purepkg\n", "--index-url", wheel_index.url)  # after the block: not observed
    (call,) = calls
    assert call.kind == "pip compile" and call.returncode == 0 and call.seconds > 0


OTHER_PASSWORD = "another-Pw-41d2e0"


@pytest.fixture
def password(private: WheelIndex) -> Iterator[str]:
    private.auth = ("alice", PASSWORD)
    yield PASSWORD
    private.auth = ("alice", PASSWORD)


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
    assert proc.returncode == 1 and "privsdist" in proc.stderr and "--allow-build privsdist" in proc.stderr, proc.stderr
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


@pytest.mark.synth
@needs_cdk
def test_url_requirement_through_cdk_synth(tmp_path: Path, wheel_index: WheelIndex, private: WheelIndex,
                                           password: str) -> None:
    props = (f"entry='fn', runtime=lambda_.Runtime.PYTHON_3_12, bundling=BundlingOptions("
             f"index_url={wheel_index.url!r}, dependency_file='../requirements.txt')")
    app = bad_app(tmp_path, props, None)
    (app / "requirements.txt").write_text(f"privpkg @ {url(private, WHEEL)}\n")
    proc = cdk_synth(tmp_path, app)
    assert proc.returncode == 0, proc.stderr
    assert (only_asset(tmp_path) / "privpkg").is_dir()
    no_leak(password, tmp_path, texts=(proc.stdout, proc.stderr))


def test_index_credentials_never_reach_a_command_line(tmp_path: Path, wheel_index: WheelIndex,
                                                      private: WheelIndex, password: str) -> None:
    """Other local users see every process's arguments (``ps``): an index's password goes to uv in the
    in-memory netrc instead, and the build still authenticates."""
    locked = private.url.replace("http://", f"http://alice:{password}@")
    entry, requirements = beside(tmp_path / "src", f"--extra-index-url {locked}\nprivpkg\n")
    calls: list[Call] = []
    with observed(calls.append):
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


def test_credentials_a_netrc_cannot_hold_are_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token with a space or a quote would split (or end) its netrc line: refused, naming the host, never
    written into a netrc, and the message holds no secret."""
    from cdk_native_python.core.errors import ConfigurationError
    from cdk_native_python.core.spec import Credential
    from tests.helpers import says

    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    for password in ("two words", 'quo"te', "tab\there"):
        with pytest.raises(ConfigurationError) as info:
            uv.netrc_text([Credential("pkgs.example.com", "user", password)])
        assert info.value.code == "credential-unusable"
        text = says(info.value, "pkgs.example.com", "whitespace or quotes", hint="use a token without them")
        assert password not in text
    assert "machine pkgs.example.com" in uv.netrc_text([Credential("pkgs.example.com", "user", "tok-en_1")])
