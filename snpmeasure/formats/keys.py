"""ECDSA P-384 keys in the SEV formats: loading, the 0x404-byte public key, digests, signatures.

Private keys come from PEM or DER files; an encrypted key needs a passphrase, which callers read
from an environment variable or a file (never from the command line). Messages name the file,
never key material.
"""
from __future__ import annotations

import hashlib
import os
import re

from ..abi.codec import codec
from ..abi.id_block import COMPONENT_SIZE, CURVE_P384, PUBLIC_KEY_SIZE
from ..errors import (ConfigError, FormatError, SnpMeasureError, UnsupportedError,
                     VerificationError)
from ..files import read_file


def _crypto():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    return serialization, ec


def read_passphrase(env: str | None = None, file: str | os.PathLike | None = None,
                    what: str = "key") -> bytes | None:
    """A passphrase from the environment variable ``env`` or the first line of ``file``."""
    if env is not None and file is not None:
        raise ConfigError(f"give the {what} passphrase by environment variable or by file, not both")
    if env is not None:
        if not _VARIABLE_NAME.fullmatch(env):  # never echoed: it may be the passphrase itself
            raise ConfigError(f"the {what} passphrase variable is not an environment variable "
                              "name (give the variable's name, such as KEY_PASSPHRASE, not its "
                              "value)")
        # bytes, never decoded: a passphrase need not be UTF-8, and no byte of it may reach a
        # message (os.environb is POSIX's; elsewhere the OS gives text, which is encoded back)
        environb = getattr(os, "environb", None)
        if environb is not None:
            value = environb.get(os.fsencode(env))
        else:
            text = os.environ.get(env)
            value = None if text is None else text.encode("utf-8", "surrogateescape")
        if value is None:
            raise ConfigError(f"environment variable {env} (the {what} passphrase) is not set")
        return _usable(value, what)
    if file is not None:
        data = read_file(file)
        return _usable(data.splitlines()[0] if data else b"", what)
    return None


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _usable(passphrase: bytes, what: str) -> bytes:
    """A passphrase OpenSSL can take (refusals name no byte of it)."""
    if not passphrase:
        raise ConfigError(f"the {what} passphrase is empty")
    if b"\0" in passphrase:
        raise ConfigError(f"the {what} passphrase holds a NUL byte, which OpenSSL cannot take")
    return passphrase


SEV_KEYS = "p384"        # ID and author keys: ECDSA P-384 only (SEV-SNP ABI)
SIGNING_KEYS = "signing"  # manifest and CoRIM signers: ECDSA P-256 or P-384, or Ed25519


def load_private_key(path: str | os.PathLike, passphrase: bytes | None = None,
                     flag: str = "key", accept: str = SEV_KEYS,
                     passphrase_options: str | None = "", expected: str | None = None):
    """A private key from a PEM or DER file: EC P-384, or with ``accept=SIGNING_KEYS`` also
    P-256 and Ed25519. ``passphrase_options`` names, for messages, the options that give the
    passphrase (such as ``--id-key-passphrase-env or --id-key-passphrase-file``); None asks
    for a public key instead (load_public_key, for a command without such options).
    ``expected`` says, for messages, what the file should have been."""
    serialization, ec = _crypto()
    data = read_file(path)
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data \
        else serialization.load_der_private_key
    try:
        key = loader(data, password=passphrase)
    except TypeError:  # cryptography: a passphrase is missing, or given for a plain key
        if passphrase is None:
            if passphrase_options is None:  # from load_public_key, for a command without them
                raise ConfigError(f"{path}: the {flag} is an encrypted private key; give its "
                                  "public key or certificate instead") from None
            how = f" with {passphrase_options}" if passphrase_options else ""
            raise ConfigError(f"{path}: the {flag} is encrypted; give its passphrase{how}") \
                from None
        raise ConfigError(f"{path}: the {flag} is not encrypted; do not give a passphrase") \
            from None
    except ValueError:
        if passphrase is not None:
            raise ConfigError(f"{path}: cannot load the {flag} (wrong passphrase or not a "
                              "private key)") from None
        raise FormatError(path, flag, f"not {expected or 'a PEM or DER private key'}") from None
    except Exception:  # cryptography's UnsupportedAlgorithm and friends
        raise UnsupportedError(f"{path}: the {flag} uses an unsupported algorithm") from None
    _check_key(key, path, flag, accept)
    return key


def load_public_key(path: str | os.PathLike, passphrase: bytes | None = None, flag: str = "key",
                    accept: str = SEV_KEYS, passphrase_options: str = ""):
    """The public half of a key file holding a public key, a private key or a certificate.
    Without ``passphrase_options`` (the command has none), an encrypted private key is refused
    with a request for the public key or a certificate."""
    serialization, ec = _crypto()
    data = read_file(path)
    pem = b"-----BEGIN" in data
    if pem and b"PRIVATE KEY" in data:
        return _public_half(path, passphrase, flag, accept, passphrase_options)
    try:
        if pem and b"CERTIFICATE" in data:
            key = _certificate_key(data, path)
        elif pem:
            key = serialization.load_pem_public_key(data)
        else:
            try:
                key = serialization.load_der_public_key(data)
            except ValueError:
                try:
                    key = _certificate_key(data, path)
                except FormatError:  # not a certificate either: a DER private key, or nothing
                    return _public_half(path, passphrase, flag, accept, passphrase_options,
                                        expected="a PEM or DER key or certificate")
    except SnpMeasureError:
        raise
    except ValueError:
        raise FormatError(path, flag, "not a PEM or DER key or certificate") from None
    except Exception:  # cryptography's UnsupportedAlgorithm for unknown key types, and kin
        raise UnsupportedError(f"{path}: the {flag} uses an unsupported algorithm") from None
    _check_key(key, path, flag, accept)
    return key


