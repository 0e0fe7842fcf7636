"""uv's failures as the user reads them (``diagnose.py``): each class of failure is the right error class with
its code, a message naming the culprit and a hint that is true. Messages come from real uv runs against the
hermetic index and servers on 127.0.0.1, through the engine and directly."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import (
    BundlingError,
    IndexUnreachableError,
    InstallError,
    ResolutionError,
)
from cdk_native_python.core.spec import IndexOptions
from cdk_native_python.pipeline import diagnose, uv
from cdk_native_python.pipeline.diagnose import Doing
from tests.helpers import (
    ARM312,
    build_later,
    build_request,
    closed_port,
    fails,
    says,
    uv_compile,
    uv_install,
    write_function,
)

SECRET = "s3cret-Pa55word"


def test_05_unknown_package(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\nno-such-package-anywhere\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    says(err, "no-such-package-anywhere", wheel_index.url.rstrip("/"), hint="check the spelling")


def test_06_unsatisfiable_versions(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "purepkg\ndepa>=999\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    says(err, "depa", str(ARM312), hint="relax the conflicting version pins")


def test_07_no_wheel_for_the_target_lists_the_wheels_that_exist(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "macpkg\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    text = says(err, "macpkg", str(ARM312), "wheels that exist", hint="publishes a wheel for aarch64 Linux")
    existing = sorted(p.name for p in Path(wheel_index.find_links).glob("macpkg-*.whl"))
    assert existing and all(name in text for name in existing), text


def test_08_sdist_only_not_allowed_to_build(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "sdistonly\n")
    err = fails(ResolutionError, build_later(build_request(entry, wheel_index), tmp_path))
    says(err, "sdistonly", "no wheel", "source distributions", hint="allow_build=['sdistonly']")


def test_10_unreachable_index_names_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/simple"
    entry = write_function(tmp_path, "purepkg\n")
    err = fails(IndexUnreachableError, build_later(build_request(entry, indexes=IndexOptions(index_url=url)), tmp_path))
    says(err, url, hint="network")


def test_11_wrong_credentials_do_not_leak(tmp_path: Path, locked_index: str) -> None:
    url = locked_index.replace("http://", f"http://alice:{SECRET}@")
    entry = write_function(tmp_path, "purepkg\n")
    err = fails(IndexUnreachableError, build_later(build_request(entry, indexes=IndexOptions(index_url=url)), tmp_path))
    text = says(err, locked_index, "credentials", hint="check the user/token")
    assert SECRET not in text and SECRET not in repr(err.args)
    # nor anywhere in the cache (a lock key, a log)
    for p in (tmp_path / "cache").rglob("*"):
        if p.is_file() and p.stat().st_size < 1_000_000:
            assert SECRET.encode() not in p.read_bytes(), p


def test_12_hash_mismatch(tmp_path: Path, wheel_index: Any) -> None:
    entry = write_function(tmp_path, "depa --hash=sha256:" + "0" * 64 + "\n")
    err = fails(BundlingError, build_later(build_request(entry, wheel_index), tmp_path))
    assert isinstance(err, (InstallError, ResolutionError)), type(err)
    says(err, "depa", "hash", hint="hash")


# -- explain(): each class of uv failure, from what a real uv run printed -----------------------------------------

def explained(tmp_path: Path, result: uv.Result, indexes: IndexOptions, doing: Doing = "resolving",
              allowed: tuple[str, ...] = (), requirements: tuple[str, ...] = ()) -> BundlingError:
    assert result.returncode != 0, result.message
    return diagnose.explain(result.message, tmp_path / "requirements.txt", ARM312, indexes, doing=doing,
                            allowed=allowed, requirements=requirements)


def test_explain_no_wheel_for_the_target(tmp_path: Path, wheel_index: Any) -> None:
    indexes = IndexOptions(index_url=wheel_index.url)
    err = explained(tmp_path, uv_compile(tmp_path, "macpkg\n", "--index-url", wheel_index.url), indexes)
    assert type(err) is ResolutionError and err.code == "no-wheel"
    assert "macpkg==1.0" in err.message and str(ARM312) in err.message and "wheels that exist" in err.message
    assert "aarch64 Linux" in (err.hint or "") and ARM312.manylinux in (err.hint or "")
    sdist = explained(tmp_path, uv_compile(tmp_path, "sdistonly\n", "--index-url", wheel_index.url), indexes)
    assert sdist.code == "no-wheel" and "allow_build=['sdistonly']" in (sdist.hint or "")
    allowed = explained(tmp_path, uv_compile(tmp_path, "sdistonly\n", "--index-url", wheel_index.url), indexes,
                        allowed=("SdistOnly",))
    assert "allow_build" not in (allowed.hint or "")  # already allowed: the hint does not suggest it


def test_explain_unknown_package_and_no_solution(tmp_path: Path, wheel_index: Any) -> None:
    indexes = IndexOptions(index_url=wheel_index.url)
    unknown = explained(tmp_path, uv_compile(tmp_path, "no-such-pkg-here\n", "--index-url", wheel_index.url), indexes)
    assert type(unknown) is ResolutionError and unknown.code == "package-not-found"
    assert "'no-such-pkg-here'" in unknown.message and wheel_index.url.rstrip("/") in unknown.message
    conflict = explained(tmp_path, uv_compile(tmp_path, "purepkg\ndepa>=999\n", "--index-url", wheel_index.url),
                         indexes)
    assert type(conflict) is ResolutionError and conflict.code == "no-solution" and "depa" in conflict.message
    assert "relax the conflicting version pins" in (conflict.hint or "")


def test_a_failure_that_is_no_conflict_gets_no_hint_about_pins(tmp_path: Path) -> None:
    """A uv failure of another kind (here an option uv refuses) is shown as uv's, never blamed on the pins."""
    indexes = IndexOptions()
    odd = explained(tmp_path, uv_compile(tmp_path, "purepkg\n", "--no-such-option"), indexes)
    assert type(odd) is ResolutionError and odd.code == "resolve-failed" and "--no-such-option" in odd.message
    assert "pins" not in (odd.hint or "")


