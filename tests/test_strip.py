"""Stripping removes only the exclusive closure of runtime-provided and infrastructure packages."""

from __future__ import annotations

from pathlib import Path

from cdk_native_python.distributions import installed
from cdk_native_python.install import strip_installed as strip
from cdk_native_python.strip import StripOptions, plan
from cdk_native_python.target import Target

ARM313 = Target.from_runtime("python3.13", "arm64")


def dist(tree: Path, name: str, requires: list[str] = ()) -> None:  # type: ignore[assignment]
    mod = name.replace("-", "_")
    info = tree / f"{mod}-1.0.dist-info"
    info.mkdir(parents=True)
    (tree / mod).mkdir()
    (tree / mod / "__init__.py").write_text("")
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(meta)
    (info / "RECORD").write_text(f"{mod}/__init__.py,,\n{mod}-1.0.dist-info/METADATA,,\n{mod}-1.0.dist-info/RECORD,,\n")


def boto_tree(tree: Path) -> None:
    dist(tree, "boto3", ["botocore", "jmespath", "s3transfer"])
    dist(tree, "botocore", ["jmespath", "python-dateutil", "urllib3"])
    dist(tree, "s3transfer", ["botocore"])
    dist(tree, "jmespath")
    dist(tree, "python-dateutil", ["six"])
    dist(tree, "six")
    dist(tree, "urllib3")


def test_exclusive_closure_of_boto3_is_removed(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    dist(tmp_path, "requests", ["urllib3", 'pysocks; extra == "socks"'])
    result = strip(tmp_path, ARM313, ["boto3", "requests"], StripOptions())
    left = set(installed(tmp_path))
    assert left == {"requests", "urllib3"}  # urllib3 is still needed by requests
    assert set(result.removed) == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
    assert result.removed["six"] == "only needed by python-dateutil"
    assert not (tmp_path / "botocore").exists() and not (tmp_path / "six").exists()
    assert (tmp_path / "urllib3" / "__init__.py").exists()


def test_a_package_the_user_asked_for_stays(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    result = plan(installed(tmp_path), ARM313, ["boto3", "python-dateutil"], StripOptions())
    assert "python-dateutil" not in result.removed and "six" not in result.removed
    assert "botocore" in result.removed


def test_a_seed_needed_by_a_kept_package_stays(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    dist(tmp_path, "aws-xray-sdk", ["botocore", "wrapt"])
    dist(tmp_path, "wrapt")
    result = plan(installed(tmp_path), ARM313, ["boto3", "aws-xray-sdk"], StripOptions())
    assert "boto3" in result.removed and "s3transfer" in result.removed
    assert "botocore" not in result.removed and result.kept_seeds["botocore"] == "aws-xray-sdk"


def test_markers_of_edges_are_evaluated_for_the_target(tmp_path: Path) -> None:
    dist(tmp_path, "jsii", ["attrs", 'colorama; sys_platform == "win32"', 'cattrs; platform_machine == "aarch64"'])
    dist(tmp_path, "attrs")
    dist(tmp_path, "cattrs")
    dist(tmp_path, "colorama")
    dist(tmp_path, "app", ['colorama; sys_platform == "linux"'])
    result = plan(installed(tmp_path), ARM313, ["jsii", "app"], StripOptions())
    # colorama: the jsii edge is false on linux, the app edge is true -> kept
    assert set(result.removed) == {"jsii", "attrs", "cattrs"}
    x86 = plan(installed(tmp_path), Target.from_runtime("python3.13", "x86_64"), ["jsii", "app"], StripOptions())
    assert "cattrs" not in x86.removed  # not reachable from jsii on x86_64, so not its to remove


def test_keep_boto3_and_custom_strip(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    dist(tmp_path, "pandas", ["numpy"])
    dist(tmp_path, "numpy")
    kept = plan(installed(tmp_path), ARM313, ["boto3", "pandas"], StripOptions(keep_boto3=True))
    assert kept.removed == {}
    custom = plan(installed(tmp_path), ARM313, ["boto3", "pandas"], StripOptions(strip=("pandas",), keep=("jmespath",)))
    assert {"pandas", "numpy", "boto3", "botocore"} <= set(custom.removed)
    assert "jmespath" not in custom.removed


def test_extras_a_kept_package_requests_keep_what_they_need(tmp_path: Path) -> None:
    """``app`` needs ``lib[http]``, whose extra needs urllib3, which botocore (stripped) needs as well: urllib3 is
    needed by something kept only through the extra, so it stays."""
    boto_tree(tmp_path)
    dist(tmp_path, "app", ["lib[http]"])
    dist(tmp_path, "lib", ['urllib3; extra == "http"', 'idna; extra == "dns"'])
    dist(tmp_path, "idna")
    result = plan(installed(tmp_path), ARM313, ["boto3", "app"], StripOptions())
    assert "urllib3" not in result.removed and "botocore" in result.removed
    # an extra nobody asks for keeps nothing: without lib[http], urllib3 is botocore's alone
    plain = tmp_path / "plain"
    boto_tree(plain)
    dist(plain, "app", ["lib"])
    dist(plain, "lib", ['urllib3; extra == "http"'])
    without_extra = plan(installed(plain), ARM313, ["boto3", "app"], StripOptions())
    assert without_extra.removed["urllib3"] == "only needed by botocore"
