"""Parse and validate OVMF (and COCONUT-SVSM) firmware images.

The image is mapped so that it ends at ``end_at`` (4 GiB for OVMF). Everything a launch depends on
is checked here, once: every offset and length inside the file, the footer GUID table, the SEV
metadata, and the placement of every metadata section. A :class:`Firmware` that exists is valid.

Every count read from the image is bounded before anything of that size is built: the footer
table by its 16-bit length, the SEV metadata's descriptor count by the file (its descriptors must
fit in the metadata's length, inside the file) and by ``limits.MAX_SEV_METADATA_SECTIONS``.
Sections are page-aligned, inside 4 GiB and disjoint, so together they span at most 2^20 pages;
nothing here makes a page of them.
"""
from __future__ import annotations

import os
from collections import namedtuple

from ..abi import ovmf as L
from ..abi.codec import CodecError, codec
from ..abi.ovmf import SectionType, section_type_name
from ..errors import FormatError
from ..files import read_file
from ..limits import MAX_FIRMWARE_FILE, MAX_SEV_METADATA_SECTIONS

PAGE_SIZE = 4096
FOUR_GIB = 1 << 32


class TableEntry(namedtuple("TableEntry", "guid offset data")):
    """One entry of the footer GUID table: GUID text, file offset of its data, the data."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return L.KNOWN_TABLE_ENTRIES.get(self.guid, "unknown entry")


class MetadataSection(namedtuple("MetadataSection", "index gpa size type offset")):
    """One SEV metadata section descriptor (``offset``: file offset of the descriptor)."""

    __slots__ = ()

    @property
    def end(self) -> int:
        return self.gpa + self.size

    @property
    def type_name(self) -> str:
        return section_type_name(self.type)

    @property
    def known(self) -> bool:
        return self.type in SectionType._value2member_map_

    def describe(self) -> str:
        return f"metadata section {self.index} ({self.type_name}, {self.gpa:#x}-{self.end - 1:#x})"


class Firmware(namedtuple("Firmware", "path data gpa table sections has_metadata "
                                       "metadata_offset", defaults=(None,))):
    """A validated firmware image and what its footer table and SEV metadata declare:
    ``path``, ``data`` (the image), ``gpa`` (where it is loaded), ``table`` (TableEntry
    tuple), ``sections`` (MetadataSection tuple), ``has_metadata``, ``metadata_offset``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return (f"Firmware(path={self.path!r}, size={self.size}, gpa={self.gpa:#x}, "
                f"table={len(self.table)} entries, sections={len(self.sections)})")

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def end_gpa(self) -> int:
        return self.gpa + len(self.data)

    def entry(self, guid: str) -> TableEntry | None:
        for item in self.table:
            if item.guid == guid:
                return item
        return None

    def _payload(self, guid: str):
        item = self.entry(guid)
        if item is None:
            return None
        return codec(L.ENTRY_PAYLOADS[guid]).parse(item.data)

    @property
    def reset_address(self) -> int | None:
        """The SEV-ES AP reset address (EIP), or None without a reset block."""
        block = self._payload(L.SEV_ES_RESET_BLOCK_GUID)
        return None if block is None else block.reset_address

    @property
    def hash_table_block(self) -> tuple[int, int] | None:
        """(GPA, size) of the area for the kernel hashes table, or None."""
        block = self._payload(L.SEV_HASH_TABLE_BLOCK_GUID)
        return None if block is None else (block.base, block.size)

    @property
    def secret_block(self) -> tuple[int, int] | None:
        block = self._payload(L.SEV_SECRET_BLOCK_GUID)
        return None if block is None else (block.base, block.size)

    @property
    def svsm_launch_offset(self) -> int | None:
        block = self._payload(L.SVSM_INFO_GUID)
        return None if block is None else block.launch_offset

    def sections_of(self, kind: SectionType) -> tuple[MetadataSection, ...]:
        return tuple(s for s in self.sections if s.type == kind)


def load_firmware(path: str | os.PathLike, end_at: int = FOUR_GIB) -> Firmware:
    """Read and validate the firmware image at ``path``, mapped to end at ``end_at``."""
    return parse_firmware(read_file(path, MAX_FIRMWARE_FILE, "firmware image"), path=str(path),
                          end_at=end_at)


