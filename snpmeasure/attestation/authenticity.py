"""Authenticity of an attestation report: its signature, the certificate that carries the
signing key, and that certificate's chain to the ARK."""
from __future__ import annotations

from ..abi import report as L
from ..formats.certificates import HWID_OID, VCEK_TCB_OIDS, der_integer, extension_value
from ..formats.report import AttestationReport
from .check import Check


def verify_signature(report: AttestationReport, cert) -> Check:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        key = cert.public_key()
    except Exception:  # UnsupportedAlgorithm: an unknown key type in the certificate
        return Check("signature", "fail", "the certificate's key type is not supported",
                     "signature")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        return Check("signature", "fail", "the VCEK/VLEK key is not ECDSA P-384", "signature")
    if report.fields["signature_algo"] != 1:
        return Check("signature", "fail", f"signature algorithm {report.fields['signature_algo']}"
                     " is not ECDSA P-384 with SHA-384 (1)", "signature")
    r = int.from_bytes(report.fields["signature_r"], "little")
    s = int.from_bytes(report.fields["signature_s"], "little")
    try:
        key.verify(encode_dss_signature(r, s), report.raw[:L.SIGNED_SIZE],
                   ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, ValueError):
        return Check("signature", "fail", f"the report is not signed by the "
                     f"{report.signing_key} key in the certificate", "signature")
    return Check("signature", "pass", f"signed by the {report.signing_key} (ECDSA P-384, "
                 "SHA-384)", "signature")


def verify_chain(cert, bundle: list) -> list[Check]:
    roots = [c for c in bundle if c.issuer == c.subject]
    if len(roots) != 1 or len(bundle) != 2:
        return [Check("certificate chain", "fail", "the CA bundle must hold the ASK (or ASVK) and "
                      "the self-signed ARK", "signature")]
    ark = roots[0]
    ask = next(c for c in bundle if c is not ark)
    steps = ((ark, ark, "ARK self-signature"), (ask, ark, "ASK signed by ARK"),
             (cert, ask, "VCEK signed by ASK"))
    for child, parent, what in steps:
        try:
            child.verify_directly_issued_by(parent)
        except Exception as exc:  # InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm
            return [Check("certificate chain", "fail", f"{what}: does not verify "
                          f"({type(exc).__name__})", "signature")]
    return [Check("certificate chain", "pass", f"VCEK <- {_common_name(ask)} <- {_common_name(ark)}"
                  " (self-signed; RSA-PSS)", "signature")]


def _common_name(cert) -> str:
    try:
        return cert.subject.rfc4514_string().split(",")[0]
    except Exception:  # a malformed name: the chain verified, the name is only for people
        return "?"


def certificate_binding(report: AttestationReport, cert, product: str) -> list[Check]:
    checks = []
    tcb = report.tcb(report.fields["reported_tcb"], product)
    wrong = []
    for name, oid in VCEK_TCB_OIDS.items():
        value = der_integer(extension_value(cert, oid))
        if value is not None and name in tcb and tcb[name] != value:
            wrong.append(f"{name} {tcb[name]} (report) vs {value} (certificate)")
    checks.append(Check("certificate TCB", "fail" if wrong else "pass",
                        "; ".join(wrong) or "the certificate's TCB equals the reported TCB",
                        "signature"))
    hwid = extension_value(cert, HWID_OID)
    if hwid is not None and report.signing_key == "VCEK":
        chip = report.fields["chip_id"]
        same = chip[:len(hwid)] == bytes(hwid) and not any(chip[len(hwid):])
        checks.append(Check("chip id", "pass" if same else "fail",
                            "the certificate's hwID equals the report's CHIP_ID" if same
                            else "the certificate was issued for another chip", "signature"))
    return checks
