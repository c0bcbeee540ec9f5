"""Authenticity of an attestation report: who signed it, and does that key chain to AMD.

Every link is checked, and anything that cannot be checked fails (docs/verify.md, "When is a
report verified"):

1. the report says it is signed (SIGNING_KEY VCEK or VLEK, not none) with ECDSA P-384/SHA-384;
2. the product line is known (the report's CPUID fields, version 3+; for version 2 the
   endorsement certificate's productName1 or ``--product``), since roots are per product;
3. an endorsement certificate of the kind the report names (a VCEK for VCEK, a VLEK for VLEK)
   verifies the signature over bytes 0x000-0x29F;
4. that certificate: EC P-384 key, RSASSA-PSS/SHA-384 signature, subject SEV-VCEK or SEV-VLEK,
   issuer SEV-<product> or SEV-VLEK-<product>, valid at the verification time, productName1 of
   the product, TCB extensions present and equal to REPORTED_TCB, and for a VCEK the hwID equal
   to CHIP_ID (the first 8 bytes on Turin, the rest zero);
5. the chain: the endorsement certificate is signed by an ASK (VCEK) or ASVK (VLEK) of the
   product, which is signed by a trusted ARK (byte-equal to the pinned AMD root of the product
   or to a ``--trust-root``); every certificate valid at the time, RSA with RSASSA-PSS/SHA-384,
   the intermediates and the ARK CA certificates, the ARK self-signed;
6. revocation, with CRLs: issued and signed by that ARK, current at the verification time, and
   listing neither the intermediate nor (for an entry naming its issuer) the endorsement
   certificate. Without a CRL this is a note, or a failure with ``require_crl``.

Sources: AMD 57230 (VCEK certificates and KDS), google/go-sev-guest ``verify`` and ``validate``
(commit af1c107), the real certificates in tests/data/reports.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from ..abi import report as L
from ..abi.products import HWID_SIZES, PRODUCTS, TURIN, UNKNOWN, canonical_product, \
    tcb_components
from ..formats.certificates import (ARK, VCEK, VLEK, amd_extensions, common_name,
                                    der_bytes, role)
from ..formats.report import AttestationReport
from .check import AUTHENTICITY, NOTE, Check, failed, passed
from .trust import INTERMEDIATE_ROLE, TrustAnchor, pinned_anchors, pinned_intermediates

RSASSA_PSS_OID = "1.2.840.113549.1.1.10"

# The checks that must all be present and pass for a report to be authentic (and chip_id for
# a VCEK); revocation must be present and pass, or be a note when no CRL was required.
REQUIRED = ("signing_key", "signature_algorithm", "product", "endorsement_certificate",
            "signature", "certificate_names", "certificate_validity", "certificate_extensions",
            "certificate_tcb", "certificate_chain")


@dataclass(frozen=True)
class Collateral:
    """What a verifier offers to authenticate a report. Certificates and CRLs are untrusted
    until they chain to a trust anchor; only ``trust_roots`` (explicit) and the pinned AMD
    roots are anchors."""

    endorsement: tuple = ()       # (cert, source) given as the VCEK/VLEK (--vcek)
    certificates: tuple = ()      # (cert, source) of any role: --ca, --certs, --cache
    trust_roots: tuple = ()       # (cert, source): --trust-root
    crls: tuple = ()              # (crl, source) or (crl, source, optional): a stale optional
                                  # CRL (the cache's) counts as none given, not as a failure
    require_crl: bool = False
    at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(
        datetime.timezone.utc))
    product: str | None = None    # --product
    allow_masked_chip_id: bool = False
    searched: tuple = ()          # where certificates were looked for ("--certs FILE", ...)


@dataclass
class Authentication:
    """The authenticity checks of one report and what they established."""

    checks: list = field(default_factory=list)
    product: str | None = None
    endorsement: object = None
    chain: tuple = ()             # (endorsement, intermediate, anchor cert) when verified
    anchor: TrustAnchor | None = None

    @property
    def authentic(self) -> bool:
        by_name: dict = {}
        for check in self.checks:
            by_name.setdefault(check.name, set()).add(check.status)
        required = REQUIRED + (("chip_id",) if role(self.endorsement)[0] == VCEK else ()) \
            if self.endorsement is not None else REQUIRED
        return (not any(c.status == "fail" for c in self.checks)
                and all(by_name.get(name) == {"pass"} for name in required)
                and by_name.get("revocation") in ({"pass"}, {NOTE}))

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check


def _ok(name: str, detail: str) -> Check:
    return passed(name, detail, AUTHENTICITY)


def _bad(name: str, reason: str, detail: str) -> Check:
    return failed(name, reason, detail, AUTHENTICITY)


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def authenticate(report: AttestationReport, collateral: Collateral) -> Authentication:
    """Check the report's signature and its chain to a trusted AMD root."""
    result = Authentication()
    kind = report.signing_key
    if kind not in (VCEK, VLEK):
        result.add(_bad("signing_key", "unsigned_report", "KEY_INFO says the report is not "
                        "signed (SIGNING_KEY none); it cannot be authenticated"))
        return result
    result.add(_ok("signing_key", f"the report is signed by a {kind}"))
    algo = report.fields["signature_algo"]
    if algo != L.SIGNATURE_ALGO_ECDSA_P384_SHA384:
        result.add(_bad("signature_algorithm", "unknown_signature_algorithm",
                        f"SIGNATURE_ALGO {algo} is not ECDSA P-384 with SHA-384 (1)"))
        return result
    result.add(_ok("signature_algorithm", "ECDSA P-384 with SHA-384"))

    candidates = _endorsement_candidates(report, kind, collateral, result)
    if candidates is None:
        return result
    product = _product(report, collateral, candidates, result)
    if product is None:
        return result
    result.product = product
    signer = None
    for cert, source in candidates:
        if _signs(cert, report):
            signer = (cert, source)
            break
    if signer is None:
        names = ", ".join(source for _, source in candidates)
        hints = "; ".join(dict.fromkeys(
            hint for cert, _ in candidates for hint in [_mismatch_hint(report, cert, kind,
                                                                       product)] if hint))
        result.add(_bad("signature", "signature_invalid", f"the report's signature does not "
                        f"verify with the {kind} from {names}"
                        + (f": {hints}" if hints else ": the report or the certificate was "
                           "altered, or the certificate is for another key")))
        return result
    cert, source = signer
    result.endorsement = cert
    result.add(_ok("signature", f"verifies with the {kind} from {source}"))
    _endorsement_checks(report, cert, kind, product, collateral, result)
    _chain(cert, kind, product, collateral, result)
    return result


