"""Stripping: the boto3 family goes whenever the runtime's range guarantees every specifier on it; its
dependencies (python-dateutil, urllib3, six) and infrastructure packages go with their exclusive closure only."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.core import runtimes
from cdk_native_python.core.distributions import installed
from cdk_native_python.core.records import PackageRecord, StripResult, TreeRecord
from cdk_native_python.core.spec import DependencySpec
from cdk_native_python.core.target import Target
from cdk_native_python.pipeline.install import strip_installed as strip
from cdk_native_python.pipeline.strip import StripOptions, decide, decide_graph, notices, provided_by_layers
from tests.helpers import ARM313

PY311 = Target.from_runtime("python3.11", "x86_64")


def dist(tree: Path, name: str, requires: list[str] = (), version: str = "1.0") -> None:  # type: ignore[assignment]
    mod = name.replace("-", "_")
    info = tree / f"{mod}-{version}.dist-info"
    info.mkdir(parents=True)
    (tree / mod).mkdir()
    (tree / mod / "__init__.py").write_text("")
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(meta)
    (info / "RECORD").write_text(f"{mod}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def boto_tree(tree: Path, boto: str = "1.40.0") -> None:
    """boto3/botocore with the requirements their real releases declare."""
    minor = boto.rsplit(".", 1)[0]
    upper = f"{minor.split('.')[0]}.{int(minor.split('.')[1]) + 1}.0"
    dist(tree, "boto3", [f"botocore<{upper},>={boto}", "jmespath<2.0.0,>=0.7.1", "s3transfer<0.15.0,>=0.14.0"],
         boto)
    dist(tree, "botocore", ["jmespath<2.0.0,>=0.7.1", "python-dateutil<3.0.0,>=2.1",
                            'urllib3<1.27,>=1.25.4; python_version < "3.10"',
                            'urllib3!=2.2.0,<3,>=1.25.4; python_version >= "3.10"'], boto)
    dist(tree, "s3transfer", ["botocore<2.0a.0,>=1.37.4"], "0.14.0")
    dist(tree, "jmespath", [], "1.0.1")
    dist(tree, "python-dateutil", ["six>=1.5"], "2.9.0")
    dist(tree, "six", [], "1.17.0")
    dist(tree, "urllib3", [], "2.5.0")


def with_user(options: StripOptions, *requirements: str, target: Target = ARM313) -> StripOptions:
    spec = DependencySpec(Path("requirements.txt"), tuple(requirements))
    return options.for_build(target, spec)


def test_runtime_packages_go_even_when_kept_packages_need_them(tmp_path: Path) -> None:
    """aws-xray-sdk needs botocore>=1.11.3: every botocore the runtime may have satisfies it. requests needs
    urllib3: it ships at the resolved version, never swapped for the runtime's."""
    boto_tree(tmp_path)
    dist(tmp_path, "requests", ["urllib3<3,>=1.26", 'pysocks; extra == "socks"'])
    dist(tmp_path, "aws-xray-sdk", ["botocore>=1.11.3", "wrapt"])
    dist(tmp_path, "wrapt")
    options = with_user(StripOptions(), "boto3", "requests", "aws-xray-sdk")
    result = strip(tmp_path, ARM313, ["boto3", "requests", "aws-xray-sdk"], options)
    assert set(installed(tmp_path)) == {"requests", "urllib3", "aws-xray-sdk", "wrapt"}
    assert set(result.removed) == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
    assert result.removed["botocore"] == ("provided by the Lambda runtime (python3.13 guarantees "
                                          "botocore >= 1.38.36, below 2)")
    assert result.removed["six"] == "provided by the Lambda runtime (python3.13 guarantees six >= 1.5, below 2)"
    # urllib3: requests ships, so its urllib3 ships too (whatever the runtime's range)
    assert result.kept_seeds["urllib3"] == "requests needs it, and ships"
    assert not (tmp_path / "botocore").exists() and (tmp_path / "urllib3" / "__init__.py").exists()


