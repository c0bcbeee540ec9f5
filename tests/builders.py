"""Build synthetic firmware images with the project's own construct declarations."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from snpmeasure.abi import ovmf as L

PAGE = 4096


def entry_bytes(guid: str, data: bytes) -> bytes:
    """One footer-table entry: data then its trailer (length, GUID)."""
    return data + L.TableEntryTrailer.build(
        {"length": len(data) + L.TABLE_ENTRY_TRAILER_SIZE, "guid": L.guid_bytes(guid)})


def metadata_bytes(sections, version: int = 1, signature: bytes = b"ASEV",
                   length: int | None = None, count: int | None = None) -> bytes:
    body = b"".join(L.SevMetadataSection.build({"gpa": g, "size": s, "type": t})
                    for g, s, t in sections)
    header = L.SevMetadataHeader.build({
        "length": len(body) + L.SEV_METADATA_HEADER_SIZE if length is None else length,
        "version": version,
        "num_desc": len(sections) if count is None else count,
    })
    return signature + header[4:] + body


@dataclass
class FirmwareSpec:
    """What a synthetic OVMF image declares; ``build()`` lays it out like edk2 does."""

    size: int = 16 * PAGE
    reset_address: int | None = 0x80B004
    hash_table: tuple[int, int] | None = (0x810C00, 0x400)
    secret_block: tuple[int, int] | None = (0x810000, 0xC00)
    sections: list = field(default_factory=lambda: [
        (0x800000, 0x9000, 1), (0x80A000, 0x3000, 1), (0x80D000, 0x1000, 2),
        (0x80E000, 0x1000, 3), (0x80F000, 0x1000, 4), (0x810000, 0x1000, 0x10),
        (0x811000, 0xF000, 1)])
    extra_entries: list = field(default_factory=list)  # (guid, data)
    metadata: bytes | None = None  # raw metadata instead of one built from ``sections``
    with_metadata: bool = True
    seed: int = 0

    def build(self) -> bytes:
        rng = random.Random(self.seed)
        image = bytearray(rng.randbytes(self.size))
        meta = self.metadata if self.metadata is not None else metadata_bytes(self.sections)
        entries = list(self.extra_entries)
        if self.reset_address is not None:
            entries.append((L.SEV_ES_RESET_BLOCK_GUID, self.reset_address.to_bytes(4, "little")))
        if self.secret_block is not None:
            entries.append((L.SEV_SECRET_BLOCK_GUID, _pair(*self.secret_block)))
        if self.hash_table is not None:
            entries.append((L.SEV_HASH_TABLE_BLOCK_GUID, _pair(*self.hash_table)))
        table_wo_meta = b"".join(entry_bytes(g, d) for g, d in entries)
        meta_entry_len = 4 + L.TABLE_ENTRY_TRAILER_SIZE if self.with_metadata else 0
        table_len = len(table_wo_meta) + meta_entry_len + L.TABLE_ENTRY_TRAILER_SIZE
        footer_end = self.size - L.FOOTER_OFFSET_FROM_END
        table_start = footer_end - table_len
        if self.with_metadata:
            meta_start = (table_start - len(meta) - 64) & ~0xF
            image[meta_start:meta_start + len(meta)] = meta
            table_wo_meta += entry_bytes(L.SEV_METADATA_OFFSET_GUID,
                                         (self.size - meta_start).to_bytes(4, "little"))
        # The footer entry's "data" is every other entry: its length covers the whole table.
        table = table_wo_meta + L.TableEntryTrailer.build(
            {"length": len(table_wo_meta) + L.TABLE_ENTRY_TRAILER_SIZE,
             "guid": L.guid_bytes(L.FOOTER_TABLE_GUID)})
        image[table_start:footer_end] = table
        return bytes(image)


def _pair(a: int, b: int) -> bytes:
    return a.to_bytes(4, "little") + b.to_bytes(4, "little")


def random_guid(rng: random.Random) -> str:
    return str(uuid.UUID(bytes=rng.randbytes(16)))
