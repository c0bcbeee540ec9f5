"""Checking and building SNP guest policies (the bit layout is ``abi.policy``)."""
from __future__ import annotations

from ..abi.policy import POLICY_BITS, RESERVED_MASK, RESERVED_ONE
from ..errors import ConfigError

DEFAULT_POLICY = 0x30000  # QEMU's default: SMT allowed, reserved bit 17


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
