"""IGVM (Independent Guest Virtual Machine) file layouts.

Source: microsoft/igvm ``igvm_defs`` (SPEC-NOTES section 9). All integers little-endian; every
variable header is ``u32 type | u32 length`` and its payload, padded to 8 bytes.
"""
from __future__ import annotations

import enum
from functools import lru_cache

from . import lazy_layouts

IGVM_MAGIC = 0x4D564749  # "IGVM"
PAGE_SIZE_4K = 0x1000
PAGE_SIZE_2M = 0x200000
VARIABLE_HEADER_ALIGNMENT = 8
FIXED_HEADER_V1_SIZE = 24
FIXED_HEADER_V2_SIZE = 32


class HeaderType(enum.IntEnum):
    SUPPORTED_PLATFORM = 0x001
    GUEST_POLICY = 0x101
    RELOCATABLE_REGION = 0x102
    PAGE_TABLE_RELOCATION_REGION = 0x103
    PARAMETER_AREA = 0x301
    PAGE_DATA = 0x302
    PARAMETER_INSERT = 0x303
    VP_CONTEXT = 0x304
    REQUIRED_MEMORY = 0x305
    VP_COUNT_PARAMETER = 0x307
    SRAT = 0x308
    MADT = 0x309
    MMIO_RANGES = 0x30A
    SNP_ID_BLOCK = 0x30B
    MEMORY_MAP = 0x30C
    ERROR_RANGE = 0x30D
    COMMAND_LINE = 0x30E
    SLIT = 0x30F
    PPTT = 0x310
    VBS_MEASUREMENT = 0x311
    DEVICE_TREE = 0x312
    ENVIRONMENT_INFO_PARAMETER = 0x313


IGNORABLE_BIT = 0x80000000  # a loader may skip a header with this bit set


class Platform(enum.IntEnum):
    NATIVE = 0
    VSM_ISOLATION = 1
    SEV_SNP = 2
    TDX = 3
    SEV = 4
    SEV_ES = 5


class PageDataType(enum.IntEnum):
    NORMAL = 0
    SECRETS = 1
    CPUID_DATA = 2
    CPUID_XF = 3


PAGE_FLAG_2MB = 1 << 0
PAGE_FLAG_UNMEASURED = 1 << 1
PAGE_FLAG_SHARED = 1 << 2


# Parameter usage headers (VP_COUNT_PARAMETER, SRAT, MADT, MEMORY_MAP, COMMAND_LINE, ...)


# The payload layout (codec name) of each header type this project interprets; the others are
# recognised and skipped (their payload is only bounds-checked).
PAYLOADS = {
    HeaderType.SUPPORTED_PLATFORM: "igvm.SupportedPlatform",
    HeaderType.GUEST_POLICY: "igvm.GuestPolicy",
    HeaderType.PAGE_DATA: "igvm.PageData",
    HeaderType.PARAMETER_AREA: "igvm.ParameterArea",
    HeaderType.PARAMETER_INSERT: "igvm.ParameterInsert",
    HeaderType.VP_CONTEXT: "igvm.VpContext",
    HeaderType.REQUIRED_MEMORY: "igvm.RequiredMemory",
    HeaderType.SNP_ID_BLOCK: "igvm.SnpIdBlock",
    HeaderType.VP_COUNT_PARAMETER: "igvm.ParameterUsage",
    HeaderType.MEMORY_MAP: "igvm.ParameterUsage",
    HeaderType.COMMAND_LINE: "igvm.ParameterUsage",
    HeaderType.SRAT: "igvm.ParameterUsage",
    HeaderType.MADT: "igvm.ParameterUsage",
    HeaderType.MMIO_RANGES: "igvm.ParameterUsage",
    HeaderType.SLIT: "igvm.ParameterUsage",
    HeaderType.PPTT: "igvm.ParameterUsage",
    HeaderType.DEVICE_TREE: "igvm.ParameterUsage",
    HeaderType.ENVIRONMENT_INFO_PARAMETER: "igvm.ParameterUsage",
}


