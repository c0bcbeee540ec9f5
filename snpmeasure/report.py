"""Attestation reports: parse (versions 2, 3, 5), decode, verify offline.

    >>> from snpmeasure.report import load_report, Expectations, verify_report
    >>> report = load_report("report.bin")                                   # doctest: +SKIP
    >>> result = verify_report(report, vcek="vcek.der", ca="ark_ask.pem",
    ...                        expectations=Expectations(measurements=(digest,)))  # doctest: +SKIP
    >>> result.status                                                         # doctest: +SKIP
    'verified'
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field


from .abi import report as L
from .abi.codec import codec
from .errors import ConfigError, FormatError, InputError, UnsupportedError
from .firmware import read_file
from .limits import MAX_MANIFEST_FILE
from .policy import decode_policy
from .report_input import decode_report_bytes


@dataclass(frozen=True)
class AttestationReport:
    raw: bytes
    fields: dict
    path: str

    @property
    def version(self) -> int:
        return self.fields["version"]

    @property
    def measurement(self) -> bytes:
        return self.fields["measurement"]

    @property
    def signing_key(self) -> str:
        return L.SIGNING_KEYS[(self.fields["key_info"] >> 2) & 0x7]

    @property
    def product(self) -> str:
        """Milan, Genoa or Turin from the CPUID fields (version 3+), else 'unknown'."""
        if self.version < 3:
            return "unknown"
        family, model = self.fields["cpuid_fam_id"], self.fields["cpuid_mod_id"]
        if family == 0x19:
            return "Milan" if model < 0x10 else "Genoa"
        if family == 0x1A:
            return "Turin"
        return f"family {family:#x}"

    def tcb(self, value: int, product: str | None = None) -> dict:
        layout = L.TCB_LAYOUT_TURIN if (product or self.product) == "Turin" \
            else L.TCB_LAYOUT_MILAN_GENOA
        raw = value.to_bytes(8, "little")
        return {name: raw[index] for name, index in layout.items()}

    def to_json(self, product: str | None = None) -> dict:
        f = self.fields
        out = {}
        for name, value in f.items():
            if name.startswith("_") or name.startswith("reserved") or name.startswith("signature_"):
                continue
            out[name] = value.hex() if isinstance(value, bytes) else value
        key_info = f["key_info"]
        out["policy_hex"] = f"{f['policy']:#x}"
        out["policy_decoded"] = decode_policy(f["policy"])
        out["platform_info_decoded"] = {name: bool(f["platform_info"] >> bit & 1)
                                        for name, bit in L.PLATFORM_INFO_BITS.items()}
        out["key_info_decoded"] = {"author_key_en": bool(key_info & 1),
                                   "mask_chip_key": bool(key_info >> 1 & 1),
                                   "signing_key": self.signing_key}
        out["product"] = product or self.product
        for name in ("current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"):
            out[name] = f"{f[name]:#018x}"
            out[name + "_decoded"] = self.tcb(f[name], product)
        out["signature"] = {"r": f["signature_r"].hex(), "s": f["signature_s"].hex()}
        return out


def parse_report(raw: bytes, path: str = "<report>") -> AttestationReport:
    """Parse and check a 1184-byte report (every reserved must-be-zero range included)."""
    if len(raw) != L.REPORT_SIZE:
        raise FormatError(path, "size", f"{len(raw)} bytes, not {L.REPORT_SIZE}")
    fields = dict(codec("report.AttestationReport").parse(raw))
    version = fields["version"]
    if version not in L.SUPPORTED_VERSIONS:
        raise FormatError(path, "version", f"{version} is not a supported report version "
                          f"({', '.join(map(str, L.SUPPORTED_VERSIONS))})", 0)
    for offset, size, name, versions in L.RESERVED_RANGES:
        if version in versions and any(raw[offset:offset + size]):
            raise FormatError(path, name, "must be zero", offset)
    if fields["key_info"] & L.KEY_INFO_RESERVED:
        raise FormatError(path, "key_info", f"{fields['key_info']:#x} sets reserved bits", 0x48)
    if (fields["key_info"] >> 2) & 0x7 not in L.SIGNING_KEYS:
        raise FormatError(path, "key_info signing_key",
                          f"{(fields['key_info'] >> 2) & 7} is not VCEK (0), VLEK (1) or none (7)",
                          0x48)
    if fields["key_info"] & 2 and any(fields["chip_id"]):
        raise FormatError(path, "chip_id", "must be zero when mask_chip_key is set", 0x1A0)
    if fields["vmpl"] > 3:
        raise FormatError(path, "vmpl", f"{fields['vmpl']} is not 0..3", 0x30)
    return AttestationReport(bytes(raw), fields, path)


def load_report(path: str | os.PathLike) -> AttestationReport:
    return parse_report(decode_report_bytes(read_file(path), str(path)), str(path))


# -- certificates -----------------------------------------------------------------------------

def _quiet_load(loader, data):
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():  # AMD certificates have non-positive serial numbers
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return loader(data)


def _checked(cert, path):
    """Parse every field now: cryptography parses lazily and would raise later."""
    try:
        cert.subject, cert.issuer, cert.signature, cert.tbs_certificate_bytes
        list(cert.extensions)
        cert.public_key()
    except Exception as exc:
        raise FormatError(path, "certificate", f"malformed or unsupported "
                          f"({type(exc).__name__})") from None
    return cert


def load_certificate(path: str | os.PathLike):
    from cryptography import x509

    data = read_file(path)
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            certs = _quiet_load(x509.load_pem_x509_certificates, data)
            if len(certs) != 1:
                raise InputError(path, f"holds {len(certs)} certificates; one is expected")
            return _checked(certs[0], path)
        return _checked(_quiet_load(x509.load_der_x509_certificate, data), path)
    except (InputError, FormatError):
        raise
    except Exception:  # ValueError, x509.InvalidVersion, UnsupportedAlgorithm, ...
        raise InputError(path, "not a PEM or DER X.509 certificate") from None


def load_bundle(path: str | os.PathLike) -> list:
    from cryptography import x509

    data = read_file(path)
    try:
        certs = _quiet_load(x509.load_pem_x509_certificates, data)
    except Exception:  # ValueError, x509.InvalidVersion, ...
        raise InputError(path, "not a PEM bundle of X.509 certificates") from None
    return [_checked(cert, path) for cert in certs]


def _extension(cert, dotted: str):
    try:
        extensions = list(cert.extensions)
    except Exception:  # malformed or duplicate extensions: treated as absent
        return None
    for ext in extensions:
        if ext.oid.dotted_string == dotted:
            return getattr(ext.value, "value", None)
    return None


def _der_int(raw: bytes | None) -> int | None:
    if not raw or raw[0] != 0x02 or len(raw) < 3:
        return None
    return int.from_bytes(raw[2:2 + raw[1]], "big")


VCEK_TCB_OIDS = {"boot_loader": "1.3.6.1.4.1.3704.1.3.1", "tee": "1.3.6.1.4.1.3704.1.3.2",
                 "snp": "1.3.6.1.4.1.3704.1.3.3", "microcode": "1.3.6.1.4.1.3704.1.3.8",
                 "fmc": "1.3.6.1.4.1.3704.1.3.9"}
HWID_OID = "1.3.6.1.4.1.3704.1.4"
PRODUCT_OID = "1.3.6.1.4.1.3704.1.2"


def certificate_product(cert) -> str | None:
    raw = _extension(cert, PRODUCT_OID)
    if not raw or len(raw) < 2:
        return None
    name = raw[2:2 + raw[1]].decode("ascii", "replace")
    return name.split("-")[0] or None


# -- checks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass, fail, skip
    detail: str
    kind: str = "expectation"  # or "signature"

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Expectations:
    measurements: tuple[bytes, ...] = ()
    manifest: str | None = None
    host_data: bytes | None = None
    report_data: bytes | None = None
    id_key_digest: bytes | None = None
    author_key_digest: bytes | None = None
    family_id: bytes | None = None
    image_id: bytes | None = None
    min_guest_svn: int | None = None
    min_tcb: dict | None = None
    policy: int | None = None
    deny_debug: bool = False
    deny_migrate_ma: bool = False
    smt: bool | None = None
    require_single_socket: bool = False
    min_abi: tuple[int, int] | None = None
    vmpl: int | None = None


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


def _verify_signature(report: AttestationReport, cert) -> Check:
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


def _verify_chain(cert, bundle: list) -> list[Check]:
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


def _certificate_binding(report: AttestationReport, cert, product: str) -> list[Check]:
    checks = []
    tcb = report.tcb(report.fields["reported_tcb"], product)
    wrong = []
    for name, oid in VCEK_TCB_OIDS.items():
        value = _der_int(_extension(cert, oid))
        if value is not None and name in tcb and tcb[name] != value:
            wrong.append(f"{name} {tcb[name]} (report) vs {value} (certificate)")
    checks.append(Check("certificate TCB", "fail" if wrong else "pass",
                        "; ".join(wrong) or "the certificate's TCB equals the reported TCB",
                        "signature"))
    hwid = _extension(cert, HWID_OID)
    if hwid is not None and report.signing_key == "VCEK":
        chip = report.fields["chip_id"]
        same = chip[:len(hwid)] == bytes(hwid) and not any(chip[len(hwid):])
        checks.append(Check("chip id", "pass" if same else "fail",
                            "the certificate's hwID equals the report's CHIP_ID" if same
                            else "the certificate was issued for another chip", "signature"))
    return checks


def _manifest_measurements(path: str) -> list[dict]:
    try:
        document = json.loads(read_file(path, MAX_MANIFEST_FILE, "manifest"))
        entries = document["measurements"]
        if not isinstance(entries, list):
            raise TypeError
        for entry in entries:
            bytes.fromhex(entry["measurement"])
    except (ValueError, KeyError, TypeError):
        raise FormatError(path, "manifest", "not a snpmeasure manifest (no measurements list)")
    return entries


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
        checks.append(_verify_signature(report, cert))
        checks.extend(_certificate_binding(report, cert, product or report.product))
        if ca is not None:
            checks.extend(_verify_chain(cert, load_bundle(ca)))
        else:
            checks.append(Check("certificate chain", "skip", "no --ca given", "signature"))
    else:
        if ca is not None:
            raise ConfigError("--ca needs --vcek")
        checks.append(Check("signature", "skip", "no --vcek given: the report is not "
                            "authenticated", "signature"))
    _expectation_checks(result, expectations, product)
    return result


def _expectation_checks(result: VerifyResult, e: Expectations, product: str | None) -> None:
    f = result.report.fields
    checks = result.checks

    def equal(name, expected, actual):
        if expected is None:
            return
        ok = expected == actual
        checks.append(Check(name, "pass" if ok else "fail",
                            f"{actual.hex()}" + ("" if ok else f" (expected {expected.hex()})")))

    measurement = f["measurement"]
    if e.measurements or e.manifest:
        expected = set(e.measurements)
        if e.manifest:
            for entry in _manifest_measurements(e.manifest):
                if bytes.fromhex(entry["measurement"]) == measurement:
                    result.matched_manifest_entries.append(entry)
        ok = measurement in expected or bool(result.matched_manifest_entries)
        detail = measurement.hex()
        if result.matched_manifest_entries:
            first = result.matched_manifest_entries[0]
            detail += " matches manifest entry " + ", ".join(
                f"{k}={v}" for k, v in first.items() if k != "measurement" and v is not None)
        elif not ok:
            detail += " is not an expected value"
        checks.append(Check("measurement", "pass" if ok else "fail", detail))
    equal("host_data", e.host_data, f["host_data"])
    equal("report_data", e.report_data, f["report_data"])
    equal("id_key_digest", e.id_key_digest, f["id_key_digest"])
    if e.author_key_digest is not None:
        equal("author_key_digest", e.author_key_digest, f["author_key_digest"])
        enabled = bool(f["key_info"] & 1)
        checks.append(Check("author key enabled", "pass" if enabled else "fail",
                            "AUTHOR_KEY_EN is set" if enabled else "AUTHOR_KEY_EN is clear"))
    equal("family_id", e.family_id, f["family_id"])
    equal("image_id", e.image_id, f["image_id"])
    if e.min_guest_svn is not None:
        ok = f["guest_svn"] >= e.min_guest_svn
        checks.append(Check("guest_svn", "pass" if ok else "fail",
                            f"{f['guest_svn']} (minimum {e.min_guest_svn})"))
    if e.min_tcb is not None:
        tcb = result.report.tcb(f["reported_tcb"], product)
        low = [f"{k} {tcb.get(k)} < {v}" for k, v in e.min_tcb.items()
               if k not in tcb or tcb[k] < v]
        checks.append(Check("reported_tcb", "fail" if low else "pass",
                            "; ".join(low) or ", ".join(f"{k}={v}" for k, v in tcb.items())))
    policy = f["policy"]
    if e.policy is not None:
        ok = policy == e.policy
        checks.append(Check("policy", "pass" if ok else "fail",
                            f"{policy:#x}" + ("" if ok else f" (expected {e.policy:#x})")))
    bits = decode_policy(policy)
    for flag, name, wanted in (("deny_debug", "debug", False),
                               ("deny_migrate_ma", "migrate_ma", False),
                               ("require_single_socket", "single_socket", True)):
        if getattr(e, flag):
            ok = bits[name] == wanted
            checks.append(Check(f"policy {name}", "pass" if ok else "fail",
                                f"{name} is {'on' if bits[name] else 'off'}"))
    if e.smt is not None:
        ok = bits["smt"] == e.smt
        checks.append(Check("policy smt", "pass" if ok else "fail",
                            f"SMT allowed is {'on' if bits['smt'] else 'off'}"))
    if e.min_abi is not None:
        have = (bits["abi_major"], bits["abi_minor"])
        ok = have >= e.min_abi
        checks.append(Check("policy abi", "pass" if ok else "fail",
                            f"minimum ABI {have[0]}.{have[1]} (required at least "
                            f"{e.min_abi[0]}.{e.min_abi[1]})"))
    if e.vmpl is not None:
        ok = f["vmpl"] == e.vmpl
        checks.append(Check("vmpl", "pass" if ok else "fail", f"{f['vmpl']}"))


def parse_min_tcb(text: str) -> dict:
    """``boot_loader=3,tee=0,snp=8,microcode=115`` (short names bl, ucode accepted)."""
    aliases = {"bl": "boot_loader", "ucode": "microcode"}
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise ConfigError(f"--min-tcb item {item!r} is not NAME=VALUE")
        name, value = (part.strip() for part in item.split("=", 1))
        name = aliases.get(name, name)
        if name not in ("boot_loader", "tee", "snp", "microcode", "fmc"):
            raise ConfigError(f"--min-tcb component {name!r} is not boot_loader, tee, snp, "
                              "microcode or fmc")
        try:
            out[name] = int(value, 0)
        except ValueError:
            raise ConfigError(f"--min-tcb {name} value {value!r} is not an integer") from None
    return out


def describe(report: AttestationReport, product: str | None = None) -> str:
    data = report.to_json(product)
    lines = []
    for name, value in data.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items())
            lines.append(f"{name:<22} {inner}")
        else:
            lines.append(f"{name:<22} {value}")
    return "\n".join(lines)


def unsupported_product(name: str) -> None:
    raise UnsupportedError(f"--product {name!r} is not Milan, Genoa or Turin")
