"""QEMU/KVM's way of loading an IGVM file (``igvm --loader qemu``; QEMU 10.1 and later).

Every rule is in ``launch.hoststack.RULES`` with its source; in short:

* QEMU uses the strongest platform of the file the guest supports: SEV-SNP, then SEV-ES, then
  SEV (rule "igvm-platform").
* PAGE_DATA directives are gathered into regions (consecutive directives, contiguous GPAs, equal
  flags, type, mask and data presence) and a region is loaded when the next PAGE_DATA breaks it
  or at the end, so a PARAMETER_INSERT or anything else between can come first
  ("igvm-page-data"). Data-less pages are NORMAL pages of zeros for SNP and hashed zeros for
  SEV/SEV-ES ("igvm-zero-pages"); only the first 4 KiB of a 2 MiB page comes from the file.
* A PARAMETER_INSERT loads its whole parameter area UNMEASURED (SNP; SEV/SEV-ES: nothing).
* VP_CONTEXT directives set the initial state of their vCPU; KVM then builds every vCPU's VMSA
  from its own state (the file's VMSA normalised: "igvm-vmsa-kvm"); vCPUs without one start
  from the x86 reset state ("igvm-vcpus"). The VMSAs are measured last, in vCPU order.
* Refusals: header types QEMU has no handler for, what libigvm refuses to parse, unsupported
  SEV features, a VMSA QEMU cannot carry over, a second ID block, SNP pages on SEV/SEV-ES, a
  GPA added twice to an SNP guest ("snp-page-once").
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

from ..abi import igvm as L
from ..abi.codec import codec
from ..abi.snp import VMSA_GPA, PageType
from ..errors import SnpMeasureWarning, UnsupportedError
from ..formats.igvm import Header, IgvmFile
from .hoststack import (DEBUG_SWAP, SECURE_TSC, SNP_ACTIVE, at_least, feature_names,
                        host_rule)
from .plan import PageUpdate
from .profiles import BSP_EIP, FPU_INIT2, FPU_ZERO, QEMU
from .vmsa import build_vmsa, parse_vmsa, reset_vmsa_values

PAGE = L.PAGE_SIZE_4K
ZERO_PAGE = bytes(PAGE)
H = L.HeaderType

# Header types with a handler in QEMU's backends/igvm.c (handlers[]); 11.x adds MADT and
# DEVICE_TREE (FDT builds; the latter fails on pc/q35, which have no device tree). The
# initialization section has only GUEST_POLICY.
_DIRECTIVES_10 = frozenset({H.PAGE_DATA, H.VP_CONTEXT, H.PARAMETER_AREA, H.PARAMETER_INSERT,
                            H.MEMORY_MAP, H.VP_COUNT_PARAMETER, H.ENVIRONMENT_INFO_PARAMETER,
                            H.REQUIRED_MEMORY, H.SNP_ID_BLOCK})
_DIRECTIVES_11 = _DIRECTIVES_10 | {H.MADT, H.DEVICE_TREE}
_PARAMETER_USAGE = frozenset({H.VP_COUNT_PARAMETER, H.SRAT, H.MADT, H.MMIO_RANGES, H.SLIT,
                              H.PPTT, H.MEMORY_MAP, H.COMMAND_LINE, H.DEVICE_TREE,
                              H.ENVIRONMENT_INFO_PARAMETER})


def _struct_size(kind: H) -> int | None:
    """The payload size libigvm requires (``length == size_of``): igvm_defs's structures,
    which the project's layouts (``abi.igvm``) declare byte for byte."""
    name = L.PAYLOADS.get(kind)
    return codec(name).size if name else None


# check_vmsa_supported(): the VMSA fields QEMU carries over; all other bytes of the save area
# (0x670 bytes) must be zero.
SAVE_AREA_SIZE = 0x670
_SEGMENTS = ("es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr")
_GPRS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
         "r12", "r13", "r14", "r15")
_ACCEPTED = _SEGMENTS + ("gdtr", "idtr", "efer", "cr0", "cr3", "cr4", "xcr0", "dr6", "dr7",
                         "rip", "rflags", "g_pat", "x87_fcw", "mxcsr", "sev_features") + _GPRS

