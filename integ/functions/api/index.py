"""Validates an order with pydantic and signs it with cryptography."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from pydantic import BaseModel


class Order(BaseModel):
    id: int
    item: str
    quantity: int = 1


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    order = Order.model_validate(event)
    mac = hmac.HMAC(b"demo-key", hashes.SHA256())
    mac.update(order.model_dump_json().encode())
    return {"statusCode": 200, "body": json.dumps({"order": order.model_dump(), "sig": mac.finalize().hex()})}
