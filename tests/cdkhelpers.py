"""What a construct says as CDK annotations (the way every warning and notice of ours reaches the user)."""

from __future__ import annotations

from typing import Any

LEVELS = {"warning": "aws:cdk:warning", "info": "aws:cdk:info", "error": "aws:cdk:error"}


def said_on(construct: Any, level: str = "warning") -> list[str]:
    """The messages of ``level`` annotated on ``construct`` itself (a warning's ends with ``[ack: <id>]``)."""
    kind = LEVELS[level]
    return [str(entry.data) for entry in construct.node.metadata if entry.type == kind]