# Architectural bits (AMD APM vol. 2).
CR0_PE, CR0_ET, CR0_NW, CR0_CD, CR0_PG = 1, 1 << 4, 1 << 29, 1 << 30, 1 << 31
CR4_PAE, CR4_MCE = 1 << 5, 1 << 6
EFER_LME, EFER_LMA, EFER_SVME = 1 << 8, 1 << 10, 1 << 12
# EFER bits KVM can enable (Linux arch/x86/kvm/x86.c efer_reserved_bits,
# kvm_setup_efer_caps()): SCE, LME, LMA, NX, SVME, LMSLE, FFXSR, AUTOIBRS
EFER_KVM_BITS = (1 << 0) | EFER_LME | EFER_LMA | (1 << 11) | EFER_SVME | (1 << 13) \
    | (1 << 14) | (1 << 21)
# CR4 bits QEMU's cpu_x86_update_cr4() keeps only if the vCPU model has the feature (SMAP,
# UMIP, PKE, PKS, LAM_SUP, CET): their fate depends on the CPU model, which is not modelled
CR4_MODEL_DEPENDENT = (1 << 21) | (1 << 11) | (1 << 22) | (1 << 24) | (1 << 28) | (1 << 23)
RESET_CR0 = 0x60000010  # QEMU's x86 reset CR0 (CD, NW, ET)
XCR0_X87_SSE_AVX = 0x7


