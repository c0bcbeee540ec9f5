"""Reading attestation report files (binary, hex or base64) and observed measurements."""
from __future__ import annotations

import base64
import binascii
import os

from .errors import ConfigError, FormatError
from .firmware import read_file

REPORT_SIZE = 0x4A0
MAX_REPORT_FILE = 1 << 20


def decode_report_bytes(data: bytes, path: str) -> bytes:
    """The 1184 raw report bytes from a binary, hex or base64 file."""
    if len(data) > MAX_REPORT_FILE:
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


def read_report(path: str | os.PathLike) -> bytes:
    return decode_report_bytes(read_file(path), str(path))


def report_measurement(path: str | os.PathLike) -> bytes:
    """The MEASUREMENT field (offset 0x90, 48 bytes) of a report file."""
    raw = read_report(path)
    version = int.from_bytes(raw[:4], "little")
    if version not in (2, 3, 4, 5):
        raise FormatError(path, "version", f"{version} is not a known report version (2, 3, 5)", 0)
    return raw[0x90:0xC0]


def parse_measurement(text: str, flag: str = "--measurement") -> bytes:
    """An observed measurement: hex (48 or 32 bytes) or base64."""
    value = text.strip()
    for decoder in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
        try:
            raw = decoder(value)
        except (ValueError, binascii.Error):
            continue
        if len(raw) in (48, 32):
            return raw
    raise ConfigError(f"{flag} is not a 48-byte (SNP) or 32-byte (SEV) digest in hex or base64")
