"""vCPU signatures: the CPUID Fn0000_0001 EAX value KVM puts in RDX of each initial VMSA.

QEMU's named AMD EPYC models (``target/i386/cpu.c``, ``builtin_x86_defs``, read in the release
tarballs 8.2.2, 9.2.1, 10.0.13, 10.1.0, 10.2.2 and 11.1.1): no version of a model changes its
family, model or stepping, so every version has its base model's signature. The release that
first defines each version is recorded, so that a launch with a model the selected QEMU does not
know is refused. The encoding is AMD's CPUID specification (pub. 25481).

``-cpu host`` gives the host CPU's own signature: :data:`HOST_CPUS` lists the real EPYC parts.
"""
from __future__ import annotations

from ..errors import ConfigError

# name -> ((family, model, stepping), {version: first modelled QEMU release that defines it}).
# "8.2" means "in 8.2.2 already", the oldest release modelled; 10.1.0 added EPYC-v5,
# EPYC-Rome-v5, EPYC-Milan-v3, EPYC-Genoa-v2 and EPYC-Turin; 11.1.1 has EPYC-Milan-v4,
# EPYC-Genoa-v3 and EPYC-Turin-v2, which 10.2.2 lacks (11.0 was not read: they count from 11.1).
_MODELS = {
    "EPYC": ((23, 1, 2), {"v1": "8.2", "v2": "8.2", "v3": "8.2", "v4": "8.2", "v5": "10.1"}),
    "EPYC-Rome": ((23, 49, 0), {"v1": "8.2", "v2": "8.2", "v3": "8.2", "v4": "8.2",
                                "v5": "10.1"}),
    "EPYC-Milan": ((25, 1, 1), {"v1": "8.2", "v2": "8.2", "v3": "10.1", "v4": "11.1"}),
    "EPYC-Genoa": ((25, 17, 0), {"v1": "8.2", "v2": "10.1", "v3": "11.1"}),
    "EPYC-Turin": ((26, 0, 0), {"v1": "10.1", "v2": "11.1"}),
}
_ALIASES = {"EPYC-IBPB": ("EPYC", "v2")}  # QEMU's alias of EPYC-v2

# Real EPYC parts (CPUID Fn0000_0001 EAX), for guests started with -cpu host. Sources:
# illumos cpuid_subr.c amd_revmap (silicon revisions), Linux arch/x86/kernel/cpu/amd.c and
# microcode/amd.c tables (family/model/stepping), VMware ESX 9.0.1 release notes' microcode
# table (Milan-X, Genoa-X, Bergamo/Siena), Xen and XCP-ng microcode notes (BRH-C1 Turin,
# BRHD-B0 Turin Dense), lscpu output of EPYC 9654, 9754 and 8534P machines.
HOST_CPUS = {
    "Naples (EPYC 7001, ZP-B2)": 0x00800F12,
    "Rome (EPYC 7002, SSP-B0)": 0x00830F10,
    "Milan (EPYC 7003, GN-B1)": 0x00A00F11,
    "Milan-X (EPYC 7003X, GN-B2)": 0x00A00F12,
    "Genoa (EPYC 9004, RS-B1)": 0x00A10F11,
    "Genoa-X (EPYC 9004X, RS-B2)": 0x00A10F12,
    "Bergamo and Siena (EPYC 97x4, 8004, RSDN-A2)": 0x00AA0F02,
    "Turin (EPYC 9005, BRH-C1)": 0x00B00F21,
    "Turin Dense (EPYC 9005, BRHD-B0)": 0x00B10F10,
}


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


def decode_signature(signature: int) -> tuple[int, int, int]:
    """(family, model, stepping) of a CPUID signature (AMD pub. 25481, CPUID Fn0000_0001)."""
    base_family = (signature >> 8) & 0xF
    family = base_family + ((signature >> 20) & 0xFF if base_family == 0xF else 0)
    model = ((signature >> 16) & 0xF) << 4 | ((signature >> 4) & 0xF)
    return family, model, signature & 0xF


def signature_problem(signature: int) -> str | None:
    """Why no CPU reports ``signature``, or None: bits 31:28 and 15:12 of CPUID Fn0000_0001 EAX
    are reserved, and the extended family is reserved unless the base family is 0xF."""
    if signature & 0xF000F000:
        return f"sets reserved bits {signature & 0xF000F000:#x} (31:28, 15:12)"
    if (signature >> 8) & 0xF != 0xF and signature & 0x0FF00000:
        return "has an extended family with a base family below 0xF"
    return None


def _build_table() -> tuple[dict, dict]:
    table, since = {}, {}
    for base, (fms, versions) in _MODELS.items():
        table[base] = fms
        since[base] = versions["v1"]
        for version, release in versions.items():
            table[f"{base}-{version}"] = fms
            since[f"{base}-{version}"] = release
    for alias, (base, version) in _ALIASES.items():
        table[alias] = _MODELS[base][0]
        since[alias] = _MODELS[base][1][version]
    return table, since


CPU_MODELS, MODEL_SINCE = _build_table()
CPU_TYPES: tuple[str, ...] = tuple(CPU_MODELS)
_BY_FOLDED = {name.lower(): name for name in CPU_MODELS}


def canonical_cpu_type(name: str) -> str:
    """The QEMU spelling of a CPU model name given in any case."""
    folded = name.strip().lower()
    if folded == "host":
        raise ConfigError("--vcpu-type host: the vCPUs then have the host CPU's own signature, "
                          "which snpmeasure cannot know; give it with --vcpu-sig (Milan "
                          "0xa00f11, Milan-X 0xa00f12, Genoa 0xa10f11, Genoa-X 0xa10f12, "
                          "Bergamo/Siena 0xaa0f02, Turin 0xb00f21, Turin Dense 0xb10f10; "
                          "see docs/measurement.md) or let 'find' search them")
    try:
        return _BY_FOLDED[folded]
    except KeyError:
        raise ConfigError(f"--vcpu-type {name!r} is not a known CPU type "
                          f"(known: {', '.join(CPU_TYPES)}, or host with --vcpu-sig)") from None


def signature_of_type(name: str) -> int:
    return cpu_signature(*CPU_MODELS[canonical_cpu_type(name)])