def test_boto3_alone_leaves_with_its_whole_family(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    dist(tmp_path, "app-dep")
    result = decide(installed(tmp_path), ARM313, ["boto3", "app-dep"], with_user(StripOptions(), "boto3", "app-dep"))
    assert set(result.removed) == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
    assert result.kept_seeds == {}


def test_a_locked_urllib3_2_ships_with_requests_on_every_runtime(tmp_path: Path) -> None:
    """urllib3 2.5.0 locked for requests: on python3.9 the runtime's range is below 1.27 (another major), on
    python3.13 it holds, and either way the locked copy ships because requests does."""
    boto_tree(tmp_path)
    dist(tmp_path, "requests", ["urllib3<3,>=1.21.1"], "2.32.5")
    py39 = Target.from_runtime("python3.9", "x86_64")
    for target in (ARM313, py39):
        result = decide(installed(tmp_path), target, ["boto3", "requests"],
                        with_user(StripOptions(), "boto3", "requests", target=target))
        assert "urllib3" not in result.removed and "boto3" in result.removed, target
        assert {"python-dateutil", "six"} <= set(result.removed)


def test_a_resolved_version_outside_the_runtimes_range_is_never_swapped(tmp_path: Path) -> None:
    """opensearch-py accepts any python-dateutil and the resolver picked 4.0.0, outside the runtime's
    ``< 3``: it ships (as what a kept package needs, and even when only stripped packages need it)."""
    dist(tmp_path, "opensearch-py", ["python-dateutil", "urllib3<3,>=1.26.19", "requests<3.0.0,>=2.32.0"], "3.0.0")
    dist(tmp_path, "requests", ["urllib3<3,>=1.21.1"], "2.32.5")
    dist(tmp_path, "python-dateutil", ["six>=1.5"], "4.0.0")
    dist(tmp_path, "six", [], "1.17.0")
    dist(tmp_path, "urllib3", [], "2.5.0")
    kept = decide(installed(tmp_path), ARM313, ["opensearch-py"], with_user(StripOptions(), "opensearch-py"))
    assert kept.removed == {} and kept.kept_seeds["python-dateutil"] == "opensearch-py needs it, and ships"
    # only an infrastructure package needs it: 4.0.0 still ships, the runtime's 2.x would not be what resolved
    infra = tmp_path / "infra"
    dist(infra, "jsii", ["python-dateutil"])
    dist(infra, "python-dateutil", ["six>=1.5"], "4.0.0")
    dist(infra, "six", [], "1.17.0")
    alone = decide(installed(infra), ARM313, ["jsii"], with_user(StripOptions(), "jsii"))
    assert "jsii" in alone.removed and "python-dateutil" not in alone.removed and "six" not in alone.removed
    assert alone.kept_seeds["python-dateutil"] == ("python-dateutil 4.0.0 was resolved; python3.13 only guarantees "
                                                   "python-dateutil >= 2.1, below 3")


def test_a_specifier_at_the_floor_with_gt_ships_boto3(tmp_path: Path) -> None:
    """python3.12's floor is boto3 1.38.36: ``>1.38.36`` excludes the floor itself, so boto3 ships."""
    boto_tree(tmp_path)
    py312 = Target.from_runtime("python3.12", "x86_64")
    assert runtimes.provided("python3.12")["boto3"].floor == "1.38.36"
    at = decide(installed(tmp_path), py312, ["boto3"], with_user(StripOptions(), "boto3>1.38.36", target=py312))
    assert "boto3" not in at.removed and "boto3>1.38.36" in at.kept_seeds["boto3"]
    assert "boto3" in decide(installed(tmp_path), py312, ["boto3"],
                             with_user(StripOptions(), "boto3>=1.38.36", target=py312)).removed


def test_snapstart_hooks_are_the_runtimes_from_python312(tmp_path: Path) -> None:
    dist(tmp_path, "snapshot-restore-py", [], "1.0.0")
    dist(tmp_path, "app-dep", ["snapshot-restore-py>=1.0.0"])
    py312 = Target.from_runtime("python3.12", "x86_64")
    new = decide(installed(tmp_path), py312, ["app-dep"], with_user(StripOptions(), "app-dep", target=py312))
    assert new.removed == {"snapshot-restore-py": "provided by the Lambda runtime (python3.12 guarantees "
                                                  "snapshot-restore-py >= 1.0.0, below 2)"}
    old = decide(installed(tmp_path), PY311, ["app-dep"], with_user(StripOptions(), "app-dep", target=PY311))
    assert old.removed == {}  # python3.11 has no SnapStart
    pinned = decide(installed(tmp_path), py312, ["snapshot-restore-py"],
                    with_user(StripOptions(), "snapshot-restore-py==1.0.0", target=py312))
    assert pinned.removed == {}


def test_a_user_pin_ships_boto3_and_what_it_pins(tmp_path: Path) -> None:
    boto_tree(tmp_path, "1.35.0")
    options = with_user(StripOptions(), "boto3==1.35.0")
    result = decide(installed(tmp_path), ARM313, ["boto3"], options)
    assert "boto3" not in result.removed and "botocore" not in result.removed and "s3transfer" not in result.removed
    assert result.kept_seeds["boto3"].startswith(
        "your dependency file requires boto3==1.35.0; python3.13 only guarantees boto3 >=")
    assert result.kept_seeds["botocore"].startswith("boto3 requires botocore<1.36.0,>=1.35.0")
    # jmespath (the boto3 family): the shipped botocore's own bounds hold for every runtime copy
    assert "jmespath" in result.removed
    # the shipped botocore's own dependencies ship with it, at their resolved versions
    assert not {"python-dateutil", "six", "urllib3"} & set(result.removed)
    assert result.kept_seeds["python-dateutil"] == "botocore needs it, and ships"


@pytest.mark.parametrize(("requirement", "stripped"), [
    ("boto3", True), ("boto3>=1.34", True), ("boto3>=1.20.32,<2", True), ("boto3~=1.38", True),
    ("boto3==1.35.0", False), ("boto3>=1.40", False), ("boto3<1.45", False), ("boto3!=1.39.*", False),
    ('boto3==1.35.0; python_version < "3.12"', True),  # the marker is false on python3.13
])
def test_user_specifiers_decide_against_the_floor(tmp_path: Path, requirement: str, stripped: bool) -> None:
    boto_tree(tmp_path)
    result = decide(installed(tmp_path), ARM313, ["boto3"], with_user(StripOptions(), requirement))
    assert ("boto3" in result.removed) is stripped


def test_a_kept_package_with_an_upper_bound_ships_botocore(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    dist(tmp_path, "aiobotocore", ["botocore<1.40.37,>=1.40.0", "aiohttp"])
    dist(tmp_path, "aiohttp")
    result = decide(installed(tmp_path), ARM313, ["aiobotocore"], with_user(StripOptions(), "aiobotocore"))
    assert "botocore" not in result.removed and "boto3" in result.removed
    assert result.kept_seeds["botocore"].startswith("aiobotocore requires botocore<1.40.37,>=1.40.0")


def test_the_floor_is_the_runtimes(tmp_path: Path) -> None:
    """awswrangler needs boto3>=1.20.32: guaranteed on python3.13 (1.38.36), also on python3.11 (1.27.1)."""
    boto_tree(tmp_path)
    dist(tmp_path, "needs-new", ["botocore>=1.31"])
    new = decide(installed(tmp_path), ARM313, ["needs-new"], with_user(StripOptions(), "needs-new"))
    old = decide(installed(tmp_path), PY311, ["needs-new"], with_user(StripOptions(), "needs-new", target=PY311))
    assert "botocore" in new.removed and "botocore" not in old.removed
    assert "python3.11 only guarantees botocore >= 1.30.1" in old.kept_seeds["botocore"]


def test_keep_boto3_and_keep_and_custom_strip(tmp_path: Path) -> None:
    boto_tree(tmp_path)
    dist(tmp_path, "pandas", ["numpy"])
    dist(tmp_path, "numpy")
    kept = decide(installed(tmp_path), ARM313, ["boto3", "pandas"], StripOptions(keep_boto3=True))
    assert kept.removed == {}
    custom = decide(installed(tmp_path), ARM313, ["boto3", "pandas"],
                  StripOptions(strip=("pandas",), keep=("jmespath",)))
    assert {"pandas", "numpy", "boto3", "botocore"} <= set(custom.removed)
    assert "jmespath" not in custom.removed


def test_without_specifiers_a_needed_runtime_package_waits_for_the_metadata() -> None:
    """The resolver's graph has no specifiers: botocore needed by a kept package stays for now (the check on
    the installed metadata decides), and the record names no reason it cannot back up."""
    edges = {"boto3": {"botocore", "s3transfer", "jmespath"}, "botocore": {"jmespath"}, "s3transfer": {"botocore"},
             "jmespath": set(), "aws-xray-sdk": {"botocore"}}
    options = StripOptions().for_build(ARM313, None)
    result = decide_graph(edges, ["boto3", "aws-xray-sdk"], options)
    assert set(result.removed) == {"boto3", "s3transfer"}
    assert "botocore" not in result.kept_seeds


def test_markers_of_edges_are_evaluated_for_the_target(tmp_path: Path) -> None:
    dist(tmp_path, "jsii", ["attrs", 'colorama; sys_platform == "win32"', 'cattrs; platform_machine == "aarch64"'])
    dist(tmp_path, "attrs")
    dist(tmp_path, "cattrs")
    dist(tmp_path, "colorama")
    dist(tmp_path, "app", ['colorama; sys_platform == "linux"'])
    result = decide(installed(tmp_path), ARM313, ["jsii", "app"], StripOptions())
    # colorama: the jsii edge is false on linux, the app edge is true -> kept
    assert set(result.removed) == {"jsii", "attrs", "cattrs"}
    x86 = decide(installed(tmp_path), Target.from_runtime("python3.13", "x86_64"), ["jsii", "app"], StripOptions())
    assert "cattrs" not in x86.removed  # not reachable from jsii on x86_64, so not its to remove


def test_an_infrastructure_seed_a_kept_package_needs_stays(tmp_path: Path) -> None:
    dist(tmp_path, "aws-cdk-lib", ["constructs", "jsii"])
    dist(tmp_path, "constructs", ["jsii"])
    dist(tmp_path, "jsii", ["attrs"])
    dist(tmp_path, "attrs")
    dist(tmp_path, "uses-jsii", ["jsii"])
    result = decide(installed(tmp_path), ARM313, ["aws-cdk-lib", "uses-jsii"], StripOptions())
    assert set(result.removed) == {"aws-cdk-lib", "constructs"}
    assert result.kept_seeds == {"jsii": "uses-jsii"}


def test_notices_say_what_ships_and_why() -> None:
    record = TreeRecord("t", packages={"boto3": PackageRecord("1.35.0"), "jmespath": PackageRecord("1.0.1"),
                                       "urllib3": PackageRecord("2.5.0"), "depa": PackageRecord("1.0")},
                        stripped=StripResult({}, {"boto3": "you require boto3==1.35.0; ...", "jmespath": "x needs it",
                                                  "urllib3": "requests requires urllib3>=2", "jsii": "uses-jsii"}))
    options = StripOptions(provided=(("depa", "2.0", "S/Layer"),))
    shipped, shadow = notices(record, options)
    # one notice for the runtime's packages that ship: a warning, since boto3 is among them (tens of MB)
    assert shipped.code == "runtime-provided-shipped" and shipped.level == "warning"
    assert shipped.message.startswith("boto3 1.35.0, jmespath 1.0.1 (0.0 MB), which the Lambda runtime provides, "
                                      "are shipped")
    assert "you require boto3==1.35.0" in shipped.message  # why
    assert "urllib3" not in shipped.message and "jsii" not in shipped.message  # the quiet ones
    assert shadow.code == "layer-version-shadowed"
    assert shadow.message.startswith("shipping depa 1.0, which shadows depa 2.0 from layer S/Layer")
    (alone,) = notices(record, StripOptions(keep=("boto3",)))
    assert alone.level == "info" and alone.message.startswith("jmespath 1.0.1 (0.0 MB)")  # no heavy one: info
    assert notices(record, StripOptions(keep=("boto3", "jmespath"))) == ()


def test_a_lock_without_its_manifest_ships_what_it_pins(tmp_path: Path) -> None:
    """pylock.toml alone does not say what the user asked for: its pins stand in, so nothing is guessed."""
    boto_tree(tmp_path)
    lock = DependencySpec(Path("pylock.toml"), ("boto3==1.40.0 --hash=sha256:00", "requests==2.0"), locked=True,
                          kind="pylock.toml", roots=("boto3", "requests"))
    result = decide(installed(tmp_path), ARM313, ["boto3"], StripOptions().for_build(ARM313, lock))
    assert "boto3" not in result.removed
    # the user wrote no version: the message says the lock pinned it
    assert result.kept_seeds["boto3"].startswith("the lock pinned boto3==1.40.0; python3.13 only guarantees")
    declared = DependencySpec(Path("uv.lock"), lock.requirements, locked=True, roots=("boto3",),
                              requested=("boto3>=1.34",))
    assert "boto3" in decide(installed(tmp_path), ARM313, ["boto3"], StripOptions().for_build(ARM313, declared)).removed


def test_what_the_users_extras_require_is_kept(tmp_path: Path) -> None:
    """aws-lambda-powertools[all] needs urllib3>=2.7: a package pulled in by a root's extra is an edge too."""
    boto_tree(tmp_path)
    dist(tmp_path, "aws-lambda-powertools", ["jmespath<2.0.0,>=1.0.1", "urllib3<3.0.0,>=2.7.0; extra == 'all'",
                                             "aws-xray-sdk; extra == 'all'"])
    dist(tmp_path, "aws-xray-sdk", ["botocore>=1.11.3"])
    options = with_user(StripOptions(), "aws-lambda-powertools[all]")
    assert options.extras == (("aws-lambda-powertools", "all"),)
    result = decide(installed(tmp_path), ARM313, ["aws-lambda-powertools"], options)
    assert "urllib3" not in result.removed
    assert result.kept_seeds["urllib3"] == "aws-lambda-powertools needs it, and ships"
    assert {"boto3", "botocore", "s3transfer"} <= set(result.removed)


def test_provided_packages_are_removed_exactly(tmp_path: Path) -> None:
    dist(tmp_path, "requests", ["certifi", "idna"])
    dist(tmp_path, "certifi")
    dist(tmp_path, "idna")
    dist(tmp_path, "app", ["requests"])
    options = StripOptions(provided=(("requests", "1.0", "S/L"), ("certifi", "1.0.0", "S/L"), ("other", "3", "S/L")))
    result = strip(tmp_path, Target.from_runtime("python3.12"), ["app", "requests"], options)
    # idna is only needed by requests but stays: removal is exact, not an exclusive closure
    assert set(installed(tmp_path)) == {"app", "idna"}
    assert result.removed == {"requests": "provided by layer S/L", "certifi": "provided by layer S/L"}
    assert not (tmp_path / "requests").exists() and (tmp_path / "idna" / "__init__.py").is_file()


def test_provided_mismatch_keep_and_key(tmp_path: Path) -> None:
    dist(tmp_path, "depa")
    dist(tmp_path, "boto3")
    dists = installed(tmp_path)
    clash = StripOptions(provided=(("depa", "2.0", "S/L"),))
    assert provided_by_layers(dists, clash) == {}  # another version: the function's copy stays
    assert provided_by_layers(dists, StripOptions(provided=(("depa", "1.0", "S/L"),))) == {
        "depa": "provided by layer S/L"}
    assert provided_by_layers(dists, StripOptions(keep=("depa",), provided=(("depa", "1.0", "S/L"),))) == {}
    # a package stripped anyway (the runtime's boto3) is not a clash
    assert provided_by_layers(dists, StripOptions(provided=(("boto3", "9", "S/L"),)), ["boto3"]) == {}
    assert "provided" not in StripOptions().key()
    assert StripOptions(provided=(("depa", "2.0", "S/L"),)).key() != StripOptions().key()
