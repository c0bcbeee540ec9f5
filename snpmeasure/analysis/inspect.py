"""What a firmware image or IGVM file declares, for people and for JSON consumers.

Nothing here grows with what an input claims. A firmware's SEV metadata sections are described
from their sizes (how many pages of which type each VMM measures), never by making their pages.
An IGVM file is walked header by header; its digest covers every directive, but only the first
``limits.MAX_INSPECT_HEADERS`` headers are listed one by one (the command prints the whole
description at once, text or JSON, so listing is what would grow): the JSON keeps its shape
(``headers`` is the listed prefix, ``snp.updates_by_directive`` the updates of listed
directives) and adds ``header_count`` (every header) and ``headers_omitted`` (those not listed);
the text ends with a line counting them.
"""
from __future__ import annotations

import hashlib

from ..abi.ovmf import SectionType
from ..errors import UnsupportedError
from ..formats.firmware import PAGE_SIZE, Firmware
from ..launch.profiles import PROFILES, VmmProfile
from ..launch.ovmf import BIOS_BLOCK, reset_address_problem, snp_launch_problem
from ..launch.sections import hash_table_problem, section_page_type, snp_direct_boot_problem
from ..limits import MAX_INSPECT_HEADERS
from ..text import counted, printable

# IGVM header fields shown as "0x" hex strings (bit fields, addresses, offsets, type codes:
# docs/json.md); every other field is a JSON integer (counts, sizes, indices, levels).
IGVM_HEX_FIELDS = frozenset({"gpa", "compatibility_mask", "shared_gpa_boundary", "policy",
                             "file_offset", "byte_offset", "flags", "reserved",
                             "platform_type", "data_type"})


def section_rule(section, firmware: Firmware, profile: VmmProfile) -> str:
    """How ``profile`` measures a section: what launch.sections.section_updates produces for it,
    counted from the section's size (no page is made, whatever size the section claims)."""

    def produced(with_hashes: bool) -> str:
        try:
            page_type = section_page_type(section, firmware, profile, with_hashes)
        except UnsupportedError:
            return "refused"
        return f"{section.size // PAGE_SIZE} {page_type.name} page(s)"

    rule = produced(False)
    if section.type == SectionType.SNP_KERNEL_HASHES and not profile.is_qemu:
        rule += " (no kernel is measured there: rule cloud-kernel)"
    elif section.type == SectionType.SNP_KERNEL_HASHES:
        rule = f"{produced(True)} with the kernel hashes table; {rule} without a kernel"
    elif section.type == SectionType.CPUID and profile.cpuid_after_other_sections:
        rule += " after all other sections"
    elif not section.known and rule != "refused":
        rule += ", with a warning (unknown type)"
    return rule


def launch_support(firmware: Firmware) -> dict:
    """Whether QEMU can launch the firmware at all, per mode family (SEV launches any image).
    SEV-SNP firmware goes to -bios, which QEMU loads in whole 64 KiB blocks (rule bios-size);
    SEV-ES may use pflash with the legacy VM type, so its size alone never stops it."""
    snp = snp_launch_problem(firmware)
    if snp is None and firmware.size % BIOS_BLOCK:
        snp = (f"{firmware.size} bytes is not a whole number of 64 KiB blocks, as QEMU's -bios "
               "needs (rule bios-size)")
    sev_es = reset_address_problem(firmware)
    return {"snp": snp is None, "snp_reason": snp, "sev_es": sev_es is None,
            "sev_es_reason": sev_es}


def direct_boot_support(firmware: Firmware) -> dict:
    """Whether measured direct boot (-kernel with kernel-hashes=on) can work, per mode family:
    the same checks the measurement makes when a kernel is given."""
    launch = launch_support(firmware)
    snp = "SEV-SNP cannot launch this firmware" if not launch["snp"] \
        else snp_direct_boot_problem(firmware)
    sev = hash_table_problem(firmware)
    return {"snp": snp is None, "snp_reason": snp, "sev_es": sev is None, "sev_es_reason": sev}