def _mismatch_hint(report: AttestationReport, cert, kind: str, product: str) -> str | None:
    """Why ``cert`` is likely not the key that signed ``report`` (only said when its signature
    failed): a VCEK names its chip (hwID) and TCB, and both must be the report's."""
    ext = amd_extensions(cert)
    if ext.malformed:
        return None
    if ext.product is not None and ext.product != product:
        return f"the {kind} was issued for {ext.product_name}, the report is from {product}"
    if kind == VCEK and ext.hwid is not None:
        chip = report.fields["chip_id"]
        if any(chip) and chip[:len(ext.hwid)] != ext.hwid:
            return (f"the VCEK was issued for another chip (hwID {ext.hwid.hex()[:16]}..., "
                    f"the report's CHIP_ID {chip.hex()[:16]}...)")
    if kind == VCEK and ext.product in PRODUCTS:
        try:
            wanted = tcb_components(report.fields["reported_tcb"], ext.product)
        except KeyError:
            return None
        wrong = [f"{name} {ext.tcb[name]} vs {wanted[name]}" for name in wanted
                 if name in ext.tcb and ext.tcb[name] != wanted[name]]
        if wrong:
            return (f"the VCEK is for another TCB ({', '.join(wrong)} in the report's "
                    "REPORTED_TCB): get the VCEK of the report's TCB ('snpmeasure kds url')")
    return None


