"""``NativePythonFunction``: a ``lambda.Function`` whose dependencies are bundled on the host.

Drop-in for ``aws_lambda_python_alpha.PythonFunction`` (``entry``, ``index``, ``handler``,
``runtime``, ``architecture``, ``bundling``, and every other ``lambda.Function`` prop), without Docker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import AssetHashType, DockerImage, Stack
from aws_cdk import BundlingOptions as CdkBundlingOptions
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from . import engine
from .cache import Cache
from .errors import BundlingError, ConfigurationError
from .local_bundling import LocalBundler, format_error, install_excepthook
from .options import BundlingOptions
from .target import Target

__all__ = ["BundlingOptions", "NativePythonFunction"]

install_excepthook()

#: never pulled: local bundling always succeeds or raises, but CDK requires an image
_UNUSED_IMAGE = "cdk-native-python/no-docker"


def target_of(runtime: lambda_.Runtime, architecture: lambda_.Architecture | None) -> Target:
    if runtime.family != lambda_.RuntimeFamily.PYTHON or not runtime.name.startswith("python3"):
        raise ConfigurationError(
            f"runtime {runtime.name} is not a Python 3 runtime",
            "use a Python runtime such as lambda_.Runtime.PYTHON_3_13 (use lambda_.Function for other languages)",
        )
    return Target.from_runtime(runtime.name, (architecture or lambda_.Architecture.X86_64).name)


def construct_path(scope: Construct, construct_id: str) -> str:
    """How a function or layer is named in messages and reports: its construct path, e.g. ``Stack/Api``."""
    return f"{scope.node.path}/{construct_id}" if scope.node.path else construct_id


def bundled_code(
    scope: Construct, construct_id: str, entry: Path, target: Target, bundling: BundlingOptions, *, layer: bool,
    provided: tuple[tuple[str, str, str], ...] = (), layer_bytes: int = 0,
) -> lambda_.Code:
    """Resolve now (cheap when cached) and return asset code whose hash is content-addressed."""
    request = bundling.request(entry, target, layer=layer, name=construct_path(scope, construct_id),
                               provided=provided, layer_bytes=layer_bytes)
    cache_dir = Path(bundling.cache_dir) if bundling.cache_dir else None
    if not Stack.of(scope).bundling_required:
        # `cdk ls`, or a stack outside `--exclusively`: CDK will not bundle, so neither do we.
        asset_hash = hashlib.sha256(f"skipped:{entry}:{target}".encode()).hexdigest()
        plan = None
    else:
        try:
            plan = engine.prepare(request, Cache(cache_dir))
        except BundlingError as exc:
            raise BundlingError(format_error(request.name, exc).split(": ", 1)[1]) from None
        asset_hash = plan.asset_hash()
    local = LocalBundler(plan, cache_dir, request.name) if plan is not None else None
    return lambda_.Code.from_asset(
        str(entry),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash,
        bundling=CdkBundlingOptions(image=DockerImage.from_registry(_UNUSED_IMAGE), local=local),
    )


def _entry(entry: str) -> Path:
    path = Path(entry).absolute()
    if not path.is_dir():
        raise ConfigurationError(
            f"entry {entry!r} is not a folder" + (" (it does not exist)" if not path.exists() else ""),
            "point entry at the folder holding the handler file, relative to where cdk runs (cdk.json)",
        )
    return path


def from_layers(layers: Sequence[Any], target: Target, name: str) -> tuple[tuple[tuple[str, str, str], ...], int]:
    """What ``layers`` provide to a function of ``target``: ((package, version, layer), ...) and unzipped bytes.

    Packages come from :class:`NativePythonLayerVersion` layers (which must be built for ``target``); the size
    counts every layer whose code CDK staged from an asset (a layer imported by ARN has no size we can know).
    Two layers holding one package at different versions are an error: only one copy can be imported.
    """
    from .layer import NativePythonLayerVersion, staged_asset, unzipped_bytes

    holders: dict[str, tuple[str, str]] = {}
    total = 0
    seen: set[int] = set()
    for layer in layers:
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, NativePythonLayerVersion):
            for pkg, version in sorted(layer.provided_for(target, name).items()):
                other = holders.get(pkg)
                if other is not None and other[0] != version:
                    raise ConfigurationError(
                        f"{name}: layers {other[1]} and {layer.layer_path} hold different versions of {pkg} "
                        f"({other[0]} and {version}); only one can be imported",
                        f"build both layers with the same {pkg} version, or keep {pkg} in one of them only",
                    )
                holders.setdefault(pkg, (version, layer.layer_path))
            total += layer.unzipped_bytes
        elif isinstance(layer, Construct):
            staged = staged_asset(layer)
            if staged is not None:
                total += unzipped_bytes(staged)
    provided = tuple(sorted((pkg, version, path) for pkg, (version, path) in holders.items()))
    return provided, total


class NativePythonFunction(lambda_.Function):
    """A Python Lambda function with dependencies installed from manylinux wheels for its target.

    Packages held by the :class:`~cdk_native_python.layer.NativePythonLayerVersion` layers given in
    ``layers=[...]`` are left out of the bundle (a different version is an error), and every asset-based
    layer's unzipped size counts against Lambda's 250 MB limit together with the function's.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        entry: str,
        runtime: lambda_.Runtime | None = None,
        index: str | None = None,
        handler: str | None = None,
        architecture: lambda_.Architecture | None = None,
        bundling: BundlingOptions | None = None,
        **function_props: Any,
    ) -> None:
        runtime = runtime or lambda_.Runtime.PYTHON_3_13
        for reserved in ("code",):
            if reserved in function_props:
                raise ConfigurationError(
                    f"{construct_id}: '{reserved}' cannot be set on NativePythonFunction",
                    "it is built from entry; use lambda_.Function if you bring your own code",
                )
        path = _entry(entry)
        index = index or "index.py"
        index_path = path / index
        if not index.endswith(".py") or not index_path.is_file():
            raise ConfigurationError(
                f"{construct_id}: index file {index_path} does not exist",
                "create it, or set index= to the handler's file relative to entry (e.g. 'app/main.py')",
            )
        module = index[:-3].replace("/", ".").replace("\\", ".")
        target = target_of(runtime, architecture)
        provided: tuple[tuple[str, str, str], ...] = ()
        layer_bytes = 0
        if function_props.get("layers") and Stack.of(scope).bundling_required:
            provided, layer_bytes = from_layers(function_props["layers"], target, construct_path(scope, construct_id))
        code = bundled_code(scope, construct_id, path, target, bundling or BundlingOptions(), layer=False,
                            provided=provided, layer_bytes=layer_bytes)
        super().__init__(
            scope,
            construct_id,
            code=code,
            runtime=runtime,
            handler=f"{module}.{handler or 'handler'}",
            architecture=architecture,
            **function_props,
        )
