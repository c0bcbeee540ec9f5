"""Decoding hex or base64: attestation report files and fixed-size values given as flags."""
from __future__ import annotations

import base64
import binascii
import string

from .errors import ConfigError, FormatError
from .limits import MAX_SMALL_FILE

REPORT_SIZE = 0x4A0
_HEX = frozenset(string.hexdigits)


def decode_report_bytes(data: bytes, path: str) -> bytes:
    """The 1184 raw report bytes from a binary, hex or base64 file."""
    if len(data) > MAX_SMALL_FILE:
        raise FormatError(path, "size", f"{len(data)} bytes is far larger than a report")
    if len(data) == REPORT_SIZE:
        return data
    text = b"".join(data.split())
    candidates = []
    try:
        candidates.append(bytes.fromhex(text.decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        candidates.append(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error):
        pass
    for raw in candidates:
        if len(raw) == REPORT_SIZE:
            return raw
    sizes = ", ".join(str(len(raw)) for raw in candidates)
    raise FormatError(path, "size", f"{len(data)} bytes is neither a {REPORT_SIZE}-byte report "
                      "nor its hex or base64 form" + (f" (decodes to {sizes} bytes)" if sizes
                                                      else ""))


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
    if raw is None or len(raw) not in sizes:
        raise ConfigError(f"{flag} is not {' or '.join(map(str, sizes))} bytes of hex or base64")
    return raw


def parse_measurement(text: str, flag: str = "--measurement") -> bytes:
    """An observed measurement: 48 bytes (SNP) or 32 bytes (SEV, SEV-ES), hex or base64."""
    return parse_bytes_value(text, (48, 32), flag)
