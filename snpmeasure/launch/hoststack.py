"""The host stack a launch runs on: the VMM and its release, and the KVM behaviour that follows.

Every rule that decides a value of the measurement, or refuses a launch the host would refuse,
is listed in :data:`RULES` with its upstream source; the table in docs/measurement.md ("Host
stacks") is :func:`rules_markdown` (a test keeps them equal) and ``explain`` prints the rules
that decided a launch.

Defaults follow current upstream: QEMU 11.1 with a Linux KVM that has KVM_SEV_INIT2 (6.10+)
and SEV-SNP (6.11+). ``--qemu-version`` selects an older QEMU. A refusal can be turned into a
warning with ``--no-host-checks`` (patched host stacks; test vectors that hash synthetic inputs).
"""
from __future__ import annotations

import warnings

from ..errors import ConfigError, HostRuleError, HostRuleWarning, SnpMeasureWarning

QEMU_RELEASES = ("8.2", "9.0", "9.1", "9.2", "10.0", "10.1", "10.2", "11.0", "11.1")
CURRENT_QEMU = "11.1"

# SEV_FEATURES bits (AMD APM vol. 2, "SEV_FEATURES"; Linux arch/x86/include/asm/svm.h).
SNP_ACTIVE = 1 << 0
DEBUG_SWAP = 1 << 5
SECURE_TSC = 1 << 9
FEATURE_NAMES = {0: "SNPActive", 1: "vTOM", 2: "ReflectVC", 3: "RestrictedInjection",
                 4: "AlternateInjection", 5: "DebugSwap", 6: "PreventHostIBS",
                 7: "BTBIsolation", 8: "VmplSSS", 9: "SecureTSC", 10: "VmgexitParameter",
                 12: "IbsVirtualization", 14: "VmsaRegProt", 15: "SmtProtection"}