def parse_firmware(data: bytes, path: str = "<firmware>", end_at: int = FOUR_GIB) -> Firmware:
    """Validate ``data`` as a firmware image ending at GPA ``end_at``; see the module docstring."""
    try:
        return _parse(bytes(data), path, end_at)
    except CodecError as exc:  # the single choke point for layout errors
        raise FormatError(path, "layout", str(exc).splitlines()[0]) from None


# EFI_SYSTEM_NV_DATA_FV_GUID (edk2 MdePkg), the file system GUID of an OVMF_VARS volume
_NV_DATA_FV_GUID = bytes.fromhex("8d2bf1ff96768b4ca9852747075b4f50")


def _refuse_other_kinds(data: bytes, path: str) -> None:
    """Name an IGVM file given to --ovmf by mistake (OVMF_VARS: ``_parse_footer_table``)."""
    from ..errors import ConfigError

    if data[:4] == b"IGVM":
        raise ConfigError(f"{path} is an IGVM file, not a firmware image: measure it with "
                          "'snpmeasure igvm FILE' (or explain --igvm, manifest --igvm)")


def _is_vars_store(data: bytes) -> bool:
    """An OVMF_VARS image: one firmware volume whose file system is the NV data store (the
    combined OVMF.fd starts the same way but also holds the code and its GUID table)."""
    return data[0x28:0x2C] == b"_FVH" and data[0x10:0x20] == _NV_DATA_FV_GUID


def _parse(data: bytes, path: str, end_at: int) -> Firmware:
    size = len(data)
    if size == 0:
        raise FormatError(path, "size", "the file is empty")
    _refuse_other_kinds(data, path)
    if size % PAGE_SIZE:
        raise FormatError(path, "size", f"{size} bytes is not a multiple of the 4096-byte page")
    if size > end_at:
        raise FormatError(path, "size", f"{size} bytes do not fit below GPA {end_at:#x}")
    gpa = end_at - size
    table = _parse_footer_table(data, path)
    firmware = Firmware(path=path, data=data, gpa=gpa, table=table, sections=(), has_metadata=False)
    for item in table:
        payload = L.ENTRY_PAYLOADS.get(item.guid)
        if payload is not None and len(item.data) < codec(payload).size:
            raise FormatError(path, f"footer table entry {item.name} ({item.guid})",
                              f"holds {len(item.data)} bytes, needs {codec(payload).size}",
                              item.offset)
    meta = firmware._payload(L.SEV_METADATA_OFFSET_GUID)
    if meta is None:
        return firmware
    sections, start = _parse_metadata(data, path, meta.offset_from_end)
    _check_sections(sections, path, gpa, gpa + size)
    return Firmware(path=path, data=data, gpa=gpa, table=table, sections=sections,
                    has_metadata=True, metadata_offset=start)


def _parse_footer_table(data: bytes, path: str) -> tuple[TableEntry, ...]:
    size = len(data)
    trailer_size = L.TABLE_ENTRY_TRAILER_SIZE
    footer_end = size - L.FOOTER_OFFSET_FROM_END
    footer_at = footer_end - trailer_size
    if footer_at < 0:
        raise FormatError(path, "footer table", "the file is too small to hold one")
    trailer_codec = codec("ovmf.TableEntryTrailer")
    footer = trailer_codec.parse(data[footer_at:footer_end])
    if footer.guid != L.guid_bytes(L.FOOTER_TABLE_GUID):
        if _is_vars_store(data):
            raise FormatError(path, "footer table", "not found: this is an OVMF_VARS variable "
                              "store, not the firmware code; give --ovmf the OVMF_CODE or "
                              "combined OVMF image (for snp:svsm, the store's size goes to "
                              "--vars-size or --vars-file)")
        raise FormatError(path, "footer table",
                          f"GUID {L.FOOTER_TABLE_GUID} not found {size - (footer_at + 2)} "
                          "bytes before the end of the file, where an OVMF image's GUID table "
                          "ends (not an OVMF image with a GUID table)", footer_at + 2)
    if footer.length < trailer_size or footer.length > footer_end:
        raise FormatError(path, "footer table length",
                          f"{footer.length} is outside {trailer_size}..{footer_end}", footer_at)
    table_start = footer_end - footer.length
    entries: list[TableEntry] = []
    seen: set[str] = set()
    cursor = footer_at  # entries end here and are read backwards
    while cursor > table_start:
        if cursor - table_start < trailer_size:
            raise FormatError(path, "footer table",
                              f"{cursor - table_start} leftover bytes are too few for an entry",
                              table_start)
        trailer = trailer_codec.parse(data[cursor - trailer_size:cursor])
        guid = L.guid_text(trailer.guid)
        if trailer.length < trailer_size or trailer.length > cursor - table_start:
            raise FormatError(path, f"footer table entry {guid} length",
                              f"{trailer.length} is outside {trailer_size}.."
                              f"{cursor - table_start}", cursor - trailer_size)
        if guid in seen:
            raise FormatError(path, f"footer table entry {guid}", "appears twice",
                              cursor - trailer_size)
        seen.add(guid)
        start = cursor - trailer.length
        entries.append(TableEntry(guid=guid, offset=start, data=data[start:cursor - trailer_size]))
        cursor = start
    return tuple(entries)


