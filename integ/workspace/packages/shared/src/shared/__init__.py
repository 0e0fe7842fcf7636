"""What both sides of the example agree on: the shape of a greeting."""

from __future__ import annotations

import attrs


@attrs.frozen
class Greeting:
    name: str

    def text(self) -> str:
        return f"hello, {self.name}"