# rule id -> (what it decides, upstream source)
RULES = {
    "seves-vm-type": (
        "QEMU's sev-guest uses the legacy KVM VM type by default (legacy-vm-type=auto), so KVM "
        "leaves the VMSA's FPU state (mxcsr, x87_fcw) zero",
        "QEMU target/i386/sev.c sev_kvm_type() and sev_init2_required() (9.1 to 11.1: auto "
        "means legacy); before 9.1 only KVM_SEV_ES_INIT existed; Linux arch/x86/kvm/svm/sev.c "
        "sev_es_sync_vmsa() copies FPU state only for non-legacy VM types"),
    "init2-fpu": (
        "KVM_SEV_INIT2 VM types (sev-snp-guest always; sev-guest with legacy-vm-type=off) get "
        "KVM's reset FPU state in the VMSA: x87_fcw 0x37F, mxcsr 0x1F80",
        "Linux 6.10+ arch/x86/kvm/svm/sev.c sev_es_sync_vmsa(); arch/x86/kernel/fpu/core.c "
        "fpstate_init_fxstate(); QEMU target/i386/sev.c sev_snp_kvm_type() (9.1+)"),
    "snp-qemu": (
        "upstream QEMU launches SEV-SNP guests from release 9.1 (the sev-snp-guest object)",
        "QEMU 9.1 target/i386/sev.c TYPE_SEV_SNP_GUEST"),
    "legacy-option": (
        "legacy-vm-type is a property of QEMU's sev-guest from release 9.1; sev-snp-guest has "
        "none (always KVM_SEV_INIT2)",
        "QEMU qapi/qom.json SevGuestProperties, target/i386/sev.c sev_snp_kvm_type()"),
    "sev-features": (
        "KVM_SEV_INIT2 accepts only the SEV features KVM supports (DebugSwap; SecureTSC for "
        "SNP, Linux 6.18+) and sets SNPActive itself for SNP guests",
        "Linux arch/x86/kvm/svm/sev.c sev_hardware_setup() sev_supported_vmsa_features, "
        "__sev_guest_init()"),
    "qemu-features": (
        "QEMU passes SEV features to KVM_SEV_INIT2 only from an IGVM file's VMSA; an OVMF "
        "launch on upstream QEMU has SEV_FEATURES SNPActive alone (other VMMs and patched QEMU "
        "may ask for more: a warning, not a refusal)",
        "QEMU target/i386/sev.c sev_common_kvm_init() (args.vmsa_features, 9.1 to 11.1)"),
    "vmsa-gpa": (
        "KVM measures every VMSA at GPA 0xFFFFFFFFF000",
        "Linux 6.11+ arch/x86/kvm/svm/sev.c INITIAL_VMSA_GPA, snp_launch_update_vmsa()"),
    "gce-vmsa-gpa": (
        "GCE measures VMSAs at the product's highest page address: Milan 0xFFFFFFFFF000 "
        "(48-bit), Genoa 0xFFFFFFFFFF000 (52-bit); no rule is published for Turin",
        "google/gce-tcb-verifier sev/measurement.go ProductHighAddress(), "
        "sev/ld_from_ovmf.go measureVmsa() (commit 74582c0)"),
    "bios-size": (
        "a -bios image must be a non-zero multiple of 64 KiB; SEV-SNP and KVM_SEV_INIT2 SEV-ES "
        "guests cannot use pflash, so their firmware is always loaded this way",
        "QEMU hw/i386/x86-common.c x86_bios_rom_init()/get_bios_size(); hw/i386/pc_sysfw.c "
        "('pflash with kvm requires KVM readonly memory support')"),
    "bzimage": (
        "QEMU adds the kernel hashes only for bzImage kernels ('HdrS' at offset 0x202); "
        "multiboot and PVH ELF kernels are loaded without them (an SEV-SNP launch with "
        "kernel-hashes=on then aborts)",
        "QEMU hw/i386/x86-common.c x86_load_linux(), sev_add_kernel_loader_hashes(); "
        "target/i386/sev.c snp_launch_update_kernel_hashes()"),
    "cpu-signature": (
        "CPUID Fn0000_0001 EAX bits 31:28 and 15:12 are reserved, and the extended family is "
        "reserved unless the base family is 0xF: no CPU reports such a signature",
        "AMD64 Architecture Programmer's Manual vol. 3, CPUID Fn0000_0001_EAX"),
    "cpu-model": (
        "a CPU model the selected QEMU release does not define cannot be used",
        "QEMU target/i386/cpu.c builtin_x86_defs (8.2.2, 10.1.0, 10.2.2, 11.1.1)"),
    "cloud-kernel": (
        "EC2 and GCE boot their own firmware and have no measured direct boot (no QEMU -kernel)",
        "AWS EC2 User Guide, SEV-SNP attestation (sev-snp-measure --vmm-type ec2 over the "
        "aws/uefi OVMF only); google/gce-tcb-verifier sev/ld_from_ovmf.go (firmware and "
        "VMSAs only)"),
    "igvm-qemu": (
        "QEMU loads IGVM files from release 10.1 (the igvm-cfg object)",
        "QEMU 10.1 backends/igvm.c, backends/igvm-cfg.c"),
    "igvm-sev-11": (
        "QEMU 11 loads the IGVM file at the first system reset, after the SEV/SEV-ES launch "
        "measurement was taken at machine-init-done, so loading its data fails, and a file "
        "without data would measure only the reset state, never its VMSA (by code reading; "
        "QEMU 10.1 and 10.2 load it during board init)",
        "QEMU 11.1.1 backends/igvm-cfg.c igvm_reset_hold(), hw/core/machine.c "
        "qdev_machine_creation_done(), target/i386/sev.c sev_launch_get_measure()"),
    "igvm-header-type": (
        "QEMU has handlers for PAGE_DATA, VP_CONTEXT, PARAMETER_AREA, PARAMETER_INSERT, "
        "MEMORY_MAP, VP_COUNT, ENVIRONMENT_INFO, REQUIRED_MEMORY, SNP_ID_BLOCK and "
        "GUEST_POLICY (11.x adds MADT, and DEVICE_TREE, which fails on the pc and q35 machines: "
        "they have no device tree); any other header, or one libigvm does not know, stops the "
        "launch",
        "QEMU backends/igvm.c handlers[], qigvm_handler(), qigvm_directive_device_tree() "
        "(10.1.0, 10.2.2, 11.1.1); microsoft/igvm igvm/src/lib.rs "
        "IgvmDirectiveHeader::new_from_binary_split()"),
    "igvm-required-memory": (
        "REQUIRED_MEMORY converts guest memory to private, which needs guest_memfd: only "
        "SEV-SNP guests have it, so it stops SEV and SEV-ES launches",
        "QEMU target/i386/sev.c cgs_set_guest_state(), sev_snp_guest_instance_init() "
        "(require_guest_memfd); accel/kvm/kvm-all.c kvm_convert_memory()"),
    "igvm-libigvm": (
        "libigvm parses a file only if each header's length is its structure's size, the "
        "reserved fields of PAGE_DATA, GUEST_POLICY and REQUIRED_MEMORY are zero, page data "
        "types are known, platforms are known, distinct, one mask bit each, VTL 0 or 2, "
        "version 1, every VP_CONTEXT's mask is exactly one platform's and it has file data, "
        "REQUIRED_MEMORY is page aligned, file data follows the headers, and each parameter "
        "area is declared once, used before it is inserted and inserted once",
        "microsoft/igvm igvm/src/lib.rs new_from_binary_split(), validate(), "
        "validate_directive_headers() (QEMU's qigvm_file_init() fails otherwise)"),
    "igvm-platform": (
        "QEMU applies the directives of the strongest platform in the file the guest "
        "supports: SEV-SNP, then SEV-ES, then SEV (an SNP guest supports all three)",
        "QEMU backends/igvm.c qigvm_supported_platform_compat_mask(), target/i386/sev.c "
        "cgs_check_support()"),
    "igvm-page-data": (
        "consecutive PAGE_DATA directives with contiguous GPAs and equal flags, data type, "
        "mask and data presence form one region, loaded when the next PAGE_DATA breaks it or "
        "at the end, so PARAMETER_INSERTs between are loaded first; a 2 MiB page takes its "
        "first 4 KiB from the file and zeros",
        "QEMU backends/igvm.c qigvm_process_mem_page(), qigvm_page_attrs_equal(), "
        "qigvm_process_mem_region(); microsoft/igvm reads 4 KiB of page data"),
    "igvm-zero-pages": (
        "a data-less PAGE_DATA page is loaded as a page of zeros: a NORMAL page for SEV-SNP, "
        "hashed zeros for SEV and SEV-ES; unmeasured pages add nothing to SEV/SEV-ES",
        "QEMU backends/igvm.c qigvm_type_to_cgs_type(); target/i386/sev.c "
        "cgs_set_guest_state(), sev_snp_launch_update_data()"),
    "igvm-parameter-area": (
        "a PARAMETER_INSERT loads every 4 KiB page of its parameter area UNMEASURED (SEV-SNP; "
        "nothing for SEV and SEV-ES)",
        "QEMU backends/igvm.c qigvm_directive_parameter_insert(); target/i386/sev.c "
        "cgs_set_guest_state()"),
    "igvm-snp-pages": (
        "SECRETS and CPUID pages exist only for SEV-SNP guests",
        "QEMU target/i386/sev.c cgs_set_guest_state()"),
    "igvm-vmsa": (
        "a VP_CONTEXT needs an SEV-ES or SEV-SNP guest, KVM's VMSA GPA 0xFFFFFFFFF000, a vCPU "
        "index below the vCPU count, SEV features SNPActive for SNP (never otherwise), and no "
        "field QEMU does not carry over to KVM",
        "QEMU target/i386/sev.c cgs_set_guest_state(), check_vmsa_supported(), "
        "check_sev_features(), sev_set_cpu_context()"),
    "igvm-vmsa-kvm": (
        "KVM rebuilds the VMSA from the vCPU state QEMU loads: EFER gains SVME, CR0 ET and "
        "loses CD/NW, CR4 gains MCE, segment attributes keep their 12 architectural bits, TR "
        "takes LDTR's base, GDTR/IDTR selector and attributes are zero, CPL is SS.DPL, RFLAGS "
        "bit 1 is set, FPU state is KVM's (0x37F/0x1F80 with KVM_SEV_INIT2, zero legacy) and "
        "SEV features are vCPU 0's; it refuses invalid long-mode, CR0, EFER, DR6/DR7, XCR0 "
        "and PAT values",
        "QEMU target/i386/sev.c sev_apply_cpu_context(), target/i386/helper.c "
        "cpu_x86_update_cr0()/cr4(), target/i386/kvm/kvm.c set_seg(); Linux 7.2 "
        "arch/x86/kvm/svm/svm.c svm_set_efer()/cr0()/cr4()/segment(), arch/x86/kvm/regs.c "
        "kvm_is_valid_sregs(), arch/x86/kvm/x86.c __kvm_set_xcr(), kvm_pat_valid(), "
        "arch/x86/kvm/svm/sev.c sev_es_sync_vmsa()"),
    "igvm-vcpus": (
        "KVM measures one VMSA per vCPU, after every page, in vCPU order; vCPUs without a "
        "VP_CONTEXT start from QEMU's x86 reset state (EIP 0xFFFFFFF0, RDX the vCPU signature)",
        "Linux arch/x86/kvm/svm/sev.c snp_launch_update_vmsa(), sev_launch_update_vmsa(); "
        "QEMU target/i386/cpu.c x86_cpu_reset_hold()"),
    "igvm-id-block": (
        "QEMU takes one SNP ID block from an IGVM file",
        "QEMU backends/igvm.c qigvm_directive_snp_id_block()"),
    "snp-page-once": (
        "KVM refuses to add a page to an SEV-SNP guest twice",
        "Linux arch/x86/kvm/svm/sev.c sev_gmem_post_populate() (-EEXIST for an assigned RMP "
        "entry)"),
}


