"""The SEV kernel hashes table QEMU writes for measured direct boot (``-kernel``).

Source: QEMU ``target/i386/sev.c`` (SevHashTable, PaddedSevHashTable) and edk2
``OvmfPkg/AmdSev/BlobVerifierLibSevHashes``. The table is padded to a multiple of 16 bytes.
"""
from __future__ import annotations

from functools import lru_cache

from . import lazy_layouts

from .ovmf import guid_bytes

HASH_TABLE_HEADER_GUID = guid_bytes("9438d606-4f22-4cc9-b479-a793d411fd21")
CMDLINE_ENTRY_GUID = guid_bytes("97d02dd8-bd20-4c94-aa78-e7714d36ab2a")
INITRD_ENTRY_GUID = guid_bytes("44baf731-3a2f-4bd7-9af1-41e29169781d")
KERNEL_ENTRY_GUID = guid_bytes("4de79437-abd2-427f-b835-d5b172d2045b")

HASH_ENTRY_LENGTH = 0x32
HASH_TABLE_LENGTH = 0xA8


PADDED_HASH_TABLE_SIZE = 0xB0


@lru_cache(maxsize=None)
def declarations() -> dict:
    from construct import Bytes, Const, Int16ul, Padding, Struct

    def entry(guid: bytes) -> Struct:
        return Struct(
            "guid" / Const(guid),
            "length" / Const(HASH_ENTRY_LENGTH, Int16ul),
            "sha256" / Bytes(32),
        )

    SevHashTable = Struct(
        "guid" / Const(HASH_TABLE_HEADER_GUID),
        "length" / Const(HASH_TABLE_LENGTH, Int16ul),
        "cmdline" / entry(CMDLINE_ENTRY_GUID),
        "initrd" / entry(INITRD_ENTRY_GUID),
        "kernel" / entry(KERNEL_ENTRY_GUID),
    )
    PaddedSevHashTable = Struct(
        "table" / SevHashTable,
        Padding(PADDED_HASH_TABLE_SIZE - HASH_TABLE_LENGTH),
    )
    return {"SevHashTable": SevHashTable, "PaddedSevHashTable": PaddedSevHashTable}


__getattr__ = lazy_layouts(declarations)
