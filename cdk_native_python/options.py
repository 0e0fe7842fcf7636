"""Bundling options shared by the constructs (CDK-free so the CLI can build the same request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .engine import BuildRequest
from .hooks import CommandHooks
from .install import InstallOptions
from .slim import SlimOptions
from .spec import IndexOptions
from .strip import StripOptions
from .target import Target


@dataclass(frozen=True)
class BundlingOptions:
    """How dependencies are found, resolved, installed and stripped.

    Mirrors ``aws_lambda_python_alpha.BundlingOptions`` where the concepts match
    (``asset_excludes``, ``command_hooks``); the rest replaces Docker settings with resolver settings.
    """

    #: glob patterns (gitignore-like) left out of the handler's source copy
    asset_excludes: Sequence[str] = ()
    #: the dependency file, when it is not (or not only) in ``entry``; relative to ``entry``
    dependency_file: str | None = None
    #: dependency groups / extras to include (poetry, uv.lock, pyproject, pylock)
    groups: Sequence[str] = ()
    extras: Sequence[str] = ()
    #: resolve a ``Pipfile`` without ``Pipfile.lock`` (otherwise an error asks you to lock it)
    resolve_pipfile: bool = False
    index_url: str | None = None
    extra_index_urls: Sequence[str] = ()
    find_links: Sequence[str] = ()
    no_index: bool = False
    #: packages allowed to build from an sdist on the host (must be pure Python); none by default
    allow_build: Sequence[str] = ()
    #: ship boto3/botocore instead of using the runtime's (e.g. to pin a newer one)
    keep_boto3: bool = False
    #: more packages to strip (with what only they need); and packages never to strip
    strip: Sequence[str] = ()
    keep: Sequence[str] = ()
    #: remove files Lambda never reads from dependencies (bytecode, test suites, Cython sources; see README)
    slim: bool = True
    #: globs (relative to the dependency tree) that slimming never removes, e.g. "mypkg/tests/*"
    slim_keep: Sequence[str] = ()
    #: precompile dependencies' bytecode for the target Python (needs that Python version on the host)
    compile_bytecode: bool = False
    #: globs of files the native-code verification accepts as they are (e.g. a binary never loaded on Linux)
    verify_exclude: Sequence[str] = ()
    command_hooks: CommandHooks | None = None
    #: re-resolve floating requirements even if the inputs did not change
    refresh: bool = False
    #: where caches live (default: $CDK_NATIVE_PYTHON_CACHE_DIR or the user cache directory)
    cache_dir: str | None = None

    def request(self, entry: Path, target: Target, *, layer: bool = False, name: str = "function",
                provided: tuple[tuple[str, str, str], ...] = (), layer_bytes: int = 0) -> BuildRequest:
        """The engine's request. ``provided`` (name, version, layer) are left out of the bundle because the
        function's layers hold them; ``layer_bytes`` (the layers' unzipped size) counts against the budget."""
        return BuildRequest(
            entry=entry,
            target=target,
            dependency_file=Path(self.dependency_file) if self.dependency_file else None,
            groups=tuple(self.groups),
            extras=tuple(self.extras),
            indexes=IndexOptions(
                index_url=self.index_url,
                extra_index_urls=tuple(self.extra_index_urls),
                find_links=tuple(str((entry / f).resolve()) if "://" not in f else f for f in self.find_links),
                no_index=self.no_index,
            ),
            allow_build=tuple(self.allow_build),
            install=InstallOptions(
                strip=StripOptions(keep_boto3=self.keep_boto3, strip=tuple(self.strip), keep=tuple(self.keep),
                                   provided=tuple(provided)),
                slim=SlimOptions(enabled=self.slim, keep=tuple(self.slim_keep),
                                 compile_bytecode=self.compile_bytecode),
                verify_exclude=tuple(self.verify_exclude),
            ),
            excludes=tuple(self.asset_excludes),
            hooks=self.command_hooks,
            layer=layer,
            refresh=self.refresh,
            resolve_pipfile=self.resolve_pipfile,
            name=name,
            layer_bytes=layer_bytes,
        )
