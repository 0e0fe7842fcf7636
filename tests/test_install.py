"""Installing a resolved set (``install.py``): what stripping will remove is never installed, and the tree
is the same as installing everything and stripping after."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cdk_native_python.pipeline.engine import prepare
from cdk_native_python.pipeline.install import install
from cdk_native_python.store.local import LocalStore
from tests.helpers import ARM313, index_request, write_function


def test_stripped_packages_are_never_installed_and_the_tree_is_the_same(
        tmp_path: Path, wheel_index: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver's record of who requires what lets the install skip botocore & co. altogether; the result
    must equal stripping after install (what happens for lock files, which carry no such record)."""
    import cdk_native_python.pipeline.install as install_module

    removed_after_install: list[str] = []
    real_remove = install_module.remove
    monkeypatch.setattr(install_module, "remove", lambda tree, dist, trash=None: (
        removed_after_install.append(dist.name), real_remove(tree, dist, trash))[1])
    entry = write_function(tmp_path, "usesdateutil\nboto3\nusesattrs\naws-cdk-lib\npurepkg\n")
    cache = LocalStore(tmp_path / "cache")
    plan = prepare(index_request(entry, ARM313, wheel_index), cache)
    assert plan.resolution is not None and plan.spec is not None and plan.resolution.graph is not None
    options = plan.request.install
    early, _ = install(plan.resolution, plan.spec, ARM313, cache, options)
    # nothing is installed to go: usesdateutil's python-dateutil (and six with it) ships at its resolved
    # version, and the rest leaves before the install
    assert removed_after_install == []
    assert set(early.record.stripped.removed) == {
        "boto3", "botocore", "s3transfer", "jmespath", "urllib3", "aws-cdk-lib", "constructs", "jsii",
        "typing-extensions"}
    assert {"python-dateutil", "six"} <= set(early.record.packages)
    removed_after_install.clear()
    # the same pins without the resolver's record: installed whole, stripped afterwards, same tree and reasons
    no_graph = dataclasses.replace(plan.resolution,
                                   record=dataclasses.replace(plan.resolution.record, required_by=None))
    late, _ = install(no_graph, plan.spec, ARM313, LocalStore(tmp_path / "cache-2"), options)
    assert sorted(removed_after_install) == sorted(early.record.stripped.removed)
    assert early.record.stripped == late.record.stripped and early.record.packages == late.record.packages
    files = lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))  # noqa: E731
    assert files(early.path) == files(late.path)


def test_a_reason_to_keep_is_only_recorded_for_what_ships(tmp_path: Path) -> None:
    """usesbotocore needs botocore: the resolver's graph (no specifiers) keeps botocore, and with it what it needs,
    until the installed metadata shows the runtime's copy fits; then none of them ships, and the record keeps no
    stale reason for keeping them."""
    from tests.wheelfactory import standard_index

    index = standard_index(tmp_path / "index")
    index.add_wheel("usesbotocore", "1.0", requires=("botocore>=0.1",))
    with index:
        entry = write_function(tmp_path, "usesbotocore\nboto3\n")
        cache = LocalStore(tmp_path / "cache")
        plan = prepare(index_request(entry, ARM313, index), cache)
        assert plan.resolution is not None and plan.spec is not None and plan.resolution.graph is not None
        tree, _ = install(plan.resolution, plan.spec, ARM313, cache, plan.request.install)
    assert set(tree.record.packages) == {"usesbotocore"}
    assert {"botocore", "python-dateutil", "urllib3", "six"} <= set(tree.record.stripped.removed)
    assert tree.record.stripped.kept_seeds == {}
