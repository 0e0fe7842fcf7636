"""What the constructs share: CDK props → an engine request, and the ``ILocalBundling`` adapter.

``function.py`` and ``layer.py`` depend on this module only downward (as the CDK alpha module's
``function.ts``/``layer.ts`` depend on ``bundling.ts``). CDK calls :meth:`LocalBundler.try_bundle` during
synth; the engine does the work. Errors reach the user as one line naming the construct: an error raised
inside a jsii callback comes back wrapped in a JavaScript stack, so the message is printed first and a
hook that shows just that line is put in place only when such an error is raised (importing this package
never changes ``sys.excepthook``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import jsii
from aws_cdk import Annotations, AssetHashType, DockerImage, ILocalBundling, Stack
from aws_cdk import BundlingOptions as CdkBundlingOptions
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ..core import settings
from ..core.budget import tree_bytes
from ..core.errors import BundlingError, ConfigurationError
from ..core.progress import console, echo, printable
from ..core.records import digest
from ..core.reporter import Notice, Reporter
from ..core.target import Target
from ..pipeline import engine, layerset, requestlog, uv
from ..pipeline.options import CONTEXT_KEY, BundlingOptions, from_context
from ..store.local import LocalStore, open_store

MARKER = "cdk-native-python:"
#: set by the ``cdk`` CLI for the app it runs; the CLI prints the app's annotations itself
CDK_CLI_ENV = "CDK_CLI_VERSION"
#: never pulled: local bundling always succeeds or raises, but CDK requires an image
_UNUSED_IMAGE = "cdk-native-python/no-docker"


def target_of(runtime: lambda_.Runtime, architecture: lambda_.Architecture | None) -> Target:
    if runtime.family != lambda_.RuntimeFamily.PYTHON or not runtime.name.startswith("python3"):
        raise ConfigurationError(
            f"runtime {runtime.name} is not a Python 3 runtime",
            "use a Python runtime such as lambda_.Runtime.PYTHON_3_13 (use lambda_.Function for other languages)",
            code="runtime-unsupported",
        )
    return Target.from_runtime(runtime.name, (architecture or lambda_.Architecture.X86_64).name)


def construct_path(scope: Construct, construct_id: str) -> str:
    """How a function or layer is named in messages and reports: its construct path, e.g. ``Stack/Api``."""
    return f"{scope.node.path}/{construct_id}" if scope.node.path else construct_id


def entry_folder(entry: str) -> Path:
    path = Path(entry).absolute()
    if not path.is_dir():
        raise ConfigurationError(
            f"entry {entry!r} is not a folder" + (" (it does not exist)" if not path.exists() else ""),
            "point entry at the folder holding the handler file, relative to where cdk runs (cdk.json)",
            code="entry-missing",
        )
    return path


def reject_code_prop(props: dict[str, Any], instead: str) -> None:
    if "code" in props:
        raise ConfigurationError("'code' cannot be set here",
                                 f"it is built from entry; use {instead} if you bring your own code")


def store_for(bundling: BundlingOptions, reporter: Reporter) -> LocalStore:
    """The store, with the remote tier of ``remote_cache`` and the ``remote_cache_trusted_keys`` (props or cdk.json's
    team defaults) or the environment's."""
    return open_store(Path(bundling.cache_dir) if bundling.cache_dir else None, remote_url=bundling.remote_cache,
                      trusted_keys=bundling.remote_cache_trusted_keys, tools=uv.tools,
                      reporter=reporter)


