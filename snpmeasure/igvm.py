"""IGVM files: parse and validate, turn directives into launch plans, measure, write.

The file is read header section first; page contents are read from the file one directive at a
time, so memory is bounded by the largest single directive (a 2 MiB page), not by the file.

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

import hashlib
import os
import stat
import struct
import zlib
from collections import namedtuple
from dataclasses import dataclass
from collections.abc import Iterator

from .abi import igvm as L
from .abi.codec import CodecError, codec
from .abi.snp import PageType
from .digest import DigestText, SnpLaunchDigest
from .errors import (ConfigError, FormatError, InputError, UnsupportedError, VerificationError,
                     input_error)
from .plan import PageUpdate

LOADERS = ("igvmmeasure", "microsoft")
PLATFORMS = {"snp": L.Platform.SEV_SNP, "sev-es": L.Platform.SEV_ES, "sev": L.Platform.SEV}
KVM_VMSA_GPA = 0xFFFFFFFFF000
from .limits import MAX_IGVM_HEADER_SECTION as MAX_HEADER_SECTION
from .limits import MAX_PAGE_UPDATES
ZERO_PAGE = bytes(L.PAGE_SIZE_4K)

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
        try:
            self._handle = open(path, "rb")
        except OSError as exc:
            raise input_error(path, exc) from None
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
        self._policies: list[Header] = []
        self._id_blocks: list[Header] = []
        self.header_count = 0
        for header in self._walk(section, start):  # validate every header once
            self._check(header)
            self.header_count += 1
            if header.type == L.HeaderType.SUPPORTED_PLATFORM:
                self._platforms.append(header)
            elif header.type == L.HeaderType.GUEST_POLICY:
                self._policies.append(header)
            elif header.type == L.HeaderType.SNP_ID_BLOCK:
                self._id_blocks.append(header)

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
            if p.file_offset and p.file_offset + size > self.size:
                self._fail(f"{header.describe()} file offset", f"{p.file_offset:#x}+"
                           f"{size:#x} runs past the end of the file", header.offset + 20)
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
        for header in self._policies:
            if header.type == L.HeaderType.GUEST_POLICY and \
                    header.payload.compatibility_mask & mask:
                return header.payload.policy
        return None

    def id_blocks(self) -> list[Header]:
        return list(self._id_blocks)

    def directives(self, mask: int) -> Iterator[Header]:
        return (h for h in self.iter_headers() if h.compatibility_mask is not None
                and h.compatibility_mask & mask and h.type >= 0x301)


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


@dataclass(frozen=True)
class IgvmOptions:
    platform: str = "snp"
    loader: str = "igvmmeasure"
    native_zero: bool = False
    check_kvm: bool = False

    def __post_init__(self) -> None:
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
    from .vmsa import parse_vmsa

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


@dataclass(frozen=True)
class IdBlockCheck:
    """An SNP_ID_BLOCK found in the file and what checking it showed."""

    header: Header
    ld: bytes
    matches: bool
    signature_ok: bool
    signature_error: str | None
    id_key_digest: bytes | None
    author_key_digest: bytes | None

    def to_json(self) -> dict:
        p = self.header.payload
        return {"ld": self.ld.hex(), "matches_measurement": self.matches,
                "family_id": bytes(p.family_id).hex(), "image_id": bytes(p.image_id).hex(),
                "version": p.version, "guest_svn": p.guest_svn,
                "author_key_enabled": bool(p.author_key_enabled),
                "signatures_verified": self.signature_ok, "signature_error": self.signature_error,
                "id_key_digest": self.id_key_digest.hex() if self.id_key_digest else None,
                "author_key_digest": self.author_key_digest.hex() if self.author_key_digest
                else None}


@dataclass(frozen=True)
class IgvmMeasurement(DigestText):
    digest: bytes
    platform: str
    pages: int
    id_block: IdBlockCheck | None


def _sev_public_key(key) -> bytes:
    return codec("id_block.EcdsaPublicKey").build({"curve": key.curve, "qx": bytes(key.qx),
                                                   "qy": bytes(key.qy)})


def _sev_signature(sig) -> bytes:
    return codec("id_block.EcdsaSignature").build({"r": bytes(sig.r_comp),
                                                   "s": bytes(sig.s_comp)})


def check_id_block(igvm: IgvmFile, mask: int, digest: bytes) -> IdBlockCheck | None:
    """Decode the SNP_ID_BLOCK for ``mask`` (if any), compare it, verify its signatures."""
    from .idblock import IdBlock
    from .keys import key_digest, public_key_from_sev, verify

    headers = [h for h in igvm.id_blocks() if h.compatibility_mask & mask]
    if not headers:
        return None
    header = headers[-1]
    p = header.payload
    id_digest = author_digest = None
    error = None
    try:
        policy = igvm.guest_policy(mask)
        if policy is None:
            raise VerificationError("no GUEST_POLICY header for the SNP platform")
        if p.id_key_algorithm != 1:
            raise VerificationError(f"ID key algorithm {p.id_key_algorithm} is not ECDSA P-384")
        block = IdBlock(launch_digest=bytes(p.ld), family_id=bytes(p.family_id),
                        image_id=bytes(p.image_id), version=p.version, guest_svn=p.guest_svn,
                        policy=policy).to_bytes()
        id_raw = _sev_public_key(p.id_public_key)
        id_key = public_key_from_sev(id_raw)
        id_digest = key_digest(id_key)
        verify(id_key, _sev_signature(p.id_key_signature), block, "the ID block signature")
        if p.author_key_enabled:
            if p.author_key_algorithm != 1:
                raise VerificationError(f"author key algorithm {p.author_key_algorithm} is not "
                                        "ECDSA P-384")
            author_key = public_key_from_sev(_sev_public_key(p.author_public_key))
            author_digest = key_digest(author_key)
            verify(author_key, _sev_signature(p.author_key_signature), id_raw,
                   "the ID key signature")
    except (VerificationError, ConfigError) as exc:
        error = str(exc)
    return IdBlockCheck(header, bytes(p.ld), bytes(p.ld) == digest, error is None, error,
                        id_digest, author_digest)


def measure_igvm(path: str | os.PathLike, options: IgvmOptions = IgvmOptions()) -> IgvmMeasurement:
    """The launch digest of an IGVM file for ``options.platform``."""
    with IgvmFile(path) as igvm:
        platform = PLATFORMS[options.platform]
        if platform is L.Platform.SEV_SNP:
            engine = SnpLaunchDigest().replay(snp_updates(igvm, options), igvm.claimed_pages)
            digest, pages = engine.digest, engine.pages
            id_block = check_id_block(igvm, igvm.compatibility_mask(platform), digest)
        else:
            state = hashlib.sha256()
            pages = 0
            for _, blob in sev_blobs(igvm, platform):
                state.update(blob)
                pages += 1
            digest = state.digest()
            id_block = None
        return IgvmMeasurement(digest, options.platform, pages, id_block)


def is_igvm(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == L.IGVM_MAGIC.to_bytes(4, "little")
    except OSError:
        return False
