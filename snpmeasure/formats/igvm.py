"""IGVM files: parse and validate the fixed header and every variable header.

The header section is read whole (bounded by ``limits.MAX_IGVM_HEADER_SECTION``) and checked once:
every header's length, payload size, order (platform, initialization, directive headers), file
offsets, alignment and references. Page contents are not read here: the plans of
``launch.igvm`` read them one directive at a time with :meth:`IgvmFile.read`.

Memory does not grow with the number of headers: the section is walked lazily
(:meth:`IgvmFile.iter_headers` parses each header afresh), and parsing keeps only what the
queries return, each bounded: the platforms (``limits.MAX_IGVM_PLATFORMS``), the parameter areas
(``limits.MAX_IGVM_PARAMETER_AREAS``), and per compatibility-mask bit the first guest policy
and the last ID block. The directives' page updates are bounded by ``limits.MAX_PAGE_UPDATES``
before any is made.
"""
from __future__ import annotations

import os
import stat
import struct
import zlib
from collections import namedtuple
from collections.abc import Iterator

from ..abi import igvm as L
from ..abi.codec import CodecError, codec
from ..errors import FormatError, InputError, SnpMeasureError, UnsupportedError
from ..files import open_input
from ..limits import MAX_IGVM_HEADER_SECTION as MAX_HEADER_SECTION
from ..limits import MAX_IGVM_PARAMETER_AREAS as MAX_PARAMETER_AREAS
from ..limits import MAX_IGVM_PLATFORMS as MAX_PLATFORMS
from ..limits import MAX_PAGE_UPDATES

_SECTION_OF = {  # header type ranges must appear in this order
    "platform": range(0x001, 0x101),
    "initialization": range(0x101, 0x301),
    "directive": range(0x301, 0x401),
}


class Header(namedtuple("Header", "index type offset length payload")):
    """One variable header: its index, type, file offset, length and parsed payload (or None)."""

    __slots__ = ()

    @property
    def type_name(self) -> str:
        return _type_info(self.type)[0]

    @property
    def compatibility_mask(self) -> int | None:
        payload = self.payload
        if payload is not None:
            return payload.get("compatibility_mask")
        return None

    def describe(self) -> str:
        return f"{self.type_name} #{self.index}"


