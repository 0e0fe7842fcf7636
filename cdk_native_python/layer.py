"""``NativePythonLayerVersion``: a Lambda layer whose packages are installed under ``python/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .errors import ConfigurationError
from .function import _entry, bundled_code, target_of
from .options import BundlingOptions

__all__ = ["NativePythonLayerVersion"]


class NativePythonLayerVersion(lambda_.LayerVersion):
    """Mirrors ``aws_lambda_python_alpha.PythonLayerVersion`` (one runtime/architecture per layer)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        entry: str,
        compatible_runtimes: Sequence[lambda_.Runtime] | None = None,
        compatible_architectures: Sequence[lambda_.Architecture] | None = None,
        bundling: BundlingOptions | None = None,
        **props: Any,
    ) -> None:
        runtimes = list(compatible_runtimes or [lambda_.Runtime.PYTHON_3_13])
        arches = list(compatible_architectures or [lambda_.Architecture.X86_64])
        targets = {target_of(r, a) for r in runtimes for a in arches}
        if len(targets) > 1:
            names = ", ".join(sorted(str(t) for t in targets))
            raise ConfigurationError(
                f"{construct_id}: one layer zip cannot serve {names} (compiled wheels differ per target)",
                "declare one runtime and one architecture per NativePythonLayerVersion",
            )
        (target,) = targets
        code = bundled_code(scope, construct_id, _entry(entry), target, bundling or BundlingOptions(), layer=True)
        super().__init__(scope, construct_id, code=code, compatible_runtimes=runtimes,
                         compatible_architectures=arches, **props)
