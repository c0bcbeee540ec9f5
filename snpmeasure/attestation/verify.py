"""Verifying an attestation report: authenticity, then expectations, then the verdict.

    >>> from snpmeasure.formats.report import load_report
    >>> from snpmeasure.attestation.verify import Expectations, verify_report
    >>> report = load_report("report.bin")                                   # doctest: +SKIP
    >>> result = verify_report(report, vcek="vcek.der", ca="ark_ask.pem",
    ...                        expectations=Expectations(measurements=(digest,)))  # doctest: +SKIP
    >>> result.status                                                         # doctest: +SKIP
    'verified'
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..formats.certificates import certificate_product, load_bundle, load_certificate
from ..formats.report import AttestationReport
from .authenticity import certificate_binding, verify_chain, verify_signature
from .check import Check
from .expectations import Expectations, expectation_checks


@dataclass
class VerifyResult:
    report: AttestationReport
    checks: list = field(default_factory=list)
    matched_manifest_entries: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(c.status == "fail" and c.kind == "signature" for c in self.checks):
            return "signature-invalid"
        if any(c.status == "fail" for c in self.checks):
            return "mismatch"
        return "verified"

    def to_json(self) -> dict:
        return {"result": self.status, "measurement": self.report.measurement.hex(),
                "checks": [c.to_json() for c in self.checks],
                "matched_manifest_entries": self.matched_manifest_entries}


def verify_report(report: AttestationReport, vcek: str | os.PathLike | None = None,
                  ca: str | os.PathLike | None = None,
                  expectations: Expectations = Expectations(),
                  product: str | None = None) -> VerifyResult:
    result = VerifyResult(report)
    checks = result.checks
    cert = None
    if vcek is not None:
        cert = load_certificate(vcek)
        product = product or certificate_product(cert)
        checks.append(verify_signature(report, cert))
        checks.extend(certificate_binding(report, cert, product or report.product))
        if ca is not None:
            checks.extend(verify_chain(cert, load_bundle(ca)))
        else:
            checks.append(Check("certificate chain", "skip", "no --ca given", "signature"))
    else:
        if ca is not None:
            raise ConfigError("--ca needs --vcek")
        checks.append(Check("signature", "skip", "no --vcek given: the report is not "
                            "authenticated", "signature"))
    expectation_checks(result, expectations, product)
    return result
