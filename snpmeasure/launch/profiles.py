"""VMM profiles: how each host stack lays out a launch, as data.

A profile says how SEV metadata sections are measured and what the initial vCPU state (VMSA)
holds. Values come from ``SPEC-NOTES.md`` section 5 (QEMU/KVM from QEMU ``target/i386`` and
Linux ``arch/x86/kvm/svm/sev.c``; EC2 and GCE as published by virtee/sev-snp-measure and
google/gce-tcb-verifier).
"""
from __future__ import annotations

from collections import namedtuple
from types import MappingProxyType
from collections.abc import Mapping

from ..abi.snp import VMSA_GPA, PageType
from ..errors import ConfigError

BSP_EIP = 0xFFFFFFF0

# KVM's reset FPU state, copied into the VMSA with KVM_SEV_INIT2 (Linux 6.10+).
FPU_INIT2 = MappingProxyType({"mxcsr": 0x1F80, "x87_fcw": 0x37F})
FPU_ZERO = MappingProxyType({"mxcsr": 0, "x87_fcw": 0})


def _segment(selector: int, attrib: int, limit: int, base: int = 0) -> dict:
    return {"selector": selector, "attrib": attrib, "limit": limit, "base": base}


# The x86 reset state as KVM places it in the VMSA (SPEC-NOTES section 5); ``cs.base`` and
# ``rip`` are filled from the entry EIP, ``rdx`` and ``sev_features`` per launch.
RESET_STATE: Mapping[str, object] = MappingProxyType({
    "es": _segment(0, 0x93, 0xFFFF),
    "cs": _segment(0xF000, 0x9B, 0xFFFF),
    "ss": _segment(0, 0x93, 0xFFFF),
    "ds": _segment(0, 0x93, 0xFFFF),
    "fs": _segment(0, 0x93, 0xFFFF),
    "gs": _segment(0, 0x93, 0xFFFF),
    "gdtr": _segment(0, 0, 0xFFFF),
    "ldtr": _segment(0, 0x82, 0xFFFF),
    "idtr": _segment(0, 0, 0xFFFF),
    "tr": _segment(0, 0x8B, 0xFFFF),
    "efer": 0x1000,        # EFER.SVME
    "cr4": 0x40,           # CR4.MCE
    "cr0": 0x10,           # CR0.ET
    "dr7": 0x400,
    "dr6": 0xFFFF0FF0,
    "rflags": 0x2,
    "g_pat": 0x0007040600070406,
    "xcr0": 0x1,
})

# COCONUT-SVSM entry state (pre-IGVM QEMU stack, SPEC-NOTES section 6): flat 32-bit protected
# mode at the SVSM entry point; ``rip`` is the full EIP.
SVSM_ENTRY_STATE: Mapping[str, object] = MappingProxyType({
    "es": _segment(16, 0xC93, 0xFFFFFFFF),
    "cs": _segment(8, 0xC9B, 0xFFFFFFFF),
    "ss": _segment(16, 0xC93, 0xFFFFFFFF),
    "ds": _segment(16, 0xC93, 0xFFFFFFFF),
    "fs": _segment(16, 0xC93, 0xFFFFFFFF),
    "gs": _segment(0, 0x93, 0xFFFF),
    "cr0": 0x11,
})


_PROFILE_FIELDS = (
    "name",                               # QEMU, ec2, gce
    "description",
    # SNP metadata rules
    "sec_mem_page_type",                  # page type of SNP_SEC_MEM pages
    "cpuid_after_other_sections",         # EC2 measures CPUID sections last
    "unknown_sections_measured_as_zero",  # else unknown section types are refused
    # VMSA rules
    "vmsa_overrides",                     # field values replacing the reset state
    "cs_attrib_at_reset_vector",          # cs attrib when EIP is 0xFFFFFFF0 (None: unchanged)
    "fixed_rdx",                          # None: the vCPU signature
    "fixed_fpu",                          # None: decided by legacy_vm_type
    "supports_svsm",
    # host-stack rules
    "vmsa_gpa_bits",                      # None: KVM's fixed VMSA GPA; else product -> width
    "sec_mem_rule",                       # source of the SNP_SEC_MEM page type
    "cpuid_rule",                         # source of where CPUID sections are measured
)


class VmmProfile(namedtuple("VmmProfile", _PROFILE_FIELDS, defaults=(
        PageType.ZERO, False, False, MappingProxyType({}), None, None, None, False, None,
        "QEMU target/i386/sev.c snp_populate_metadata_pages(): SNP_SEC_MEM -> "
        "KVM_SEV_SNP_PAGE_TYPE_ZERO",
        "QEMU target/i386/sev.c snp_populate_metadata_pages(): sections in file order"))):
    """Everything that differs between host stacks, as data."""

    __slots__ = ()

    @property
    def needs_vcpu_signature(self) -> bool:
        return self.fixed_rdx is None

    @property
    def has_legacy_vm_type(self) -> bool:
        return self.fixed_fpu is None

    @property
    def is_qemu(self) -> bool:
        """Whether the stack is QEMU/KVM (whose release and KVM rules apply)."""
        return self.name == "QEMU"

    def vmsa_gpa(self, product: str | None) -> int:
        """The GPA the host measures VMSA pages at (rules "vmsa-gpa", "gce-vmsa-gpa"); a
        product without a published rule gets Milan's (the configuration warns or refuses)."""
        if self.vmsa_gpa_bits is None:
            return VMSA_GPA
        bits = self.vmsa_gpa_bits.get(product, self.vmsa_gpa_bits["Milan"])
        return ((1 << bits) - 1) & ~0xFFF


QEMU = VmmProfile(
    name="QEMU",
    description="QEMU/KVM",
    unknown_sections_measured_as_zero=True,
    supports_svsm=True,
)

EC2 = VmmProfile(
    name="ec2",
    description="Amazon EC2",
    cpuid_after_other_sections=True,
    vmsa_overrides=MappingProxyType({
        "ss": _segment(0, 0x92, 0xFFFF),
        "tr": _segment(0, 0x83, 0xFFFF),
    }),
    cs_attrib_at_reset_vector=0x9A,
    fixed_rdx=0x600,
    fixed_fpu=FPU_ZERO,
    cpuid_rule="virtee/sev-snp-measure gctx/ovmf: EC2 measures CPUID sections after all the "
               "others",
)

GCE = VmmProfile(
    name="gce",
    description="Google Compute Engine",
    sec_mem_page_type=PageType.UNMEASURED,
    vmsa_overrides=MappingProxyType({"g_pat": 0x00070106}),
    fixed_rdx=0x600,
    fixed_fpu=FPU_ZERO,
    vmsa_gpa_bits=MappingProxyType({"Milan": 48, "Genoa": 52}),
    sec_mem_rule="google/gce-tcb-verifier sev/ld_from_ovmf.go: SEC_MEM -> UNMEASURED",
)

PROFILES: Mapping[str, VmmProfile] = MappingProxyType({p.name: p for p in (QEMU, EC2, GCE)})
VMM_TYPES = tuple(PROFILES)


def profile_named(name: str) -> VmmProfile:
    """The profile for a VMM type name given in any case (QEMU, ec2, gce)."""
    for profile in PROFILES.values():
        if profile.name.lower() == name.strip().lower():
            return profile
    raise ConfigError(f"--vmm-type {name!r} is not a known VMM type (known: {', '.join(VMM_TYPES)})")
