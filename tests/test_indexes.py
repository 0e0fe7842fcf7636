"""What an index offers for a project (``indexes.py``), read from a real HTTP server on 127.0.0.1: PEP 691 JSON
and PEP 503 HTML pages, find-links folders, basic auth from the URL, from a credential or from the netrc uv
would read, and credentials never in what is reported."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdk_native_python.core.spec import Credential, IndexOptions
from cdk_native_python.pipeline import indexes
from cdk_native_python.pipeline.diagnose import no_wheel_error
from tests.helpers import ARM312, closed_port

SECRET = "s3cr3t-Idx-77"
WHEEL = b"not really a wheel, but bytes to download"


class Index:
    """``/json/simple/`` answers PEP 691 JSON, ``/html/simple/`` PEP 503 HTML, ``/private/simple/`` HTML behind
    basic auth ``alice:SECRET``; every request's ``Authorization`` header is kept."""

    def __init__(self) -> None:
        self.auth: list[str | None] = []
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.auth.append(self.headers.get("Authorization"))
                kind, _, rest = self.path.lstrip("/").partition("/")
                if kind == "private" and self.headers.get("Authorization") != \
                        "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="private"')
                    self.end_headers()
                    return
                if rest.startswith("files/"):
                    return self.answer("application/octet-stream", WHEEL)
                if rest != "simple/foo-bar/":
                    return self.answer("text/plain", b"", 404)
                if kind == "json":
                    body = json.dumps({"meta": {"api-version": "1.0"}, "name": "foo-bar", "files": [
                        {"filename": "foo_bar-1.0-py3-none-any.whl", "url": "../../files/foo_bar-1.0-py3-none-any.whl",
                         "hashes": {}},
                        {"filename": "foo_bar-1.0.tar.gz", "url": "https://files.example.org/foo_bar-1.0.tar.gz",
                         "hashes": {}}]}).encode()
                    return self.answer("application/vnd.pypi.simple.v1+json", body)
                body = (b'<!DOCTYPE html><html><body>'
                        b'<a href="../../files/foo_bar-2.0-cp312-cp312-manylinux_2_17_aarch64.whl#sha256=00">x</a>'
                        b'<a href="../../files/foo%2Bbar-2.0.zip">y</a><a>no href</a></body></html>')
                return self.answer("text/html", body)

            def answer(self, kind: str, body: bytes, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Index]:
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # the user's own netrc plays no part unless set
    server = Index()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_pep_691_json_page(index: Index) -> None:
    files = indexes.project_files("Foo.Bar", IndexOptions(index_url=f"{index.base}/json/simple/"))
    assert files == [("foo_bar-1.0-py3-none-any.whl", f"{index.base}/json/files/foo_bar-1.0-py3-none-any.whl"),
                     ("foo_bar-1.0.tar.gz", "https://files.example.org/foo_bar-1.0.tar.gz")]
    assert index.auth == [None]


def test_pep_503_html_page_and_extra_indexes(index: Index, tmp_path: Path) -> None:
    options = IndexOptions(index_url=f"http://127.0.0.1:{closed_port()}/simple",  # down: skipped, not fatal
                           extra_index_urls=(f"{index.base}/html/simple", f"{index.base}/json/simple"))
    names = [name for name, _ in indexes.project_files("foo_bar", options)]
    assert names == ["foo+bar-2.0.zip", "foo_bar-1.0-py3-none-any.whl", "foo_bar-1.0.tar.gz",
                     "foo_bar-2.0-cp312-cp312-manylinux_2_17_aarch64.whl"]
    assert dict(indexes.project_files("foo_bar", options))["foo_bar-2.0-cp312-cp312-manylinux_2_17_aarch64.whl"] \
        == f"{index.base}/html/files/foo_bar-2.0-cp312-cp312-manylinux_2_17_aarch64.whl#sha256=00"
    assert indexes.project_files("foo_bar", IndexOptions(no_index=True)) == []


def test_find_links_folders_list_the_projects_files_only(tmp_path: Path) -> None:
    for name in ("Foo_Bar-1.0-py3-none-any.whl", "foo.bar-1.1.tar.gz", "foo-bar-1.2.zip", "foobar-1.0.tar.gz",
                 "foo_barista-1.0-py3-none-any.whl", "foo_bar-notes.txt", "foo_bar-1.0.tar.bz2"):
        (tmp_path / name).write_text("")
    options = IndexOptions(no_index=True, find_links=(str(tmp_path), str(tmp_path / "missing")))
    files = indexes.project_files("FOO-BAR", options)
    assert [name for name, _ in files] == ["Foo_Bar-1.0-py3-none-any.whl", "foo-bar-1.2.zip", "foo.bar-1.1.tar.gz"]
    assert all(url == (tmp_path / name).as_uri() for name, url in files)
    as_uri = IndexOptions(no_index=True, find_links=(tmp_path.as_uri(),))
    assert indexes.project_files("foo-bar", as_uri) == files


def test_basic_auth_from_the_url_never_in_the_request_line_nor_the_result(index: Index) -> None:
    locked = f"http://alice:{SECRET}@127.0.0.1:{index.server.server_address[1]}/private/simple/"
    files = indexes.project_files("foo-bar", IndexOptions(index_url=locked))
    assert [name for name, _ in files] == ["foo+bar-2.0.zip", "foo_bar-2.0-cp312-cp312-manylinux_2_17_aarch64.whl"]
    assert index.auth == ["Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()]
    assert all(SECRET not in name for name, _ in files)
    # without the credentials: refused, so nothing listed (the explanation never fails the build)
    assert indexes.project_files("foo-bar", IndexOptions(index_url=f"{index.base}/private/simple/")) == []


def test_basic_auth_from_netrc_and_from_a_credential(index: Index, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    private = f"{index.base}/private/simple/"
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {SECRET}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert len(indexes.project_files("foo-bar", IndexOptions(index_url=private))) == 2
    url = f"{index.base}/private/files/foo_bar-2.0.whl"
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with pytest.raises(OSError):
        indexes.download(url, tmp_path)
    got = indexes.download(url, tmp_path, Credential("127.0.0.1", "alice", SECRET))
    assert got == tmp_path / "foo_bar-2.0.whl" and got.read_bytes() == WHEEL
    # credentials in the URL win over the credential given
    wrong = Credential("127.0.0.1", "alice", "wrong")
    assert indexes.download(url.replace("http://", f"http://alice:{SECRET}@"), tmp_path, wrong).is_file()
    assert indexes.download((tmp_path / "local.whl").as_uri(), tmp_path) == tmp_path / "local.whl"


def test_the_no_wheel_explanation_lists_files_without_the_credentials(index: Index, tmp_path: Path) -> None:
    locked = f"http://alice:{SECRET}@127.0.0.1:{index.server.server_address[1]}/private/simple/"
    err = no_wheel_error("foo-bar", "2.0", ARM312, IndexOptions(index_url=locked), tmp_path / "requirements.txt")
    text = str(err)
    assert "foo_bar-2.0-cp312-cp312-manylinux_2_17_aarch64.whl" in text and "foo+bar-2.0.zip" in text
    assert SECRET not in text and "alice" not in text
    assert err.code == "no-wheel" and "allow_build=['foo-bar']" in (err.hint or "")