def inspect_firmware(firmware: Firmware) -> dict:
    block = firmware.hash_table_block
    secret = firmware.secret_block
    return {
        "path": str(firmware.path),
        "format": "firmware",
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
                {"index": s.index, "type": s.type_name, "type_value": f"{s.type:#x}",
                 "gpa": f"{s.gpa:#x}", "end_gpa": f"{s.end:#x}", "size": s.size,
                 "measured": {name: section_rule(s, firmware, profile)
                              for name, profile in PROFILES.items()}}
                for s in firmware.sections],
        },
        "launch": launch_support(firmware),
        "measured_direct_boot": direct_boot_support(firmware),
    }


def describe(info: dict) -> str:
    """The readable form of :func:`inspect_firmware`."""
    p = printable  # every value that comes from the file (its name included) is escaped
    lines = [f"firmware      {p(info['path'])}",
             f"size          {info['size']} bytes "
             f"({counted(info['size'] // 4096, 'page')}), sha256 "
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
    launch, boot = info["launch"], info["measured_direct_boot"]
    lines += _verdicts("launch", [("SNP", launch, "snp"), ("SEV-ES", launch, "sev_es"),
                                  ("SEV", {"sev": True}, "sev")])
    lines += _verdicts("direct boot", [("SNP", boot, "snp"), ("SEV/SEV-ES", boot, "sev_es")])
    lines.append("footer table:")
    for e in info["footer_table"]:
        lines.append(f"  {e['offset']:>10}  {p(e['guid'])}  {p(e['name'])}  {e['data']}")
    meta = info["sev_metadata"]
    if meta is None:
        lines.append("SEV metadata: none")
    else:
        lines.append(f"SEV metadata at {meta['offset']}, {len(meta['sections'])} sections:")
        for s in meta["sections"]:
            last = int(s["end_gpa"], 16) - 1
            lines.append(f"  {s['index']:>2}  {s['gpa']}-{last:#x}  {p(s['type'])}")
            for vmm, rule in s["measured"].items():
                lines.append(f"        {p(vmm):<5} {p(rule)}")
    return "\n".join(lines)


def _verdicts(title: str, items: list) -> list[str]:
    """"title   A: yes, B: yes" on one line, or one line per mode family with the reason."""
    if all(entry[key] for _, entry, key in items):
        return [f"{title:<13} " + ", ".join(f"{label}: yes" for label, _, _ in items)]
    lines = []
    for label, entry, key in items:
        state = "yes" if entry[key] else f"no, {printable(entry[key + '_reason'])}"
        lines.append(f"{'' if lines else title:<13} {label}: {state}")
    return lines


def inspect_igvm(path) -> dict:
    """Headers, platforms, policy, directives (with their page updates) and ID block of an IGVM.

    The first ``limits.MAX_INSPECT_HEADERS`` headers are listed (``headers``, and their updates
    in ``snp.updates_by_directive``); ``header_count`` counts them all and ``headers_omitted``
    those not listed. The digest covers every directive.
    """
    from ..abi import igvm as L
    from ..attestation.igvm_id_block import check_id_block
    from ..engine.snp import SnpLaunchDigest
    from ..formats.igvm import IgvmFile
    from ..launch.igvm import IgvmOptions, snp_updates

    with IgvmFile(path) as igvm:
        headers = []
        for h in igvm.iter_headers():
            if h.index >= MAX_INSPECT_HEADERS:
                break
            entry = {"index": h.index, "type": h.type_name, "type_value": f"{h.type:#x}",
                     "offset": f"{h.offset:#x}", "length": h.length}
            if h.compatibility_mask is not None:
                entry["compatibility_mask"] = f"{h.compatibility_mask:#x}"
            if h.payload is not None and h.type != L.HeaderType.SNP_ID_BLOCK:
                entry["fields"] = {k: _igvm_field(k, v) for k, v in h.payload.items()
                                   if not k.startswith("_")}
            headers.append(entry)
        platforms = [{"type": L.Platform(h.payload.platform_type).name
                      if h.payload.platform_type in L.Platform._value2member_map_
                      else f"unknown type {h.payload.platform_type:#x}",
                      "type_value": f"{h.payload.platform_type:#x}",
                      "compatibility_mask": f"{h.payload.compatibility_mask:#x}",
                      "highest_vtl": h.payload.highest_vtl,
                      "shared_gpa_boundary": f"{h.payload.shared_gpa_boundary:#x}"}
                     for h in igvm.platforms()]
        snp = None
        if any(h.payload.platform_type == L.Platform.SEV_SNP for h in igvm.platforms()):
            mask = igvm.compatibility_mask(L.Platform.SEV_SNP)
            per_header: dict = {}
            engine = SnpLaunchDigest()
            for update in snp_updates(igvm, IgvmOptions()):
                engine.update(update)
                kind, _, rest = update.source.partition(" ")  # "PAGE_DATA #12 +0x1000"
                number = rest.split(" ", 1)[0]
                if number[1:].isdigit() and int(number[1:]) >= MAX_INSPECT_HEADERS:
                    continue  # a directive not listed: in the digest, not in the listing
                counts = per_header.setdefault(f"{kind} {number}", {})
                counts[update.page_type.name] = counts.get(update.page_type.name, 0) + 1
            policy = igvm.guest_policy(mask)
            id_block = check_id_block(igvm, mask, engine.digest)
            snp = {"compatibility_mask": f"{mask:#x}",
                   "policy": None if policy is None else f"{policy:#x}",
                   "measurement": engine.digest.hex(), "page_updates": engine.pages,
                   "updates_by_directive": per_header,
                   "id_block": None if id_block is None else id_block.to_json()}
        return {"path": str(path), "format": "igvm", "format_version": igvm.format_version,
                "size": igvm.size, "platforms": platforms, "headers": headers,
                "header_count": igvm.header_count,
                "headers_omitted": igvm.header_count - len(headers), "snp": snp}


def _igvm_field(name: str, value) -> int | str:
    """An IGVM header field for JSON: bytes as hex, integers as IGVM_HEX_FIELDS says."""
    if not isinstance(value, int):
        return bytes(value).hex()
    return f"{value:#x}" if name in IGVM_HEX_FIELDS else value


def describe_igvm(info: dict) -> str:
    p = printable  # every value that comes from the file (its name included) is escaped
    count = info.get("header_count", len(info["headers"]))
    lines = [f"IGVM file     {p(info['path'])} (format version {info['format_version']}, "
             f"{info['size']} bytes, {count} headers)"]
    for platform in info["platforms"]:
        lines.append(f"platform      {p(platform['type'])} mask "
                     f"{platform['compatibility_mask']} vtl {platform['highest_vtl']}")
    snp = info["snp"]
    if snp:
        lines.append(f"SNP policy    {snp['policy']}")
        lines.append(f"SNP digest    {snp['measurement']} ({snp['page_updates']} page updates, "
                     "igvmmeasure rules)")
        if snp["id_block"]:
            ib = snp["id_block"]
            lines.append(f"ID block      ld {'matches' if ib['matches_measurement'] else 'DIFFERS'};"
                         f" signatures {'verified' if ib['signatures_verified'] else 'INVALID'}")
    lines.append("headers:")
    for h in info["headers"]:
        mask = h.get("compatibility_mask", "")
        updates = ""
        if snp:
            key = f"{h['type']} #{h['index']}"
            if key in snp["updates_by_directive"]:
                updates = "  -> " + ", ".join(f"{n} {p(t)}" for t, n in
                                              snp["updates_by_directive"][key].items())
        gpa = h.get("fields", {}).get("gpa", "")
        lines.append(f"  {h['index']:>5}  {h['offset']:>8}  {p(h['type']):<28} {mask:<6} "
                     f"{gpa}{updates}")
    omitted = info.get("headers_omitted", 0)
    if omitted:
        lines.append(f"  ... {omitted} more headers not listed (inspect lists the first "
                     f"{len(info['headers'])}: MAX_INSPECT_HEADERS); the digest covers them all")
    return "\n".join(lines)
