#!/usr/bin/env python3
"""Example app: two functions bundled without Docker for different Lambda targets."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import BundlingOptions, NativePythonFunction


class ExampleStack(cdk.Stack):
    def __init__(self, scope: cdk.App, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # arm64 / python3.13: pydantic (pydantic-core is compiled), cryptography, a darwin-only marker
        NativePythonFunction(
            self, "Api",
            entry="integ/functions/api",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
        )
        # x86_64 / python3.11 (Amazon Linux 2, glibc 2.26): numpy and orjson, boto3 listed but provided by the runtime
        NativePythonFunction(
            self, "Worker",
            entry="integ/functions/worker",
            index="worker/main.py",
            handler="handle",
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            bundling=BundlingOptions(asset_excludes=["*.md"]),
        )


app = cdk.App()
ExampleStack(app, "NativePythonExample")
app.synth()
