"""A package index some distance away: a proxy on 127.0.0.1 in front of PyPI that answers every request after a
fixed delay, for the bench rows that model a CI runner's round trips to the index.

Why: the registry this machine reaches is a mirror a few milliseconds away, so a cold build here is bound by
the CPU, not by round trips. A runner talking to pypi.org pays tens to hundreds of milliseconds per request
(TLS, a CDN miss, a token exchange for a private index), and a cold resolution makes dozens of them in a
row. That is the cost ``prefetch`` overlaps; without a delay the bench would not show it, with one it does.

The proxy serves PEP 503/691 pages (``/simple/...`` from ``https://pypi.org/simple/...``) with their file URLs
pointed back at itself: ``/files/...`` answers with a redirect to ``https://files.pythonhosted.org/...``
(``.metadata`` and range requests included), so every request of a resolution and of an install pays the delay
once, while the bytes of a download come straight from the upstream. Pages carry pypi.org's own cache headers
(``Cache-Control: max-age=600, public`` and an ETag), which the mirror here leaves out: without them each uv
process fetches and parses every page again (6.5 MB for pydantic-core), which pypi.org's clients do not. Each
request waits ``delay`` seconds in its own thread: requests in flight at once overlap, as over a network.

Run alone: ``python bench/_latency.py 0.1`` prints the index URL and serves until interrupted.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import shutil
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

UPSTREAM = {"/simple/": "https://pypi.org/simple/", "/files/": "https://files.pythonhosted.org/"}
FILES_HOST = "https://files.pythonhosted.org/"
#: each serving thread's connections upstream, by host
_connections = threading.local()
#: pypi.org's freshness for its index pages: uv keeps a page this long and then revalidates it
PYPI_PAGE_CACHE = "max-age=600, public"
#: what is passed on, each way
ASKED = ("Accept", "Range", "If-None-Match", "If-Modified-Since")
ANSWERED = ("Content-Type", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Cache-Control")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uv's client expects of an index
    server: _Server

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        time.sleep(self.server.delay)
        self.server.count()
        prefix = next((p for p in UPSTREAM if self.path.startswith(p)), None)
        if prefix is None:
            self.send_error(404)
            return
        if prefix == "/files/":
            # a redirect: the round trip is paid here, the bytes come from the upstream itself (through this
            # process they would cost its CPU, which competes with what the bench measures on a small runner)
            self.send_response(302)
            self.send_header("Location", UPSTREAM[prefix] + self.path[len(prefix):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        upstream = self._upstream(prefix, self.path[len(prefix):], "GET" if body else "HEAD")
        with upstream:
            status, headers = upstream.status, upstream.headers
            simple = prefix == "/simple/" and body
            data = upstream.read() if simple else None
            etag = None
            if data is not None:
                data = data.replace(FILES_HOST.encode(), f"{self.server.url}/files/".encode())
                etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
                if status == 200 and self.headers.get("If-None-Match") == etag:
                    status, data = 304, b""
            self.send_response(status)
            for name in ANSWERED:
                if headers.get(name) and not (etag and name in ("Cache-Control", "ETag")):
                    self.send_header(name, headers[name])
            if etag:  # what pypi.org answers for its pages, and this mirror leaves out (see the docstring)
                self.send_header("Cache-Control", PYPI_PAGE_CACHE)
                self.send_header("ETag", etag)
            length = len(data) if data is not None else headers.get("Content-Length")
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if not body:
                return
            if data is not None:
                self.wfile.write(data)
            else:
                shutil.copyfileobj(upstream, self.wfile, 1 << 16)

    def _upstream(self, prefix: str, rest: str, method: str) -> http.client.HTTPResponse:
        """The upstream's answer, over this thread's kept-alive connection to that host (a new TLS handshake per
        request would cost the proxy's CPU, which the bench must not measure)."""
        base = urllib.parse.urlsplit(UPSTREAM[prefix])
        headers = {h: self.headers[h] for h in ASKED if self.headers[h]}
        for attempt in (1, 2):
            conn = _connections.__dict__.get(base.netloc)
            if conn is None:
                conn = _connections.__dict__[base.netloc] = http.client.HTTPSConnection(
                    base.netloc, timeout=120, context=ssl.create_default_context())
            try:
                conn.request(method, base.path + rest, headers=headers)
                return conn.getresponse()
            except (OSError, http.client.HTTPException):
                conn.close()
                del _connections.__dict__[base.netloc]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.requests += 1


@contextmanager
def far_index(delay: float) -> Iterator[_Server]:
    """A proxy of PyPI answering after ``delay`` seconds; ``.url + "/simple"`` is its index URL."""
    server = _Server(delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    with far_index(float(sys.argv[1]) if len(sys.argv) > 1 else 0.1) as s:
        print(f"{s.url}/simple", flush=True)
        threading.Event().wait()
