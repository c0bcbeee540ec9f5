"""The SNP guest policy (SPEC-NOTES section 7; AMD SEV-SNP ABI "Guest policy")."""
from __future__ import annotations

from .errors import ConfigError

DEFAULT_POLICY = 0x30000  # QEMU's default: SMT allowed, reserved bit 17

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


def check_policy(policy: int, flag: str = "--policy") -> int:
    if not 0 <= policy < 1 << 64:
        raise ConfigError(f"{flag} {policy:#x} does not fit in 64 bits")
    if policy & RESERVED_MASK:
        raise ConfigError(f"{flag} {policy:#x} sets reserved bits {policy & RESERVED_MASK:#x} "
                          "(63:26 must be zero)")
    if not policy & RESERVED_ONE:
        raise ConfigError(f"{flag} {policy:#x} lacks bit 17, which must be 1")
    return policy


def build_policy(base: int = DEFAULT_POLICY, *, abi_major: int | None = None,
                 abi_minor: int | None = None, **switches: bool | None) -> int:
    """``base`` (which must be valid) with the given bits switched on or off (None: unchanged)."""
    policy = check_policy(base)
    for name, value in switches.items():
        if name not in POLICY_BITS or name == "reserved_17":
            raise ConfigError(f"unknown policy switch {name!r}")
        if value is None:
            continue
        bit = 1 << POLICY_BITS[name]
        policy = policy | bit if value else policy & ~bit
    for name, value, shift in (("--abi-major", abi_major, 8), ("--abi-minor", abi_minor, 0)):
        if value is None:
            continue
        if not 0 <= value <= 0xFF:
            raise ConfigError(f"{name} {value} is outside 0..255")
        policy = (policy & ~(0xFF << shift)) | (value << shift)
    return check_policy(policy)


def decode_policy(policy: int) -> dict:
    decoded = {"abi_minor": policy & 0xFF, "abi_major": (policy >> 8) & 0xFF}
    for name, bit in POLICY_BITS.items():
        decoded[name] = bool(policy >> bit & 1)
    decoded["reserved_bits"] = policy & RESERVED_MASK
    return decoded
