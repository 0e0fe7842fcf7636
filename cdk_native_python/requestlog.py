"""The bundle requests a CDK app makes, written down for ``cdk-native-python prefetch``.

``prefetch`` runs the app with bundling skipped and ``$CDK_NATIVE_PYTHON_PREFETCH_FILE`` naming the write end of
a pipe it reads (``/dev/fd/N``), so that it starts building while the app still runs. Each construct that would
have bundled appends one JSON line per target: a :class:`RequestRecord`, written with
:func:`~cdk_native_python.records.to_json` and read back, field by field, with :func:`parse`. Nothing is written
when the variable is unset.

What a record leaves out: command hooks (objects of the app; they run when a bundle is staged and decide
neither the resolution nor the installed tree prefetch fills) and the layers' packages a function leaves out
(known only once the layer is bundled, so such a function's own tree is installed by the synth).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .engine import BuildRequest
from .errors import BundlingError
from .install import InstallOptions
from .records import RecordError, dumps, loads, to_json
from .spec import IndexOptions
from .target import Target

#: set by ``prefetch`` for the app it runs: where the constructs append their requests
PREFETCH_FILE_ENV = "CDK_NATIVE_PYTHON_PREFETCH_FILE"


@dataclass(frozen=True)
class RequestRecord:
    """One bundle request of the app (a :class:`~cdk_native_python.engine.BuildRequest` as data), with the
    store its construct uses."""

    name: str
    entry: str
    target: Target
    dependency_file: str | None = None
    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    indexes: IndexOptions = field(default_factory=IndexOptions)
    allow_build: tuple[str, ...] = ()
    install: InstallOptions = field(default_factory=InstallOptions)
    excludes: tuple[str, ...] = ()
    layer: bool = False
    refresh: bool = False
    resolve_pipfile: bool = False
    output_path_suffix: str | None = None
    #: the construct's ``cache_dir`` / ``remote_cache`` (None: the environment's)
    cache_dir: str | None = None
    remote_cache: str | None = None

    @classmethod
    def of(cls, request: BuildRequest, cache_dir: str | None, remote_cache: str | None) -> RequestRecord:
        return cls(
            name=request.name, entry=str(request.entry.absolute()), target=request.target,
            dependency_file=str(request.dependency_file) if request.dependency_file is not None else None,
            groups=request.groups, extras=request.extras, indexes=request.indexes, allow_build=request.allow_build,
            install=request.install, excludes=request.excludes, layer=request.layer, refresh=request.refresh,
            resolve_pipfile=request.resolve_pipfile, output_path_suffix=request.output_path_suffix,
            cache_dir=cache_dir, remote_cache=remote_cache,
        )

    def request(self) -> BuildRequest:
        return BuildRequest(
            entry=Path(self.entry), target=self.target,
            dependency_file=Path(self.dependency_file) if self.dependency_file is not None else None,
            groups=self.groups, extras=self.extras, indexes=self.indexes, allow_build=self.allow_build,
            install=self.install, excludes=self.excludes, layer=self.layer, refresh=self.refresh,
            resolve_pipfile=self.resolve_pipfile, name=self.name, output_path_suffix=self.output_path_suffix,
        )

    def same_bundle(self) -> str:
        """What two records must share to be one build: everything but the construct's name."""
        data = to_json(self)
        del data["name"]
        return dumps(data)


def record(requests: Iterable[BuildRequest], cache_dir: str | None, remote_cache: str | None) -> None:
    """Append ``requests`` to the file ``prefetch`` asked for (nothing when the app runs for anything else)."""
    path = os.environ.get(PREFETCH_FILE_ENV, "")
    if not path:
        return
    lines = "".join(dumps(RequestRecord.of(r, cache_dir, remote_cache)).replace("\n", "") + "\n" for r in requests)
    # one append of whole lines: a reader never sees half a record, even with several apps writing
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, lines.encode())
    finally:
        os.close(fd)


class RequestFileError(BundlingError):
    """The requests file an app wrote cannot be read back (never expected: our own constructs write it)."""

    default_code = "prefetch-requests-invalid"


def parse(line: str) -> RequestRecord:
    """One line the app wrote, checked against the record's type."""
    try:
        return loads(RequestRecord, line)
    except RecordError as exc:
        raise RequestFileError(f"the app wrote a request prefetch cannot read ({exc})",
                               "use the same cdk-native-python version in the app's environment as for "
                               "`cdk-native-python prefetch`") from None