class QemuIgvm:
    """One QEMU/KVM launch of an IGVM file: the platform QEMU picks, the checks, the plan."""

    def __init__(self, igvm: IgvmFile, options) -> None:
        self.igvm, self.options = igvm, options
        self.enforce = options.host_checks
        self.version = options.qemu_version
        if not at_least(self.version, "10.1"):
            host_rule(self.enforce, "igvm-qemu", f"QEMU {self.version} has no IGVM loader")
        self.guest = options.platform  # snp, sev-es or sev: the QEMU guest object
        self.platform, self.mask = self._pick_platform()
        self.snp = self.guest == "snp"
        if self.guest in ("sev", "sev-es") and at_least(self.version, "11.0"):
            host_rule(self.enforce, "igvm-sev-11", f"QEMU {self.version} with an "
                      f"{self.guest.upper()} guest")
        self.legacy = self.guest == "sev-es" and options.effective_legacy_vm_type
        self.supported_features = self._supported_features()
        self._check_headers()

    def _refuse(self, rule: str, header: Header | None, message: str) -> None:
        where = f"{self.igvm.path}: {header.describe()}: " if header is not None \
            else f"{self.igvm.path}: "
        host_rule(self.enforce, rule, where + message)

    # -- the file as QEMU reads it --------------------------------------------------------
    def _pick_platform(self) -> tuple[L.Platform, int]:
        """QEMU's choice: the strongest platform the guest object supports (an SNP guest
        supports SEV-ES and SEV directives too)."""
        order = {"snp": (L.Platform.SEV_SNP, L.Platform.SEV_ES, L.Platform.SEV),
                 "sev-es": (L.Platform.SEV_ES, L.Platform.SEV),
                 "sev": (L.Platform.SEV,)}[self.guest]
        found = {h.payload.platform_type: h for h in self.igvm.platforms()}
        for platform in order:
            if platform in found:
                if platform != order[0]:
                    warnings.warn(SnpMeasureWarning(
                        f"{self.igvm.path} has no {order[0].name} platform: QEMU applies its "
                        f"{platform.name} directives to this {self.guest} guest "
                        "(rule igvm-platform)"))
                return platform, self.igvm.compatibility_mask(platform)
        names = ", ".join(L.Platform(p).name if p in L.Platform._value2member_map_ else str(p)
                          for p in found) or "none"
        raise UnsupportedError(f"{self.igvm.path}: no platform QEMU would use for an "
                               f"{self.guest} guest (the file has: {names}); native platform "
                               "directives under SEV are not modelled")

    def _supported_features(self) -> int:
        """SEV features QEMU accepts in a VMSA (check_sev_features(): KVM's supported set, none
        with the legacy VM type; SNPActive required for SNP, refused otherwise)."""
        if self.guest == "sev" or self.legacy:
            return 0
        if self.snp:
            return SNP_ACTIVE | DEBUG_SWAP | SECURE_TSC
        return DEBUG_SWAP

    def _check_headers(self) -> None:
        """What libigvm refuses to parse and the header types QEMU has no handler for."""
        directives = _DIRECTIVES_11 if at_least(self.version, "11.0") else _DIRECTIVES_10
        data_start = self.igvm.data_start
        if data_start >= self.igvm.size:
            self._refuse("igvm-libigvm", None, "the file has no file data after its headers")
        areas: dict[int, str] = {}  # index -> "allocated" | "inserted"
        id_blocks = 0
        platform_types: set[int] = set()
        platform_masks: set[int] = set()
        for header in self.igvm.iter_headers():
            kind = header.type
            p = header.payload
            if kind & L.IGNORABLE_BIT or kind not in L.HeaderType._value2member_map_:
                self._refuse("igvm-header-type", header, f"header type {kind:#x} (libigvm "
                             "parses no type it does not know, optional or not)")
                continue
            kind = H(kind)
            size = _struct_size(kind)
            if size is not None and header.length != size:
                self._refuse("igvm-libigvm", header, f"length {header.length} is not the "
                             f"structure size {size}")
            if 0x101 <= kind <= 0x200 and kind != H.GUEST_POLICY:
                self._refuse("igvm-header-type", header, "QEMU handles only GUEST_POLICY in "
                             "the initialization section")
            if kind >= 0x301 and kind not in directives:
                self._refuse("igvm-header-type", header, f"QEMU {self.version} has no "
                             "handler for it")
            if p is None:
                continue
            if kind == H.SUPPORTED_PLATFORM:
                self._check_platform(header, platform_types, platform_masks)
            if kind in (H.PAGE_DATA, H.GUEST_POLICY, H.REQUIRED_MEMORY) and p.reserved:
                self._refuse("igvm-libigvm", header, "reserved field is not zero")
            if kind == H.VP_CONTEXT:
                if p.compatibility_mask not in platform_masks:
                    self._refuse("igvm-libigvm", header, f"compatibility mask "
                                 f"{p.compatibility_mask:#x} is not exactly one platform's")
                if not p.file_offset:
                    self._refuse("igvm-libigvm", header, "the VP context has no file data")
            if kind == H.REQUIRED_MEMORY:
                if p.gpa % PAGE or p.number_of_bytes % PAGE:
                    self._refuse("igvm-libigvm", header, f"{p.gpa:#x}+{p.number_of_bytes:#x} "
                                 "is not page aligned")
                if p.compatibility_mask & self.mask and not self.snp:
                    self._refuse("igvm-required-memory", header, f"REQUIRED_MEMORY in an "
                                 f"{self.guest} guest")
            if kind == H.DEVICE_TREE and kind in directives:
                self._refuse("igvm-header-type", header, "QEMU's pc and q35 machines have no "
                             "device tree to insert")
            if kind == H.PAGE_DATA and p.data_type not in L.PageDataType._value2member_map_:
                self._refuse("igvm-libigvm", header, f"page data type {p.data_type}")
            offset = p.get("file_offset") if kind in (H.PAGE_DATA, H.VP_CONTEXT,
                                                     H.PARAMETER_AREA) else None
            if offset and offset < data_start:
                self._refuse("igvm-libigvm", header, f"file data at {offset:#x} lies in "
                             f"the headers (file data starts at {data_start:#x})")
            if kind == H.PARAMETER_AREA:
                areas[p.parameter_area_index] = "allocated"
            elif kind in _PARAMETER_USAGE and areas.get(p.parameter_area_index) != "allocated":
                self._refuse("igvm-libigvm", header, f"parameter area "
                             f"{p.parameter_area_index} is not allocated and uninserted")
            elif kind == H.PARAMETER_INSERT:
                if areas.get(p.parameter_area_index) != "allocated":
                    self._refuse("igvm-libigvm", header, f"parameter area "
                                 f"{p.parameter_area_index} is inserted twice")
                areas[p.parameter_area_index] = "inserted"
            elif kind == H.SNP_ID_BLOCK and p.compatibility_mask & self.mask:
                id_blocks += 1
                if id_blocks > 1:
                    self._refuse("igvm-id-block", header, "a second ID block")

    def _check_platform(self, header: Header, types: set, masks: set) -> None:
        """libigvm's SUPPORTED_PLATFORM rules (IgvmPlatformHeader::validate(),
        validate_platform_headers()): a known type, once; a one-bit mask; VTL 0 or 2; version
        1; no shared GPA boundary for native and VSM."""
        p = header.payload
        problems = []
        if p.platform_type not in L.Platform._value2member_map_:
            problems.append(f"platform type {p.platform_type} is unknown")
        elif p.platform_type in types:
            problems.append(f"a second {L.Platform(p.platform_type).name} platform")
        mask = p.compatibility_mask
        if mask == 0 or mask & (mask - 1):
            problems.append(f"compatibility mask {mask:#x} is not one bit")
        if p.highest_vtl not in (0, 2):
            problems.append(f"highest VTL {p.highest_vtl} is not 0 or 2")
        if p.platform_version != 1:
            problems.append(f"platform version {p.platform_version} is not 1")
        if p.platform_type in (L.Platform.NATIVE, L.Platform.VSM_ISOLATION) \
                and p.shared_gpa_boundary:
            problems.append("a shared GPA boundary on a native or VSM platform")
        if problems:
            self._refuse("igvm-libigvm", header, "; ".join(problems))
        types.add(p.platform_type)
        masks.add(mask)

    # -- the launch -----------------------------------------------------------------------
    def _regions(self) -> Iterator[tuple]:
        """("pages", gpa, count, page_size, data_type, flags, file offsets, label) and
        ("insert", gpa, size, label) and ("vmsa", header) in the order QEMU applies them. A
        pending region keeps its first and last header and its file offsets (8 bytes a page),
        however many directives it gathers."""
        from array import array

        mask = self.mask
        first = last = None
        offsets = array("Q")

        def flush():
            p = first.payload
            size = L.PAGE_SIZE_2M if p.flags & L.PAGE_FLAG_2MB else PAGE
            label = first.describe() if len(offsets) == 1 else \
                f"{first.describe()}..{last.describe()} ({len(offsets)} directives)"
            label += " [rule igvm-page-data]" if p.file_offset or \
                p.data_type != L.PageDataType.NORMAL else \
                " (no data) [rules igvm-page-data, igvm-zero-pages]"
            return ("pages", p.gpa, len(offsets), size, p.data_type, p.flags, offsets, label)

        for header in self.igvm.iter_headers():
            p = header.payload
            if header.type == H.PAGE_DATA:
                if not p.compatibility_mask & mask:
                    continue
                if last is not None:
                    prev = last.payload
                    prev_size = L.PAGE_SIZE_2M if prev.flags & L.PAGE_FLAG_2MB else PAGE
                    same = (prev.flags == p.flags and prev.data_type == p.data_type
                            and prev.compatibility_mask == p.compatibility_mask
                            and bool(prev.file_offset) == bool(p.file_offset))
                    if not same or prev.gpa + prev_size != p.gpa \
                            or last.index != header.index - 1:
                        yield flush()
                        first, offsets = None, array("Q")
                first = first or header
                last = header
                offsets.append(p.file_offset)
            elif header.type == H.PARAMETER_INSERT and p.compatibility_mask & mask:
                area = self.igvm.parameter_areas[p.parameter_area_index].payload
                yield ("insert", p.gpa, area.number_of_bytes,
                       f"{header.describe()} (parameter area {p.parameter_area_index})")
            elif header.type == H.VP_CONTEXT and p.compatibility_mask & mask:
                yield ("vmsa", header)
        if first is not None:
            yield flush()

    def _pages(self, item, read: bool) -> Iterator[tuple[int, PageType, bytes | None, str]]:
        """The 4 KiB pages of a PAGE_DATA region: (gpa, page type, contents or None, label)."""
        _, gpa, count, size, data_type, flags, offsets, label = item
        with_data = bool(offsets[0])
        if data_type == L.PageDataType.NORMAL:
            page_type = PageType.UNMEASURED if flags & L.PAGE_FLAG_UNMEASURED \
                else PageType.NORMAL
        elif data_type == L.PageDataType.SECRETS:
            page_type = PageType.SECRETS
        else:
            page_type = PageType.CPUID
        if page_type in (PageType.SECRETS, PageType.CPUID) and not self.snp:
            self._refuse("igvm-snp-pages", None, f"{label}: {page_type.name} pages in an "
                         f"{self.guest} guest")
        fd = self.igvm.fileno()
        for index in range(count):
            base = gpa + index * size
            first = None
            if with_data and read:
                first = os.pread(fd, PAGE, offsets[index])
                if len(first) != PAGE:
                    self.igvm.read(offsets[index], PAGE, label)  # raises the precise error
            for offset in range(0, size, PAGE):
                if page_type is not PageType.NORMAL:
                    data = None
                else:
                    data = first if offset == 0 and first is not None else ZERO_PAGE
                yield base + offset, page_type, data, label

    # -- VMSAs ----------------------------------------------------------------------------
    def _context(self, header: Header) -> dict:
        """Check one VP_CONTEXT as QEMU does (check_vmsa_supported(), sev_set_cpu_context())
        and return its fields."""
        p = header.payload
        label = header.describe()
        if self.guest == "sev":
            self._refuse("igvm-vmsa", header, "a VMSA for a plain SEV guest")
        if p.gpa != VMSA_GPA:
            self._refuse("igvm-vmsa", header, f"VMSA GPA {p.gpa:#x} is not KVM's "
                         f"{VMSA_GPA:#x}")
        vcpus = self.options.vcpus
        if vcpus is not None and p.vp_index >= vcpus:
            self._refuse("igvm-vmsa", header, f"vp_index {p.vp_index} with {vcpus} vCPU(s)")
        page = self.igvm.read(p.file_offset, PAGE, label) if p.file_offset else ZERO_PAGE
        fields = parse_vmsa(page)
        kept = build_vmsa({name: fields[name] for name in _ACCEPTED})
        if kept[:SAVE_AREA_SIZE] != page[:SAVE_AREA_SIZE]:
            first = next(i for i in range(SAVE_AREA_SIZE) if kept[i] != page[i])
            self._refuse("igvm-vmsa", header, f"the VMSA sets a field QEMU does not carry "
                         f"over to KVM (first at offset {first:#x})")
        features = fields["sev_features"]
        if self.snp and not features & SNP_ACTIVE:
            self._refuse("igvm-vmsa", header, f"sev_features {features:#x} lacks SNPActive")
        if not self.snp and features & SNP_ACTIVE:
            self._refuse("igvm-vmsa", header, "sev_features sets SNPActive in a non-SNP guest")
        unsupported = features & ~self.supported_features & ~SNP_ACTIVE
        if unsupported:
            self._refuse("sev-features", header, f"sev_features {features:#x} asks for "
                         f"{feature_names(unsupported)}"
                         + (" (none with the legacy VM type)" if self.legacy else ""))
        return fields

    def _kvm_vmsa(self, header: Header, fields: dict, sev_features: int) -> bytes:
        """The VMSA KVM measures for a vCPU whose state QEMU loaded from ``fields``."""
        f = fields
        label = header.describe()
        if f["rflags"] & (1 << 17):
            raise UnsupportedError(f"{self.igvm.path}: {label}: RFLAGS.VM (virtual-8086 "
                                   "segments) is not modelled")
        # QEMU sev_apply_cpu_context() -> target/i386/helper.c
        efer = f["efer"]
        cr4 = f["cr4"] & 0xFFFFFFFF  # cpu_x86_update_cr4(uint32_t)
        if cr4 & CR4_MODEL_DEPENDENT:
            raise UnsupportedError(
                f"{self.igvm.path}: {label}: CR4 {cr4:#x} sets bits ({cr4 & CR4_MODEL_DEPENDENT:#x}: "
                "SMAP, UMIP, PKE, PKS, LAM or CET) that QEMU keeps only if the vCPU model has "
                "the feature; that is not modelled")
        cr0 = f["cr0"] & 0xFFFFFFFF  # cpu_x86_update_cr0(uint32_t)
        if cr0 & CR0_PG and efer & EFER_LME and not cr4 & CR4_PAE:
            cr0 = RESET_CR0  # QEMU returns early: CR0 keeps its reset value
        else:
            if cr0 & CR0_PG and efer & EFER_LME:
                efer |= EFER_LMA
            cr0 |= CR0_ET
        # Linux KVM_SET_SREGS: kvm_is_valid_sregs(), kvm_is_valid_cr0(), kvm_valid_efer()
        problems = []
        if efer & EFER_LME and cr0 & CR0_PG:
            if not cr4 & CR4_PAE or not efer & EFER_LMA:
                problems.append("long mode paging without CR4.PAE or EFER.LMA")
            if f["cr3"] >> 52:
                problems.append(f"CR3 {f['cr3']:#x} is beyond the physical address width")
        elif efer & EFER_LMA or f["cs"]["attrib"] & (1 << 9):
            problems.append("EFER.LMA or CS.L set outside long mode")
        if cr0 & CR0_NW and not cr0 & CR0_CD:
            problems.append("CR0.NW without CR0.CD")
        if cr0 & CR0_PG and not cr0 & CR0_PE:
            problems.append("CR0.PG without CR0.PE")
        if efer & ~EFER_KVM_BITS:
            problems.append(f"EFER {efer:#x} sets reserved bits")
        # KVM_SET_DEBUGREGS, KVM_SET_XCRS (__kvm_set_xcr), MSR_IA32_CR_PAT (kvm_pat_valid),
        # sev_es_sync_vmsa() (DR7)
        if f["dr6"] >> 32:
            problems.append(f"DR6 {f['dr6']:#x} does not fit 32 bits")
        if f["dr7"] & ~0x400:
            problems.append(f"DR7 {f['dr7']:#x} (KVM requires 0 or 0x400)")
        xcr0 = f["xcr0"]
        if not xcr0 & 1 or (xcr0 & 4 and not xcr0 & 2):
            problems.append(f"XCR0 {xcr0:#x} (x87 must be on; AVX needs SSE)")
        pat = f["g_pat"]
        if pat & 0xF8F8F8F8F8F8F8F8 or (pat | (pat & 0x0202020202020202) << 1) != pat:
            problems.append(f"PAT {pat:#x} has an invalid memory type")
        if problems:
            self._refuse("igvm-vmsa-kvm", header, "; ".join(problems))
        if xcr0 & ~XCR0_X87_SSE_AVX:
            raise UnsupportedError(f"{self.igvm.path}: {label}: XCR0 {xcr0:#x} enables state "
                                   "components whose support depends on the vCPU model; that "
                                   "is not modelled")
        values: dict = {}
        for name in _SEGMENTS:
            seg = f[name]
            values[name] = {"selector": seg["selector"], "attrib": seg["attrib"] & 0xFFF,
                            "limit": seg["limit"], "base": seg["base"]}
        values["tr"]["base"] = f["ldtr"]["base"]  # QEMU loads TR with the LDTR base
        for name in ("gdtr", "idtr"):  # struct kvm_dtable: a 16-bit limit
            values[name] = {"selector": 0, "attrib": 0, "limit": f[name]["limit"] & 0xFFFF,
                            "base": f[name]["base"]}
        values["cpl"] = (f["ss"]["attrib"] >> 5) & 3  # svm_set_segment(): CPL = SS.DPL
        values.update({name: f[name] for name in _GPRS})
        values.update(rip=f["rip"], rflags=f["rflags"] | 2, cr3=f["cr3"], dr6=f["dr6"],
                      dr7=f["dr7"], xcr0=xcr0, g_pat=pat, sev_features=sev_features,
                      efer=efer | EFER_SVME, cr0=cr0 & ~(CR0_CD | CR0_NW), cr4=cr4 | CR4_MCE)
        fpu = FPU_ZERO if self.legacy else FPU_INIT2
        values.update(fpu)
        if (f["x87_fcw"], f["mxcsr"]) != (fpu["x87_fcw"], fpu["mxcsr"]):
            warnings.warn(SnpMeasureWarning(
                f"{self.igvm.path}: {label}: x87_fcw {f['x87_fcw']:#x} and mxcsr "
                f"{f['mxcsr']:#x} become KVM's {fpu['x87_fcw']:#x} and {fpu['mxcsr']:#x} "
                "(rule igvm-vmsa-kvm)"))
        return build_vmsa(values)

    def _vmsa_features(self, contexts: dict) -> int:
        """The SEV features KVM puts in every VMSA: vCPU 0's context's (QEMU passes them to
        KVM_SEV_INIT2), plus SNPActive for SNP; none with the legacy VM type."""
        first = contexts.get(0)
        features = first[1]["sev_features"] if first is not None else 0
        if self.snp:
            return features | SNP_ACTIVE  # KVM sets it; QEMU passes vp 0's other bits
        return 0 if self.legacy else features

    def vmsa_pages(self, contexts: dict[int, tuple[Header, dict]]) -> list[tuple[bytes, str]]:
        """Every vCPU's measured VMSA, in vCPU order, with what decided it."""
        vcpus = self.options.vcpus or 1
        features = self._vmsa_features(contexts)
        out = []
        for index in range(vcpus):
            if index in contexts:
                header, fields = contexts[index]
                out.append((self._kvm_vmsa(header, fields, features),
                            f"VMSA of vCPU {index} from {header.describe()} "
                            "[rules igvm-vmsa-kvm, igvm-vcpus]"))
                continue
            signature = self.options.signature
            if signature is None:
                raise UnsupportedError(
                    f"{self.igvm.path}: vCPU {index} has no VP_CONTEXT, so it starts from the "
                    "x86 reset state, whose RDX is the vCPU signature: give --vcpu-type or "
                    "--vcpu-sig")
            page = build_vmsa(reset_vmsa_values(QEMU, BSP_EIP, features, signature,
                                                self.legacy))
            out.append((page, f"VMSA of vCPU {index} (x86 reset state) [rule igvm-vcpus]"))
        return out

    def check_vcpu_count(self, vcpus: int) -> None:
        """Refuse a vCPU count below a VP_CONTEXT's index (``launch`` has read the file)."""
        for index, (header, _) in self.contexts.items():
            if index >= vcpus:
                self._refuse("igvm-vmsa", header, f"vp_index {index} with {vcpus} vCPU(s)")

    def launch(self, read: bool = True) -> Iterator[tuple[str, int, PageType | None,
                                                          bytes | None, str]]:
        """("page", gpa, type, data, label) for every page update and then ("vmsa", ...) for
        every vCPU, in QEMU/KVM's order (vCPU i's VMSA does not depend on the count). SNP pages
        a GPA twice are refused after the last."""
        contexts: dict[int, tuple[Header, dict]] = {}
        self.contexts = contexts  # vCPU index -> its VP_CONTEXT, once the file is read
        spans: list[tuple[int, int]] = []  # SNP: (first GPA, end GPA) of every load
        for item in self._regions():
            kind = item[0]
            if kind == "pages":
                _, gpa, count, size = item[:4]
                spans.append((gpa, gpa + count * size))
                for gpa, page_type, data, label in self._pages(item, read):
                    yield "page", gpa, page_type, data, label
            elif kind == "insert":
                _, gpa, size, label = item
                spans.append((gpa, gpa + size))
                for offset in range(0, size, PAGE):
                    yield "page", gpa + offset, PageType.UNMEASURED, None, \
                        f"{label} +{offset:#x} [rule igvm-parameter-area]"
            else:
                header = item[1]
                contexts[header.payload.vp_index] = (header, self._context(header))
        if self.snp:
            spans.sort()
            end = None
            for start, stop in spans:
                if end is not None and start < end:
                    self._refuse("snp-page-once", None, f"GPA {start:#x} is loaded again "
                                 "(an earlier load covers it)")
                    break
                end = stop if end is None else max(end, stop)
        if self.guest == "sev":
            return
        if not read:  # a check: every context as KVM would take it, whatever the vCPU count
            features = self._vmsa_features(contexts)
            for _, (header, fields) in sorted(contexts.items()):
                self._kvm_vmsa(header, fields, features)
            return
        for page, label in self.vmsa_pages(contexts):
            yield "vmsa", VMSA_GPA, PageType.VMSA, page, label


def snp_updates(igvm: IgvmFile, options) -> Iterator[PageUpdate]:
    new = tuple.__new__
    for _, gpa, page_type, data, label in QemuIgvm(igvm, options).launch():
        yield new(PageUpdate, (gpa, page_type, data, label))


def sev_blobs(igvm: IgvmFile, options) -> Iterator[tuple[str, int, str, bytes]]:
    """What SEV/SEV-ES hash under QEMU, as (kind, GPA, source, data): LAUNCH_UPDATE_DATA
    contents (zeros for data-less pages; nothing for unmeasured pages and parameter areas),
    then the VMSAs (SEV-ES)."""
    for kind, gpa, page_type, data, label in QemuIgvm(igvm, options).launch():
        if kind == "vmsa":
            yield "VMSA", gpa, label, data
        elif page_type is PageType.NORMAL:
            yield "PAGE_DATA", gpa, label, data


def check(igvm: IgvmFile, options) -> None:
    """Apply every QEMU/KVM refusal without measuring (``--check-kvm`` with other loaders)."""
    for _ in QemuIgvm(igvm, options).launch(read=False):
        pass