class ConstructNotices:
    """What one construct's bundling says, shown the CDK way: each notice becomes an annotation on the
    construct (``cdk synth`` prints it with the construct path, ``--strict`` fails on a warning, and
    ``Annotations.of(scope).acknowledge_warning(notice.annotation_id)`` silences it), and progress goes to the
    console.

    CDK calls ``try_bundle`` inside the Function/LayerVersion constructor, before the construct can carry
    annotations: notices wait until the constructor calls :meth:`attach`, which also says again what an
    earlier bundle of the same asset said when CDK reused it instead of bundling.

    An app run without the ``cdk`` CLI (``python app.py``) has nobody to print its annotations: there each
    notice is also printed on stderr as the command line prints it (unless ``CDK_NATIVE_PYTHON_QUIET``).
    """

    def __init__(self, name: str) -> None:
        self.reporter = Reporter(name, sink=self._sink, on_phase=console().phase)
        self.bundler: LocalBundler | None = None
        self._construct: Construct | None = None
        self._pending: list[Notice] = []

    def attach(self, construct: Construct) -> None:
        """Call at the end of the construct's constructor."""
        if self.bundler is not None and not self.bundler.ran:
            # the asset was staged already (an earlier synth, or an equal asset in this app): CDK did not bundle
            self.bundler.replay()
        self._construct = construct
        for notice in self._pending:
            annotate(construct, notice)
        self._pending.clear()

    def _sink(self, notice: Notice, subject: str) -> None:
        if CDK_CLI_ENV not in os.environ and not console().quiet:
            console().line(notice.line(subject))
        if self._construct is None:
            self._pending.append(notice)
        else:
            annotate(self._construct, notice)


def annotate(construct: Construct, notice: Notice) -> None:
    """A notice as a CDK annotation on ``construct``: a warning under its id, an info as it is (the CDK CLI prints
    annotations to the terminal as they are: through our filter first)."""
    if notice.level == "warning":
        Annotations.of(construct).add_warning_v2(notice.annotation_id, printable(notice.message))
    else:
        Annotations.of(construct).add_info(printable(notice.message))


class ConstructSetup:
    """What a construct's bundling starts from: its name, where its notices go (annotations on it), its options.

    Errors raised inside :meth:`errors` name the construct and end the app as one line.
    """

    def __init__(self, scope: Construct, construct_id: str, bundling: Any, props: dict[str, Any], *, layer: bool,
                 instead: str) -> None:
        self.name = construct_path(scope, construct_id)
        self.notices = ConstructNotices(self.name)
        with self.errors():
            settings.check()  # a mistyped CDK_NATIVE_PYTHON_* value ends the synth here, naming the variable
            reject_code_prop(props, instead)
            self.options = bundling_options(scope, bundling, layer=layer, reporter=self.notices.reporter)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except BundlingError as exc:
            raise fail(exc, self.name) from None

    def attach(self, construct: Construct) -> None:
        """Call at the end of the construct's constructor: notices become annotations on it."""
        with self.errors():
            self.notices.attach(construct)


def fail(exc: BundlingError, name: str) -> BundlingError:
    """``exc`` naming the construct, shown as one line if it ends the app."""
    named = exc.about(name)
    _show_cleanly()
    return named


def bundling_options(scope: Construct, bundling: Any, *, layer: bool, reporter: Reporter) -> BundlingOptions:
    """The construct's options: ours, the alpha module's or a dict, over the team defaults of cdk.json's
    context (props win); upstream options without effect here are said once, on the construct."""
    options = BundlingOptions.of(bundling)
    prefix = f"{CONTEXT_KEY}:"
    # every "cdk-native-python:<option>" key, so that a misspelt or per-function one is an error, never ignored
    flat = {key[len(prefix):]: value for key, value in scope.node.get_all_context().items()
            if isinstance(key, str) and key.startswith(prefix)}
    defaults = from_context(scope.node.try_get_context(CONTEXT_KEY), flat)
    for notice in options.notices(layer=layer):
        reporter.emit(notice)
    return options.merged_over(defaults)


