"""Write IGVM files with the same construct layouts the parser uses (for tests and tooling)."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from ..abi import igvm as L
from ..abi.codec import codec


@dataclass
class _Entry:
    type: int
    layout: object | None
    values: dict
    raw: bytes | None = None
    blob: bytes | None = None  # file data referenced through values["file_offset"]


@dataclass
class IgvmWriter:
    """Collects headers in order; ``build()`` lays out headers, then file data."""

    entries: list = field(default_factory=list)

    def _add(self, kind, values=None, blob=None, raw=None):
        name = L.PAYLOADS.get(kind)
        self.entries.append(_Entry(int(kind), codec(name) if name else None, values or {}, raw,
                                   blob))
        return self

    def platform(self, compatibility_mask=1, platform_type=L.Platform.SEV_SNP, highest_vtl=0,
                 version=1, shared_gpa_boundary=0):
        return self._add(L.HeaderType.SUPPORTED_PLATFORM, {
            "compatibility_mask": compatibility_mask, "highest_vtl": highest_vtl,
            "platform_type": int(platform_type), "platform_version": version,
            "shared_gpa_boundary": shared_gpa_boundary})

    def guest_policy(self, policy=0x30000, compatibility_mask=1):
        return self._add(L.HeaderType.GUEST_POLICY, {"policy": policy,
                                                     "compatibility_mask": compatibility_mask,
                                                     "reserved": 0})

    def page_data(self, gpa, data=None, compatibility_mask=1, flags=0,
                  data_type=L.PageDataType.NORMAL):
        return self._add(L.HeaderType.PAGE_DATA, {
            "gpa": gpa, "compatibility_mask": compatibility_mask, "flags": flags,
            "data_type": int(data_type), "reserved": 0}, blob=data)

    def parameter_area(self, index, number_of_bytes, data=None):
        return self._add(L.HeaderType.PARAMETER_AREA, {
            "number_of_bytes": number_of_bytes, "parameter_area_index": index}, blob=data)

    def parameter_insert(self, gpa, index, compatibility_mask=1):
        return self._add(L.HeaderType.PARAMETER_INSERT, {
            "gpa": gpa, "compatibility_mask": compatibility_mask, "parameter_area_index": index})

    def parameter_usage(self, kind, index, byte_offset=0):
        return self._add(kind, {"parameter_area_index": index, "byte_offset": byte_offset})

    def vp_context(self, gpa, vmsa=None, compatibility_mask=1, vp_index=0):
        return self._add(L.HeaderType.VP_CONTEXT, {
            "gpa": gpa, "compatibility_mask": compatibility_mask, "vp_index": vp_index,
            "reserved": 0}, blob=vmsa)

    def snp_id_block(self, values: dict):
        return self._add(L.HeaderType.SNP_ID_BLOCK, values)

    def raw_header(self, kind: int, payload: bytes):
        return self._add(kind, raw=payload)

    def build(self, padding: bytes = b"\x00", format_version: int = 1) -> bytes:
        fixed = codec("igvm.FixedHeaderV1" if format_version == 1 else "igvm.FixedHeaderV2")

        def body(entry, offset):
            if entry.raw is not None:
                return entry.raw
            values = dict(entry.values)
            if "file_offset" in entry.layout.names:
                values["file_offset"] = offset
            return entry.layout.build(values)

        sizes = [len(body(e, 0)) for e in self.entries]
        section = sum(8 + n + (-(8 + n) % 8) for n in sizes)
        start = fixed.sizeof() + (-fixed.sizeof() % 8)
        data_at = start + section
        headers, data = bytearray(), bytearray()
        for entry in self.entries:
            offset = 0
            if entry.blob is not None:
                offset = data_at + len(data)
                data += entry.blob
            payload = body(entry, offset)
            chunk = codec("igvm.VariableHeaderPrefix").build({"type": entry.type,
                                                              "length": len(payload)})
            chunk += payload
            headers += chunk + (padding * 8)[:-len(chunk) % 8 or 0]
        total = data_at + len(data)
        values = {"magic": L.IGVM_MAGIC, "format_version": format_version,
                  "variable_header_offset": start, "variable_header_size": len(headers),
                  "total_file_size": total, "checksum": 0}
        if format_version == 2:
            values.update(architecture=0, page_size=L.PAGE_SIZE_4K)
        head = fixed.build(values)
        values["checksum"] = zlib.crc32(bytes(headers), zlib.crc32(head)) & 0xFFFFFFFF
        head = fixed.build(values)
        return head + bytes(start - len(head)) + bytes(headers) + bytes(data)
