#!/usr/bin/env python3
"""Example app over a uv workspace: each function's entry is its member folder; one uv.lock at the root."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from cdk_native_python import NativePythonFunction

HERE = Path(__file__).resolve().parent


class WorkspaceStack(cdk.Stack):
    def __init__(self, scope: cdk.App, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # functions/api depends on the workspace package shared (built into a wheel, installed non-editable)
        NativePythonFunction(
            self, "Api",
            entry=str(HERE / "functions" / "api"),
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
        )
        NativePythonFunction(
            self, "Worker",
            entry=str(HERE / "functions" / "worker"),
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
        )


app = cdk.App()
WorkspaceStack(app, "NativePythonWorkspace")
app.synth()
