"""Works without the shared package."""

from __future__ import annotations

from typing import Any

import six


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {"statusCode": 200, "body": six.ensure_str(b"done")}
