"""Launch plans of IGVM files: the page updates a loader makes from the file's directives.

Loader rules (SPEC-NOTES section 9):

* ``igvmmeasure`` (default; coconut-svsm ``igvmmeasure``, QEMU/KVM + SVSM): PAGE_DATA NORMAL ->
  NORMAL (empty data hashed as a 4 KiB zero page, or a ZERO page with ``native_zero``),
  unmeasured -> UNMEASURED, SECRETS -> SECRETS, CPUID_* -> CPUID, 2 MiB pages split in 4 KiB
  pages; PARAMETER_INSERT -> one UNMEASURED page at its GPA; VP_CONTEXT -> a VMSA page at its own
  GPA, in directive order; SNP_ID_BLOCK not measured.
* ``microsoft`` (microsoft/igvm library: Hyper-V, OpenVMM): the same, except shared pages are
  skipped and a PARAMETER_INSERT measures every 4 KiB page of its parameter area as UNMEASURED.

SEV and SEV-ES platforms: SHA-256 over the data of every page directive (empty pages add nothing)
and the VMSA pages, as igvmmeasure does.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

from ..abi import igvm as L
from ..abi.snp import VMSA_GPA, PageType
from ..errors import ConfigError, InputError, UnsupportedError
from ..formats.igvm import Header, IgvmFile
from ..record import Record
from .plan import PageUpdate
from .vmsa import parse_vmsa

LOADERS = ("igvmmeasure", "microsoft")
PLATFORMS = {"snp": L.Platform.SEV_SNP, "sev-es": L.Platform.SEV_ES, "sev": L.Platform.SEV}
KVM_VMSA_GPA = VMSA_GPA
ZERO_PAGE = bytes(L.PAGE_SIZE_4K)


class IgvmOptions(Record):
    """How to measure an IGVM file: platform (snp, sev-es, sev), loader rules, ``native_zero``
    (empty pages as ZERO pages) and ``check_kvm`` (refuse what QEMU/KVM measures differently)."""

    FIELDS = {"platform": "snp", "loader": "igvmmeasure", "native_zero": False,
              "check_kvm": False}
    __slots__ = tuple(FIELDS)

    def _check(self) -> None:
        if self.platform not in PLATFORMS:
            raise ConfigError(f"--platform {self.platform!r} is not one of "
                              f"{', '.join(PLATFORMS)}")
        if self.loader not in LOADERS:
            raise ConfigError(f"--loader {self.loader!r} is not one of {', '.join(LOADERS)}")


def _page_type(header: Header, data_type: int, flags: int) -> PageType:
    if data_type == L.PageDataType.NORMAL:
        return PageType.UNMEASURED if flags & L.PAGE_FLAG_UNMEASURED else PageType.NORMAL
    if data_type == L.PageDataType.SECRETS:
        return PageType.SECRETS
    if data_type in (L.PageDataType.CPUID_DATA, L.PageDataType.CPUID_XF):
        return PageType.CPUID
    raise UnsupportedError(f"{header.describe()}: page data type {data_type} is unknown")


def snp_updates(igvm: IgvmFile, options: IgvmOptions) -> Iterator[PageUpdate]:
    """The SNP page updates of the file's directives for the chosen loader.

    The number of updates was bounded when the file was parsed (``claimed_pages``), and so was
    every file offset, so this loop, which runs once per page, checks neither again.
    """
    mask = igvm.compatibility_mask(L.Platform.SEV_SNP)
    microsoft = options.loader == "microsoft"
    new, fd, page = tuple.__new__, igvm.fileno(), L.PAGE_SIZE_4K
    normal = PageType.NORMAL
    vmsas = 0
    for header in igvm.directives(mask):
        p = header.payload
        kind = header.type
        label = header.describe()
        if options.check_kvm and vmsas and kind in (L.HeaderType.PAGE_DATA,
                                                    L.HeaderType.PARAMETER_INSERT):
            raise UnsupportedError(f"{igvm.path}: {label} comes after the VMSA; QEMU/KVM "
                                   "measures the VMSA last, so it must be the final page "
                                   "directive (--check-kvm)")
        if kind == L.HeaderType.PAGE_DATA:
            if microsoft and p.flags & L.PAGE_FLAG_SHARED:
                continue
            page_type = _page_type(header, p.data_type, p.flags)
            size = L.PAGE_SIZE_2M if p.flags & L.PAGE_FLAG_2MB else page
            data = None
            if page_type is normal and p.file_offset:
                data = memoryview(os.pread(fd, size, p.file_offset))  # at most one 2 MiB page
                if len(data) != size:
                    raise InputError(igvm.path, f"short read at {p.file_offset:#x}")
            for offset in range(0, size, page):
                source = f"{label} +{offset:#x}" if size > page else label
                gpa = p.gpa + offset
                if page_type is not normal:
                    yield new(PageUpdate, (gpa, page_type, None, source))
                elif data is not None:
                    yield new(PageUpdate, (gpa, normal, data[offset:offset + page], source))
                elif options.native_zero:
                    yield new(PageUpdate, (gpa, PageType.ZERO, None, source + " (empty)"))
                else:
                    yield new(PageUpdate, (gpa, normal, ZERO_PAGE, source + " (empty)"))
        elif kind == L.HeaderType.PARAMETER_INSERT:
            area = igvm.parameter_areas[p.parameter_area_index].payload
            pages = area.number_of_bytes // page if microsoft else 1
            for index in range(pages):
                yield new(PageUpdate, (p.gpa + index * page, PageType.UNMEASURED, None,
                                       f"{label} (parameter area {p.parameter_area_index}) "
                                       f"+{index * page:#x}"))
        elif kind == L.HeaderType.VP_CONTEXT:
            vmsa = _vmsa(igvm, header)
            if options.check_kvm:
                _check_kvm_vmsa(igvm, header, vmsa, vmsas)
            vmsas += 1
            yield new(PageUpdate, (p.gpa, PageType.VMSA, vmsa,
                                   f"{label} VMSA of vCPU {p.vp_index}"))


def _vmsa(igvm: IgvmFile, header: Header) -> bytes:
    p = header.payload
    if not p.file_offset:
        return ZERO_PAGE
    return igvm.read(p.file_offset, L.PAGE_SIZE_4K, header.describe())


def _check_kvm_vmsa(igvm: IgvmFile, header: Header, vmsa: bytes, seen: int) -> None:

    fields = parse_vmsa(vmsa)
    problems = []
    if seen:
        problems.append("more than one VMSA (QEMU/KVM sets only the first vCPU's)")
    if header.payload.gpa != KVM_VMSA_GPA:
        problems.append(f"VMSA GPA {header.payload.gpa:#x} is not KVM's {KVM_VMSA_GPA:#x}")
    if fields["cr0"] != 0x31:
        problems.append(f"VMSA cr0 {fields['cr0']:#x} is not 0x31, which KVM sets")
    if fields["sev_features"] & 0x20:
        problems.append("VMSA sev_features sets DebugSwap (0x20), which KVM does not keep")
    if problems:
        raise UnsupportedError(f"{igvm.path}: {header.describe()}: " + "; ".join(problems)
                               + " (--check-kvm)")


def sev_blobs(igvm: IgvmFile, platform: L.Platform) -> Iterator[tuple[Header, bytes]]:
    """What igvmmeasure hashes for SEV and SEV-ES: page data (empty adds nothing), VMSAs."""
    mask = igvm.compatibility_mask(platform)
    for header in igvm.directives(mask):
        p = header.payload
        if header.type == L.HeaderType.PAGE_DATA and p.file_offset:
            size = L.PAGE_SIZE_2M if p.flags & L.PAGE_FLAG_2MB else L.PAGE_SIZE_4K
            for offset in range(0, size, L.PAGE_SIZE_4K):
                yield header, igvm.read(p.file_offset + offset, L.PAGE_SIZE_4K,
                                        header.describe())
        elif header.type == L.HeaderType.VP_CONTEXT:
            yield header, _vmsa(igvm, header)


