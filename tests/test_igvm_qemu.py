"""IGVM files under QEMU/KVM (``--loader qemu``), against expectations computed here by hand.

The expected digests use their own SNP chain (PAGE_INFO packed with ``struct`` from the SEV-SNP
firmware ABI, SNP_LAUNCH_UPDATE) and their own VMSA pages (fields packed at the offsets of the
AMD APM vol. 2 table B-4), following the rules read in QEMU backends/igvm.c and
target/i386/sev.c and in Linux arch/x86/kvm/svm/{svm,sev}.c; the files are built with the
project's IGVM writer. Reset-state VMSAs are also checked against sev-snp-measure's.
"""
from __future__ import annotations

import hashlib
import struct

import pytest

from snpmeasure.abi import igvm as L
from snpmeasure.cli.main import main
from snpmeasure.engine.igvm import measure_igvm
from snpmeasure.errors import HostRuleError, UnsupportedError
from snpmeasure.formats.igvm_writer import IgvmWriter
from snpmeasure.launch.igvm import IgvmOptions

PAGE = 4096
VMSA_GPA = 0xFFFFFFFFF000
NORMAL, VMSA, UNMEASURED, SECRETS, CPUID = 1, 2, 4, 5, 6
MILAN = 0x00A00F11


# -- an SNP launch digest of its own (SEV-SNP ABI: PAGE_INFO, 0x70 bytes) -------------------

class Chain:
    def __init__(self):
        self.digest = bytes(48)

    def add(self, page_type, gpa, data=None):
        contents = hashlib.sha384(data).digest() if page_type in (NORMAL, VMSA) else bytes(48)
        info = self.digest + contents + struct.pack("<HBB4xQ", 0x70, page_type, 0, gpa)
        self.digest = hashlib.sha384(info).digest()
        return self


# -- VMSA pages of their own (offsets: APM vol. 2 table B-4, Linux struct sev_es_save_area) --

SEGMENT_OFFSETS = {"es": 0x00, "cs": 0x10, "ss": 0x20, "ds": 0x30, "fs": 0x40, "gs": 0x50,
                   "gdtr": 0x60, "ldtr": 0x70, "idtr": 0x80, "tr": 0x90}
U64_OFFSETS = {"efer": 0xD0, "cr4": 0x148, "cr3": 0x150, "cr0": 0x158, "dr7": 0x160,
               "dr6": 0x168, "rflags": 0x170, "rip": 0x178, "rsp": 0x1D8, "rax": 0x1F8,
               "star": 0x200, "g_pat": 0x268, "rcx": 0x308, "rdx": 0x310, "rbx": 0x318,
               "rbp": 0x328, "rsi": 0x330, "rdi": 0x338, "r8": 0x340, "r15": 0x378,
               "sev_features": 0x3B0, "xcr0": 0x3E8}


def vmsa_page(fields: dict) -> bytes:
    page = bytearray(PAGE)
    for name, value in fields.items():
        if name in SEGMENT_OFFSETS:
            struct.pack_into("<HHIQ", page, SEGMENT_OFFSETS[name], *value)
        elif name == "cpl":
            page[0xCB] = value
        elif name == "mxcsr":
            struct.pack_into("<I", page, 0x408, value)
        elif name == "x87_fcw":
            struct.pack_into("<H", page, 0x410, value)
        else:
            struct.pack_into("<Q", page, U64_OFFSETS[name], value)
    return bytes(page)


def reset_vmsa(signature, sev_features, fpu=(0x37F, 0x1F80)) -> bytes:
    """QEMU's x86 reset state as KVM measures it (CS F000:FFF0, CD/NW cleared, SVME, MCE)."""
    fields = {name: (0, 0x93, 0xFFFF, 0) for name in ("es", "ss", "ds", "fs", "gs")}
    fields.update(cs=(0xF000, 0x9B, 0xFFFF, 0xFFFF0000), gdtr=(0, 0, 0xFFFF, 0),
                  idtr=(0, 0, 0xFFFF, 0), ldtr=(0, 0x82, 0xFFFF, 0), tr=(0, 0x8B, 0xFFFF, 0),
                  efer=0x1000, cr4=0x40, cr0=0x10, dr7=0x400, dr6=0xFFFF0FF0, rflags=2,
                  rip=0xFFF0, g_pat=0x0007040600070406, rdx=signature, xcr0=1,
                  sev_features=sev_features, x87_fcw=fpu[0], mxcsr=fpu[1])
    return vmsa_page(fields)


