"""X.509 certificates of AMD's key hierarchy (ARK, ASK, ASVK, VCEK, VLEK) and AMD's CRLs: load
completely, classify by role, and read AMD's certificate extensions.

cryptography parses certificates lazily; every field is parsed here when a certificate is loaded,
so a malformed one is refused at once (``FormatError``), never later.

AMD's extensions (arc 1.3.6.1.4.1.3704.1, AMD 57230 "VCEK certificate and KDS interface";
decoded from the real Milan and Turin VCEKs in tests/data/reports and checked against
google/go-sev-guest ``kds.VcekCertificateExtensions``): structVersion (.1, INTEGER),
productName1 (.2, IA5String, e.g. "Milan-B0", "Turin"), blSPL/teeSPL/snpSPL (.3.1-.3.3),
spl_4..spl_7 (.3.4-.3.7), ucodeSPL (.3.8), fmcSPL (.3.9, Turin) as INTEGERs, hwID (.4: the raw
CHIP_ID bytes, 64 or on Turin 8; some tools expect a DER OCTET STRING around them, so both are
read, by length first), csp_id (.5, IA5String, VLEKs only).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from ..errors import FormatError
from ..files import read_file

AMD_ARC = "1.3.6.1.4.1.3704.1"
OID_STRUCT_VERSION = f"{AMD_ARC}.1"
OID_PRODUCT_NAME = f"{AMD_ARC}.2"
TCB_OIDS = {"boot_loader": f"{AMD_ARC}.3.1", "tee": f"{AMD_ARC}.3.2", "snp": f"{AMD_ARC}.3.3",
            "microcode": f"{AMD_ARC}.3.8", "fmc": f"{AMD_ARC}.3.9"}
OID_HWID = f"{AMD_ARC}.4"
OID_CSP_ID = f"{AMD_ARC}.5"

# Roles, from the subject common name (AMD 57230; the chains in snpmeasure/attestation/roots).
ARK, ASK, ASVK, VCEK, VLEK = "ARK", "ASK", "ASVK", "VCEK", "VLEK"


def _quiet_load(loader, data):
    from cryptography.utils import CryptographyDeprecationWarning

    # AMD's VCEKs and VLEKs have serial number 0, which RFC 5280 disallows and cryptography
    # warns about whenever it reads one; that is how AMD issues them, so the warning is noise.
    warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive",
                            category=CryptographyDeprecationWarning)
    return loader(data)


def _checked(cert, path):
    """Parse every field now: cryptography parses lazily and would raise later."""
    try:
        cert.subject, cert.issuer, cert.signature, cert.tbs_certificate_bytes
        cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number
        cert.signature_hash_algorithm, cert.signature_algorithm_oid
        list(cert.extensions)
        cert.public_key()
    except Exception:  # cryptography's errors for fields it cannot decode
        raise FormatError(path, "certificate", "malformed or unsupported (a field of it "
                          "cannot be decoded)") from None
    return cert


def parse_certificates(data: bytes, path: str = "<certificate>") -> list:
    """Every certificate in ``data``: a PEM bundle (one or more) or one DER certificate."""
    from cryptography import x509

    try:
        if b"-----BEGIN" in data:
            certs = _quiet_load(x509.load_pem_x509_certificates, data)
        else:
            certs = [_quiet_load(x509.load_der_x509_certificate, data)]
    except Exception:  # ValueError, x509.InvalidVersion, UnsupportedAlgorithm, ...
        raise FormatError(path, "certificate", "not a PEM or DER X.509 certificate") from None
    return [_checked(cert, path) for cert in certs]


def load_certificates(path: str | os.PathLike) -> list:
    """The certificates of a file: a PEM bundle or one DER certificate."""
    return parse_certificates(read_file(path), str(path))


def load_certificate(path: str | os.PathLike):
    """The one certificate of a PEM or DER file."""
    certs = load_certificates(path)
    if len(certs) != 1:
        raise FormatError(path, "certificate", f"holds {len(certs)} certificates; one is "
                          "expected")
    return certs[0]


def load_bundle(path: str | os.PathLike) -> list:
    """The certificates of a PEM bundle (or of a single DER certificate)."""
    return load_certificates(path)


def common_name(name) -> str:
    """The first common name of an X.509 name, or ''."""
    from cryptography.x509.oid import NameOID

    try:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:  # a malformed name: treated as having none
        return ""
    return str(values[0].value) if values else ""


def role(cert) -> tuple[str | None, str | None]:
    """(role, product) from the subject common name: ARK-<P>, SEV-<P> (ASK), SEV-VLEK-<P>
    (ASVK), SEV-VCEK, SEV-VLEK. (None, None) for anything else."""
    cn = common_name(cert.subject)
    if cn == "SEV-VCEK":
        return VCEK, None
    if cn == "SEV-VLEK":
        return VLEK, None
    if cn.startswith("ARK-"):
        return ARK, cn[4:]
    if cn.startswith("SEV-VLEK-"):
        return ASVK, cn[9:]
    if cn.startswith("SEV-"):
        return ASK, cn[4:]
    return None, None


def fingerprint(cert) -> str:
    """SHA-256 of the certificate's DER encoding, hex."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def der_bytes(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.DER)