def test_explain_an_index_that_is_down_or_refuses_the_credentials(tmp_path: Path, locked_index: str) -> None:
    down = f"http://127.0.0.1:{closed_port()}/simple"
    err = explained(tmp_path, uv_compile(tmp_path, "purepkg\n", "--index-url", down), IndexOptions(index_url=down))
    assert type(err) is IndexUnreachableError and err.code == "index-unreachable" and down in err.message
    assert "network" in (err.hint or "")
    wrong = locked_index.replace("http://", f"http://alice:{SECRET}@")
    refused = explained(tmp_path, uv_compile(tmp_path, "purepkg\n", "--index-url", wrong),
                        IndexOptions(index_url=wrong))
    assert type(refused) is IndexUnreachableError and refused.code == "index-credentials"
    assert locked_index in refused.message and SECRET not in str(refused)
    assert "check the user/token" in (refused.hint or "")


def test_explain_a_hash_mismatch_and_other_install_failures(tmp_path: Path, wheel_index: Any) -> None:
    indexes = IndexOptions(index_url=wheel_index.url)
    pins = "purepkg==1.0 --hash=sha256:" + "0" * 64 + "\n"
    err = explained(tmp_path, uv_install(tmp_path, pins, "--index-url", wheel_index.url), indexes, "installing")
    assert type(err) is InstallError and err.code == "hash-mismatch" and "purepkg==1.0" in err.message
    assert "--hash" in (err.hint or "")
    missing = explained(tmp_path, uv_install(tmp_path, "purepkg==9.9\n", "--index-url", wheel_index.url), indexes,
                        "installing")
    # installing never blames the user's version pins: they were satisfiable a moment ago
    assert type(missing) is InstallError and missing.code == "install-failed", (missing.code, str(missing))


@pytest.mark.parametrize(("how", "kind", "code"), [
    ("down", IndexUnreachableError, "url-unreachable"),
    ("wrong-password", IndexUnreachableError, "url-credentials"),
    ("missing", ResolutionError, "url-not-found"),
])
def test_explain_a_direct_url_that_cannot_be_fetched_names_the_url_not_the_index(
        tmp_path: Path, wheel_index: Any, locked_index: str, how: str, kind: type[BundlingError], code: str) -> None:
    base = {"down": f"http://127.0.0.1:{closed_port()}/simple",
            "wrong-password": locked_index.replace("http://", f"http://alice:{SECRET}@"),
            "missing": locked_index.replace("http://", "http://alice:the-right-one@")}[how]
    requirement = f"privpkg @ {base}/privpkg-1.0-py3-none-any.whl"
    err = explained(tmp_path, uv_compile(tmp_path, requirement + "\n", "--index-url", wheel_index.url),
                    IndexOptions(index_url=wheel_index.url))
    assert type(err) is kind and err.code == code, (err.code, str(err))
    assert "privpkg-1.0-py3-none-any.whl" in err.message and wheel_index.url not in err.message
    assert SECRET not in str(err) and "the-right-one" not in str(err)
    assert "127.0.0.1" in (err.hint or "") or code == "url-not-found"