# A 64-bit entry state as an IGVM builder writes it, with values KVM changes.
FILE_STATE = {
    "cs": (0x08, 0xF29B, 0xFFFFFFFF, 0),       # G|L|P|S|code; bits 12-15 are not attributes
    "ss": (0x10, 0xC0B3, 0xFFFFFFFF, 0),       # DPL 1: KVM's CPL follows SS.DPL
    "ds": (0x10, 0xC093, 0xFFFFFFFF, 0), "es": (0x10, 0xC093, 0xFFFFFFFF, 0),
    "fs": (0, 0, 0, 0x1234000), "gs": (0, 0, 0, 0),
    "gdtr": (0x55, 0x1234, 0x1F, 0x3000),      # QEMU/KVM keep only base and limit
    "idtr": (0, 0, 0xFFF, 0x4000),
    "ldtr": (0, 0x82, 0xFFFF, 0x7000),
    "tr": (0x18, 0x8B, 0x67, 0x5000),          # QEMU loads TR with LDTR's base
    "efer": 0xD00,                              # LME|LMA|NXE: KVM adds SVME
    "cr0": 0xE0000033,                          # PG|CD|NW|NE|ET|MP|PE: KVM clears CD, NW
    "cr3": 0x100000, "cr4": 0x620,              # PAE|OSFXSR|OSXMMEXCPT: KVM adds MCE
    "dr7": 0x400, "dr6": 0xFFFF0FF0, "rflags": 0, "rip": 0x200000, "rsp": 0x8000,
    "rsi": 0x5555, "rdx": 0x1234, "r15": 0xF0F0, "xcr0": 1, "g_pat": 0x0007040600070406,
    "sev_features": 0x21, "x87_fcw": 0x37F, "mxcsr": 0x1F80,
}
EXPECTED_STATE = dict(
    FILE_STATE, cs=(0x08, 0x29B, 0xFFFFFFFF, 0), ss=(0x10, 0x0B3, 0xFFFFFFFF, 0),
    ds=(0x10, 0x093, 0xFFFFFFFF, 0), es=(0x10, 0x093, 0xFFFFFFFF, 0),
    gdtr=(0, 0, 0x1F, 0x3000), tr=(0x18, 0x8B, 0x67, 0x7000), cpl=1, efer=0x1D00,
    cr0=0x80000033, cr4=0x660, rflags=2)


def write(path, build):
    writer = IgvmWriter().platform(compatibility_mask=1).guest_policy(0x30000, 1)
    build(writer)
    path.write_bytes(writer.build())
    return path


def options(**kw):
    return IgvmOptions(loader="qemu", **{"vcpus": 1, "vcpu_sig": MILAN, **kw})


def measure(path, **kw):
    return measure_igvm(path, options(**kw)).digest


DATA_A, DATA_B = b"\xA1" * PAGE, b"\xB2" * PAGE


# -- vCPU counts and VMSA normalisation ---------------------------------------------------

@pytest.mark.parametrize("vcpus", [1, 2, 4])
def test_file_vmsa_is_normalised_and_other_vcpus_start_from_reset(tmp_path, vcpus):
    path = write(tmp_path / "a.igvm", lambda w: w.page_data(0x1000, DATA_A)
                 .page_data(0x2000, DATA_B).vp_context(VMSA_GPA, vmsa_page(FILE_STATE)))
    chain = Chain().add(NORMAL, 0x1000, DATA_A).add(NORMAL, 0x2000, DATA_B)
    chain.add(VMSA, VMSA_GPA, vmsa_page(EXPECTED_STATE))
    for _ in range(vcpus - 1):
        chain.add(VMSA, VMSA_GPA, reset_vmsa(MILAN, 0x21))
    assert measure(path, vcpus=vcpus) == chain.digest
    assert measure(path, vcpus=vcpus, vcpu_type="EPYC-Milan") == chain.digest


