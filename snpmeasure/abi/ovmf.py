"""OVMF firmware layouts: the footer GUID table, its entries, and the SEV metadata.

Sources: edk2 ``OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`` (footer GUID table) and
``OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`` (SEV metadata), QEMU ``hw/i386/pc_sysfw_ovmf.c``
and ``target/i386/sev.c``. All integers little-endian.
"""
from __future__ import annotations

import enum

from functools import lru_cache

from . import lazy_layouts


def _swap(raw: bytes) -> bytes:
    # the first three GUID fields are little-endian (uuid's bytes_le); the rest as written
    return raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]


def guid_bytes(text: str) -> bytes:
    """A GUID as stored in firmware: the mixed-endian ``bytes_le`` form."""
    raw = bytes.fromhex(text.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"{text!r} is not a GUID")
    return _swap(raw)


def guid_text(raw: bytes) -> str:
    """The canonical text of a GUID stored in ``bytes_le`` form."""
    h = _swap(bytes(raw)).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Footer GUID table: entries are read backwards from 32 bytes before the end of the image.
FOOTER_TABLE_GUID = "96b582de-1fb2-45f7-baea-a366c55a082d"
SEV_ES_RESET_BLOCK_GUID = "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
SEV_HASH_TABLE_BLOCK_GUID = "7255371f-3a3b-4b04-927b-1da6efa8d454"
SEV_SECRET_BLOCK_GUID = "4c2eb361-7d9b-4cc3-8081-127c90d3d294"
SEV_METADATA_OFFSET_GUID = "dc886566-984a-4798-a75e-5585a7bf67cc"
SVSM_INFO_GUID = "a789a612-0597-4c4b-a49f-cbb1fe9d1ddd"

KNOWN_TABLE_ENTRIES = {
    FOOTER_TABLE_GUID: "footer table",
    SEV_ES_RESET_BLOCK_GUID: "SEV-ES reset block",
    SEV_HASH_TABLE_BLOCK_GUID: "SEV hash-table block",
    SEV_SECRET_BLOCK_GUID: "SEV secret block",
    SEV_METADATA_OFFSET_GUID: "SEV metadata offset",
    SVSM_INFO_GUID: "SVSM info",
}

FOOTER_OFFSET_FROM_END = 32

TABLE_ENTRY_TRAILER_SIZE = 18  # u16 length + GUID
SEV_METADATA_HEADER_SIZE = 16
SEV_METADATA_SECTION_SIZE = 12
SEV_METADATA_SIGNATURE = b"ASEV"
SEV_METADATA_VERSION = 1

# Entry payloads (only the leading bytes are defined; firmware may carry more): codec names.
ENTRY_PAYLOADS = {
    SEV_ES_RESET_BLOCK_GUID: "ovmf.SevEsResetBlock",
    SEV_HASH_TABLE_BLOCK_GUID: "ovmf.SevHashTableBlock",
    SEV_SECRET_BLOCK_GUID: "ovmf.SevSecretBlock",
    SEV_METADATA_OFFSET_GUID: "ovmf.SevMetadataOffset",
    SVSM_INFO_GUID: "ovmf.SvsmInfo",
}


@lru_cache(maxsize=None)
def declarations() -> dict:
    """The construct declarations (imported on first use: construct is slow to import)."""
    from construct import Bytes, Const, Int16ul, Int32ul, Struct

    # The trailer of every table entry: its data comes before it.
    TableEntryTrailer = Struct(
        "length" / Int16ul,  # data + this trailer (18 bytes)
        "guid" / Bytes(16),
    )
    SevEsResetBlock = Struct("reset_address" / Int32ul)
    SevHashTableBlock = Struct("base" / Int32ul, "size" / Int32ul)
    SevSecretBlock = Struct("base" / Int32ul, "size" / Int32ul)
    SevMetadataOffset = Struct("offset_from_end" / Int32ul)
    SvsmInfo = Struct("launch_offset" / Int32ul)
    # SEV metadata (OvmfSevMetadata.asm): header then ``num_desc`` section descriptors.
    SevMetadataHeader = Struct(
        "signature" / Const(SEV_METADATA_SIGNATURE),
        "length" / Int32ul,  # header + descriptors
        "version" / Int32ul,
        "num_desc" / Int32ul,
    )
    SevMetadataSection = Struct(
        "gpa" / Int32ul,
        "size" / Int32ul,
        "type" / Int32ul,
    )
    return {k: v for k, v in locals().items() if isinstance(v, Struct)}


__getattr__ = lazy_layouts(declarations)


class SectionType(enum.IntEnum):
    """SEV metadata section types (OvmfSevMetadata.asm)."""

    SNP_SEC_MEM = 1
    SNP_SECRETS = 2
    CPUID = 3
    SVSM_CAA = 4
    SNP_KERNEL_HASHES = 0x10


def section_type_name(value: int) -> str:
    try:
        return SectionType(value).name
    except ValueError:
        return f"unknown type {value:#x}"
