"""What a firmware image declares, for people and for JSON consumers."""
from __future__ import annotations

import hashlib

from .abi.ovmf import SectionType
from .abi.snp import PageType
from .errors import UnsupportedError
from .firmware import Firmware
from .kernel_hashes import KernelHashes
from .plan import kernel_hashes_area
from .profiles import PROFILES, VmmProfile


def section_rule(section_type: int, size: int, profile: VmmProfile) -> str:
    """How ``profile`` measures a section (mirrors plan.section_updates)."""
    pages = size // 4096
    if section_type == SectionType.SNP_SEC_MEM:
        return f"{pages} {profile.sec_mem_page_type.name} page(s)"
    if section_type in (SectionType.SNP_SECRETS, SectionType.CPUID):
        kind = PageType.SECRETS if section_type == SectionType.SNP_SECRETS else PageType.CPUID
        if pages != 1:
            return "refused (longer than one page)"
        after = " after all other sections" if (section_type == SectionType.CPUID and
                                                profile.cpuid_after_other_sections) else ""
        return f"1 {kind.name} page{after}"
    if section_type == SectionType.SVSM_CAA:
        return f"{pages} ZERO page(s)"
    if section_type == SectionType.SNP_KERNEL_HASHES:
        return f"{pages} NORMAL page(s) with the kernel hashes table; {pages} ZERO page(s) " \
               "without a kernel"
    if profile.unknown_sections_measured_as_zero:
        return f"{pages} ZERO page(s), with a warning (unknown type)"
    return "refused (unknown type)"


def direct_boot_support(firmware: Firmware) -> dict:
    """Whether measured direct boot (-kernel with kernel-hashes=on) can work, per mode family."""
    dummy = KernelHashes(bytes(32), bytes(32), bytes(32))
    try:
        kernel_hashes_area(firmware, dummy)
        snp, snp_reason = True, None
    except UnsupportedError as exc:
        snp, snp_reason = False, str(exc).split(": ", 1)[-1]
    block = firmware.hash_table_block
    sev = block is not None and block[0] != 0 and block[1] >= 0xB0
    return {"snp": snp, "snp_reason": snp_reason, "sev_es": sev,
            "sev_es_reason": None if sev else "no usable SEV hash-table block"}


def inspect_firmware(firmware: Firmware) -> dict:
    block = firmware.hash_table_block
    secret = firmware.secret_block
    return {
        "path": firmware.path,
        "size": firmware.size,
        "sha256": hashlib.sha256(firmware.data).hexdigest(),
        "gpa": f"{firmware.gpa:#x}",
        "end_gpa": f"{firmware.end_gpa:#x}",
        "footer_table": [
            {"guid": e.guid, "name": e.name, "offset": f"{e.offset:#x}", "length": len(e.data),
             "data": e.data.hex()} for e in firmware.table],
        "sev_es_reset_address": None if firmware.reset_address is None
        else f"{firmware.reset_address:#x}",
        "hash_table": None if block is None else {"gpa": f"{block[0]:#x}", "size": block[1]},
        "secret_block": None if secret is None else {"gpa": f"{secret[0]:#x}", "size": secret[1]},
        "svsm_launch_offset": None if firmware.svsm_launch_offset is None
        else f"{firmware.svsm_launch_offset:#x}",
        "sev_metadata": None if not firmware.has_metadata else {
            "offset": f"{firmware.metadata_offset:#x}",
            "sections": [
                {"index": s.index, "type": s.type_name, "type_value": s.type,
                 "gpa": f"{s.gpa:#x}", "end": f"{s.end - 1:#x}", "size": s.size,
                 "measured": {name: section_rule(s.type, s.size, profile)
                              for name, profile in PROFILES.items()}}
                for s in firmware.sections],
        },
        "measured_direct_boot": direct_boot_support(firmware),
    }


def describe(info: dict) -> str:
    """The readable form of :func:`inspect_firmware`."""
    lines = [f"firmware      {info['path']}",
             f"size          {info['size']} bytes ({info['size'] // 4096} pages), sha256 "
             f"{info['sha256']}",
             f"loaded at     {info['gpa']}-{int(info['end_gpa'], 16) - 1:#x}",
             f"reset address {info['sev_es_reset_address'] or 'none (no SEV-ES reset block)'}"]
    block = info["hash_table"]
    lines.append(f"hash table    {block['gpa']} ({block['size']:#x} bytes)" if block
                 else "hash table    none")
    secret = info["secret_block"]
    lines.append(f"secret block  {secret['gpa']} ({secret['size']:#x} bytes)" if secret
                 else "secret block  none")
    if info["svsm_launch_offset"] is not None:
        lines.append(f"SVSM entry    +{info['svsm_launch_offset']}")
    boot = info["measured_direct_boot"]
    lines.append("direct boot   SNP: " + ("yes" if boot["snp"] else f"no ({boot['snp_reason']})")
                 + "; SEV/SEV-ES: " + ("yes" if boot["sev_es"] else "no"))
    lines.append("footer table:")
    for e in info["footer_table"]:
        lines.append(f"  {e['offset']:>10}  {e['guid']}  {e['name']}  {e['data']}")
    meta = info["sev_metadata"]
    if meta is None:
        lines.append("SEV metadata: none")
    else:
        lines.append(f"SEV metadata at {meta['offset']}, {len(meta['sections'])} sections:")
        for s in meta["sections"]:
            lines.append(f"  {s['index']:>2}  {s['gpa']}-{s['end']}  {s['type']}")
            for vmm, rule in s["measured"].items():
                lines.append(f"        {vmm:<5} {rule}")
    return "\n".join(lines)
