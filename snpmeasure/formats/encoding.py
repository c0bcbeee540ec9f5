"""Fixed-size byte values given as text (hex or base64), and 16-byte IDs (hex or UUID)."""
from __future__ import annotations

import base64
import binascii
import string
import uuid

from ..errors import ConfigError

_HEX = frozenset(string.hexdigits)


def parse_bytes_value(text: str, size: int | tuple, flag: str) -> bytes:
    """A value of ``size`` bytes (or one of several sizes) given as hex or base64. Text made only
    of hex digits is read as hex, never as base64, so a value cannot be misread."""
    sizes = size if isinstance(size, tuple) else (size,)
    value = text.strip()
    try:
        raw = bytes.fromhex(value) if value and set(value) <= _HEX \
            else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raw = None
    wanted = f"{min(sizes)} to {max(sizes)}" if len(sizes) > 2 and \
        sorted(sizes) == list(range(min(sizes), max(sizes) + 1)) else \
        " or ".join(map(str, sizes))
    if raw is None:
        raise ConfigError(f"{flag} is not hex or base64 (it takes {wanted} bytes)")
    if len(raw) not in sizes:
        digits = " or ".join(str(2 * n) for n in sizes) + " digits" if len(sizes) <= 2 \
            else "two digits a byte"
        raise ConfigError(f"{flag} is {len(raw)} bytes; it takes {wanted} bytes, as hex "
                          f"({digits}) or base64")
    return raw


def nonce_report_data(nonce: bytes) -> bytes:
    """The 64-byte REPORT_DATA that binds a verifier's nonce: SHA-512 of the nonce's bytes (the
    rule ``report get --nonce`` and ``report verify --nonce`` share; docs/node-admission.md)."""
    import hashlib

    return hashlib.sha512(nonce).digest()


def parse_report_data(text: str, flag: str = "--report-data") -> bytes:
    """REPORT_DATA given as 1 to 64 bytes of hex or base64 (zero-padded to 64 by callers)."""
    return parse_bytes_value(text, tuple(range(1, 65)), flag)


def parse_measurement(text: str, flag: str = "--measurement") -> bytes:
    """An observed measurement: 48 bytes (SNP) or 32 bytes (SEV, SEV-ES), hex or base64."""
    return parse_bytes_value(text, (48, 32), flag)


def parse_digest(value: str | bytes, flag: str = "--measurement") -> bytes:
    """A 48-byte launch digest from raw bytes, 96 hex digits or base64."""
    if isinstance(value, bytes):
        if len(value) != 48:
            raise ConfigError(f"{flag} is {len(value)} bytes; a launch digest (SHA-384) is 48")
        return value
    return parse_bytes_value(value, 48, flag)


def parse_id16(value: str | bytes | None, flag: str) -> bytes:
    """A 16-byte family or image ID from 32 hex digits or a UUID (RFC 4122 byte order)."""
    if value is None:
        return bytes(16)
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip()
        try:
            raw = uuid.UUID(text).bytes if "-" in text else bytes.fromhex(text)
        except ValueError:
            raise ConfigError(f"{flag} {value!r} is neither 32 hex digits nor a UUID") from None
    if len(raw) != 16:
        raise ConfigError(f"{flag} is {len(raw)} bytes; an ID is 16")
    return raw