def _endorsement_candidates(report, kind, collateral, result):
    """The offered certificates of the kind the report names; None after a failure."""
    wrong = []
    found = []
    for cert, source in collateral.endorsement:
        cert_role, _ = role(cert)
        if cert_role == kind:
            found.append((cert, source))
        else:
            wrong.append(f"{source} holds {common_name(cert.subject) or 'a certificate'}")
    seen = {der_bytes(cert) for cert, _ in found}
    for cert, source in collateral.certificates:
        if role(cert)[0] == kind and der_bytes(cert) not in seen:
            seen.add(der_bytes(cert))
            found.append((cert, source))
    if not found:
        if wrong:
            result.add(_bad("endorsement_certificate", "wrong_key_kind",
                            f"the report is signed by a {kind} but " + "; ".join(wrong)
                            + f" (the subject of a {kind} is SEV-{kind})"))
        else:
            where = (f"none of {', '.join(collateral.searched)} holds a {kind}"
                     if collateral.searched else f"no {kind} certificate was given")
            result.add(_bad("endorsement_certificate", "missing_endorsement",
                            f"{where}: use --vcek, --certs (the host's certificate table) or "
                            "--cache (snpmeasure kds fetch)"))
        return None
    result.add(_ok("endorsement_certificate", f"{len(found)} {kind} "
                   f"{'certificate' if len(found) == 1 else 'certificates'} offered"))
    return found


def _product(report, collateral, candidates, result) -> str | None:
    given = canonical_product(collateral.product) if collateral.product else None
    if collateral.product and given is None:
        result.add(_bad("product", "unknown_product",
                        f"--product {collateral.product!r} is not one of {', '.join(PRODUCTS)}"))
        return None
    from_report = report.product
    if report.version >= 3:
        if from_report == UNKNOWN:
            if given is None:
                result.add(_bad("product", "unknown_product",
                                f"the report's CPUID ({report.cpuid}) is no known SEV-SNP "
                                "product line (Milan, Genoa, Turin); give --product to name it"))
                return None
            result.add(_ok("product", f"{given} (--product; the report's CPUID "
                                      f"{report.cpuid} is not in the known table)"))
            return given
        if given is not None and given != from_report:
            result.add(_bad("product", "product_mismatch",
                            f"the report's CPUID ({report.cpuid}) says {from_report}, "
                            f"--product says {given}"))
            return None
        result.add(_ok("product", f"{from_report} (the report's CPUID: {report.cpuid})"))
        return from_report
    named = {amd_extensions(cert).product for cert, _ in candidates} - {None}
    if given is not None:
        if named and given not in named:
            result.add(_bad("product", "product_mismatch",
                            f"--product {given} but the certificate names "
                            f"{', '.join(sorted(named))}"))
            return None
        result.add(_ok("product", f"{given} (--product; version 2 reports carry no CPUID)"))
        return given
    known = sorted(named & set(PRODUCTS))
    if len(known) == 1 and len(named) == 1:
        result.add(_ok("product", f"{known[0]} (the certificate's productName1; version 2 "
                                  "reports carry no CPUID)"))
        return known[0]
    result.add(_bad("product", "unknown_product",
                    "a version 2 report carries no CPUID and the certificate names no single "
                    "known product; give --product Milan, Genoa or Turin"))
    return None