def rule_text(rule: str) -> str:
    what, source = RULES[rule]
    return f"{what} [{source}]"


def rules_markdown() -> str:
    """The rules table of docs/measurement.md."""
    lines = ["| rule | what it decides | upstream source |", "|---|---|---|"]
    lines += [f"| `{rule}` | {what} | {source} |" for rule, (what, source) in RULES.items()]
    return "\n".join(lines) + "\n"


def version_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def at_least(version: str, release: str) -> bool:
    return version_key(version) >= version_key(release)


def parse_qemu_version(text: str | None, flag: str = "--qemu-version") -> str:
    """``MAJOR.MINOR`` of a QEMU release (a patch level is accepted and dropped)."""
    if text is None:
        return CURRENT_QEMU
    import re

    match = re.fullmatch(r"\s*(\d{1,3})\.(\d{1,3})(?:\.\d{1,4})?\s*", str(text))
    if not match:
        raise ConfigError(f"{flag} {text!r} is not a QEMU release such as 10.2 or 9.1.3")
    version = f"{int(match.group(1))}.{int(match.group(2))}"
    if version_key(version) < version_key(QEMU_RELEASES[0]):
        raise ConfigError(f"{flag} {text}: releases before {QEMU_RELEASES[0]} are not modelled")
    if version_key(version) > version_key(CURRENT_QEMU):
        warnings.warn(SnpMeasureWarning(
            f"{flag} {text} is newer than the newest release modelled ({CURRENT_QEMU}); its "
            "rules are assumed"))
        return CURRENT_QEMU
    if version not in QEMU_RELEASES:
        raise ConfigError(f"{flag} {text} is not a QEMU release (modelled: "
                          f"{', '.join(QEMU_RELEASES)})")
    return version


def feature_names(value: int) -> str:
    names = [FEATURE_NAMES.get(bit, f"bit {bit}") for bit in range(64) if value >> bit & 1]
    return "+".join(names) or "none"


def host_rule(enforced: bool, rule: str, message: str) -> None:
    """Refuse a launch the host refuses (exit 5), or with ``--no-host-checks`` warn that the
    rule was skipped."""
    if enforced:
        raise HostRuleError(rule, f"{message}: refused by host rule '{rule}' "
                            f"[{RULES[rule][1]}] (--no-host-checks measures it anyway; "
                            "docs/measurement.md explains the rule)")
    warnings.warn(HostRuleWarning(rule, f"host check '{rule}' skipped: {message}"))
