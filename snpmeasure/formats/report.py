"""Attestation reports: decode (binary, hex or base64), parse and validate.

    >>> from snpmeasure.formats.report import load_report
    >>> report = load_report("report.bin")                                   # doctest: +SKIP
    >>> report.measurement.hex()                                             # doctest: +SKIP

Every reserved must-be-zero range of the report's version is checked (``abi.report``).
"""
from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from ..abi import report as L
from ..abi.codec import codec
from ..abi.policy import decode_policy
from ..abi.products import UNKNOWN, product_from_cpuid, tcb_components
from ..errors import FormatError
from ..files import read_file
from ..limits import MAX_SMALL_FILE

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
        """Milan, Genoa or Turin from the CPUID fields (version 3+), else 'unknown'
        (``abi.products``: never a guessed name)."""
        if self.version < 3:
            return UNKNOWN
        return product_from_cpuid(self.fields["cpuid_fam_id"], self.fields["cpuid_mod_id"])

    @property
    def cpuid(self) -> str | None:
        """The report's CPUID family/model/stepping as text (version 3+), for messages."""
        if self.version < 3:
            return None
        f = self.fields
        return (f"family {f['cpuid_fam_id']:#x} model {f['cpuid_mod_id']:#x} "
                f"stepping {f['cpuid_step']:#x}")

    def tcb(self, value: int, product: str | None = None) -> dict:
        """The components of a TCB_VERSION field, in the layout of ``product`` (default: the
        report's own)."""
        return tcb_components(value, product or self.product)

    def to_json(self, product: str | None = None) -> dict:
        f = self.fields
        out = {}
        for name, value in f.items():
            if name.startswith(("_", "reserved")) or name in ("signature_r", "signature_s"):
                continue  # r and s are "signature" below; signature_algo is a field like any
            out[name] = value.hex() if isinstance(value, bytes) else value
        key_info = f["key_info"]
        for name in ("policy", "platform_info", "key_info", "launch_mit_vector",
                     "current_mit_vector"):  # bit fields: hex strings (docs/json.md)
            if name in out:
                out[name] = f"{f[name]:#x}"
        out["policy_decoded"] = json_policy(f["policy"])
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
        for name, since in L.FIELD_SINCE.items():  # not in this version: null (docs/json.md)
            if self.version < since:
                out[name] = None
        return out


def json_policy(policy: int) -> dict:
    """A guest policy decoded for JSON output (its reserved bits as a hex string)."""
    decoded = decode_policy(policy)
    decoded["reserved_bits"] = f"{decoded['reserved_bits']:#x}"
    return decoded


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
    if fields["vmpl"] > 3:
        raise FormatError(path, "vmpl", f"{fields['vmpl']} is not 0..3", 0x30)
    return AttestationReport(bytes(raw), fields, path)


def load_report(path: str | os.PathLike) -> AttestationReport:
    return parse_report(decode_report_bytes(read_file(path), str(path)), str(path))


# -- certificates -----------------------------------------------------------------------------


def decode_report_bytes(data: bytes, path: str) -> bytes:
    """The 1184 raw report bytes from a binary, hex or base64 file."""
    if len(data) > MAX_SMALL_FILE:
        raise FormatError(path, "size", f"{len(data)} bytes is far larger than a report")
    if len(data) == L.REPORT_SIZE:
        return data
    text = b"".join(data.split())
    if not text:
        raise FormatError(path, "size", "the file is empty" if not data
                          else "the file holds only white space")
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
        if len(raw) == L.REPORT_SIZE:
            return raw
    sizes = " or ".join(dict.fromkeys(str(len(raw)) for raw in candidates))
    raise FormatError(path, "size", f"{len(data)} bytes is neither a {L.REPORT_SIZE}-byte report "
                      "nor its hex or base64 form" + (f" (decodes to {sizes} bytes)" if sizes
                                                      else ""))
