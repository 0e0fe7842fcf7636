"""The remote tiers behind the local store, chosen by the URL's scheme in this one table.

A backend is a factory ``(url, reporter, **options) -> RemoteTier`` (the :class:`~cdk_native_python.store.RemoteTier`
protocol: never raises for remote problems, verifies what it reads, writes create-only). It validates its
URL and options (a :class:`~cdk_native_python.core.errors.ConfigurationError` before anything is built) and
imports its module only when a URL of its scheme is configured. Adding a backend: its module in ``store/``,
a factory here, one line in :data:`BACKENDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import ConfigurationError, excerpt
from ..core.reporter import Reporter
from ..core.spec import redact
from . import RemoteTier


def _s3(url: str, reporter: Reporter, *, write: bool | None = None, trusted_keys: Sequence[str] | None = None,
        tools: Callable[[], str] | None = None) -> RemoteTier:
    from .remote import RemoteCache, RemoteConfig

    # every variable is checked even when the URL, the write switch or the keys come from elsewhere
    config = RemoteConfig.from_env(url=url, write=write, trusted_keys=trusted_keys)
    assert config is not None  # the URL is given
    return RemoteCache(config, reporter, tools=tools)


#: scheme -> the factory of its tier
BACKENDS: dict[str, Callable[..., RemoteTier]] = {"s3": _s3}


def scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def open_remote(url: str, reporter: Reporter, **options: Any) -> RemoteTier:
    """The tier for ``url``, by its scheme; an unknown scheme is a ``ConfigurationError`` naming the URL (any
    credential before an ``@`` hidden) and the schemes there are."""
    factory = BACKENDS.get(scheme(url))
    if factory is None:
        known = " or ".join(f"{s}://" for s in sorted(BACKENDS))
        shown = excerpt(redact(url), 80)
        raise ConfigurationError(f"remote cache URL {shown!r} is not valid: it must start with {known}",
                                 "use s3://BUCKET or s3://BUCKET/PREFIX (a lower-case S3 bucket name)",
                                 code="remote-cache-url")
    return factory(url, reporter, **options)