def _parse_metadata(data: bytes, path: str, offset_from_end: int):
    size = len(data)
    if not L.SEV_METADATA_HEADER_SIZE <= offset_from_end <= size:
        raise FormatError(path, "SEV metadata offset",
                          f"{offset_from_end:#x} from the end is outside the file")
    start = size - offset_from_end
    raw = data[start:start + L.SEV_METADATA_HEADER_SIZE]
    if raw[:4] != L.SEV_METADATA_SIGNATURE:
        raise FormatError(path, "SEV metadata signature",
                          f"{raw[:4]!r} is not {L.SEV_METADATA_SIGNATURE!r}", start)
    header = codec("ovmf.SevMetadataHeader").parse(raw)
    if header.version != L.SEV_METADATA_VERSION:
        raise FormatError(path, "SEV metadata version",
                          f"{header.version} is not {L.SEV_METADATA_VERSION}", start + 8)
    needed = L.SEV_METADATA_HEADER_SIZE + header.num_desc * L.SEV_METADATA_SECTION_SIZE
    if header.length < needed:
        raise FormatError(path, "SEV metadata length",
                          f"{header.length} is too small for {header.num_desc} sections "
                          f"({needed} bytes)", start + 4)
    if start + header.length > size:
        raise FormatError(path, "SEV metadata length",
                          f"{header.length} bytes run past the end of the file", start + 4)
    # The two checks above bound the claimed count by the file (its descriptors fit); this one
    # by the documented limit, before any descriptor is read.
    if header.num_desc > MAX_SEV_METADATA_SECTIONS:
        raise FormatError(path, "SEV metadata section count",
                          f"{header.num_desc} sections is over the limit of "
                          f"{MAX_SEV_METADATA_SECTIONS}", start + 12)
    parse = codec("ovmf.SevMetadataSection").parse
    sections = []
    for index in range(header.num_desc):
        at = start + L.SEV_METADATA_HEADER_SIZE + index * L.SEV_METADATA_SECTION_SIZE
        desc = parse(data[at:at + L.SEV_METADATA_SECTION_SIZE])
        sections.append(MetadataSection(index=index, gpa=desc.gpa, size=desc.size,
                                        type=desc.type, offset=at))
    return tuple(sections), start


def _check_sections(sections, path: str, image_start: int, image_end: int) -> None:
    for sec in sections:
        field_name = f"SEV metadata section {sec.index} ({sec.type_name})"
        if sec.size == 0:
            raise FormatError(path, field_name, "has size 0", sec.offset)
        if sec.gpa % PAGE_SIZE or sec.size % PAGE_SIZE:
            raise FormatError(path, field_name,
                              f"GPA {sec.gpa:#x} and size {sec.size:#x} must be multiples of 4096",
                              sec.offset)
        if sec.end > FOUR_GIB:
            raise FormatError(path, field_name,
                              f"{sec.gpa:#x}+{sec.size:#x} runs past 4 GiB", sec.offset)
        if sec.gpa < image_end and image_start < sec.end:
            raise FormatError(path, field_name,
                              f"{sec.gpa:#x}-{sec.end - 1:#x} overlaps the firmware image "
                              f"({image_start:#x}-{image_end - 1:#x})", sec.offset)
    check_disjoint(sections, path)


def check_disjoint(sections, path: str) -> None:
    """Refuse sections that overlap: SNP firmware rejects a second update of a page."""
    ordered = sorted(sections, key=lambda s: s.gpa)
    for before, after in zip(ordered, ordered[1:]):
        if after.gpa < before.end:
            raise FormatError(path, f"SEV metadata section {after.index} ({after.type_name})",
                              f"{after.gpa:#x}-{after.end - 1:#x} overlaps section {before.index} "
                              f"({before.gpa:#x}-{before.end - 1:#x})", after.offset)

