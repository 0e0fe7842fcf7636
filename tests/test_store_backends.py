"""store/backends.py: the remote tier is chosen by the URL's scheme, in one table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.core.errors import ConfigurationError
from cdk_native_python.core.reporter import Reporter
from cdk_native_python.store import RemoteTier, backends
from cdk_native_python.store.local import open_store
from cdk_native_python.store.remote import RemoteCache


class FolderTier:
    """A tier that misses every fetch: the table is tested by which tier it builds, with what."""

    def __init__(self, url: str, reporter: Reporter, **options: Any) -> None:
        self.url, self.reporter, self.options = url, reporter, options

    def fetch(self, kind: str, key: str, dest: Path) -> bool:
        return False

    def push(self, kind: str, key: str, src: Path) -> None:
        return None


def test_the_scheme_picks_the_backend_and_its_options_reach_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "folder", FolderTier)
    reporter = Reporter()
    store = open_store(tmp_path / "cache", remote_url="FOLDER:///srv/cache", remote_write=True, reporter=reporter)
    tier: RemoteTier | None = store.remote
    assert isinstance(tier, FolderTier)
    assert (tier.url, tier.reporter, tier.options) == ("FOLDER:///srv/cache", reporter,
                                                         {"write": True, "trusted_keys": None, "tools": None})


def test_s3_is_the_s3_tier(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "cache", remote_url="s3://bucket/team", remote_write=False).remote,
                      RemoteCache)


@pytest.mark.parametrize("url", ["https://bucket/x", "bucket/x", "gs://bucket", "s4://bucket"])
def test_an_unknown_scheme_is_a_configuration_error_naming_the_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        open_store(tmp_path / "cache", remote_url=url)
    assert err.value.code == "remote-cache-url"
    assert repr(url) in err.value.message and "must start with s3://" in err.value.message
    assert err.value.hint and "s3://BUCKET/PREFIX" in err.value.hint
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("*/*"))


def test_a_credential_in_an_unknown_url_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as err:
        open_store(tmp_path / "cache", remote_url="https://AKIAEXAMPLEKEY:secretKEY@host/x")
    assert "AKIAEXAMPLEKEY" not in str(err.value) and "secretKEY" not in str(err.value)
    assert "https://host/x" in err.value.message  # credentials removed as everywhere (spec.redact)