def bundled_code(scope: Construct, setup: ConstructSetup, entry: Path, target: Target | Sequence[Target], *,
                 layer: bool, provided: tuple[tuple[str, str, str], ...] = (), layer_bytes: int = 0) -> lambda_.Code:
    """Resolve now (cheap when cached) and return asset code whose hash is content-addressed (or what the
    user's asset_hash / asset_hash_type ask for). A layer of several targets gets one asset for all."""
    targets = (target,) if isinstance(target, Target) else tuple(target)
    bundling = setup.options
    requests = [bundling.request(entry, t, layer=layer, name=setup.name, provided=provided, layer_bytes=layer_bytes)
                for t in targets]
    mode, custom = bundling.asset_hash_mode()
    local: LocalBundler | None = None
    if not Stack.of(scope).bundling_required:
        # `cdk ls`, or a stack outside `--exclusively`: CDK will not bundle, so neither do we. Under
        # `cdk-native-python prefetch` (which skips bundling), the requests are written down for it to build.
        asset_hash = hashlib.sha256(f"skipped:{entry}:{','.join(map(str, targets))}".encode()).hexdigest()
        requestlog.record(requests, bundling.cache_dir, bundling.remote_cache)
    else:
        reporter = setup.notices.reporter
        store = store_for(bundling, reporter)
        plans = tuple(engine.prepare(r, store, reporter) for r in requests)
        asset_hash = plans[0].asset_hash if len(plans) == 1 else digest([p.asset_hash for p in plans], 64)
        local = setup.notices.bundler = LocalBundler(plans, store, reporter)
    hashing: dict[str, Any] = {"asset_hash_type": AssetHashType.CUSTOM, "asset_hash": custom or asset_hash}
    if mode == "output":
        hashing = {"asset_hash_type": AssetHashType.OUTPUT}
    return lambda_.Code.from_asset(
        str(entry), **hashing,
        bundling=CdkBundlingOptions(image=DockerImage.from_registry(_UNUSED_IMAGE), local=local),
    )


@jsii.implements(ILocalBundling)
class LocalBundler:
    def __init__(self, plans: tuple[engine.Plan, ...], store: LocalStore, reporter: Reporter) -> None:
        #: one plan per target (a layer may declare several; one asset serves them all)
        self.plans = plans
        self._store = store
        self._reporter = reporter
        #: CDK called :meth:`try_bundle` (it does not when the asset is staged already)
        self.ran = False

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        self.ran = True
        name = self.plans[0].request.name
        try:
            results = layerset.bundle(self.plans, Path(output_dir), self._store, self._reporter)
        except BundlingError as exc:
            message = f"{MARKER} {fail(exc, name)}"
            echo(message)
            raise RuntimeError(message) from None
        out = console()
        if not out.quiet:
            for result in results:
                out.line(result.summary(name, verbose=out.verbose))
        return True

    def replay(self) -> None:
        """What bundling said about this asset when it was staged, said again (see :func:`engine.replay`):
        for every target, since a layer's one asset holds one bundle of each."""
        for plan in self.plans:
            engine.replay(plan, self._store, self._reporter)


def staged_asset(construct: Construct) -> Path | None:
    """The folder or file CDK staged as the code asset of ``construct`` (a Function or LayerVersion), if any.

    ``Code.from_asset`` creates an ``aws_s3_assets.Asset`` child named ``Code`` whose ``Stage`` child
    is the ``AssetStaging`` (bundled, when bundling ran, before the construct's constructor returned).
    """
    code = construct.node.try_find_child("Code")
    stage = code.node.try_find_child("Stage") if code is not None else None
    path = getattr(stage, "absolute_staged_path", None)
    return Path(path) if isinstance(path, str) and Path(path).exists() else None


def unzipped_bytes(path: Path) -> int:
    """Unzipped size of a staged asset: a folder's files, or the members of a ``.zip``."""
    if path.is_dir():
        return tree_bytes(path)[0]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return sum(info.file_size for info in zf.infolist())
    return path.stat().st_size


# -- showing an error that ends the app as one line -----------------------------------------------------


def _show_cleanly() -> None:
    """Put a hook in place that shows our errors as their message (only when one is being raised)."""
    if sys.excepthook is not _excepthook:
        global _previous_hook
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if isinstance(exc, BundlingError):
        echo(f"\n{MARKER} {exc}\n")
        return
    text = str(exc)
    if MARKER in text:
        line = text[text.index(MARKER):]
        cut = line.find("\n    at ")  # drop the JavaScript stack that jsii appends after our message
        echo("\n" + (line[:cut] if cut > 0 else line).rstrip() + "\n")
        return
    _previous_hook(kind, exc, tb)


_previous_hook = sys.excepthook