# -- a failed download names its URL, what it was, and the server's answer (see docs/warnings.md) -------------


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """``answering(head, get, body=b"")``: a server on 127.0.0.1 that answers every HEAD with ``head`` and every
    GET with ``get`` (and ``body``); returns its root URL. Several may run in one test."""
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # uv retries a 5xx three times by default: the same answer, slower
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(head: int, get: int, body: bytes = b"") -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, status: int, content: bytes) -> None:
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(content)

            def do_HEAD(self) -> None:
                self.answer(head, b"")

            def do_GET(self) -> None:
                self.answer(get, body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def with_password(url: str) -> str:
    return url.replace("http://", f"http://alice:{SECRET}@")


#: status -> (the words of the answer, a word of the true hint) for each kind of download
ANSWERS = {401: ("401 Unauthorized", "credentials"), 404: ("404 Not Found", "check the URL"),
           501: ("501 Not Implemented", "")}


@pytest.mark.parametrize("status", [401, 404, 501])
@pytest.mark.parametrize("doing", ["resolving", "installing"])
def test_a_direct_url_that_fails_names_the_url_and_the_answer(
        tmp_path: Path, answering: Callable[..., str], status: int,
        doing: Doing) -> None:
    """uv sends HEAD first: 501 there fails (uv falls back to GET on 404/405 only); 401/404 come back from both."""
    root = answering(status, 200 if status == 501 else status)
    url = with_password(f"{root}/files/privpkg-1.0-py3-none-any.whl")
    requirement = f"privpkg @ {url}"
    run = uv_compile if doing == "resolving" else uv_install
    err = explained(tmp_path, run(tmp_path, requirement + "\n", "--no-index"), IndexOptions(no_index=True), doing,
                    requirements=(requirement,))
    words, hint = ANSWERS[status]
    clean = url.replace(f"alice:{SECRET}@", "")
    text = says(err, "the direct URL requirement", clean, f"answered HTTP {words}", f"while {doing}",
                hint=hint or "HEAD")
    assert SECRET not in text and "package index" not in err.message
    assert err.code == {401: "url-credentials", 404: "url-not-found", 501: "url-head-unsupported"}[status]
    if status == 501:
        assert "uv's HEAD request" in err.message and "file://" in (err.hint or "")


@pytest.mark.parametrize("status", [401, 404, 501])
def test_an_index_that_fails_names_the_index_and_the_answer(
        tmp_path: Path, answering: Callable[..., str], status: int) -> None:
    index = f"{answering(status, status)}/simple"
    secret = with_password(index)
    err = explained(tmp_path, uv_compile(tmp_path, "purepkg\n", "--index-url", secret), IndexOptions(index_url=secret))
    assert SECRET not in str(err) and SECRET not in (err.hint or "")
    if status == 404:  # the simple API's answer for "no such project": uv reads it as that, and so do we
        says(err, "'purepkg'", index, hint="spelling")
        assert err.code == "package-not-found"
        return
    words = ANSWERS[status][0]
    page = index if status == 401 else f"{index}/purepkg/"  # uv names the index it could not query, or the page
    says(err, "the package index page", page, f"answered HTTP {words}",
         hint="user/token in the index URL" if status == 401 else "check the URL")
    assert err.code == {401: "index-credentials", 501: "index-http-error"}[status]


@pytest.mark.parametrize("status", [401, 404, 501])
def test_a_find_links_page_that_fails_names_the_page_and_the_answer(
        tmp_path: Path, answering: Callable[..., str], status: int) -> None:
    page = f"{answering(status, status)}/links/"
    secret = with_password(page)
    err = explained(tmp_path, uv_compile(tmp_path, "purepkg\n", "--no-index", "--find-links", secret),
                    IndexOptions(no_index=True, find_links=(secret,)))
    words, hint = ANSWERS[status]
    text = says(err, "the find-links page", page, f"answered HTTP {words}", hint=hint or "check the URL")
    assert SECRET not in text and "package index" not in err.message
    codes = {401: "find-links-credentials", 404: "find-links-not-found", 501: "find-links-http-error"}
    assert err.code == codes[status]


@pytest.mark.parametrize("served", ["the wheel", "an empty file"])
def test_a_direct_url_that_fails_is_named_through_the_engine(
        tmp_path: Path, wheel_index: Any, answering: Callable[..., str], served: str) -> None:
    """The issue's case: resolving downloads the wheel with a GET (to hash it), installing asks uv's HEAD first
    and the server answers 501; or the URL serves something that is no wheel. The error names the URL and what
    went wrong, never the index nor the version pins."""
    wheel = next(Path(wheel_index.root).rglob("purepkg-1.0-py3-none-any.whl")).read_bytes()
    url = f"{answering(501, 200, wheel if served == 'the wheel' else b'')}/files/purepkg-1.0-py3-none-any.whl"
    entry = write_function(tmp_path, f"purepkg @ {url}\n")
    err = fails(BundlingError, build_later(build_request(entry, index=wheel_index), tmp_path))
    if served == "the wheel":
        says(err, f"the direct URL requirement purepkg @ {url}", "501 Not Implemented to uv's HEAD request",
             "while installing", hint="HEAD")
        assert err.code == "url-head-unsupported"
    else:
        says(err, f"the direct URL requirement purepkg @ {url}", "while resolving", hint="serves the wheel")
        assert err.code == "url-unusable"
    assert "package index" not in str(err) and "version pins" not in (err.hint or "")
