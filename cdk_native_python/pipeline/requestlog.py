"""The bundle requests a CDK app makes, written down for ``cdk-native-python prefetch``.

``prefetch`` runs the app with bundling skipped and ``$CDK_NATIVE_PYTHON_PREFETCH_FILE`` naming the write end of
a pipe it reads (``/dev/fd/N``), so that it starts building while the app still runs. Each construct that would
have bundled appends one JSON line per target: a :class:`RequestRecord`, written with
:func:`~cdk_native_python.core.records.to_json` and read back, field by field, with :func:`parse`. Nothing is written
when the variable is unset.

What a record leaves out: command hooks (objects of the app; they run when a bundle is staged and decide
neither the resolution nor the installed tree prefetch fills) and the layers' packages a function leaves out
(known only once the layer is bundled, so such a function's own tree is installed by the synth).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass

from ..core import settings
from ..core.errors import BundlingError
from ..core.records import RecordError, dumps, loads
from ..core.target import Target
from .engine import BuildRequest

#: set by ``prefetch`` for the app it runs: where the constructs append their requests
PREFETCH_FILE_ENV = settings.PREFETCH_FILE.name


@dataclass(frozen=True)
class RequestRecord:
    """One bundle request of the app, as data, with the store its construct uses (``None``: the environment's)."""

    #: the construct's request, without its command hooks (objects of the app, see above)
    request: BuildRequest
    cache_dir: str | None = None
    remote_cache: str | None = None

    @classmethod
    def of(cls, request: BuildRequest, cache_dir: str | None, remote_cache: str | None) -> RequestRecord:
        return cls(dataclasses.replace(request, entry=request.entry.absolute(), hooks=None), cache_dir, remote_cache)

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def target(self) -> Target:
        return self.request.target

    def same_bundle(self) -> str:
        """What two records must share to be one build: everything but the construct's name."""
        return dumps(dataclasses.replace(self, request=dataclasses.replace(self.request, name="")))


def record(requests: Iterable[BuildRequest], cache_dir: str | None, remote_cache: str | None) -> None:
    """Append ``requests`` to the file ``prefetch`` asked for (nothing when the app runs for anything else)."""
    path = settings.PREFETCH_FILE.raw() or ""
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
