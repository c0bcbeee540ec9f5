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


def _single_page(section: MetadataSection, page_type: PageType, path: str) -> PageUpdate:
    if section.size != PAGE_SIZE:
        # QEMU would update every page of the range with this type; sev-snp-measure measures one.
        # No public source says how the firmware treats several such pages: refuse to guess.
        raise UnsupportedError(
            f"{path}: {section.describe()} spans {section.size // PAGE_SIZE} pages; only "
            f"one-page {section.type_name} sections are supported")
    return PageUpdate(section.gpa, page_type, None, section.describe())


def section_updates(section: MetadataSection, firmware: Firmware, profile: VmmProfile,
                    hashes_page: bytes | None) -> Iterator[PageUpdate]:
    """The page updates of one SEV metadata section under ``profile``'s rules."""
    kind = section.type
    label = section.describe()
    if kind == SectionType.SNP_SEC_MEM:
        yield from empty_pages(section.gpa, section.size, profile.sec_mem_page_type, label)
    elif kind == SectionType.SNP_SECRETS:
        yield _single_page(section, PageType.SECRETS, firmware.path)
    elif kind == SectionType.CPUID:
        yield _single_page(section, PageType.CPUID, firmware.path)
    elif kind == SectionType.SVSM_CAA:
        yield from empty_pages(section.gpa, section.size, PageType.ZERO, label)
    elif kind == SectionType.SNP_KERNEL_HASHES:
        if hashes_page is None:
            yield from empty_pages(section.gpa, section.size, PageType.ZERO, label)
        else:
            yield from data_pages(section.gpa, hashes_page, f"kernel hashes in {label}")
    elif profile.unknown_sections_measured_as_zero:
        warnings.warn(SnpMeasureWarning(
            f"{firmware.path}: {label} has unknown type {kind:#x}; measured as ZERO pages as "
            f"{profile.description} does"), stacklevel=2)
        yield from empty_pages(section.gpa, section.size, PageType.ZERO, label)
    else:
        raise UnsupportedError(
            f"{firmware.path}: {label} has unknown type {kind:#x}; how {profile.description} "
            "measures it is not public")


def kernel_hashes_area(firmware: Firmware, hashes: KernelHashes) -> tuple[MetadataSection, bytes]:
    """The KERNEL_HASHES section and its contents with the table in place, or refuse.

    QEMU writes the table at (hash-table GPA & 0xFFF) in the first page of the section and zeroes
    the rest of the section, so the table must lie in that first page.
    """
    sections = firmware.sections_of(SectionType.SNP_KERNEL_HASHES)
    if not sections:
        raise UnsupportedError(f"{firmware.path}: a kernel was given but the firmware's SEV "
                               "metadata has no SNP_KERNEL_HASHES section (no measured direct boot)")
    if len(sections) > 1:
        raise UnsupportedError(f"{firmware.path}: the SEV metadata has {len(sections)} "
                               "SNP_KERNEL_HASHES sections; one is expected")
    section = sections[0]
    base, size = _hash_table_block(firmware)
    offset = base - section.gpa
    if not 0 <= offset <= PAGE_SIZE - 0xB0:  # (sections are at least one page long)
        raise UnsupportedError(
            f"{firmware.path}: the SEV hash-table block ({base:#x}) is not in the first page of "
            f"{section.describe()}, where QEMU writes the table")
    contents = bytearray(section.size)
    contents[:PAGE_SIZE] = hashes.page(offset)
    return section, bytes(contents)


def _hash_table_block(firmware: Firmware) -> tuple[int, int]:
    block = firmware.hash_table_block
    if block is None:
        raise UnsupportedError(f"{firmware.path}: a kernel was given but the firmware has no SEV "
                               "hash-table block (no measured direct boot)")
    base, size = block
    if base == 0 or size < 0xB0:
        raise UnsupportedError(f"{firmware.path}: a kernel was given but the SEV hash-table block "
                               f"is unusable (GPA {base:#x}, size {size:#x}; QEMU needs a non-zero "
                               "GPA and at least 0xb0 bytes)")
    return base, size


def sev_hash_table(firmware: Firmware, hashes: KernelHashes) -> bytes:
    """The padded hashes table for SEV and SEV-ES, after checking the firmware has room for it."""
    _hash_table_block(firmware)
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
