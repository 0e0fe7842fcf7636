"""What each Lambda runtime provides (``runtimes.py``): a specifier is guaranteed only when the runtime's
whole interval satisfies it."""

from __future__ import annotations

from cdk_native_python.core import (
    runtimes,
)


def test_guaranteed_checks_the_whole_interval() -> None:
    bounds = runtimes.provided("python3.12")["botocore"]
    assert runtimes.guaranteed(bounds, "") and runtimes.guaranteed(bounds, ">=1.11.3")
    assert runtimes.guaranteed(bounds, "<2,>=1.23.32") and runtimes.guaranteed(bounds, "!=1.2.*,!=1.20.0")
    assert not runtimes.guaranteed(bounds, "<1.45") and not runtimes.guaranteed(bounds, "==1.38.36")
    assert not runtimes.guaranteed(bounds, "!=1.40.*") and not runtimes.guaranteed(bounds, "not a specifier")
    s3 = runtimes.provided("python3.12")["s3transfer"]
    assert not runtimes.guaranteed(s3, "<1.0,>=0.10")  # no ceiling promised for s3transfer
    assert runtimes.provided("python3.9")["urllib3"].ceiling == "1.27"
    assert set(runtimes.FLOORS) == {f"python3.{m}" for m in range(8, 15)}
