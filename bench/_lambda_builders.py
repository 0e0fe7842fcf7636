"""AWS SAM's aws-lambda-builders python_pip workflow (no Docker), as `sam build` runs it."""

import sys

from aws_lambda_builders.builder import LambdaBuilder

source, artifacts, scratch, manifest, runtime, arch = sys.argv[1:7]
builder = LambdaBuilder(language="python", dependency_manager="pip", application_framework=None)
builder.build(source, artifacts, scratch, manifest, runtime=runtime, architecture=arch)