def test_reset_vmsa_equals_sev_snp_measure_bsp_vmsa():
    from sevsnpmeasure.vmsa import VMSA as PeerVmsa

    peer = bytes(PeerVmsa.build_save_area(0xFFFFFFF0, 0x21, MILAN))
    assert peer.ljust(PAGE, b"\x00") == reset_vmsa(MILAN, 0x21)


def test_vcpus_without_a_context_need_a_signature(tmp_path, capsys):
    path = write(tmp_path / "a.igvm", lambda w: w.page_data(0x1000, DATA_A)
                 .vp_context(VMSA_GPA, vmsa_page(FILE_STATE)))
    assert len(measure(path, vcpus=1, vcpu_sig=None)) == 48
    with pytest.raises(UnsupportedError, match="vCPU 1 has no VP_CONTEXT"):
        measure(path, vcpus=2, vcpu_sig=None)
    assert main(["igvm", str(path), "--loader", "qemu"]) == 2
    assert "--vcpus" in capsys.readouterr().err


def test_a_file_without_vmsa_gets_reset_vmsas_with_snp_active(tmp_path):
    path = write(tmp_path / "a.igvm", lambda w: w.page_data(0x1000, DATA_A))
    expected = Chain().add(NORMAL, 0x1000, DATA_A).add(VMSA, VMSA_GPA, reset_vmsa(MILAN, 1))
    expected.add(VMSA, VMSA_GPA, reset_vmsa(MILAN, 1))
    assert measure(path, vcpus=2) == expected.digest


def test_long_mode_without_pae_keeps_the_reset_cr0(tmp_path):
    """cpu_x86_update_cr0() returns early for PG+LME without CR4.PAE; KVM then accepts the
    32-bit state only if EFER.LMA is clear."""
    state = dict(FILE_STATE, efer=0x100, cr4=0, cs=(0x08, 0xC9B, 0xFFFFFFFF, 0))
    path = write(tmp_path / "a.igvm", lambda w: w.vp_context(VMSA_GPA, vmsa_page(state)))
    expected_state = dict(EXPECTED_STATE, efer=0x1100, cr4=0x40, cr0=0x10,
                          cs=(0x08, 0xC9B, 0xFFFFFFFF, 0))
    assert measure(path) == Chain().add(VMSA, VMSA_GPA, vmsa_page(expected_state)).digest


def test_fpu_follows_kvm_not_the_file(tmp_path):
    state = dict(FILE_STATE, x87_fcw=0, mxcsr=0)
    path = write(tmp_path / "a.igvm", lambda w: w.vp_context(VMSA_GPA, vmsa_page(state)))
    with pytest.warns(UserWarning, match="become KVM's 0x37f and 0x1f80"):
        got = measure(path)
    assert got == Chain().add(VMSA, VMSA_GPA, vmsa_page(EXPECTED_STATE)).digest


# -- page data, parameter areas and their order ---------------------------------------------

def test_parameter_insert_is_loaded_before_the_pending_page_data(tmp_path):
    def build(w):
        w.parameter_area(0, 2 * PAGE).page_data(0x1000, DATA_A).page_data(0x2000, DATA_B)
        w.parameter_insert(0x10000, 0).page_data(0x3000, DATA_A)
        w.vp_context(VMSA_GPA, vmsa_page(FILE_STATE))
    path = write(tmp_path / "a.igvm", build)
    expected = Chain().add(UNMEASURED, 0x10000).add(UNMEASURED, 0x11000)
    expected.add(NORMAL, 0x1000, DATA_A).add(NORMAL, 0x2000, DATA_B)
    expected.add(NORMAL, 0x3000, DATA_A).add(VMSA, VMSA_GPA, vmsa_page(EXPECTED_STATE))
    assert measure(path) == expected.digest
    # igvmmeasure keeps directive order and measures one page of the area
    igvmmeasure = Chain().add(NORMAL, 0x1000, DATA_A).add(NORMAL, 0x2000, DATA_B)
    igvmmeasure.add(UNMEASURED, 0x10000).add(NORMAL, 0x3000, DATA_A)
    igvmmeasure.add(VMSA, VMSA_GPA, vmsa_page(FILE_STATE))
    assert measure_igvm(path).digest == igvmmeasure.digest


