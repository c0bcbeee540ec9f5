"""One verification check and its outcome (shared by authenticity and expectation checks).

A check passes or fails; a *note* records something optional that was not done (a CRL that
was not given without ``--require-crl``) and never counts as a pass. The verdict
(``verify.VerifyResult``) requires the authenticity checks it names to be present and passed.
"""
from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, NOTE = "pass", "fail", "note"
AUTHENTICITY, EXPECTATION = "authenticity", "expectation"


@dataclass(frozen=True)
class Check:
    name: str          # snake_case, stable: what JSON consumers key on
    status: str        # pass, fail or note
    detail: str        # for people; may hold values taken from inputs (escape before printing)
    kind: str = EXPECTATION
    reason: str | None = None  # machine-readable cause of a failure (snake_case)

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "kind": self.kind,
                "reason": self.reason, "detail": self.detail}


def passed(name: str, detail: str, kind: str = EXPECTATION) -> Check:
    return Check(name, PASS, detail, kind)


def failed(name: str, reason: str, detail: str, kind: str = EXPECTATION) -> Check:
    return Check(name, FAIL, detail, kind, reason)
