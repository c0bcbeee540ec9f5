"""X.509 certificates of AMD's key hierarchy (VCEK, VLEK, ASK, ASVK, ARK): load completely,
and read AMD's extensions (product name, TCB, hwID).

cryptography parses certificates lazily; every field is parsed here when a certificate is
loaded, so a malformed one is refused at once (``FormatError``), never later.
"""
from __future__ import annotations

import os
import warnings

from ..errors import FormatError, InputError
from ..files import read_file


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


def extension_value(cert, dotted: str):
    try:
        extensions = list(cert.extensions)
    except Exception:  # malformed or duplicate extensions: treated as absent
        return None
    for ext in extensions:
        if ext.oid.dotted_string == dotted:
            return getattr(ext.value, "value", None)
    return None


def der_integer(raw: bytes | None) -> int | None:
    if not raw or raw[0] != 0x02 or len(raw) < 3:
        return None
    return int.from_bytes(raw[2:2 + raw[1]], "big")


VCEK_TCB_OIDS = {"boot_loader": "1.3.6.1.4.1.3704.1.3.1", "tee": "1.3.6.1.4.1.3704.1.3.2",
                 "snp": "1.3.6.1.4.1.3704.1.3.3", "microcode": "1.3.6.1.4.1.3704.1.3.8",
                 "fmc": "1.3.6.1.4.1.3704.1.3.9"}
HWID_OID = "1.3.6.1.4.1.3704.1.4"
PRODUCT_OID = "1.3.6.1.4.1.3704.1.2"


def certificate_product(cert) -> str | None:
    raw = extension_value(cert, PRODUCT_OID)
    if not raw or len(raw) < 2:
        return None
    name = raw[2:2 + raw[1]].decode("ascii", "replace")
    return name.split("-")[0] or None