def test_a_region_breaks_on_flags_gaps_and_data_presence(tmp_path):
    def build(w):
        w.page_data(0x1000, DATA_A).page_data(0x3000, DATA_B)            # a GPA gap
        w.parameter_area(0, PAGE).parameter_insert(0x20000, 0)            # loads first
        w.page_data(0x4000, None).page_data(0x5000, DATA_A)               # data presence
        w.page_data(0x6000, None, flags=L.PAGE_FLAG_UNMEASURED)
        w.page_data(0x7000, None, data_type=L.PageDataType.SECRETS)
        w.page_data(0x8000, None, data_type=L.PageDataType.CPUID_DATA)
    path = write(tmp_path / "a.igvm", build)
    expected = Chain().add(NORMAL, 0x1000, DATA_A).add(UNMEASURED, 0x20000)
    expected.add(NORMAL, 0x3000, DATA_B).add(NORMAL, 0x4000, bytes(PAGE))
    expected.add(NORMAL, 0x5000, DATA_A).add(UNMEASURED, 0x6000).add(SECRETS, 0x7000)
    expected.add(CPUID, 0x8000).add(VMSA, VMSA_GPA, reset_vmsa(MILAN, 1))
    assert measure(path) == expected.digest


def test_a_2mib_page_takes_4kib_from_the_file(tmp_path):
    path = write(tmp_path / "a.igvm",
                 lambda w: w.page_data(0x200000, DATA_A, flags=L.PAGE_FLAG_2MB))
    expected = Chain().add(NORMAL, 0x200000, DATA_A)
    for offset in range(PAGE, 0x200000, PAGE):
        expected.add(NORMAL, 0x200000 + offset, bytes(PAGE))
    expected.add(VMSA, VMSA_GPA, reset_vmsa(MILAN, 1))
    assert measure(path) == expected.digest


def test_sev_es_and_sev_hash_zero_regions(tmp_path):
    state = dict(FILE_STATE, sev_features=0)
    writer = (IgvmWriter().platform(1, L.Platform.SEV_ES).platform(2, L.Platform.SEV)
              .page_data(0x1000, DATA_A, 3).page_data(0x2000, None, 3)
              .page_data(0x3000, DATA_B, 3, flags=L.PAGE_FLAG_UNMEASURED)
              .parameter_area(0, PAGE).parameter_insert(0x9000, 0, 3)
              .vp_context(VMSA_GPA, vmsa_page(state), 1))
    path = tmp_path / "es.igvm"
    path.write_bytes(writer.build())
    legacy = dict(EXPECTED_STATE, sev_features=0, x87_fcw=0, mxcsr=0)
    kw = dict(vcpus=2, qemu_version="10.2")
    with pytest.warns(UserWarning, match="become KVM's 0x0 and 0x0"):
        got = measure(path, platform="sev-es", **kw)
    expected = hashlib.sha256(DATA_A + bytes(PAGE) + vmsa_page(legacy)
                              + reset_vmsa(MILAN, 0, fpu=(0, 0))).digest()
    assert got == expected
    init2 = dict(EXPECTED_STATE, sev_features=0)
    assert measure(path, platform="sev-es", legacy_vm_type=False, **kw) == hashlib.sha256(
        DATA_A + bytes(PAGE) + vmsa_page(init2) + reset_vmsa(MILAN, 0)).digest()
    assert measure(path, platform="sev", **kw) == hashlib.sha256(DATA_A + bytes(PAGE)).digest()


# -- refusals ---------------------------------------------------------------------------------

def _vmsa(**changes):
    return vmsa_page(dict(FILE_STATE, **changes))


