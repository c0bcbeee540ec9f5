"""Launch plans of IGVM files: the page updates a loader makes from the file's directives.

Loader rules (SPEC-NOTES section 9):

* ``igvmmeasure`` (default; coconut-svsm ``igvmmeasure``, QEMU/KVM + SVSM): PAGE_DATA NORMAL ->
  NORMAL (empty data hashed as a 4 KiB zero page, or a ZERO page with ``native_zero``),
  unmeasured -> UNMEASURED, SECRETS -> SECRETS, CPUID_* -> CPUID, 2 MiB pages split in 4 KiB
  pages (the file holds 4 KiB of data for any page, as libigvm reads it; the rest is zero); PARAMETER_INSERT -> one UNMEASURED page at its GPA; VP_CONTEXT -> a VMSA page at its own
  GPA, in directive order; SNP_ID_BLOCK not measured.
* ``microsoft`` (microsoft/igvm library: Hyper-V, OpenVMM): the same, except shared pages are
  skipped and a PARAMETER_INSERT measures every 4 KiB page of its parameter area as UNMEASURED.
* ``qemu`` (QEMU 10.1+ ``-object igvm-cfg`` on KVM): ``launch.igvm_qemu``. ``check_kvm`` applies
  its refusals to the other loaders' files too.

SEV and SEV-ES platforms: SHA-256 over the data of every page directive (empty pages add nothing)
and the VMSA pages, as igvmmeasure does.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

from ..abi import igvm as L
from ..abi.snp import PageType
from ..errors import ConfigError, InputError, UnsupportedError
from ..formats.igvm import Header, IgvmFile
from ..limits import MAX_VCPUS
from ..record import Record
from .cpu import canonical_cpu_type, signature_of_type
from .hoststack import parse_qemu_version
from .plan import PageUpdate

LOADERS = ("igvmmeasure", "microsoft", "qemu")
PLATFORMS = {"snp": L.Platform.SEV_SNP, "sev-es": L.Platform.SEV_ES, "sev": L.Platform.SEV}
ZERO_PAGE = bytes(L.PAGE_SIZE_4K)


class IgvmOptions(Record):
    """How to measure an IGVM file: platform (snp, sev-es, sev), loader rules, ``native_zero``
    (empty pages as ZERO pages) and ``check_kvm`` (refuse what QEMU/KVM refuses). For the qemu
    loader (and the checks): ``vcpus`` (vCPUs without a VP_CONTEXT start from the reset state,
    whose RDX is the signature from ``vcpu_type`` or ``vcpu_sig``), ``qemu_version``,
    ``legacy_vm_type`` (SEV-ES; None: QEMU's default, legacy) and ``host_checks`` (False: the
    refusals become warnings)."""

    FIELDS = {"platform": "snp", "loader": "igvmmeasure", "native_zero": False,
              "check_kvm": False, "vcpus": None, "vcpu_type": None, "vcpu_sig": None,
              "qemu_version": None, "legacy_vm_type": None, "host_checks": True}
    __slots__ = tuple(FIELDS)

    def _check(self) -> None:
        if self.platform not in PLATFORMS:
            raise ConfigError(f"--platform {self.platform!r} is not one of "
                              f"{', '.join(PLATFORMS)}")
        if self.loader not in LOADERS:
            raise ConfigError(f"--loader {self.loader!r} is not one of {', '.join(LOADERS)}")
        qemu = self.loader == "qemu" or self.check_kvm
        if self.loader == "qemu" and self.native_zero:
            raise ConfigError("--native-zero does not apply to --loader qemu (QEMU loads "
                              "data-less pages as pages of zeros)")
        for name, flag in (("vcpus", "--vcpus"), ("vcpu_type", "--vcpu-type"),
                           ("vcpu_sig", "--vcpu-sig"), ("qemu_version", "--qemu-version"),
                           ("legacy_vm_type", "--legacy-vm-type")):
            if getattr(self, name) is not None and not qemu:
                raise ConfigError(f"{flag} applies to --loader qemu and --check-kvm")
        if self.loader == "qemu" and self.vcpus is None and self.platform != "sev":
            raise ConfigError("--loader qemu needs --vcpus (QEMU's -smp): KVM measures one VMSA "
                              "per vCPU")
        if self.vcpus is not None and not 1 <= self.vcpus <= MAX_VCPUS:
            raise ConfigError(f"--vcpus {self.vcpus} is outside 1..{MAX_VCPUS}")
        if self.legacy_vm_type is not None and self.platform != "sev-es":
            raise ConfigError("--legacy-vm-type applies to --platform sev-es (SEV-SNP guests "
                              "always use KVM_SEV_INIT2)")
        self._set("qemu_version", parse_qemu_version(self.qemu_version))
        self._set("host_checks", bool(self.host_checks))
        if self.vcpu_type is not None:
            self._set("vcpu_type", canonical_cpu_type(self.vcpu_type))

    @property
    def signature(self) -> int | None:
        """The vCPU signature of vCPUs started from the reset state (``--vcpu-sig`` wins)."""
        if self.vcpu_sig is not None:
            return self.vcpu_sig
        return signature_of_type(self.vcpu_type) if self.vcpu_type is not None else None

    @property
    def effective_legacy_vm_type(self) -> bool:
        """QEMU's sev-guest is legacy by default (rule "seves-vm-type")."""
        return True if self.legacy_vm_type is None else self.legacy_vm_type


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
    from . import igvm_qemu

    if options.loader == "qemu":
        yield from igvm_qemu.snp_updates(igvm, options)
        return
    if options.check_kvm:
        igvm_qemu.check(igvm, options)
    mask = igvm.compatibility_mask(L.Platform.SEV_SNP)
    microsoft = options.loader == "microsoft"
    new, fd, page = tuple.__new__, igvm.fileno(), L.PAGE_SIZE_4K
    normal = PageType.NORMAL
    for header in igvm.directives(mask):
        p = header.payload
        kind = header.type
        label = header.describe()
        if kind == L.HeaderType.PAGE_DATA:
            if microsoft and p.flags & L.PAGE_FLAG_SHARED:
                continue
            page_type = _page_type(header, p.data_type, p.flags)
            size = L.PAGE_SIZE_2M if p.flags & L.PAGE_FLAG_2MB else page
            data = None
            if page_type is normal and p.file_offset:
                # libigvm reads 4 KiB of file data per page; the rest of a 2 MiB page is zero
                data = os.pread(fd, page, p.file_offset)
                if len(data) != page:
                    raise InputError(igvm.path, f"short read at {p.file_offset:#x}")
            for offset in range(0, size, page):
                source = f"{label} +{offset:#x}" if size > page else label
                gpa = p.gpa + offset
                if page_type is not normal:
                    yield new(PageUpdate, (gpa, page_type, None, source))
                elif data is not None:
                    yield new(PageUpdate, (gpa, normal, data if offset == 0 else ZERO_PAGE,
                                           source))
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
            yield new(PageUpdate, (p.gpa, PageType.VMSA, vmsa,
                                   f"{label} VMSA of vCPU {p.vp_index}"))


