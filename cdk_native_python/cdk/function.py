"""``NativePythonFunction``: a ``lambda.Function`` whose dependencies are bundled on the host.

Drop-in for ``aws_lambda_python_alpha.PythonFunction`` (``entry``, ``index``, ``handler``,
``runtime``, ``architecture``, ``bundling``, and every other ``lambda.Function`` prop), without Docker;
also exported under the upstream name ``PythonFunction``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ..core.errors import ConfigurationError
from ..core.target import Target
from ..pipeline.options import BundlingOptions
from .bundling import ConstructSetup, bundled_code, entry_folder, staged_asset, target_of, unzipped_bytes
from .layer import NativePythonLayerVersion

__all__ = ["BundlingOptions", "NativePythonFunction", "PythonFunction"]


def from_layers(layers: Sequence[Any], target: Target, name: str) -> tuple[tuple[tuple[str, str, str], ...], int]:
    """What ``layers`` provide to a function of ``target``: ((package, version, layer), ...) and unzipped bytes.

    Packages come from :class:`NativePythonLayerVersion` layers (which must be built for ``target``); the size
    counts every layer whose code CDK staged from an asset (a layer imported by ARN has no size we can know).
    Two layers holding one package at different versions are an error: only one copy can be imported.
    """
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
                        f"layers {other[1]} and {layer.layer_path} hold different versions of {pkg} "
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

    Packages held by the :class:`~cdk_native_python.cdk.layer.NativePythonLayerVersion` layers given in
    ``layers=[...]`` are left out of the bundle (a function that needs another version ships its own copy,
    which shadows the layer's, with a notice), and every asset-based layer's unzipped size counts against
    Lambda's 250 MB limit together with the function's. ``bundling`` takes :class:`BundlingOptions`,
    ``aws_lambda_python_alpha.BundlingOptions`` or a dict with the same keyword names.
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
        bundling: BundlingOptions | Mapping[str, Any] | Any | None = None,
        **function_props: Any,
    ) -> None:
        runtime = runtime or lambda_.Runtime.PYTHON_3_13
        setup = ConstructSetup(scope, construct_id, bundling, function_props, layer=False, instead="lambda_.Function")
        with setup.errors():
            code, module = self._code(scope, setup, entry, runtime, index, architecture, function_props)
        super().__init__(
            scope,
            construct_id,
            code=code,
            runtime=runtime,
            handler=f"{module}.{handler or 'handler'}",
            architecture=architecture,
            **function_props,
        )
        setup.attach(self)

    @staticmethod
    def _code(scope: Construct, setup: ConstructSetup, entry: str, runtime: lambda_.Runtime,
              index: str | None, architecture: lambda_.Architecture | None,
              function_props: dict[str, Any]) -> tuple[lambda_.Code, str]:
        """The bundled code and the handler's module."""
        path = entry_folder(entry)
        index = index or "index.py"
        index_path = path / index
        if not index.endswith(".py") or not index_path.is_file():
            raise ConfigurationError(
                f"index file {index_path} does not exist",
                "create it, or set index= to the handler's file relative to entry (e.g. 'app/main.py')",
            )
        target = target_of(runtime, architecture)
        provided: tuple[tuple[str, str, str], ...] = ()
        layer_bytes = 0
        if function_props.get("layers") and Stack.of(scope).bundling_required:
            provided, layer_bytes = from_layers(function_props["layers"], target, setup.name)
        code = bundled_code(scope, setup, path, target, layer=False, provided=provided, layer_bytes=layer_bytes)
        return code, index[:-3].replace("/", ".").replace("\\", ".")


#: the upstream name, for apps that switch their import line only
PythonFunction = NativePythonFunction
