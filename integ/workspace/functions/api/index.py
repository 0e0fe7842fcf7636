"""Greets with the shared package and answers in JSON made by orjson."""

from __future__ import annotations

from typing import Any

import orjson
from shared import Greeting


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    greeting = Greeting(str(event.get("name", "world")))
    return {"statusCode": 200, "body": orjson.dumps({"message": greeting.text()}).decode()}
