"""Read what an index offers for a project (PEP 691 JSON or PEP 503 HTML, or a find-links folder).

Used to explain failures ("these wheels exist, none fits python3.12 / manylinux_2_34 aarch64") and to
fetch an sdist the user allowed to build. Credentials embedded in URLs are sent as HTTP basic auth and
never appear in a message.
"""

from __future__ import annotations

import base64
import json
import netrc
import os
import re
import shutil
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from ..core.distributions import normalize
from ..core.spec import Credential, IndexOptions, split_credentials

PYPI = "https://pypi.org/simple/"
_TIMEOUT = 15


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for key, value in attrs:
                if key == "href" and value:
                    self.hrefs.append(value)


def _request(url: str, credential: Credential | None = None) -> urllib.request.Request:
    """A GET of ``url`` without its credentials in the URL; basic auth from the URL, else ``credential``,
    else the netrc uv would read (``$NETRC`` or ``~/.netrc``)."""
    clean, own = split_credentials(url)
    req = urllib.request.Request(clean, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        "User-Agent": "cdk-native-python",
    })
    credential = own or credential
    user, password = (credential.username, credential.password) if credential is not None else (None, "")
    host = urlsplit(url).hostname
    if user is None and host:
        try:
            auth = netrc.netrc(os.environ.get("NETRC") or None).authenticators(host)
        except (OSError, netrc.NetrcParseError):
            auth = None
        if auth:
            user, password = auth[0], auth[2] or ""
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    return req


def project_files(name: str, indexes: IndexOptions) -> list[tuple[str, str]]:
    """``(filename, url)`` of every distribution file the configured indexes offer for ``name``."""
    canonical = normalize(name)
    files: dict[str, str] = {}
    for link in indexes.find_links:
        if "://" not in link or link.startswith("file://"):
            folder = Path(link[7:] if link.startswith("file://") else link)
            if folder.is_dir():
                for f in sorted(folder.iterdir()):
                    if _project_of(f.name) == canonical:
                        files.setdefault(f.name, f.as_uri())
    urls = [] if indexes.no_index else [indexes.index_url or PYPI, *indexes.extra_index_urls]
    for base in urls:
        page = base.rstrip("/") + f"/{canonical}/"
        try:
            with urllib.request.urlopen(_request(page), timeout=_TIMEOUT) as resp:
                body = resp.read().decode("utf-8", "replace")
                kind = resp.headers.get("Content-Type", "")
        except (OSError, ValueError):
            continue
        if "json" in kind:
            for entry in json.loads(body).get("files", []):
                files.setdefault(entry["filename"], urljoin(page, entry["url"]))
        else:
            parser = _Anchors()
            parser.feed(body)
            for href in parser.hrefs:
                url = urljoin(page, href)
                files.setdefault(unquote(urlsplit(url).path.rsplit("/", 1)[-1]), url)
    return sorted(files.items())


def _project_of(filename: str) -> str | None:
    if filename.endswith(".whl"):
        return normalize(filename.split("-")[0])
    m = re.match(r"^(.+?)-\d", filename)
    if m and filename.endswith((".tar.gz", ".zip")):
        return normalize(m.group(1))
    return None


def download(url: str, dest: Path, credential: Credential | None = None) -> Path:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    target = dest / unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    with urllib.request.urlopen(_request(url, credential), timeout=60) as resp, open(target, "wb") as f:
        shutil.copyfileobj(resp, f, 1 << 20)
    return target
