"""The launch plan of an OVMF-based guest (and of COCONUT-SVSM before IGVM): read and validate
the inputs of a :class:`MeasurementConfig`, build the VMSAs, and list the page updates (SNP) or
the blobs (SEV, SEV-ES) in the order the host measures them. Nothing here hashes pages: the
engine replays these plans.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator

from ..errors import ConfigError, FormatError, UnsupportedError
from ..formats.firmware import Firmware, load_firmware
from .config import MeasurementConfig, Mode
from .hoststack import host_rule
from .kernel_hashes import KernelHashes, is_bzimage
from .plan import VMSA_STEP, PageBatch, PageUpdate, firmware_run, plan_pages, vmsa_updates
from .profiles import BSP_EIP, QEMU
from .sections import metadata_updates, sev_hash_table
from .vmsa import build_vmsa, reset_vmsa_values, svsm_vmsa_values


class LaunchInputs(namedtuple("LaunchInputs", "config firmware kernel_hashes svsm",
                              defaults=(None,))):
    """The loaded, validated inputs of one configuration: the MeasurementConfig, its Firmware,
    its KernelHashes (or None) and the SVSM Firmware (snp:svsm, else None)."""

    __slots__ = ()


def load_inputs(config: MeasurementConfig) -> LaunchInputs:
    """Read and validate every input file of ``config``."""
    firmware = load_firmware(config.ovmf)
    check_firmware_size(config, firmware)
    hashes = None
    if config.kernel and config.mode is not Mode.SNP_OVMF_HASH:
        if config.profile.is_qemu and not is_bzimage(config.kernel):
            host_rule(config.host_checks, "bzimage", f"{config.kernel} is not a bzImage (no "
                      "'HdrS' at offset 0x202)")
        hashes = KernelHashes.from_inputs(config.kernel, config.initrd, config.append)
    svsm = None
    if config.mode is Mode.SNP_SVSM:
        end_at = firmware.gpa - config.vars_size
        if end_at <= 0:
            raise ConfigError(f"--vars-size {config.vars_size} leaves no room below the firmware "
                              f"at {firmware.gpa:#x}")
        svsm = load_firmware(config.svsm, end_at=end_at)
        if svsm.svsm_launch_offset is None:
            raise FormatError(svsm.path, "footer table", "no SVSM info entry "
                              "(a789a612-0597-4c4b-a49f-cbb1fe9d1ddd): not an SVSM binary")
        if not svsm.has_metadata:
            raise FormatError(svsm.path, "footer table", "no SEV metadata entry")
        for section in svsm.sections:
            if section.gpa < firmware.end_gpa and firmware.gpa < section.end:
                raise FormatError(svsm.path, f"SEV metadata section {section.index}",
                                  f"overlaps the OVMF image at {firmware.gpa:#x}", section.offset)
    elif config.mode is Mode.SNP and not firmware.has_metadata:
        raise UnsupportedError(f"{firmware.path}: {NO_METADATA}")
    return LaunchInputs(config, firmware, hashes, svsm)


BIOS_BLOCK = 64 << 10  # QEMU hw/i386/x86-common.c x86_bios_rom_init: -bios in 64 KiB blocks


def check_firmware_size(config: MeasurementConfig, firmware: Firmware) -> None:
    """QEMU loads SEV-SNP firmware (and SEV-ES firmware with KVM_SEV_INIT2) with -bios, whose
    image must be a whole number of 64 KiB blocks (rule "bios-size"); SEV and legacy SEV-ES
    may use pflash, which takes any whole number of 4 KiB pages."""
    mode = config.mode
    if not config.profile.is_qemu or mode is Mode.SNP_SVSM:
        return
    bios_only = mode in (Mode.SNP, Mode.SNP_OVMF_HASH) or (
        mode is Mode.SEV_ES and not config.effective_legacy_vm_type)
    if bios_only and firmware.size % BIOS_BLOCK:
        host_rule(config.host_checks, "bios-size", f"{firmware.path} is {firmware.size} bytes, "
                  "not a multiple of 64 KiB")


# QEMU target/i386/sev.c (10.2), sev_snp_launch_finish: "Failed to locate SEV metadata header"
NO_METADATA = "no SEV metadata in the footer table; QEMU cannot launch it as an SNP guest"


def reset_address_problem(firmware: Firmware) -> str | None:
    """Why QEMU cannot start SEV-ES or SNP vCPUs from this firmware, or None: QEMU
    target/i386/sev.c (10.2), sev_es_find_reset_vector ("SEV information block/Firmware GUID
    Table block not found in pflash rom") and sev_es_parse_reset_block ("SEV-ES reset address
    is zero")."""
    if firmware.reset_address is None:
        return ("no SEV-ES reset block in the footer table; QEMU cannot start SEV-ES or SNP "
                "vCPUs from it")
    if firmware.reset_address == 0:
        return "the SEV-ES reset address is zero; QEMU refuses it"
    return None


def snp_launch_problem(firmware: Firmware) -> str | None:
    """Why QEMU cannot launch this firmware as an SEV-SNP guest (snp mode), or None."""
    return (NO_METADATA if not firmware.has_metadata else None) \
        or reset_address_problem(firmware)


def _reset_address(firmware: Firmware) -> int:
    problem = reset_address_problem(firmware)
    if problem is not None:
        raise UnsupportedError(f"{firmware.path}: {problem}")
    return firmware.reset_address


def vmsa_pages(inputs: LaunchInputs, vcpus: int | None = None) -> tuple[bytes, ...]:
    """The initial VMSA page of each vCPU (BSP first)."""
    config = inputs.config
    count = config.vcpus if vcpus is None else vcpus
    profile = config.profile
    features = config.guest_features if config.mode.is_snp else 0
    legacy = config.effective_legacy_vm_type
    if config.mode is Mode.SNP_SVSM:
        eip = inputs.svsm.gpa + inputs.svsm.svsm_launch_offset
        page = build_vmsa(svsm_vmsa_values(profile, eip, features, config.vcpu_sig, legacy))
        return (page,) * count
    ap_eip = _reset_address(inputs.firmware)
    bsp = build_vmsa(reset_vmsa_values(profile, BSP_EIP, features, config.vcpu_sig, legacy))
    if count == 1:
        return (bsp,)
    ap = build_vmsa(reset_vmsa_values(profile, ap_eip, features, config.vcpu_sig, legacy))
    return (bsp,) + (ap,) * (count - 1)


def snp_plan_parts(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator:
    """The SNP launch after the seed, in order, as plan parts (``launch.plan``): the firmware
    image(s), the metadata sections, the VMSAs. The one definition of the plan's order."""
    config = inputs.config
    if config.mode is Mode.SNP_SVSM:
        yield firmware_run(inputs.firmware, "OVMF")
        yield firmware_run(inputs.svsm, "SVSM")
        yield PageBatch(("metadata", QEMU.name), metadata_updates(inputs.svsm, QEMU, None))
    else:
        if config.snp_ovmf_hash is None:
            yield firmware_run(inputs.firmware)
        yield PageBatch(("metadata", config.profile.name),
                        metadata_updates(inputs.firmware, config.profile, inputs.kernel_hashes))
    yield PageBatch(VMSA_STEP, vmsa_updates(vmsas, config.vmsa_gpa))


def snp_plan(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator[PageUpdate]:
    """Every page update of an SNP launch after the seed (see :func:`snp_seed`), one by one."""
    return plan_pages(snp_plan_parts(inputs, vmsas))


def snp_seed(config: MeasurementConfig) -> bytes:
    return config.snp_ovmf_hash if config.snp_ovmf_hash is not None else bytes(48)


def sev_parts(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator[tuple]:
    """What SEV and SEV-ES hash, in order, as (kind, GPA, what it is, bytes): the firmware, the
    kernel hashes table, the VMSAs."""
    firmware = inputs.firmware
    yield "FIRMWARE", firmware.gpa, f"firmware {firmware.path}", firmware.data
    if inputs.kernel_hashes is not None:
        table = sev_hash_table(firmware, inputs.kernel_hashes)  # refuses unusable firmware
        yield "KERNEL_HASHES", firmware.hash_table_block[0], "kernel hashes table", table
    for index, page in enumerate(vmsas):
        yield "VMSA", None, f"VMSA of vCPU {index}", page


def sev_blobs(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator[bytes]:
    """The bytes SEV and SEV-ES hash, in order (see :func:`sev_parts`)."""
    return (blob for _, _, _, blob in sev_parts(inputs, vmsas))


