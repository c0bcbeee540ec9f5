"""vCPU signatures: the CPUID Fn0000_0001 EAX value KVM puts in RDX of each initial VMSA.

Family/model/stepping of QEMU's named AMD EPYC models come from QEMU ``target/i386/cpu.c``
(``builtin_x86_defs``); every versioned alias (``-v1`` ... and ``EPYC-IBPB``) keeps its base
model's family, model and stepping. The encoding is AMD's CPUID specification (pub. 25481).
"""
from __future__ import annotations

from ..errors import ConfigError

# name -> (family, model, stepping); versions as defined by QEMU up to 10.1.
_MODELS = {
    "EPYC": ((23, 1, 2), ("v1", "v2", "v3", "v4", "v5")),
    "EPYC-Rome": ((23, 49, 0), ("v1", "v2", "v3", "v4", "v5")),
    "EPYC-Milan": ((25, 1, 1), ("v1", "v2", "v3")),
    "EPYC-Genoa": ((25, 17, 0), ("v1", "v2")),
    "EPYC-Turin": ((26, 0, 0), ("v1",)),
}
_ALIASES = {"EPYC-IBPB": "EPYC"}  # QEMU's alias of EPYC-v2


def cpu_signature(family: int, model: int, stepping: int) -> int:
    """Encode family/model/stepping as the 32-bit CPUID signature."""
    for name, value, limit in (("family", family, 0xFF + 0xF), ("model", model, 0xFF),
                               ("stepping", stepping, 0xF)):
        if not 0 <= value <= limit:
            raise ConfigError(f"--vcpu-{name} {value} is outside 0..{limit}")
    if family > 0xF:
        base_family, ext_family = 0xF, family - 0xF
    else:
        base_family, ext_family = family, 0
    return (ext_family << 20) | ((model >> 4) << 16) | (base_family << 8) | ((model & 0xF) << 4) \
        | stepping


def _build_table() -> dict[str, tuple[int, int, int]]:
    table = {}
    for base, (fms, versions) in _MODELS.items():
        table[base] = fms
        for version in versions:
            table[f"{base}-{version}"] = fms
    for alias, base in _ALIASES.items():
        table[alias] = _MODELS[base][0]
    return table


CPU_MODELS: dict[str, tuple[int, int, int]] = _build_table()
CPU_TYPES: tuple[str, ...] = tuple(CPU_MODELS)
_BY_FOLDED = {name.lower(): name for name in CPU_MODELS}


def canonical_cpu_type(name: str) -> str:
    """The QEMU spelling of a CPU model name given in any case."""
    try:
        return _BY_FOLDED[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"--vcpu-type {name!r} is not a known CPU type "
                          f"(known: {', '.join(CPU_TYPES)})") from None


def signature_of_type(name: str) -> int:
    return cpu_signature(*CPU_MODELS[canonical_cpu_type(name)])
