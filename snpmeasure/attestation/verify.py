"""Verifying an attestation report: authenticity, then expectations, then the verdict.

    >>> from snpmeasure.formats.report import load_report
    >>> from snpmeasure.attestation.verify import Expectations, load_collateral, verify_report
    >>> report = load_report("report.bin")                                   # doctest: +SKIP
    >>> collateral = load_collateral(vcek="vcek.der")                        # doctest: +SKIP
    >>> result = verify_report(report, collateral,
    ...                        Expectations(measurements=(digest,)))         # doctest: +SKIP
    >>> result.status                                                         # doctest: +SKIP
    'verified'

The verdict is ``verified`` only when every authenticity check named in
``authenticity.REQUIRED`` is present and passed, no check failed, and every expectation passed;
``not-authenticated`` when the report is not authenticated (whatever the expectations say);
``mismatch`` when it is authentic but an expectation failed.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..formats.cert_table import load_host_certificates
from ..formats.certificates import load_certificates, load_crl, parse_crl
from ..formats.report import AttestationReport
from ..limits import MAX_TRUST_ROOTS
from .authenticity import Authentication, Collateral, authenticate
from .check import AUTHENTICITY, FAIL
from .expectations import Expectations, expectation_checks

VERIFIED, MISMATCH, NOT_AUTHENTICATED = "verified", "mismatch", "not-authenticated"

# The keys of a manifest entry (docs/manifest.schema.json, measurements[]): all that JSON
# outputs echo of an entry (matched here, signed by publish.idblocks), whatever else a
# hand-written manifest's entry carries.
MANIFEST_ENTRY_KEYS = ("mode", "vcpus", "vcpu_type", "vcpu_sig", "vmm_type", "guest_features",
                       "legacy_vm_type", "measurement")

__all__ = ["Collateral", "Expectations", "VerifyResult", "load_collateral", "verify_report"]


def manifest_entry_json(entry: dict) -> dict:
    """A manifest entry as JSON outputs echo it: the keys of MANIFEST_ENTRY_KEYS it has."""
    return {key: entry[key] for key in MANIFEST_ENTRY_KEYS if key in entry}


@dataclass
class VerifyResult:
    report: AttestationReport
    authentication: Authentication
    checks: list = field(default_factory=list)
    matched_manifest_entries: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.authentication.authentic or any(
                c.kind == AUTHENTICITY and c.status == FAIL for c in self.checks):
            return NOT_AUTHENTICATED
        if any(c.status == FAIL for c in self.checks):
            return MISMATCH
        return VERIFIED

    @property
    def product(self) -> str | None:
        return self.authentication.product

    def to_json(self) -> dict:
        """docs/schemas/report-verify.schema.json"""
        anchor = self.authentication.anchor
        return {"result": self.status, "measurement": self.report.measurement.hex(),
                "report_version": self.report.version,
                "signing_key": self.report.signing_key,
                "product": self.product,
                "trust_root": None if anchor is None else {
                    "source": anchor.source, "sha256": anchor.fingerprint},
                "checks": [c.to_json() for c in self.checks],
                "matched_manifest_entries": [manifest_entry_json(entry)
                                             for entry in self.matched_manifest_entries]}


def verify_report(report: AttestationReport, collateral: Collateral,
                  expectations: Expectations = Expectations()) -> VerifyResult:
    """Authenticate ``report`` with ``collateral`` and check ``expectations``."""
    authentication = authenticate(report, collateral)
    result = VerifyResult(report, authentication, list(authentication.checks))
    expectation_checks(result, expectations, authentication.product or report.product)
    return result


def parse_time(text: str, flag: str = "--at") -> datetime.datetime:
    """An ISO 8601 date or date and time; UTC unless it names an offset."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not an ISO 8601 time such as "
                          "2026-11-27T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def load_collateral(*, vcek: str | os.PathLike | None = None, ca=(), certs=(), cache=(),
                    trust_roots=(), crls=(), require_crl: bool = False,
                    at: datetime.datetime | None = None, product: str | None = None,
                    allow_masked_chip_id: bool = False) -> Collateral:
    """Read every certificate and CRL a verification may use. ``ca`` are PEM bundles,
    ``certs`` certificate tables or snpguest directories (``--certs``), ``cache`` the
    ``(certificates, crls)`` a KDS cache lookup found, ``trust_roots`` root certificates."""
    ca, certs, trust_roots, crls = (tuple(x) if isinstance(x, (list, tuple)) else (x,)
                                    for x in (ca, certs, trust_roots, crls))
    if len(trust_roots) + len(crls) > MAX_TRUST_ROOTS:
        raise ConfigError(f"more than {MAX_TRUST_ROOTS} --trust-root and --crl files")
    endorsement = tuple((cert, f"--vcek {vcek}") for cert in load_certificates(vcek)) \
        if vcek else ()
    offered = list(endorsement)  # a --vcek bundle may carry the chain too
    for path in ca:
        offered += [(cert, f"--ca {path}") for cert in load_certificates(path)]
    parsed_crls = [(load_crl(path), f"--crl {path}") for path in crls]
    for path in certs:
        host = load_host_certificates(path)
        offered += [(cert, f"--certs {path}") for cert in host.certificates]
        parsed_crls += [(parse_crl(raw, f"{path} (CRL)"), f"--certs {path}")
                        for raw in host.crls]
    for found_certs, found_crls, source in cache:
        offered += [(cert, source) for cert in found_certs]
        parsed_crls += [(crl, source, True) for crl in found_crls]  # stale: as if not given
    roots = []
    for path in trust_roots:
        loaded = load_certificates(path)
        if len(loaded) != 1:
            raise ConfigError(f"--trust-root {path} holds {len(loaded)} certificates; give one "
                              "root per --trust-root")
        roots.append((loaded[0], f"--trust-root {path}"))
    return Collateral(endorsement=endorsement, certificates=tuple(offered),
                      trust_roots=tuple(roots), crls=tuple(parsed_crls),
                      require_crl=require_crl,
                      at=at or datetime.datetime.now(datetime.timezone.utc),
                      product=product, allow_masked_chip_id=allow_masked_chip_id,
                      searched=tuple(f"--ca {path}" for path in ca)
                      + tuple(f"--certs {path}" for path in certs)
                      + tuple(source for _, _, source in cache))


def authenticity_failed(result: VerifyResult) -> list:
    """The failed authenticity checks (for messages)."""
    return [c for c in result.checks if c.kind == AUTHENTICITY and c.status == FAIL]