# -- AMD extensions ----------------------------------------------------------------------------

def _tlv(raw: bytes, tag: int) -> bytes | None:
    """The content of one DER TLV of ``tag`` that spans all of ``raw``, or None."""
    if len(raw) < 2 or raw[0] != tag:
        return None
    length, at = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or len(raw) < 2 + count:
            return None
        length, at = int.from_bytes(raw[2:2 + count], "big"), 2 + count
    if at + length != len(raw):
        return None
    return raw[at:]


def der_integer(raw: bytes | None) -> int | None:
    """A non-negative DER INTEGER, or None if ``raw`` is not one."""
    content = _tlv(raw or b"", 0x02)
    if not content or content[0] & 0x80 or len(content) > 8:
        return None
    return int.from_bytes(content, "big")


def _ia5(raw: bytes | None) -> str | None:
    content = _tlv(raw or b"", 0x16)
    if content is None:
        return None
    try:
        return content.decode("ascii")
    except UnicodeDecodeError:
        return None


def _hwid(raw: bytes | None) -> bytes | None:
    if raw is None:
        return None
    if len(raw) in (8, 64):  # AMD's encoding: the raw bytes
        return bytes(raw)
    content = _tlv(raw, 0x04)
    if content is not None and len(content) in (8, 64):
        return content
    return None


@dataclass(frozen=True)
class AmdExtensions:
    """AMD's extensions of a VCEK or VLEK; a field is None when absent or malformed, and
    ``malformed`` names the extensions present but unreadable."""

    struct_version: int | None
    product_name: str | None
    tcb: dict            # component -> SPL, only those present and well formed
    hwid: bytes | None
    csp_id: str | None
    malformed: tuple[str, ...]

    @property
    def product(self) -> str | None:
        """The product line of productName1 ("Milan-B0" -> "Milan")."""
        if not self.product_name:
            return None
        return self.product_name.split("-")[0] or None


def amd_extensions(cert) -> AmdExtensions:
    values = {}
    for ext in cert.extensions:  # parsed when loaded (_checked)
        dotted = ext.oid.dotted_string
        if dotted.startswith(AMD_ARC + "."):
            values[dotted] = getattr(ext.value, "value", None)
    malformed = []

    def read(oid: str, parse, name: str):
        if oid not in values:
            return None
        value = parse(values[oid])
        if value is None:
            malformed.append(name)
        return value

    struct_version = read(OID_STRUCT_VERSION, der_integer, "structVersion")
    product_name = read(OID_PRODUCT_NAME, _ia5, "productName1")
    tcb = {}
    for name, oid in TCB_OIDS.items():
        value = read(oid, der_integer, name)
        if value is not None:
            if value > 0xFF:
                malformed.append(name)
            else:
                tcb[name] = value
    hwid = read(OID_HWID, _hwid, "hwID")
    csp_id = read(OID_CSP_ID, _ia5, "csp_id")
    return AmdExtensions(struct_version, product_name, tcb, hwid, csp_id, tuple(malformed))


def certificate_product(cert) -> str | None:
    """The product line a VCEK or VLEK names in productName1, or None."""
    return amd_extensions(cert).product


# -- CRLs --------------------------------------------------------------------------------------

def parse_crl(data: bytes, path: str = "<crl>"):
    """An X.509 CRL, DER or PEM, parsed completely."""
    from cryptography import x509

    try:
        if b"-----BEGIN" in data:
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
        crl.issuer, crl.signature, crl.tbs_certlist_bytes, crl.last_update_utc
        crl.next_update_utc, crl.signature_algorithm_oid
        for entry in crl:
            entry.serial_number, entry.revocation_date_utc
        list(crl.extensions)
    except Exception:  # ValueError and friends from a malformed list
        raise FormatError(path, "CRL", "not a PEM or DER X.509 certificate revocation list") \
            from None
    return crl


def load_crl(path: str | os.PathLike):
    return parse_crl(read_file(path), str(path))