class IgvmFile:
    """A validated IGVM file. Use as a context manager, or call ``close()``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self._handle = open_input(path)  # "-": standard input, spooled to a temporary file
        try:
            info = os.fstat(self._handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(path, "is not a regular file (IGVM files are read at offsets)")
            self.size = info.st_size
            self._parse()
        except CodecError as exc:
            self.close()
            raise FormatError(self.path, "layout", str(exc).splitlines()[0]) from None
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "IgvmFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def fileno(self) -> int:
        return self._handle.fileno()

    @property
    def data_start(self) -> int:
        """Where file data may begin: after the variable header section."""
        return self._section_start + len(self._section)

    # -- reading ----------------------------------------------------------------------------
    def read(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes of file data at ``offset`` (bounds already checked at parse time)."""
        if offset < 0 or offset + size > self.size:
            raise FormatError(self.path, what, f"data {offset:#x}+{size:#x} runs past the end "
                              f"of the file ({self.size:#x})", offset)
        data = os.pread(self._handle.fileno(), size, offset)
        if len(data) != size:
            raise InputError(self.path, f"short read at {offset:#x}")
        return data

    def _fail(self, field_name: str, reason: str, offset: int | None = None):
        raise FormatError(self.path, field_name, reason, offset)

    # -- parsing ----------------------------------------------------------------------------
    def _parse(self) -> None:
        v1, v2 = codec("igvm.FixedHeaderV1"), codec("igvm.FixedHeaderV2")
        if self.size < v1.size:
            self._fail("fixed header", f"the file ({self.size} bytes) is too small for one")
        head = self.read(0, v1.size, "fixed header")
        fixed = v1.parse(head)
        if fixed.magic != L.IGVM_MAGIC:
            self._fail("magic", f"{fixed.magic:#010x} is not {L.IGVM_MAGIC:#010x} ('IGVM')", 0)
        if fixed.format_version not in (1, 2):
            self._fail("format version", f"{fixed.format_version} is not 1 or 2", 4)
        fixed_struct = v1 if fixed.format_version == 1 else v2
        if fixed.format_version == 2:
            head = self.read(0, v2.size, "fixed header")
            fixed = v2.parse(head)
            if fixed.architecture != 0:
                self._fail("architecture", f"{fixed.architecture} is not x64 (0)", 24)
            if fixed.page_size != L.PAGE_SIZE_4K:
                self._fail("page size", f"{fixed.page_size:#x} is not 0x1000", 28)
        self.format_version = fixed.format_version
        if fixed.total_file_size != self.size:
            self._fail("total file size", f"{fixed.total_file_size} bytes, but the file has "
                       f"{self.size}", 16)
        start, length = fixed.variable_header_offset, fixed.variable_header_size
        if start < fixed_struct.size or start + length > self.size:
            self._fail("variable header section", f"{start:#x}+{length:#x} is outside the file "
                       "after the fixed header", 8)
        if start % L.VARIABLE_HEADER_ALIGNMENT or length % L.VARIABLE_HEADER_ALIGNMENT:
            self._fail("variable header section", f"offset {start:#x} and size {length:#x} must "
                       "be 8-byte aligned", 8)
        if length > MAX_HEADER_SECTION:
            self._fail("variable header section", f"{length} bytes is over the "
                       f"{MAX_HEADER_SECTION}-byte limit", 12)
        section = self.read(start, length, "variable header section")
        zeroed = head[:20] + bytes(4) + head[24:]
        crc = zlib.crc32(section, zlib.crc32(zeroed)) & 0xFFFFFFFF
        if crc != fixed.checksum:
            self._fail("checksum", f"CRC-32 {crc:#010x} of the headers is not the stored "
                       f"{fixed.checksum:#010x}", 20)
        self._section = section
        self._section_start = start
        self.parameter_areas: dict[int, Header] = {}
        self.claimed_pages = 0  # page updates the directives can produce, at most
        self._platforms: list[Header] = []
        # Only what a query can return is kept, so memory does not grow with the number of
        # headers: per compatibility-mask bit, the first GUEST_POLICY and the last SNP_ID_BLOCK
        # with that bit (at most 32 headers each).
        self._policy_of_bit: dict[int, Header] = {}
        self._id_block_of_bit: dict[int, Header] = {}
        self.header_count = 0
        policy_bits = 0
        for header in self._walk(section, start):  # validate every header once
            self._check(header)
            self.header_count += 1
            if header.type == L.HeaderType.SUPPORTED_PLATFORM:
                if len(self._platforms) == MAX_PLATFORMS:
                    self._fail(f"{header.describe()}", f"more than {MAX_PLATFORMS} "
                               "SUPPORTED_PLATFORM headers (the limit: one per compatibility "
                               "mask bit)", header.offset)
                self._platforms.append(header)
            elif header.type == L.HeaderType.GUEST_POLICY:
                if header.payload.compatibility_mask & ~policy_bits:  # a bit seen first here
                    for bit in _bits(header.payload.compatibility_mask):
                        self._policy_of_bit.setdefault(bit, header)
                    policy_bits |= header.payload.compatibility_mask
            elif header.type == L.HeaderType.SNP_ID_BLOCK:
                for bit in _bits(header.payload.compatibility_mask):
                    self._id_block_of_bit[bit] = header
        self._policies = _in_file_order(self._policy_of_bit)
        self._id_blocks = _in_file_order(self._id_block_of_bit)

    def _walk(self, section: bytes, base: int) -> Iterator[Header]:
        cursor, index, stage = 0, 0, 0
        end = len(section)
        unpack_prefix = _PREFIX.unpack_from
        while cursor < end:
            at = base + cursor
            if end - cursor < 8:
                self._fail("variable header", "truncated type/length", at)
            kind, length = unpack_prefix(section, cursor)
            if length > end - cursor - 8:
                self._fail(f"variable header {index} length", f"{length} runs past the "
                           "header section", at + 4)
            name, known, header_stage, parser = _type_info(kind)
            payload = None
            if not known and not kind & L.IGNORABLE_BIT:
                self._fail(f"variable header {index}", f"unknown required header type "
                           f"{kind:#x}", at)
            if known:
                if header_stage < stage:
                    self._fail(f"variable header {index} ({name})", "appears after a later "
                               "section's headers (platform, then initialization, then "
                               "directive headers)", at)
                stage = header_stage
                if parser is not None:
                    size, parse = parser
                    if length < size:
                        self._fail(f"variable header {index} ({name}) length",
                                   f"{length} is less than {size}", at + 4)
                    payload = parse(section[cursor + 8:cursor + 8 + size])
            yield Header(index, kind, at, length, payload)
            step = 8 + length
            cursor += step + (-step % L.VARIABLE_HEADER_ALIGNMENT)
            index += 1

    def iter_headers(self) -> Iterator[Header]:
        """Every variable header in file order, parsed afresh (nothing is kept in memory)."""
        return self._walk(self._section, self._section_start)

    def _check(self, header: Header) -> None:
        """Bounds and references of one header (called once per header while parsing)."""
        p = header.payload
        if header.type == L.HeaderType.PARAMETER_AREA:
            if p.parameter_area_index in self.parameter_areas:
                self._fail(f"{header.describe()}", f"parameter area "
                           f"{p.parameter_area_index} is declared twice", header.offset)
            if len(self.parameter_areas) == MAX_PARAMETER_AREAS:
                self._fail(f"{header.describe()}", f"more than {MAX_PARAMETER_AREAS} "
                           "parameter areas (the limit)", header.offset)
            if p.number_of_bytes == 0 or p.number_of_bytes % L.PAGE_SIZE_4K \
                    or p.number_of_bytes > self.size + MAX_PAGE_UPDATES * L.PAGE_SIZE_4K:
                self._fail(f"{header.describe()} size", f"{p.number_of_bytes:#x} is not a "
                           "sensible whole number of pages", header.offset + 8)
            if p.file_offset and p.file_offset + p.number_of_bytes > self.size:
                self._fail(f"{header.describe()} file offset", "initial data runs past the "
                           "end of the file", header.offset + 20)
            self.parameter_areas[p.parameter_area_index] = header
        elif header.type == L.HeaderType.PAGE_DATA:
            size = L.PAGE_SIZE_2M if p.flags & L.PAGE_FLAG_2MB else L.PAGE_SIZE_4K
            self._claim(size // L.PAGE_SIZE_4K, header)
            if p.gpa % size:
                self._fail(f"{header.describe()} gpa", f"{p.gpa:#x} is not aligned to its "
                           f"{size:#x}-byte page", header.offset + 8)
            # libigvm reads 4 KiB of file data for every page, 2 MiB pages included
            if p.file_offset and p.file_offset + L.PAGE_SIZE_4K > self.size:
                self._fail(f"{header.describe()} file offset", f"{p.file_offset:#x}+"
                           f"{L.PAGE_SIZE_4K:#x} runs past the end of the file",
                           header.offset + 20)
            if p.flags & ~0x7:
                self._fail(f"{header.describe()} flags", f"unknown flags {p.flags:#x}",
                           header.offset + 24)
        elif header.type == L.HeaderType.VP_CONTEXT:
            self._claim(1, header)
            if p.gpa % L.PAGE_SIZE_4K:
                self._fail(f"{header.describe()} gpa", f"{p.gpa:#x} is not page aligned",
                           header.offset + 8)
            if p.file_offset and p.file_offset + L.PAGE_SIZE_4K > self.size:
                self._fail(f"{header.describe()} file offset", "the VMSA runs past the end "
                           "of the file", header.offset + 20)
        elif header.type == L.HeaderType.PARAMETER_INSERT:
            area = self.parameter_areas.get(p.parameter_area_index)
            if area is not None:
                self._claim(area.payload.number_of_bytes // L.PAGE_SIZE_4K, header)
            if p.gpa % L.PAGE_SIZE_4K:
                self._fail(f"{header.describe()} gpa", f"{p.gpa:#x} is not page aligned",
                           header.offset + 8)
            if p.parameter_area_index not in self.parameter_areas:
                self._fail(f"{header.describe()}", f"parameter area "
                           f"{p.parameter_area_index} is not declared before it",
                           header.offset + 20)
            if p.gpa + area.payload.number_of_bytes > 1 << 64:
                self._fail(f"{header.describe()} gpa", f"{p.gpa:#x} + the area's "
                           f"{area.payload.number_of_bytes:#x} bytes run past the top of the "
                           "guest physical address space", header.offset + 8)

    def _claim(self, pages: int, header: Header) -> None:
        self.claimed_pages += pages
        if self.claimed_pages > MAX_PAGE_UPDATES:
            raise UnsupportedError(f"{self.path}: {header.describe()}: the directives claim more "
                                   f"than {MAX_PAGE_UPDATES} page updates (the limit; 4 GiB of "
                                   "guest memory)")

    # -- queries ----------------------------------------------------------------------------
    def platforms(self) -> list[Header]:
        return list(self._platforms)

    def compatibility_mask(self, platform: L.Platform) -> int:
        found = [h for h in self.platforms() if h.payload.platform_type == platform]
        if not found:
            have = ", ".join(_platform_name(h.payload.platform_type) for h in self.platforms())
            raise UnsupportedError(f"{self.path}: no {platform.name} platform in the file "
                                   f"(it supports: {have or 'none'})")
        if len(found) > 1:
            raise UnsupportedError(f"{self.path}: {len(found)} {platform.name} platform headers; "
                                   "one is expected")
        mask = found[0].payload.compatibility_mask
        if mask == 0 or mask & (mask - 1):
            raise FormatError(self.path, f"{found[0].describe()} compatibility mask",
                              f"{mask:#x} is not a single bit", found[0].offset + 8)
        return mask

    def guest_policy(self, mask: int) -> int | None:
        """The policy of the first GUEST_POLICY header whose mask meets ``mask``, or None."""
        for header in self._policies:
            if header.type == L.HeaderType.GUEST_POLICY and \
                    header.payload.compatibility_mask & mask:
                return header.payload.policy
        return None

    def id_blocks(self) -> list[Header]:
        """The SNP_ID_BLOCK headers a loader can use, in file order: for each compatibility-mask
        bit, the last one with that bit (an earlier one with the same bits is never used, and is
        not kept)."""
        return list(self._id_blocks)

    def directives(self, mask: int) -> Iterator[Header]:
        return (h for h in self.iter_headers() if h.compatibility_mask is not None
                and h.compatibility_mask & mask and h.type >= 0x301)


def _bits(mask: int) -> Iterator[int]:
    """The set bits of a 32-bit compatibility mask."""
    while mask:
        low = mask & -mask
        yield low
        mask ^= low


def _in_file_order(headers_of_bit: dict[int, Header]) -> list[Header]:
    unique = {header.index: header for header in headers_of_bit.values()}
    return [unique[index] for index in sorted(unique)]


_PREFIX = struct.Struct(codec("igvm.VariableHeaderPrefix").format)
_TYPE_INFO: dict = {}


def _type_info(value: int):
    """(name, known, stage, (size, parse) or None) of a header type, computed once per type."""
    info = _TYPE_INFO.get(value)
    if info is None:
        kind = value & ~L.IGNORABLE_BIT
        try:
            known = L.HeaderType(kind)
        except ValueError:
            known = None
        stage = next((number for number, span in enumerate(_SECTION_OF.values())
                      if kind in span), 0)
        parser = None
        if known is not None and L.PAYLOADS.get(known):
            payload = codec(L.PAYLOADS[known])
            parser = (payload.size, payload.parse)
        name = known.name if known is not None else f"unknown type {value:#x}"
        info = _TYPE_INFO[value] = (name, known is not None, stage, parser)
    return info


def _platform_name(value: int) -> str:
    try:
        return L.Platform(value).name
    except ValueError:
        return f"platform {value}"


def is_igvm(path: str | os.PathLike) -> bool:
    try:
        with open_input(path) as handle:
            return handle.read(4) == L.IGVM_MAGIC.to_bytes(4, "little")
    except (OSError, SnpMeasureError):
        return False