REFUSED = {
    "command line header": ("igvm-header-type",
                            lambda w: w.parameter_area(0, PAGE)
                            .parameter_usage(L.HeaderType.COMMAND_LINE, 0)),
    "optional header": ("igvm-header-type",
                        lambda w: w.raw_header(L.HeaderType.MADT | L.IGNORABLE_BIT, bytes(8))),
    "long page data header": ("igvm-libigvm",
                              lambda w: w.raw_header(L.HeaderType.PAGE_DATA, bytes(32))),
    "area inserted twice": ("igvm-libigvm", lambda w: w.parameter_area(0, PAGE)
                            .parameter_insert(0x1000, 0).parameter_insert(0x2000, 0)),
    "second ID block": ("igvm-id-block", None),
    "VMSA GPA": ("igvm-vmsa", lambda w: w.vp_context(0x5000, _vmsa())),
    "vp_index": ("igvm-vmsa", lambda w: w.vp_context(VMSA_GPA, _vmsa(), vp_index=1)),
    "field not carried over": ("igvm-vmsa", lambda w: w.vp_context(VMSA_GPA, _vmsa(star=1))),
    "no SNPActive": ("igvm-vmsa", lambda w: w.vp_context(VMSA_GPA, _vmsa(sev_features=0x20))),
    "VmplSSS": ("sev-features", lambda w: w.vp_context(VMSA_GPA, _vmsa(sev_features=0x101))),
    "DR7": ("igvm-vmsa-kvm", lambda w: w.vp_context(VMSA_GPA, _vmsa(dr7=0x401))),
    "PAT": ("igvm-vmsa-kvm", lambda w: w.vp_context(VMSA_GPA, _vmsa(g_pat=0x2))),
    "XCR0": ("igvm-vmsa-kvm", lambda w: w.vp_context(VMSA_GPA, _vmsa(xcr0=0))),
    "LMA without paging": ("igvm-vmsa-kvm",
                           lambda w: w.vp_context(VMSA_GPA, _vmsa(cr0=0x33))),
    "page twice": ("snp-page-once", lambda w: w.page_data(0x1000, DATA_A)
                   .parameter_area(0, PAGE).parameter_insert(0x1000, 0)),
}


def _id_blocks(w):
    block = {"compatibility_mask": 1, "author_key_enabled": 0, "reserved": bytes(3),
             "ld": bytes(48), "family_id": bytes(16), "image_id": bytes(16), "version": 1,
             "guest_svn": 0, "id_key_algorithm": 1, "author_key_algorithm": 0,
             "id_key_signature": {"r_comp": bytes(72), "s_comp": bytes(72)},
             "id_public_key": {"curve": 2, "reserved": 0, "qx": bytes(72), "qy": bytes(72)},
             "author_key_signature": {"r_comp": bytes(72), "s_comp": bytes(72)},
             "author_public_key": {"curve": 0, "reserved": 0, "qx": bytes(72),
                                   "qy": bytes(72)}}
    w.snp_id_block(block).snp_id_block(block)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_refusal_names_its_rule_and_no_host_checks_measures(tmp_path, case, capsys):
    rule, build = REFUSED[case]

    def with_data(writer):  # libigvm refuses a file without any file data (igvm-libigvm)
        (build or _id_blocks)(writer)
        writer.page_data(0x7F000000, DATA_B)
    path = write(tmp_path / "r.igvm", with_data)
    with pytest.raises(HostRuleError) as info:
        measure(path)
    assert info.value.rule == rule and f"host rule '{rule}'" in str(info.value)
    # the same refusal with the igvmmeasure rules and --check-kvm
    with pytest.raises(HostRuleError):
        measure_igvm(path, IgvmOptions(check_kvm=True, vcpus=1))
    # as a command: exit 5, one line, nothing on stdout
    assert main(["igvm", str(path), "--loader", "qemu", "--vcpus", "1", "--vcpu-sig",
                 "0xa00f11", "--ignore-id-block"]) == 5
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and rule in err
    # --no-host-checks: a digest and a warning naming the rule
    assert main(["igvm", str(path), "--loader", "qemu", "--vcpus", "1", "--vcpu-sig",
                 "0xa00f11", "--ignore-id-block", "--no-host-checks"]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip()) == 96 and f"host check '{rule}' skipped" in err


