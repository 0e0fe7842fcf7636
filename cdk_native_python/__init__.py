"""cdk-native-python: Docker-free bundling of Python Lambda functions for AWS CDK.

Also a drop-in for ``aws_lambda_python_alpha``: ``PythonFunction``, ``PythonLayerVersion``,
``BundlingOptions`` and ``ICommandHooks`` are exported under the upstream names, so an app switches by
changing its import line only (``from cdk_native_python import PythonFunction`` or
``import cdk_native_python as python_lambda``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = ["BundlingOptions", "CommandHooks", "ICommandHooks", "NativePythonFunction", "NativePythonLayerVersion",
           "PythonFunction", "PythonLayerVersion", "__version__"]

if TYPE_CHECKING:
    from .cdk.function import NativePythonFunction, PythonFunction
    from .cdk.layer import NativePythonLayerVersion, PythonLayerVersion
    from .pipeline.hooks import CommandHooks, ICommandHooks
    from .pipeline.options import BundlingOptions

#: name -> module that defines it; modules are imported on first use
_LAZY = {
    "NativePythonFunction": "cdk.function",
    "PythonFunction": "cdk.function",
    "NativePythonLayerVersion": "cdk.layer",
    "PythonLayerVersion": "cdk.layer",
    "BundlingOptions": "pipeline.options",
    "CommandHooks": "pipeline.hooks",
    "ICommandHooks": "pipeline.hooks",
}


def __getattr__(name: str) -> Any:
    # The engine (target, resolve, install, ...) must import without aws-cdk-lib/jsii loaded: the CLI
    # and the engine tests use it on its own. Constructs are loaded on first use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
