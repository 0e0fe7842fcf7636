"""The target model: versions, OS generation, glibc and markers come from the runtime, not the host."""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import NativePythonFunction
from cdk_native_python.core.errors import (
    ConfigurationError,
)
from cdk_native_python.core.target import Target
from tests.helpers import fails, says, write_function


@pytest.mark.parametrize(
    ("runtime", "glibc", "os_name"),
    [("python3.9", (2, 26), "Amazon Linux 2"), ("python3.11", (2, 26), "Amazon Linux 2"),
     ("python3.12", (2, 34), "Amazon Linux 2023"), ("python3.14", (2, 34), "Amazon Linux 2023")],
)
def test_os_generation_and_glibc(runtime: str, glibc: tuple[int, int], os_name: str) -> None:
    target = Target.from_runtime(runtime, "arm64")
    assert target.glibc == glibc
    assert target.os_generation == os_name
    assert target.machine == "aarch64"


def test_markers_are_evaluated_for_the_target_not_the_host() -> None:
    t = Target.from_runtime("python3.13", "arm64")
    assert t.evaluate('sys_platform == "linux" and platform_machine == "aarch64"')
    assert t.evaluate('python_version >= "3.13"')
    assert not t.evaluate('sys_platform == "darwin"')
    assert not t.evaluate('platform_machine == "x86_64"')
    # the host here is x86_64 / 3.11: had the host been used, these would flip
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert t.evaluate(f'python_version > "{host}"') == (sys.version_info[:2] < (3, 13))
    assert t.evaluate('extra == "fast"', frozenset({"fast"}))
    assert not t.evaluate('extra == "fast"')


def test_uv_platform_never_exceeds_the_runtime_glibc() -> None:
    assert Target.from_runtime("python3.12", "x86_64").uv_python_platform == "x86_64-manylinux_2_34"
    # uv has no manylinux_2_26: AL2 targets use 2_17, the newest level not above 2.26
    assert Target.from_runtime("python3.11", "arm64").uv_python_platform == "aarch64-manylinux_2_17"


@pytest.mark.parametrize("runtime", ["nodejs20.x", "python2.7", "python3.7", "java21", "python3"])
def test_non_python3_runtimes_are_rejected(runtime: str) -> None:
    with pytest.raises(ConfigurationError, match=runtime.replace(".", r"\.")):
        Target.from_runtime(runtime)


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="ARM_64"):
        Target.from_runtime("python3.12", "sparc")


def test_every_cdk_python_runtime_maps_to_a_target() -> None:
    from aws_cdk import aws_lambda as lambda_

    names = [getattr(lambda_.Runtime, n).name for n in dir(lambda_.Runtime) if n.startswith("PYTHON_3_")]
    supported = [n for n in names if int(n.split(".")[1]) >= 8]
    assert "python3.14" in supported or "python3.13" in supported
    for name in supported:
        for arch in ("x86_64", "arm64"):
            t = Target.from_runtime(name, arch)
            assert t.runtime == name and t.uv_python_platform.startswith(t.machine)


def test_03_non_python_runtime(tmp_path: Path) -> None:
    says(fails(ConfigurationError, lambda: Target.from_runtime("nodejs20.x", "arm64")), "nodejs20.x",
         hint="python3.x runtime")
    entry = write_function(tmp_path, None)
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    err = fails(ConfigurationError, lambda: NativePythonFunction(stack, "Fn", entry=str(entry),
                                                                 runtime=lambda_.Runtime.NODEJS_20_X))
    says(err, "nodejs20.x", hint="Python runtime")