def test_debug_swap_accepted_per_vm_type(tmp_path):
    """SNP and INIT2 SEV-ES accept DebugSwap; the legacy SEV-ES VM type supports no feature."""
    snp = write(tmp_path / "s.igvm", lambda w: w.vp_context(VMSA_GPA, _vmsa(sev_features=0x21)))
    assert len(measure(snp)) == 48
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES)
                   .vp_context(VMSA_GPA, _vmsa(sev_features=0x20), 1).build())
    kw = dict(platform="sev-es", qemu_version="10.2")
    assert len(measure(es, legacy_vm_type=False, **kw)) == 32
    with pytest.raises(HostRuleError, match="legacy VM type"):
        measure(es, **kw)
    secure_tsc_es = tmp_path / "tsc.igvm"
    secure_tsc_es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES)
                              .vp_context(VMSA_GPA, _vmsa(sev_features=0x200), 1).build())
    with pytest.raises(HostRuleError, match="SecureTSC"):  # SNP only (KVM __sev_guest_init)
        measure(secure_tsc_es, legacy_vm_type=False, **kw)
    tsc = write(tmp_path / "t.igvm", lambda w: w.vp_context(VMSA_GPA, _vmsa(sev_features=0x201)))
    assert len(measure(tsc)) == 48


def test_snp_only_pages_and_vmsas_refused_for_other_guests(tmp_path):
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES)
                   .page_data(0x1000, None, 1, data_type=L.PageDataType.SECRETS)
                   .page_data(0x9000, DATA_A, 1).build())
    with pytest.raises(HostRuleError, match="igvm-snp-pages"):
        measure(es, platform="sev-es", qemu_version="10.2")
    sev = tmp_path / "sev.igvm"
    sev.write_bytes(IgvmWriter().platform(1, L.Platform.SEV)
                    .vp_context(VMSA_GPA, _vmsa(sev_features=0), 1).build())
    with pytest.raises(HostRuleError, match="plain SEV"):
        measure(sev, platform="sev", qemu_version="10.2")


def test_duplicate_gpas_are_measured_twice_for_sev_es(tmp_path):
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES).page_data(0x1000, DATA_A, 1)
                   .page_data(0x3000, DATA_B, 1).page_data(0x1000, DATA_A, 1).build())
    got = measure(es, platform="sev-es", qemu_version="10.2", vcpus=1)
    assert got == hashlib.sha256(DATA_A + DATA_B + DATA_A + reset_vmsa(MILAN, 0, (0, 0))).digest()


def test_qemu_releases(tmp_path):
    path = write(tmp_path / "a.igvm", lambda w: w.page_data(0x1000, DATA_A))
    with pytest.raises(HostRuleError, match="igvm-qemu"):
        measure(path, qemu_version="10.0")
    assert len(measure(path, qemu_version="10.1")) == 48
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES).page_data(0x1000, DATA_A, 1)
                   .build())
    with pytest.raises(HostRuleError, match="igvm-sev-11"):
        measure(es, platform="sev-es")
    assert len(measure(es, platform="sev-es", qemu_version="10.2")) == 32
    # MADT has a handler from QEMU 11 on
    madt = write(tmp_path / "m.igvm", lambda w: w.parameter_area(0, PAGE)
                 .parameter_usage(L.HeaderType.MADT, 0).parameter_insert(0x9000, 0)
                 .page_data(0x1000, DATA_A))
    assert len(measure(madt)) == 48
    with pytest.raises(HostRuleError, match="igvm-header-type"):
        measure(madt, qemu_version="10.2")


def test_an_snp_guest_uses_sev_es_directives_when_the_file_has_no_snp_platform(tmp_path):
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES).page_data(0x1000, DATA_A, 1)
                   .build())
    with pytest.warns(UserWarning, match="QEMU applies its SEV_ES directives"):
        got = measure(es)
    assert got == Chain().add(NORMAL, 0x1000, DATA_A).add(VMSA, VMSA_GPA,
                                                          reset_vmsa(MILAN, 1)).digest


# -- what a review against the sources added --------------------------------------------------

def test_gdtr_and_idtr_limits_are_16_bits(tmp_path):
    """KVM_SET_SREGS carries descriptor-table limits in struct kvm_dtable's __u16."""
    state = dict(FILE_STATE, gdtr=(0, 0, 0x12345, 0x3000), idtr=(0, 0, 0x1FFFF, 0x4000))
    path = write(tmp_path / "a.igvm", lambda w: w.page_data(0x1000, DATA_A)
                 .vp_context(VMSA_GPA, vmsa_page(state)))
    expected_state = dict(EXPECTED_STATE, gdtr=(0, 0, 0x2345, 0x3000), idtr=(0, 0, 0xFFFF, 0x4000))
    expected = Chain().add(NORMAL, 0x1000, DATA_A).add(VMSA, VMSA_GPA, vmsa_page(expected_state))
    assert measure(path) == expected.digest


