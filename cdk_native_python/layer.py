"""``NativePythonLayerVersion``: a Lambda layer whose packages are installed under ``python/``.

Mirrors ``aws_lambda_python_alpha.PythonLayerVersion``. A layer may declare several runtimes and
architectures; each declared target is resolved and installed, and one zip serves them all only when
every target gets the same set of pure-Python wheels (``*-none-any``). Compiled wheels differ per
target, so such a layer is an error that names the packages and asks for one layer per target.

What a layer holds (package → version, and its unzipped size) is read back from its staged asset, so
:class:`~cdk_native_python.function.NativePythonFunction` can leave those packages out of its own
bundle and count the layer against Lambda's 250 MB budget.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from . import engine
from .bundling import (
    ConstructNotices,
    bundled_code,
    construct_path,
    entry_folder,
    fail,
    reject_code_prop,
    staged_asset,
    store_for,
    target_of,
    unzipped_bytes,
)
from .distributions import installed
from .errors import BundlingError, ConfigurationError
from .options import BundlingOptions
from .records import PackageRecord
from .target import Target

__all__ = ["NativePythonLayerVersion", "target_label"]


def target_label(target: Target) -> str:
    """``python3.12/arm64``: how a layer's targets are named (the runtime and Lambda architecture)."""
    return target.label


class NativePythonLayerVersion(lambda_.LayerVersion):
    """A layer of dependencies (under ``python/``) bundled from manylinux wheels on the host.

    ``compatible_runtimes`` × ``compatible_architectures`` are the targets it serves (default
    python3.13 / x86_64). After construction, :attr:`packages` says what it holds per target and
    :attr:`unzipped_bytes` its size; functions given this layer in ``layers=[...]`` use both.
    """

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
        bundling = bundling or BundlingOptions()
        name = construct_path(scope, construct_id)
        self._name = name
        self._bundling = bundling
        self._notices = ConstructNotices(name)
        self._packages: dict[str, str] | None = None
        self._bytes: int | None = None
        required = Stack.of(scope).bundling_required
        try:
            reject_code_prop(props, "lambda_.LayerVersion")
            self._targets = tuple(dict.fromkeys(target_of(r, a) for r in runtimes for a in arches))
            self._entry_path = entry_folder(entry)
            if required and len(self._targets) > 1:
                self._check_one_zip_serves_all(self._targets, name)
            code = bundled_code(scope, construct_id, self._entry_path, self._targets[0], bundling, layer=True,
                                notices=self._notices)
        except BundlingError as exc:
            raise fail(exc, name) from None
        path = self._entry_path
        super().__init__(scope, construct_id, code=code, compatible_runtimes=runtimes,
                         compatible_architectures=arches, **props)
        try:
            self._notices.attach(self)
        except BundlingError as exc:
            raise fail(exc, name) from None
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
        """``{"python3.12/arm64": {"requests": "2.32.3", ...}, ...}``: the packages under ``python/``
        per declared target (one zip serves every target, so the sets are equal)."""
        held = self._contents()[0]
        return {target_label(t): dict(held) for t in self._targets}

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
                "compatible_architectures (possible for pure-Python layers), or give the function a layer "
                "built for its own runtime and architecture",
            )
        return dict(self._contents()[0])

    def _read(self, staged: Path) -> None:
        site = staged / "python"
        self._packages = {name: dist.version for name, dist in installed(site).items()} if site.is_dir() else {}
        self._bytes = unzipped_bytes(staged)

    def _contents(self) -> tuple[dict[str, str], int]:
        """(packages, bytes); computed with the engine when CDK did not stage the asset here (e.g. the
        layer's stack is excluded from bundling but a function in another stack uses it)."""
        if self._packages is None or self._bytes is None:
            with tempfile.TemporaryDirectory(prefix="cdk-native-python-layer-") as tmp:
                self._bundle_into(self._targets[0], Path(tmp) / "out")
                self._read(Path(tmp) / "out")
        assert self._packages is not None and self._bytes is not None
        return self._packages, self._bytes

    def _bundle_into(self, target: Target, out: Path) -> engine.BuildResult:
        request = self._bundling.request(self._entry_path, target, layer=True, name=self._name)
        reporter = self._notices.reporter
        return engine.build(request, out, store_for(self._bundling, reporter), reporter)

    def _check_one_zip_serves_all(self, targets: tuple[Target, ...], name: str) -> None:
        """Install every target (cached) and require the same pure-Python set for all of them."""
        sets: dict[Target, Mapping[str, PackageRecord]] = {}
        tmp = Path(tempfile.mkdtemp(prefix="cdk-native-python-layer-"))
        try:
            for i, target in enumerate(targets):
                # the build report has each package's version and wheel tags
                sets[target] = self._bundle_into(target, tmp / str(i)).report.packages
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
        compiled: dict[str, list[str]] = {}
        for target, found in sets.items():
            for pkg, record in sorted(found.items()):
                if not record.pure:
                    tags = ",".join(record.wheel_tags) or "(no WHEEL tags)"
                    compiled.setdefault(pkg, []).append(f"{target_label(target)}: {record.version} {tags}")
        labels = ", ".join(target_label(t) for t in targets)
        hint = ("declare one runtime and one architecture per NativePythonLayerVersion (e.g. a layer for "
                "python3.12/arm64 and another for python3.12/x86_64) and give each function the layer of its target")
        if compiled:
            lines = "\n    ".join(f"{pkg} ({'; '.join(where)})" for pkg, where in sorted(compiled.items()))
            raise ConfigurationError(
                f"layer {name} declares {labels}, but one zip cannot serve them: these packages have "
                f"compiled wheels, which differ per target:\n    {lines}", hint)
        versions = {t: {pkg: r.version for pkg, r in found.items()} for t, found in sets.items()}
        first = versions[targets[0]]
        differ: list[str] = []
        for target in targets[1:]:
            for pkg in sorted(set(first) | set(versions[target])):
                a, b = first.get(pkg, "absent"), versions[target].get(pkg, "absent")
                if a != b:
                    differ.append(f"{pkg}: {a} on {target_label(targets[0])}, {b} on {target_label(target)}")
        if differ:
            raise ConfigurationError(
                f"layer {name} declares {labels}, but one zip cannot serve them: the targets resolve to "
                "different packages:\n    " + "\n    ".join(differ),
                hint + "; or pin the versions so every target resolves the same set")
