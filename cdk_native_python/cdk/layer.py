"""``NativePythonLayerVersion``: a Lambda layer of the entry folder and its dependencies, under ``python/``.

Mirrors ``aws_lambda_python_alpha.PythonLayerVersion``: the entry folder (minus excludes) is copied under
``python/`` (or ``output_path_suffix``) together with its dependencies, so shared code (``shared.py``,
``clients/``) is importable from functions using the layer, and a code-only layer works.

Beyond upstream (which builds for the first runtime only), every declared runtime × architecture is
resolved and installed, and one zip serves them: pure packages common to all go in ``python/``, the
others in ``python/lib/python3.X/site-packages/`` of each runtime (:mod:`~cdk_native_python.pipeline.layerset`).
Compiled packages across several architectures are an error: Lambda has no per-architecture folder.

What a layer holds per target (package → version, and its unzipped size) is read back from its staged
asset, so :class:`~cdk_native_python.cdk.function.NativePythonFunction` can leave those packages out of its
own bundle and count the layer against Lambda's 250 MB budget.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ..core.errors import ConfigurationError
from ..core.reporter import silent
from ..core.target import Target
from ..pipeline import engine, layerset
from ..pipeline.options import BundlingOptions
from .bundling import ConstructSetup, bundled_code, entry_folder, staged_asset, store_for, target_of, unzipped_bytes

__all__ = ["NativePythonLayerVersion", "PythonLayerVersion", "target_label"]


def target_label(target: Target) -> str:
    """``python3.12/arm64``: how a layer's targets are named (the runtime and Lambda architecture)."""
    return target.label


class NativePythonLayerVersion(lambda_.LayerVersion):
    """A layer of the entry folder and its dependencies (under ``python/``) bundled from manylinux wheels.

    ``compatible_runtimes`` × ``compatible_architectures`` are the targets it serves (default
    python3.13 / x86_64). After construction, :attr:`packages` says what it holds per target and
    :attr:`unzipped_bytes` its size; functions given this layer in ``layers=[...]`` use both.
    ``bundling`` takes :class:`BundlingOptions`, ``aws_lambda_python_alpha.BundlingOptions`` or a dict.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        entry: str,
        compatible_runtimes: Sequence[lambda_.Runtime] | None = None,
        compatible_architectures: Sequence[lambda_.Architecture] | None = None,
        bundling: BundlingOptions | Mapping[str, Any] | Any | None = None,
        **props: Any,
    ) -> None:
        runtimes = list(compatible_runtimes or [lambda_.Runtime.PYTHON_3_13])
        arches = list(compatible_architectures or [lambda_.Architecture.X86_64])
        setup = ConstructSetup(scope, construct_id, bundling, props, layer=True, instead="lambda_.LayerVersion")
        self._name = setup.name
        self._bundling = setup.options
        self._held: dict[Target, dict[str, str]] | None = None
        self._bytes: int | None = None
        required = Stack.of(scope).bundling_required
        with setup.errors():
            self._targets = tuple(dict.fromkeys(target_of(r, a) for r in runtimes for a in arches))
            self._entry_path = entry_folder(entry)
            code = bundled_code(scope, setup, self._entry_path, self._targets, layer=True)
            if setup.notices.bundler is not None and len(self._targets) > 1:
                # fail here, naming the layer, rather than inside CDK's bundling callback; quietly, since the
                # asset's own bundling says the same
                quiet = silent()
                with tempfile.TemporaryDirectory(prefix="cdk-native-python-layer-") as tmp:
                    layerset.bundle(setup.notices.bundler.plans, Path(tmp) / "out", store_for(self._bundling, quiet),
                                    quiet)
        path = self._entry_path
        super().__init__(scope, construct_id, code=code, compatible_runtimes=runtimes,
                         compatible_architectures=arches, **props)
        setup.attach(self)
        staged = staged_asset(self)
        if required and staged is not None and staged.is_dir() and staged != path:
            self._read(staged)

    # -- what the layer holds --------------------------------------------------------------------------------

    @property
    def layer_path(self) -> str:
        """The construct path, used in messages and in the reason a function's package was left out."""
        return self._name

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every (runtime, architecture) this layer declares."""
        return self._targets

    @property
    def packages(self) -> Mapping[str, Mapping[str, str]]:
        """``{"python3.12/arm64": {"requests": "2.32.3", ...}, ...}``: what each declared target imports from
        the layer (its runtime's own folder and ``python/``)."""
        held = self._contents()[0]
        return {target_label(t): dict(held[t]) for t in self._targets}

    @property
    def unzipped_bytes(self) -> int:
        """Bytes of the layer once unzipped (what counts against Lambda's 250 MB for functions using it)."""
        return self._contents()[1]

    def provided_for(self, target: Target, user: str = "a function") -> dict[str, str]:
        """The packages this layer provides to a function of ``target``; an error if it was not built for it."""
        if target not in self._targets:
            declared = ", ".join(target_label(t) for t in self._targets)
            raise ConfigurationError(
                f"{user} ({target_label(target)}) uses layer {self._name}, which is built for {declared} only",
                f"add {target.runtime} / {target.lambda_architecture} to the layer's compatible_runtimes / "
                "compatible_architectures, or give the function a layer built for its own runtime and architecture",
            )
        return dict(self._contents()[0][target])

    def _suffix(self) -> str:
        return self._bundling.request(self._entry_path, self._targets[0], layer=True).suffix

    def _read(self, staged: Path) -> None:
        suffix = self._suffix()
        self._held = {t: layerset.packages_in(staged, t, suffix) for t in self._targets}
        self._bytes = unzipped_bytes(staged)

    def _contents(self) -> tuple[dict[Target, dict[str, str]], int]:
        """(packages per target, bytes); computed with the engine when CDK did not stage the asset here (e.g.
        the layer's stack is excluded from bundling but a function in another stack uses it)."""
        if self._held is None or self._bytes is None:
            with tempfile.TemporaryDirectory(prefix="cdk-native-python-layer-") as tmp:
                self._build(Path(tmp) / "out")
                self._read(Path(tmp) / "out")
        assert self._held is not None and self._bytes is not None
        return self._held, self._bytes

    def _build(self, out: Path) -> None:
        """Bundle every target into ``out`` as the asset would be (the store makes a repeat cheap); quietly,
        since the asset's own bundling says the same."""
        reporter = silent()
        store = store_for(self._bundling, reporter)
        plans = [engine.prepare(self._bundling.request(self._entry_path, t, layer=True, name=self._name), store,
                                reporter) for t in self._targets]
        layerset.bundle(plans, out, store, reporter)


#: the upstream name, for apps that switch their import line only
PythonLayerVersion = NativePythonLayerVersion
