"""Signatures for published documents: ECDSA P-256 (SHA-256), ECDSA P-384 (SHA-384), Ed25519.

Keys are loaded by ``formats.keys`` (``accept=SIGNING_KEYS``). DSSE envelopes carry ECDSA
signatures DER-encoded (what sigstore/cosign writes and reads); COSE carries them as the
fixed-size concatenation r || s (RFC 9053 section 2.1). The hash follows the curve (RFC 9053
ES256/ES384); Ed25519 is pure Ed25519 (RFC 8032).
"""
from __future__ import annotations

import hashlib

from ..errors import VerificationError

# COSE algorithm identifiers (RFC 9053, IANA "COSE Algorithms")
COSE_ES256, COSE_ES384, COSE_EDDSA = -7, -35, -8


def _ec():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec


def _hash_of(key):
    from cryptography.hazmat.primitives import hashes
    return hashes.SHA384() if isinstance(key.curve, _ec().SECP384R1) else hashes.SHA256()


def is_ecdsa(key) -> bool:
    ec = _ec()
    return isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey))


def algorithm_name(key) -> str:
    """ES256, ES384 or EdDSA (the JOSE/COSE names)."""
    if is_ecdsa(key):
        return "ES384" if isinstance(key.curve, _ec().SECP384R1) else "ES256"
    return "EdDSA"


def cose_algorithm(key) -> int:
    return {"ES256": COSE_ES256, "ES384": COSE_ES384, "EdDSA": COSE_EDDSA}[algorithm_name(key)]


def public_key_der(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key) -> str:
    """A key's identifier: lowercase hex SHA-256 of its DER SubjectPublicKeyInfo (an unverified
    hint for verifiers, as DSSE and COSE treat key IDs)."""
    return hashlib.sha256(public_key_der(public_key)).hexdigest()


def sign_der(private_key, data: bytes) -> bytes:
    """ECDSA (DER) or Ed25519 signature over ``data``."""
    if is_ecdsa(private_key):
        return private_key.sign(data, _ec().ECDSA(_hash_of(private_key)))
    return private_key.sign(data)


def sign_raw(private_key, data: bytes) -> bytes:
    """ECDSA as r || s, each the curve's size (COSE), or Ed25519."""
    if not is_ecdsa(private_key):
        return private_key.sign(data)
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r, s = decode_dss_signature(sign_der(private_key, data))
    size = (private_key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_signature(public_key, signature: bytes, data: bytes, what: str,
                     encodings: tuple[str, ...] = ("der", "raw")) -> None:
    """Check an ECDSA signature in any of ``encodings`` (DER, r || s) or an Ed25519 one;
    VerificationError if none verifies."""
    from cryptography.exceptions import InvalidSignature

    if not is_ecdsa(public_key):
        candidates = [signature]
    else:
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        size = (public_key.curve.key_size + 7) // 8
        candidates = []
        if "der" in encodings:
            candidates.append(signature)
        if "raw" in encodings and len(signature) == 2 * size:
            candidates.append(encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                                   int.from_bytes(signature[size:], "big")))
    for candidate in candidates:
        try:
            if is_ecdsa(public_key):
                public_key.verify(candidate, data, _ec().ECDSA(_hash_of(public_key)))
            else:
                public_key.verify(candidate, data)
            return
        except (InvalidSignature, ValueError):
            continue
    raise VerificationError(f"{what} does not verify")
