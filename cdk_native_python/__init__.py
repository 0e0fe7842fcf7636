"""cdk-native-python: Docker-free bundling of Python Lambda functions for AWS CDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["BundlingOptions", "NativePythonFunction", "NativePythonLayerVersion", "__version__"]

if TYPE_CHECKING:
    from .function import BundlingOptions, NativePythonFunction
    from .layer import NativePythonLayerVersion


def __getattr__(name: str) -> Any:
    # The engine (target, resolve, install, ...) must import without aws-cdk-lib/jsii loaded: the CLI
    # and the engine tests use it on its own. Constructs are loaded on first use.
    if name in ("NativePythonFunction", "BundlingOptions"):
        from . import function

        return getattr(function, name)
    if name == "NativePythonLayerVersion":
        from . import layer

        return layer.NativePythonLayerVersion
    raise AttributeError(name)
