"""A small wheel set shaped like ``aws-lambda-powertools[tracer]`` and a CDK app's dependencies, for the
tests of warnings, ``explain`` and ``report``: every way a package ends up in a bundle, or out of it.

* ``powerlike[tracer]`` → ``xraylike`` → ``botocore``: a runtime-provided package shipped because a kept
  package pins a version older than the runtime's floor (``xraylike`` needs ``botocore==1.35.0``); of what
  ``botocore`` needs, ``jmespath`` (the boto3 family) is left to the runtime, which guarantees it, and
  ``urllib3`` ships with the botocore that needs it, at its resolved version;
* ``boto3`` → ``botocore``, ``s3transfer``, ``jmespath``: stripped (the runtime provides them);
* ``aws-cdk-lib`` → ``constructs`` → ``jsii`` → ``cattrslike``: stripped (infrastructure only), ``cattrslike``
  because only ``jsii`` needs it.
"""

from __future__ import annotations

from pathlib import Path

from tests.wheelfactory import build_wheel

SET: list[tuple[str, str, tuple[str, ...]]] = [
    ("powerlike", "3.1.0", ('xraylike; extra == "tracer"', "typing-extensions")),
    ("xraylike", "2.14.0", ("botocore==1.35.0", "wrapt")),
    ("wrapt", "1.16.0", ()),
    ("typing-extensions", "4.12.2", ()),
    ("boto3", "1.35.0", ("botocore", "jmespath", "s3transfer")),
    ("botocore", "1.35.0", ("jmespath", "urllib3")),
    ("s3transfer", "0.10.0", ("botocore",)),
    ("jmespath", "1.0.1", ()),
    ("urllib3", "2.2.0", ()),
    ("aws-cdk-lib", "2.150.0", ("constructs", "jsii")),
    ("constructs", "10.3.0", ("jsii",)),
    ("jsii", "1.100.0", ("cattrslike",)),
    ("cattrslike", "23.2.0", ()),
]

#: what a function asks for: a tracer that ships botocore, boto3 (stripped), CDK (stripped)
REQUIREMENTS = "powerlike[tracer]\nboto3\naws-cdk-lib\n"


def tracer_wheels(dest: Path) -> Path:
    """Write the set's wheels into ``dest`` (a find-links folder) and return it."""
    for name, version, requires in SET:
        build_wheel(dest, name, version, requires=requires)
    return dest


def tracer_function(root: Path, requirements: str = REQUIREMENTS) -> Path:
    """A handler folder asking for ``requirements``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "requirements.txt").write_text(requirements)
    return root


#: what bundling says about the set's botocore (``{runtime}``: the target's runtime; ``{keep}``: the option as the
#: interface spells it)
_SHIPPED = ("botocore 1.35.0 (0.0 MB), which the Lambda runtime provides, is shipped, required through "
            "powerlike[tracer] → xraylike → botocore: xraylike requires botocore==1.35.0; {runtime} only guarantees "
            "botocore >= 1.38.36, below 2; the bundled copy shadows the runtime's ({keep} says you mean it)")
SHIPPED = _SHIPPED.format(runtime="python3.12", keep="keep_boto3=True")
SHIPPED_313 = _SHIPPED.format(runtime="python3.13", keep="keep_boto3=True")
#: the same, as ``cdk-native-python build`` says it
SHIPPED_313_CLI = _SHIPPED.format(runtime="python3.13", keep="--keep-boto3")