def _vmsa(igvm: IgvmFile, header: Header) -> bytes:
    p = header.payload
    if not p.file_offset:
        return ZERO_PAGE
    return igvm.read(p.file_offset, L.PAGE_SIZE_4K, header.describe())


def sev_blobs(igvm: IgvmFile, options: IgvmOptions) -> Iterator[tuple[str, int, str, bytes]]:
    """What SEV and SEV-ES hash, as (kind, GPA, source, data): for igvmmeasure and microsoft
    page data (empty adds nothing) and VMSAs in directive order; for qemu see
    ``launch.igvm_qemu.sev_blobs``."""
    from . import igvm_qemu

    if options.loader == "qemu":
        yield from igvm_qemu.sev_blobs(igvm, options)
        return
    if options.check_kvm:
        igvm_qemu.check(igvm, options)
    mask = igvm.compatibility_mask(PLATFORMS[options.platform])
    for header in igvm.directives(mask):
        p = header.payload
        if header.type == L.HeaderType.PAGE_DATA and p.file_offset:
            size = L.PAGE_SIZE_2M if p.flags & L.PAGE_FLAG_2MB else L.PAGE_SIZE_4K
            first = igvm.read(p.file_offset, L.PAGE_SIZE_4K, header.describe())
            for offset in range(0, size, L.PAGE_SIZE_4K):
                yield header.type_name, p.gpa + offset, header.describe(), \
                    first if offset == 0 else ZERO_PAGE
        elif header.type == L.HeaderType.VP_CONTEXT:
            yield header.type_name, p.gpa, header.describe(), _vmsa(igvm, header)


