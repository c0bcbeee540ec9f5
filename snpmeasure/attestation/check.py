"""One verification check and its outcome (shared by authenticity and expectation checks)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass, fail, skip
    detail: str
    kind: str = "expectation"  # or "signature"

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail}
