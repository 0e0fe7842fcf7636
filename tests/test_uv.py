"""uv's diagnostics, as the installed uv really writes them, are classified and stripped of credentials.

We parse uv's messages, so the pinned uv range in pyproject.toml is proven here: every classifier is fed the
output of a real uv run against the hermetic index (not a message typed into the test).
"""

from __future__ import annotations

import base64
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from cdk_native_python import uv
from cdk_native_python.target import Target

ARM312 = Target.from_runtime("python3.12", "arm64")


def compile_(tmp_path: Path, requirements: str, *index_args: str) -> uv.Result:
    (tmp_path / "requirements.in").write_text(requirements)
    return uv.run(["pip", "compile", str(tmp_path / "requirements.in"), "--python-platform",
                   ARM312.uv_python_platform, "--python-version", ARM312.python_version, "--only-binary", ":all:",
                   "--quiet", *index_args], tmp_path / "uv-cache")


def install(tmp_path: Path, requirements: str, *index_args: str) -> uv.Result:
    (tmp_path / "pins.txt").write_text(requirements)
    return uv.run(["pip", "install", "--target", str(tmp_path / "t"), "--no-deps", "--only-binary", ":all:",
                   "--python-platform", ARM312.uv_python_platform, "--python-version", ARM312.python_version,
                   "-r", str(tmp_path / "pins.txt"), *index_args], tmp_path / "uv-cache")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def locked_index() -> Iterator[str]:
    """An index on 127.0.0.1 that wants basic auth ``alice:the-right-one``."""
    good = "Basic " + base64.b64encode(b"alice:the-right-one").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404 if self.headers.get("Authorization") == good else 401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def test_the_installed_uv_is_in_the_range_the_package_declares() -> None:
    from importlib.metadata import requires, version

    (spec,) = [r for r in requires("cdk-native-python") or [] if r.startswith("uv")]
    assert Version(version("uv")) in SpecifierSet(spec[2:].split(";")[0])
    assert "<" in spec  # an upper bound: these tests prove the messages of the versions it admits


def test_no_wheel_for_the_target(tmp_path: Path, wheel_index: Any) -> None:
    result = compile_(tmp_path, "macpkg\n", "--index-url", wheel_index.url)
    assert result.returncode != 0 and uv.no_wheels(result.message) == ("macpkg", "1.0")
    sdist_only = compile_(tmp_path, "sdistonly\n", "--index-url", wheel_index.url)
    assert uv.no_wheels(sdist_only.message) is not None and uv.no_wheels(sdist_only.message)[0] == "sdistonly"


def test_unknown_package(tmp_path: Path, wheel_index: Any) -> None:
    result = compile_(tmp_path, "no-such-package-here\n", "--index-url", wheel_index.url)
    assert uv.not_found(result.message) == "no-such-package-here"
    assert not uv.unreachable(result.message) and uv.no_wheels(result.message) is None


def test_unreachable_index(tmp_path: Path) -> None:
    result = compile_(tmp_path, "purepkg\n", "--index-url", f"http://127.0.0.1:{closed_port()}/simple")
    assert uv.unreachable(result.message) and uv.not_found(result.message) is None


def test_refused_credentials_are_classified_and_never_shown(tmp_path: Path, locked_index: str) -> None:
    result = compile_(tmp_path, "purepkg\n", "--index-url", f"http://alice:s3cr3t-t0ken@{locked_index}")
    assert result.returncode != 0 and uv.unauthorized(result.message)
    assert "s3cr3t-t0ken" not in result.message  # our view of what uv said has no secret


def test_hash_mismatch(tmp_path: Path, wheel_index: Any) -> None:
    result = install(tmp_path, "purepkg==1.0 --hash=sha256:" + "0" * 64 + "\n", "--index-url", wheel_index.url)
    assert result.returncode != 0 and uv.hash_mismatch(result.message) == "purepkg==1.0"


def test_credentials_are_removed_from_every_url_in_a_message() -> None:
    stderr = ("error: Failed to fetch: `https://bob:pa55@pypi.example.com/simple/x/`\n"
              "  Caused by: https://__token__:pypi-AgEIcHlwaS@upload.example.org/x 401\n")
    message = uv.Result(1, "", stderr).message
    assert "pa55" not in message and "pypi-AgEIcHlwaS" not in message and "bob" not in message
    assert "https://pypi.example.com/simple/x/" in message


def test_observers_see_every_run(tmp_path: Path, wheel_index: Any) -> None:
    calls: list[uv.Call] = []
    with uv.observed(calls.append):
        compile_(tmp_path, "purepkg\n", "--index-url", wheel_index.url)
    compile_(tmp_path, "purepkg\n", "--index-url", wheel_index.url)  # after the block: not observed
    (call,) = calls
    assert call.kind == "pip compile" and call.returncode == 0 and call.seconds > 0
