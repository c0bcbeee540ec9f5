"""The SNP guest policy bit layout (AMD SEV-SNP firmware ABI, "Guest policy"; SPEC-NOTES 7)."""
from __future__ import annotations

# name -> bit; each is also a readable switch of ``snpmeasure id-block``.
POLICY_BITS = {
    "smt": 16,
    "reserved_17": 17,
    "migrate_ma": 18,
    "debug": 19,
    "single_socket": 20,
    "cxl_allowed": 21,
    "mem_aes_256_xts": 22,
    "rapl_disable": 23,
    "ciphertext_hiding": 24,
    "page_swap_disable": 25,
}
RESERVED_MASK = ~((1 << 26) - 1) & ((1 << 64) - 1)  # bits 63:26 must be zero
RESERVED_ONE = 1 << 17


def decode_policy(policy: int) -> dict:
    decoded = {"abi_minor": policy & 0xFF, "abi_major": (policy >> 8) & 0xFF}
    for name, bit in POLICY_BITS.items():
        decoded[name] = bool(policy >> bit & 1)
    decoded["reserved_bits"] = policy & RESERVED_MASK
    return decoded