def test_libigvm_and_qemu_rules_found_in_review(tmp_path):
    import struct as st

    def refused(name, build, rule, **kw):
        path = write(tmp_path / f"{name}.igvm", build)
        with pytest.raises(HostRuleError) as info:
            measure(path, **kw)
        assert info.value.rule == rule, (name, str(info.value))

    vmsa = vmsa_page(FILE_STATE)
    # a VP_CONTEXT whose mask is not exactly one platform's (libigvm: InvalidVpContextPlatformType)
    refused("mask", lambda w: w.page_data(0x1000, DATA_A).vp_context(VMSA_GPA, vmsa,
                                                                     compatibility_mask=3),
            "igvm-libigvm")
    # REQUIRED_MEMORY: page aligned (libigvm); on SEV-ES fatal (no guest_memfd)
    unaligned = st.pack("<QIIII", 0x10800, 1, 0x1000, 0, 0)
    refused("reqmem", lambda w: w.page_data(0x1000, DATA_A)
            .raw_header(L.HeaderType.REQUIRED_MEMORY, unaligned), "igvm-libigvm")
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES).page_data(0x1000, DATA_A, 1)
                   .raw_header(L.HeaderType.REQUIRED_MEMORY, st.pack("<QIIII", 0x20000, 1,
                                                                     0x1000, 0, 0)).build())
    with pytest.raises(HostRuleError, match="igvm-required-memory"):
        measure(es, platform="sev-es", qemu_version="10.2")
    # a platform with highest VTL 1 (libigvm: VTL 0 or 2)
    bad_platform = IgvmWriter().platform(1, highest_vtl=1).page_data(0x1000, DATA_A, 1)
    (tmp_path / "vtl.igvm").write_bytes(bad_platform.build())
    with pytest.raises(HostRuleError, match="highest VTL 1"):
        measure(tmp_path / "vtl.igvm")
    # DEVICE_TREE: QEMU 11 has a handler, but pc/q35 have no device tree
    refused("fdt", lambda w: w.page_data(0x1000, DATA_A).parameter_area(0, PAGE)
            .parameter_usage(L.HeaderType.DEVICE_TREE, 0).parameter_insert(0x9000, 0),
            "igvm-header-type")
    # a VP_CONTEXT's reserved field is not checked by libigvm: accepted
    raw = st.pack("<QIIHH", VMSA_GPA, 1, 0, 0, 0x5A5A)
    path = tmp_path / "reserved.igvm"
    writer = IgvmWriter().platform(1).guest_policy(0x30000, 1).page_data(0x1000, DATA_A, 1)
    writer.vp_context(VMSA_GPA, vmsa)
    image = bytearray(writer.build())
    at = image.find(st.pack("<II", L.HeaderType.VP_CONTEXT, 20))
    image[at + 8 + 18:at + 8 + 20] = b"\x5a\x5a"
    import zlib
    start, size = int.from_bytes(image[8:12], "little"), int.from_bytes(image[12:16], "little")
    image[20:24] = (zlib.crc32(bytes(image[start:start + size]),
                               zlib.crc32(bytes(image[:20]) + bytes(4))) & 0xFFFFFFFF
                    ).to_bytes(4, "little")
    path.write_bytes(bytes(image))
    assert len(raw) == 20 and len(measure(path)) == 48


def test_check_kvm_checks_every_context_without_a_vcpu_count(tmp_path):
    path = write(tmp_path / "a.igvm", lambda w: w.page_data(0x1000, DATA_A)
                 .vp_context(VMSA_GPA, vmsa_page(FILE_STATE))
                 .vp_context(VMSA_GPA, vmsa_page(dict(FILE_STATE, dr7=0x401)), vp_index=1))
    with pytest.raises(HostRuleError, match="DR7"):
        measure_igvm(path, IgvmOptions(check_kvm=True))
    only_ap = write(tmp_path / "b.igvm", lambda w: w.page_data(0x1000, DATA_A)
                    .vp_context(VMSA_GPA, vmsa_page(FILE_STATE), vp_index=1))
    assert len(measure_igvm(only_ap, IgvmOptions(check_kvm=True)).digest) == 48