def _certificate_key(data: bytes, path):
    """The public key of the one certificate in ``data`` (PEM or DER), parsed as every
    certificate is (formats.certificates)."""
    from .certificates import parse_certificates

    certs = parse_certificates(data, str(path))
    if len(certs) != 1:
        raise FormatError(path, "certificate", f"holds {len(certs)} certificates; one is "
                          "expected")
    return certs[0].public_key()


def _public_half(path, passphrase, flag, accept, passphrase_options, expected=None):
    """load_public_key of a private key file."""
    return load_private_key(path, passphrase, flag, accept, passphrase_options or None,
                            expected=expected).public_key()


def describe_key(key) -> str:
    """What kind of key ``key`` is, in words (for messages; never key material)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ed448, ed25519, rsa, x448, x25519
    _, ec = _crypto()
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return f"an ECDSA key on curve {key.curve.name}"
    kinds = ((rsa.RSAPrivateKey, rsa.RSAPublicKey, "an RSA key"),
             (dsa.DSAPrivateKey, dsa.DSAPublicKey, "a DSA key"),
             (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey, "an Ed25519 key"),
             (ed448.Ed448PrivateKey, ed448.Ed448PublicKey, "an Ed448 key"),
             (x25519.X25519PrivateKey, x25519.X25519PublicKey, "an X25519 key"),
             (x448.X448PrivateKey, x448.X448PublicKey, "an X448 key"))
    for private, public, words in kinds:
        if isinstance(key, (private, public)):
            return words
    return "a key of an unknown kind"


def _check_key(key, path, flag: str, accept: str) -> None:
    _, ec = _crypto()
    if accept == SIGNING_KEYS:
        from cryptography.hazmat.primitives.asymmetric import ed25519
        if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
            return
        if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) \
                and isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1)):
            return
        raise UnsupportedError(f"{path}: the {flag} is {describe_key(key)}, not ECDSA P-256, "
                               "ECDSA P-384 or Ed25519")
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        raise UnsupportedError(f"{path}: the {flag} is {describe_key(key)}, not an "
                               "ECDSA P-384 key")
    if not isinstance(key.curve, ec.SECP384R1):
        raise UnsupportedError(f"{path}: the {flag} is on curve {key.curve.name}, not P-384 "
                               "(secp384r1)")


def _le(value: int) -> bytes:
    return value.to_bytes(COMPONENT_SIZE, "little")


def sev_public_key(public_key) -> bytes:
    """The 0x404-byte SEV ECDSA public key structure of a P-384 key."""
    numbers = public_key.public_numbers()
    return codec("id_block.EcdsaPublicKey").build({"curve": CURVE_P384, "qx": _le(numbers.x),
                                                   "qy": _le(numbers.y)})


def public_key_from_sev(raw: bytes):
    """The P-384 public key held in an SEV public key structure (VerificationError if invalid)."""
    _, ec = _crypto()
    if len(raw) != PUBLIC_KEY_SIZE:
        raise VerificationError(f"an SEV public key is {PUBLIC_KEY_SIZE} bytes, not {len(raw)}")
    parsed = codec("id_block.EcdsaPublicKey").parse(raw)
    if parsed.curve != CURVE_P384:
        raise VerificationError(f"public key curve {parsed.curve} is not P-384 (2)")
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(parsed.qx, "little"),
                                             int.from_bytes(parsed.qy, "little"),
                                             ec.SECP384R1()).public_key()
    except ValueError:
        raise VerificationError("public key is not a point on P-384") from None


def key_digest(public_key) -> bytes:
    """SHA-384 of the SEV public key structure: what the attestation report carries."""
    return hashlib.sha384(sev_public_key(public_key)).digest()


def sign(private_key, data: bytes) -> bytes:
    """An ECDSA P-384 / SHA-384 signature in the 0x200-byte SEV format."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    _, ec = _crypto()
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA384())))
    return codec("id_block.EcdsaSignature").build({"r": _le(r), "s": _le(s)})


def verify(public_key, signature: bytes, data: bytes, what: str) -> None:
    """Check an SEV-format signature; VerificationError names ``what`` when it does not verify."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    _, ec = _crypto()
    parsed = codec("id_block.EcdsaSignature").parse(signature)
    r = int.from_bytes(parsed.r, "little")
    s = int.from_bytes(parsed.s, "little")
    try:
        public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, ValueError):
        raise VerificationError(f"{what} does not verify") from None