def _signs(cert, report: AttestationReport) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        return False
    r = int.from_bytes(report.fields["signature_r"], "little")
    s = int.from_bytes(report.fields["signature_s"], "little")
    try:
        key.verify(encode_dss_signature(r, s), report.raw[:L.SIGNED_SIZE],
                   ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _signature_algorithm_problem(cert) -> str | None:
    """Why ``cert`` is not signed with RSASSA-PSS and SHA-384 (AMD's only algorithm)."""
    from cryptography.hazmat.primitives import hashes

    if cert.signature_algorithm_oid.dotted_string != RSASSA_PSS_OID:
        return f"signed with {cert.signature_algorithm_oid.dotted_string}, not RSASSA-PSS"
    if not isinstance(cert.signature_hash_algorithm, hashes.SHA384):
        return "an RSASSA-PSS signature without SHA-384"
    return None


def _validity_problem(cert, at: datetime.datetime) -> str | None:
    if at < cert.not_valid_before_utc:
        return (f"not yet valid (valid from {_when(cert.not_valid_before_utc)}; checked at "
                f"{_when(at)})")
    if at > cert.not_valid_after_utc:
        return (f"no longer valid (expired on {_when(cert.not_valid_after_utc)}; checked at "
                f"{_when(at)})")
    return None


def _endorsement_checks(report, cert, kind, product, collateral, result) -> None:
    """Names, algorithm, validity and AMD extensions of the VCEK or VLEK."""
    issuer = f"SEV-{product}" if kind == VCEK else f"SEV-VLEK-{product}"
    problems = []
    if common_name(cert.issuer) != issuer:
        problems.append(f"its issuer is {common_name(cert.issuer) or 'unnamed'}, not {issuer}")
    algorithm = _signature_algorithm_problem(cert)
    if algorithm:
        problems.append(algorithm)
    result.add(_bad("certificate_names", "wrong_issuer", "; ".join(problems)) if problems
               else _ok("certificate_names", f"SEV-{kind} issued by {issuer} (RSASSA-PSS, "
                                             "SHA-384)"))
    validity = _validity_problem(cert, collateral.at)
    result.add(_bad("certificate_validity", "certificate_not_valid", f"the {kind} is "
                    f"{validity}") if validity
               else _ok("certificate_validity", f"the {kind} is valid at {_when(collateral.at)} "
                                                f"(until {_when(cert.not_valid_after_utc)})"))
    ext = amd_extensions(cert)
    if ext.malformed:
        result.add(_bad("certificate_extensions", "malformed_extension",
                        f"malformed AMD extension(s): {', '.join(ext.malformed)}"))
        return
    if ext.product is None:
        result.add(_bad("certificate_extensions", "missing_extension",
                        f"the {kind} has no productName1 extension"))
    elif ext.product != product:
        result.add(_bad("certificate_extensions", "product_mismatch",
                        f"the {kind} was issued for {ext.product_name}, not {product}"))
    else:
        result.add(_ok("certificate_extensions", f"productName1 {ext.product_name}"))
    wanted = tcb_components(report.fields["reported_tcb"], product)
    missing = [name for name in wanted if name not in ext.tcb]
    if missing:
        result.add(_bad("certificate_tcb", "missing_extension",
                        f"the {kind} lacks TCB extension(s): {', '.join(missing)}"))
    elif product != TURIN and "fmc" in ext.tcb:
        result.add(_bad("certificate_tcb", "unexpected_extension", f"the {kind} has an fmcSPL "
                        f"extension, which only Turin certificates carry"))
    else:
        wrong = [f"{name} {wanted[name]} (report) vs {ext.tcb[name]} (certificate)"
                 for name in wanted if ext.tcb[name] != wanted[name]]
        result.add(_bad("certificate_tcb", "tcb_mismatch", "; ".join(wrong)) if wrong
                   else _ok("certificate_tcb", "the certificate's TCB equals REPORTED_TCB ("
                            + ", ".join(f"{k}={v}" for k, v in wanted.items()) + ")"))
    if kind == VCEK:
        _chip_id(report, ext, product, collateral, result)
    elif ext.hwid is not None:
        result.add(_bad("chip_id", "wrong_key_kind", "the VLEK carries a hwID extension, which "
                        "only VCEKs have"))


def _chip_id(report, ext, product, collateral, result) -> None:
    chip = report.fields["chip_id"]
    size = HWID_SIZES[product]
    if ext.hwid is None:
        result.add(_bad("chip_id", "missing_extension", "the VCEK has no hwID extension"))
    elif len(ext.hwid) != size:
        result.add(_bad("chip_id", "malformed_extension", f"the VCEK's hwID is {len(ext.hwid)} "
                        f"bytes; {product} VCEKs carry {size}"))
    elif not any(chip):
        if collateral.allow_masked_chip_id:
            result.add(_ok("chip_id", "CHIP_ID is masked (all zero); accepted by "
                                      "--allow-masked-chip-id, the signature binds the report "
                                      "to the VCEK's key"))
        else:
            result.add(_bad("chip_id", "masked_chip_id", "CHIP_ID is all zero (MASK_CHIP_ID), "
                            "so the VCEK's hwID cannot be compared; --allow-masked-chip-id "
                            "accepts that"))
    elif chip[:size] == ext.hwid and not any(chip[size:]):
        result.add(_ok("chip_id", "the VCEK's hwID equals CHIP_ID" + (
            " (CHIP_ID is not masked: --allow-masked-chip-id did not apply)"
            if collateral.allow_masked_chip_id else "")))
    else:
        result.add(_bad("chip_id", "chip_id_mismatch", "the VCEK was issued for another chip "
                        "(its hwID differs from CHIP_ID)"))


def _issued_by(child, parent) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except Exception:  # InvalidSignature, ValueError (names), TypeError, UnsupportedAlgorithm
        return False
    return True


def _ca_problem(cert, at) -> str | None:
    """Why ``cert`` cannot be an AMD CA certificate (ASK, ASVK or ARK) at ``at``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        return "its key is not RSA"
    problem = _signature_algorithm_problem(cert) or _validity_problem(cert, at)
    if problem:
        return problem
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "it has no basic constraints (not a CA certificate)"
    if not constraints.ca:
        return "it is not a CA certificate"
    return None


def anchors_for(product: str, collateral: Collateral) -> list[TrustAnchor]:
    """The trusted ARKs for ``product``: the pinned one and any ``--trust-root`` named ARK-<P>."""
    anchors = pinned_anchors(product)
    for cert, source in collateral.trust_roots:
        if role(cert) == (ARK, product):
            anchors.append(TrustAnchor(cert, source))
    return anchors


def _chain(cert, kind, product, collateral, result) -> None:
    chain = "vcek" if kind == VCEK else "vlek"
    wanted_role = INTERMEDIATE_ROLE[chain]
    anchors = anchors_for(product, collateral)
    if not anchors:
        result.add(_bad("certificate_chain", "no_trust_root",
                        f"no trusted ARK-{product}: none is pinned and no --trust-root names one"))
        return
    intermediates = [(c, "pinned AMD certificate") for c in pinned_intermediates(product, chain)]
    intermediates += [(c, source) for c, source in collateral.certificates
                      if role(c) == (wanted_role, product)]
    ignored = [f"{source} is not named ARK-{product} and was not used"
               for c, source in collateral.trust_roots if role(c) != (ARK, product)]
    anchor_ders = {der_bytes(a.cert) for a in anchors}
    for c, source in collateral.certificates:
        if role(c)[0] == ARK and der_bytes(c) not in anchor_ders:
            ignored.append(f"{common_name(c.subject)} from {source} is not a trusted root and "
                           "was ignored")
    problems = []
    for anchor in anchors:
        trouble = _ca_problem(anchor.cert, collateral.at)
        if trouble is None and not _issued_by(anchor.cert, anchor.cert):
            trouble = "it is not self-signed"
        if trouble:
            problems.append(f"the trusted ARK ({anchor.describe()}): {trouble}")
            continue
        for intermediate, source in intermediates:
            if intermediate.subject != cert.issuer or not _issued_by(cert, intermediate):
                continue
            label = f"{common_name(intermediate.subject)} from {source}"
            trouble = _ca_problem(intermediate, collateral.at)
            if trouble is None and not _issued_by(intermediate, anchor.cert):
                trouble = f"it is not signed by {common_name(anchor.cert.subject)}"
            if trouble:
                problems.append(f"{label}: {trouble}")
                continue
            result.chain = (cert, intermediate, anchor.cert)
            result.anchor = anchor
            detail = (f"SEV-{kind} <- {label} <- {common_name(anchor.cert.subject)} "
                      f"({anchor.describe()})")
            if ignored:
                detail += "; " + "; ".join(ignored)
            result.add(_ok("certificate_chain", detail))
            _revocation(cert, intermediate, anchor, collateral, result)
            return
    expected = "SEV-" + (product if kind == VCEK else f"VLEK-{product}")
    detail = (f"the {kind} is not signed by any {expected} certificate that chains to a trusted "
              f"ARK-{product}")
    if problems or ignored:
        detail += " (" + "; ".join(problems + ignored) + ")"
    result.add(_bad("certificate_chain", "untrusted_chain", detail))


def _revocation(cert, intermediate, anchor, collateral, result) -> None:
    """CRLs issued by the anchor: signed by it, current, revoking neither certificate."""
    at = collateral.at
    applicable, problems, stale_optional = [], [], []
    for crl, source, *rest in collateral.crls:
        optional = bool(rest and rest[0])
        if crl.issuer != anchor.cert.subject:
            continue
        if not _crl_signed_by(crl, anchor.cert):
            problems.append(("crl_forged", f"the CRL {source} names {common_name(crl.issuer)} "
                                           "but is not signed by the trusted ARK"))
            continue
        if at < crl.last_update_utc:
            (stale_optional if optional else problems).append(
                ("crl_not_yet_valid", f"the CRL {source} was issued "
                                      f"{_when(crl.last_update_utc)}, after {_when(at)}"))
            continue
        if crl.next_update_utc is None or at > crl.next_update_utc:
            when = "has no next update" if crl.next_update_utc is None \
                else f"expired on {_when(crl.next_update_utc)}"
            (stale_optional if optional else problems).append(
                ("crl_stale", f"the CRL {source} {when} (checked at {_when(at)})"))
            continue
        applicable.append((crl, source))
    if problems:
        reason, detail = problems[0]
        result.add(_bad("revocation", reason, "; ".join(d for _, d in problems)))
        return
    if not applicable:
        stale = "; ".join(d for _, d in stale_optional)
        if collateral.require_crl:
            result.add(_bad("revocation", stale_optional[0][0] if stale_optional
                            else "crl_missing", f"no current CRL from "
                            f"{common_name(anchor.cert.subject)} was given (--require-crl)"
                            + (f": {stale}" if stale else "")))
        else:
            result.add(Check("revocation", NOTE, "not checked: " + (
                f"{stale} (kds fetch refreshes it)" if stale else
                "no CRL given (--crl; --require-crl makes this a failure)"), AUTHENTICITY))
        return
    for crl, source in applicable:
        for target in (intermediate, cert):
            entry = crl.get_revoked_certificate_by_serial_number(target.serial_number)
            if entry is not None and _entry_names(entry, crl, target):
                result.add(_bad("revocation", "revoked", f"{common_name(target.subject)} "
                                f"(serial {target.serial_number:#x}) is revoked by the CRL "
                                f"{source}"))
                return
    sources = ", ".join(source for _, source in applicable)
    result.add(_ok("revocation", f"not revoked (CRL {sources}, next update "
                                 f"{_when(applicable[0][0].next_update_utc)})"))


def _crl_signed_by(crl, issuer) -> bool:
    try:
        return bool(crl.is_signature_valid(issuer.public_key()))
    except Exception:  # unsupported algorithms and the like: not a valid signature
        return False


def _entry_names(entry, crl, target) -> bool:
    """Whether a CRL entry with ``target``'s serial revokes ``target``: the entry's
    certificate issuer (an indirect CRL) or else the CRL's issuer must be ``target``'s issuer."""
    from cryptography import x509

    try:
        named = entry.extensions.get_extension_for_class(x509.CertificateIssuer).value
        issuers = [n.value for n in named if isinstance(n, x509.DirectoryName)]
    except x509.ExtensionNotFound:
        issuers = [crl.issuer]
    except Exception:  # a malformed entry extension: treat it as naming the target
        return True
    return target.issuer in issuers


def verify_endorsement_chain(cert, product: str, collateral: Collateral) -> Authentication:
    """The chain checks of a VCEK or VLEK alone (no report): used before caching fetched
    certificates (``snpmeasure kds fetch``)."""
    result = Authentication()
    kind, _ = role(cert)
    if kind not in (VCEK, VLEK):
        result.add(_bad("endorsement_certificate", "wrong_key_kind",
                        f"{common_name(cert.subject) or 'the certificate'} is not a VCEK or VLEK"))
        return result
    result.product = product
    result.endorsement = cert
    _chain(cert, kind, product, collateral, result)
    return result
