"""SNP launch-digest structures.

PAGE_INFO is the structure SNP_LAUNCH_UPDATE hashes for every page (AMD SEV-SNP firmware ABI
specification, "PAGE_INFO", table 67 in revision 1.55).
"""
from __future__ import annotations

import enum
from functools import lru_cache

from . import lazy_layouts

DIGEST_SIZE = 48
PAGE_INFO_LENGTH = 0x70
# KVM's placeholder GPA for VMSA pages (all bits of a 52-bit page frame set).
VMSA_GPA = 0xFFFFFFFFF000


class PageType(enum.IntEnum):
    NORMAL = 1
    VMSA = 2
    ZERO = 3
    UNMEASURED = 4
    SECRETS = 5
    CPUID = 6


# Types whose contents field is the SHA-384 of the page; every other type hashes 48 zero bytes.
HASHED_PAGE_TYPES = frozenset({PageType.NORMAL, PageType.VMSA})


@lru_cache(maxsize=None)
def declarations() -> dict:
    """The construct declarations (imported on first use: construct is slow to import)."""
    from construct import Bytes, Const, Int8ul, Int16ul, Int64ul, Padding, Struct

    PageInfo = Struct(
        "digest_cur" / Bytes(DIGEST_SIZE),        # 0x00
        "contents" / Bytes(DIGEST_SIZE),          # 0x30
        "length" / Const(PAGE_INFO_LENGTH, Int16ul),  # 0x60
        "page_type" / Int8ul,                     # 0x62
        "imi_page" / Int8ul,                      # 0x63
        Padding(4),                               # 0x64 reserved, VMPL1..3 permissions: zero for KVM
        "gpa" / Int64ul,                          # 0x68
    )
    return {"PageInfo": PageInfo}


__getattr__ = lazy_layouts(declarations)
