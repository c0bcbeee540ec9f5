"""Launch plans: the ordered page updates a hypervisor makes, from any source.

An SNP plan is a sequence of parts: :class:`PageRun` (NORMAL pages loaded from one buffer, a
firmware image) and :class:`PageBatch` (any other :class:`PageUpdate` sequence). Each part has a
``key`` naming what it depends on, so a series of launches can share the digest of a common
prefix (``analysis.matrix``). The digest engine only replays plans.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Iterator

from ..abi.snp import VMSA_GPA, PageType
from ..formats.firmware import PAGE_SIZE, Firmware


_HAS_DATA = frozenset({PageType.NORMAL, PageType.VMSA})


class PageUpdate(namedtuple("PageUpdate", "gpa page_type data source")):
    """One SNP_LAUNCH_UPDATE of one 4 KiB page: GPA, page type, the page's bytes (NORMAL and
    VMSA updates only, else None) and what the page is, for people."""

    __slots__ = ()

    def __new__(cls, gpa: int, page_type: PageType, data, source: str):
        if (data is not None) != (page_type in _HAS_DATA):
            raise ValueError(f"{page_type.name} update with wrong data")
        return super().__new__(cls, gpa, page_type, data, source)


# Internal generators build PageUpdates without re-checking what they ensure by construction.
_new_update = tuple.__new__


def data_pages(gpa: int, data: bytes | memoryview, source: str,
               page_type: PageType = PageType.NORMAL) -> Iterator[PageUpdate]:
    """Pages of ``data`` (a whole number of pages) loaded at ``gpa`` (NORMAL or VMSA)."""
    if page_type not in _HAS_DATA:
        raise ValueError(f"{page_type.name} pages carry no data")
    view = memoryview(data)
    for offset in range(0, len(view), PAGE_SIZE):
        yield _new_update(PageUpdate, (gpa + offset, page_type,
                                       view[offset:offset + PAGE_SIZE], f"{source} +{offset:#x}"))


def empty_pages(gpa: int, size: int, page_type: PageType, source: str) -> Iterator[PageUpdate]:
    if page_type in _HAS_DATA:
        raise ValueError(f"{page_type.name} pages need data")
    for offset in range(0, size, PAGE_SIZE):
        yield _new_update(PageUpdate, (gpa + offset, page_type, None, f"{source} +{offset:#x}"))


class PageRun(namedtuple("PageRun", "gpa data source")):
    """NORMAL pages loaded from one buffer: a firmware image. ``pages()`` lists them one by one;
    the digest engine folds a run in with ``SnpLaunchDigest.extend_pages``."""

    __slots__ = ()

    @property
    def key(self) -> tuple:
        return ("run", self.gpa, self.source)

    def pages(self) -> Iterator[PageUpdate]:
        return data_pages(self.gpa, self.data, self.source)


class PageBatch(namedtuple("PageBatch", "key updates")):
    """Page updates of one step of a plan (an iterable, often a lazy generator), with the
    ``key`` that names what they depend on."""

    __slots__ = ()

    def pages(self) -> Iterable[PageUpdate]:
        return self.updates


VMSA_STEP = ("vmsas",)  # the key of the last step of every OVMF plan: one VMSA per vCPU


def plan_pages(parts: Iterable) -> Iterator[PageUpdate]:
    """Every page update of a plan given as parts, one by one."""
    for part in parts:
        yield from part.pages()


def firmware_run(firmware: Firmware, label: str = "firmware") -> PageRun:
    return PageRun(firmware.gpa, firmware.data, f"{label} {firmware.path}")


def firmware_pages(firmware: Firmware, label: str = "firmware") -> Iterator[PageUpdate]:
    return firmware_run(firmware, label).pages()


def vmsa_updates(pages: Iterable[bytes], gpa: int = VMSA_GPA) -> Iterator[PageUpdate]:
    """One VMSA update per vCPU, BSP first, at ``gpa`` (KVM's VMSA GPA by default)."""
    for index, page in enumerate(pages):
        yield PageUpdate(gpa, PageType.VMSA, page, f"VMSA of vCPU {index}")
