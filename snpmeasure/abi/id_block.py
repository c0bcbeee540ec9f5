"""SNP_LAUNCH_FINISH structures: the ID block, the ID authentication information structure, and
the SEV ECDSA signature and public-key formats.

Source: AMD SEV-SNP firmware ABI specification, "ID_BLOCK", "ID_AUTH", "ECDSA signature" and
"ECDSA public key" tables (SPEC-NOTES section 7). Integers are little-endian; r, s, qx, qy are
zero-padded to 72 bytes.
"""
from __future__ import annotations

from functools import lru_cache

from . import lazy_layouts

ID_BLOCK_SIZE = 0x60
ID_AUTH_SIZE = 0x1000
SIGNATURE_SIZE = 0x200
PUBLIC_KEY_SIZE = 0x404
COMPONENT_SIZE = 72          # r, s, qx, qy
ALGO_ECDSA_P384_SHA384 = 1
CURVE_P384 = 2

@lru_cache(maxsize=None)
def declarations() -> dict:
    """The construct declarations (imported on first use: construct is slow to import)."""
    from construct import Bytes, Int32ul, Int64ul, Padding, Struct

    IdBlock = Struct(
        "ld" / Bytes(48),           # 0x00 expected launch digest
        "family_id" / Bytes(16),    # 0x30
        "image_id" / Bytes(16),     # 0x40
        "version" / Int32ul,        # 0x50 (1)
        "guest_svn" / Int32ul,      # 0x54
        "policy" / Int64ul,         # 0x58
    )

    EcdsaSignature = Struct(
        "r" / Bytes(COMPONENT_SIZE),
        "s" / Bytes(COMPONENT_SIZE),
        Padding(SIGNATURE_SIZE - 2 * COMPONENT_SIZE),
    )

    EcdsaPublicKey = Struct(
        "curve" / Int32ul,
        "qx" / Bytes(COMPONENT_SIZE),
        "qy" / Bytes(COMPONENT_SIZE),
        Padding(PUBLIC_KEY_SIZE - 4 - 2 * COMPONENT_SIZE),
    )

    IdAuth = Struct(
        "id_key_algo" / Int32ul,                 # 0x000
        "auth_key_algo" / Int32ul,               # 0x004
        Padding(0x38),                           # 0x008 reserved
        "id_block_sig" / Bytes(SIGNATURE_SIZE),  # 0x040
        "id_pubkey" / Bytes(PUBLIC_KEY_SIZE),    # 0x240
        Padding(0x3C),                           # 0x644 reserved
        "id_key_sig" / Bytes(SIGNATURE_SIZE),    # 0x680
        "author_pubkey" / Bytes(PUBLIC_KEY_SIZE),  # 0x880
        Padding(0x37C),                          # 0xC84 reserved
    )
    return {"IdBlock": IdBlock, "EcdsaSignature": EcdsaSignature, "EcdsaPublicKey": EcdsaPublicKey, "IdAuth": IdAuth}


__getattr__ = lazy_layouts(declarations)
