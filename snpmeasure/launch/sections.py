"""How each VMM measures the SEV metadata sections of a firmware image (SPEC-NOTES section 2).

The rules are data in ``launch.profiles``; this module turns one validated firmware image, a
profile and the kernel hashes (if any) into page updates.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator

from ..abi.ovmf import SectionType
from ..abi.snp import PageType
from ..errors import SnpMeasureWarning, UnsupportedError
from ..formats.firmware import PAGE_SIZE, Firmware, MetadataSection
from .kernel_hashes import KernelHashes
from .plan import PageUpdate, data_pages, empty_pages
from .profiles import VmmProfile


def _single_page(section: MetadataSection, path: str) -> None:
    if section.size != PAGE_SIZE:
        # QEMU would update every page of the range with this type; sev-snp-measure measures one.
        # No public source says how the firmware treats several such pages: refuse to guess.
        raise UnsupportedError(
            f"{path}: {section.describe()} spans {section.size // PAGE_SIZE} pages; only "
            f"one-page {section.type_name} sections are supported")


def section_page_type(section: MetadataSection, firmware: Firmware, profile: VmmProfile,
                       with_hashes: bool) -> PageType:
    """The page type every page of one SEV metadata section gets under ``profile``'s rules
    (``with_hashes``: the kernel hashes table is in the KERNEL_HASHES section), without making a
    page: the one definition :func:`section_updates` expands and ``analysis.inspect`` counts.
    Refuses (UnsupportedError) what :func:`section_updates` refuses; warns of nothing."""
    kind = section.type
    if kind == SectionType.SNP_SEC_MEM:
        return profile.sec_mem_page_type
    if kind == SectionType.SNP_SECRETS:
        _single_page(section, firmware.path)
        return PageType.SECRETS
    if kind == SectionType.CPUID:
        _single_page(section, firmware.path)
        return PageType.CPUID
    if kind == SectionType.SVSM_CAA:
        return PageType.ZERO
    if kind == SectionType.SNP_KERNEL_HASHES:
        return PageType.NORMAL if with_hashes else PageType.ZERO
    if profile.unknown_sections_measured_as_zero:
        return PageType.ZERO
    raise UnsupportedError(
        f"{firmware.path}: {section.describe()} has unknown type {kind:#x}; how "
        f"{profile.description} measures it is not public")


def section_updates(section: MetadataSection, firmware: Firmware, profile: VmmProfile,
                    hashes_page: bytes | None) -> Iterator[PageUpdate]:
    """The page updates of one SEV metadata section under ``profile``'s rules.

    ``hashes_page`` is the first page of the KERNEL_HASHES section with the kernel hashes table
    in place (from :func:`kernel_hashes_area`), or None without a kernel; the rest of that
    section is zero. Pages are made one at a time: nothing here grows with the section's size.
    """
    label = section.describe()
    page_type = section_page_type(section, firmware, profile, hashes_page is not None)
    if not section.known:
        warnings.warn(SnpMeasureWarning(
            f"{firmware.path}: {label} has unknown type {section.type:#x}; measured as ZERO "
            f"pages as {profile.description} does"), stacklevel=2)
    if page_type in (PageType.SECRETS, PageType.CPUID):
        yield PageUpdate(section.gpa, page_type, None, label)
    elif page_type == PageType.NORMAL:  # the kernel hashes: QEMU measures the whole section
        yield from _hashes_pages(section, hashes_page, f"kernel hashes in {label}")
    else:
        yield from empty_pages(section.gpa, section.size, page_type, label)


_ZERO_PAGE = bytes(PAGE_SIZE)


def _hashes_pages(section: MetadataSection, first: bytes, source: str) -> Iterator[PageUpdate]:
    """NORMAL pages of the KERNEL_HASHES section: ``first`` (the table's page), then zeros."""
    if len(first) != PAGE_SIZE:
        raise ValueError(f"the kernel hashes page is {len(first)} bytes, not {PAGE_SIZE}")
    yield from data_pages(section.gpa, first, source)
    for offset in range(PAGE_SIZE, section.size, PAGE_SIZE):
        yield PageUpdate(section.gpa + offset, PageType.NORMAL, _ZERO_PAGE,
                         f"{source} +{offset:#x}")


def kernel_hashes_area(firmware: Firmware, hashes: KernelHashes) -> tuple[MetadataSection, bytes]:
    """The KERNEL_HASHES section and the first page of its contents with the table in place,
    or refuse.

    QEMU writes the table at (hash-table GPA & 0xFFF) in the first page of the section and zeroes
    the rest of the section, so the table must lie in that first page; the rest is zero pages,
    never allocated here (the section may claim up to 4 GiB).
    """
    problem = snp_direct_boot_problem(firmware)
    if problem is not None:
        raise UnsupportedError(f"{firmware.path}: a kernel was given, but {problem}")
    section = firmware.sections_of(SectionType.SNP_KERNEL_HASHES)[0]
    return section, hashes.page(firmware.hash_table_block[0] - section.gpa)


def snp_direct_boot_problem(firmware: Firmware) -> str | None:
    """Why SEV-SNP measured direct boot (QEMU -kernel, kernel-hashes=on) cannot work with this
    firmware, or None. QEMU (target/i386/sev.c, 10.2: sev_snp_build_kernel_loader_hashes keeps
    the table's offset in its page, snp_launch_update_kernel_hashes writes it into the
    SNP_KERNEL_HASHES section) needs one such section and a usable hash-table block in its first
    page."""
    sections = firmware.sections_of(SectionType.SNP_KERNEL_HASHES)
    if not sections:
        return ("the firmware's SEV metadata has no SNP_KERNEL_HASHES section (no measured "
                "direct boot)")
    if len(sections) > 1:
        return f"the SEV metadata has {len(sections)} SNP_KERNEL_HASHES sections; one is expected"
    problem = hash_table_problem(firmware)
    if problem is not None:
        return problem
    base = firmware.hash_table_block[0]
    if not 0 <= base - sections[0].gpa <= PAGE_SIZE - 0xB0:  # (sections are >= one page)
        return (f"the SEV hash-table block ({base:#x}) is not in the first page of "
                f"{sections[0].describe()}, where QEMU writes the table")
    return None


def hash_table_problem(firmware: Firmware) -> str | None:
    """Why the firmware's SEV hash-table block cannot take QEMU's kernel hashes table (0xb0
    bytes at a non-zero GPA: target/i386/sev.c, sev_add_kernel_loader_hashes), or None."""
    block = firmware.hash_table_block
    if block is None:
        return "the firmware has no SEV hash-table block (no measured direct boot)"
    base, size = block
    if base == 0 or size < 0xB0:
        return (f"the SEV hash-table block is unusable (GPA {base:#x}, size {size:#x}; QEMU "
                "needs a non-zero GPA and at least 0xb0 bytes)")
    return None


def sev_hash_table(firmware: Firmware, hashes: KernelHashes) -> bytes:
    """The padded hashes table for SEV and SEV-ES, after checking the firmware has room for it."""
    problem = hash_table_problem(firmware)
    if problem is not None:
        raise UnsupportedError(f"{firmware.path}: a kernel was given, but {problem}")
    return hashes.table()


def metadata_updates(firmware: Firmware, profile: VmmProfile,
                     hashes: KernelHashes | None) -> Iterator[PageUpdate]:
    """Every metadata section in file order (EC2: CPUID sections after all the others)."""
    hashes_page = None
    if hashes is not None:
        _, hashes_page = kernel_hashes_area(firmware, hashes)
    deferred: list[MetadataSection] = []
    for section in firmware.sections:
        if profile.cpuid_after_other_sections and section.type == SectionType.CPUID:
            deferred.append(section)
            continue
        yield from section_updates(section, firmware, profile, hashes_page)
    for section in deferred:
        yield from section_updates(section, firmware, profile, hashes_page)