@lru_cache(maxsize=None)
def declarations() -> dict:
    """The construct declarations (imported on first use: construct is slow to import)."""
    from construct import Bytes, Int8ul, Int16ul, Int32ul, Int64ul, Struct

    FixedHeaderV1 = Struct(
        "magic" / Int32ul,
        "format_version" / Int32ul,
        "variable_header_offset" / Int32ul,
        "variable_header_size" / Int32ul,
        "total_file_size" / Int32ul,
        "checksum" / Int32ul,      # CRC-32 of this header (checksum zero) + variable headers
    )
    FixedHeaderV2 = Struct(
        *FixedHeaderV1.subcons,
        "architecture" / Int32ul,  # 0 x64, 1 AArch64
        "page_size" / Int32ul,
    )
    VariableHeaderPrefix = Struct("type" / Int32ul, "length" / Int32ul)
    SupportedPlatform = Struct(
        "compatibility_mask" / Int32ul,
        "highest_vtl" / Int8ul,
        "platform_type" / Int8ul,
        "platform_version" / Int16ul,
        "shared_gpa_boundary" / Int64ul,
    )
    GuestPolicy = Struct(
        "policy" / Int64ul,
        "compatibility_mask" / Int32ul,
        "reserved" / Int32ul,
    )
    PageData = Struct(
        "gpa" / Int64ul,
        "compatibility_mask" / Int32ul,
        "file_offset" / Int32ul,
        "flags" / Int32ul,
        "data_type" / Int16ul,
        "reserved" / Int16ul,
    )
    ParameterArea = Struct(
        "number_of_bytes" / Int64ul,
        "parameter_area_index" / Int32ul,
        "file_offset" / Int32ul,
    )
    ParameterInsert = Struct(
        "gpa" / Int64ul,
        "compatibility_mask" / Int32ul,
        "parameter_area_index" / Int32ul,
    )
    VpContext = Struct(
        "gpa" / Int64ul,
        "compatibility_mask" / Int32ul,
        "file_offset" / Int32ul,
        "vp_index" / Int16ul,
        "reserved" / Int16ul,
    )
    ParameterUsage = Struct("parameter_area_index" / Int32ul, "byte_offset" / Int32ul)
    RequiredMemory = Struct(
        "gpa" / Int64ul,
        "compatibility_mask" / Int32ul,
        "number_of_bytes" / Int32ul,
        "flags" / Int32ul,
        "reserved" / Int32ul,
    )
    SnpIdBlockSignature = Struct("r_comp" / Bytes(72), "s_comp" / Bytes(72))
    SnpIdBlockPublicKey = Struct("curve" / Int32ul, "reserved" / Int32ul,
                                 "qx" / Bytes(72), "qy" / Bytes(72))
    SnpIdBlock = Struct(
        "compatibility_mask" / Int32ul,
        "author_key_enabled" / Int8ul,
        "reserved" / Bytes(3),
        "ld" / Bytes(48),
        "family_id" / Bytes(16),
        "image_id" / Bytes(16),
        "version" / Int32ul,
        "guest_svn" / Int32ul,
        "id_key_algorithm" / Int32ul,
        "author_key_algorithm" / Int32ul,
        "id_key_signature" / SnpIdBlockSignature,
        "id_public_key" / SnpIdBlockPublicKey,
        "author_key_signature" / SnpIdBlockSignature,
        "author_public_key" / SnpIdBlockPublicKey,
    )
    return {"FixedHeaderV1": FixedHeaderV1, "FixedHeaderV2": FixedHeaderV2, "VariableHeaderPrefix": VariableHeaderPrefix, "SupportedPlatform": SupportedPlatform, "GuestPolicy": GuestPolicy, "PageData": PageData, "ParameterArea": ParameterArea, "ParameterInsert": ParameterInsert, "VpContext": VpContext, "ParameterUsage": ParameterUsage, "RequiredMemory": RequiredMemory, "SnpIdBlockSignature": SnpIdBlockSignature, "SnpIdBlockPublicKey": SnpIdBlockPublicKey, "SnpIdBlock": SnpIdBlock}


__getattr__ = lazy_layouts(declarations)
