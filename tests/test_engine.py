"""Engine, layouts and properties: PAGE_INFO, VMSA offsets, prefixes, vCPU extension, streaming."""
from __future__ import annotations

import hashlib
import tracemalloc

import pytest
from builders import FirmwareSpec
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from snpmeasure import MeasurementConfig, SnpLaunchDigest, measure
from snpmeasure.abi.kernel_hashes import PaddedSevHashTable
from snpmeasure.abi.snp import VMSA_GPA, PageInfo, PageType
from snpmeasure.abi.vmsa import SevEsSaveArea
from snpmeasure.engine.snp import PARALLEL_MIN_PAGES, page_contents_digest
from snpmeasure.formats.firmware import parse_firmware
from snpmeasure.files import sha256_file
from snpmeasure.launch.kernel_hashes import KernelHashes, cmdline_bytes
from snpmeasure.launch.ovmf import load_inputs, snp_plan, vmsa_pages
from snpmeasure.launch.plan import PageUpdate
from snpmeasure.launch.profiles import EC2, GCE, QEMU
from snpmeasure.launch.vmsa import build_vmsa, parse_vmsa, reset_vmsa_values

OVMF = SAMPLES / "OVMF.amdsev.fd"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(min_size=48, max_size=48), st.sampled_from(list(PageType)),
       st.integers(0, 2**64 - 1), st.binary(min_size=48, max_size=48))
def test_fast_page_info_equals_the_declared_layout(seed, page_type, gpa, contents):
    expected = hashlib.sha384(PageInfo.build({
        "digest_cur": seed, "contents": contents, "page_type": page_type, "imi_page": 0,
        "gpa": gpa})).digest()
    assert SnpLaunchDigest(seed).extend(page_type, gpa, contents) == expected


def test_page_info_layout_offsets():
    raw = PageInfo.build({"digest_cur": b"\x11" * 48, "contents": b"\x22" * 48,
                          "page_type": 5, "imi_page": 0, "gpa": 0x0102030405060708})
    assert len(raw) == 0x70
    assert raw[0x60:0x62] == b"\x70\x00" and raw[0x62] == 5 and raw[0x64:0x68] == bytes(4)
    assert raw[0x68:] == bytes.fromhex("0807060504030201")


def test_only_normal_and_vmsa_pages_hash_their_contents():
    page = bytes(range(256)) * 16
    assert page_contents_digest(PageUpdate(0, PageType.NORMAL, page, "")) == \
        hashlib.sha384(page).digest()
    assert page_contents_digest(PageUpdate(0, PageType.ZERO, None, "")) == bytes(48)
    with pytest.raises(ValueError):
        PageUpdate(0, PageType.SECRETS, page, "")


# Offsets from SPEC-NOTES section 5 / Linux struct sev_es_save_area.
VMSA_OFFSETS = {"vmpl": 0xCA, "cpl": 0xCB, "efer": 0xD0, "xss": 0x140, "cr4": 0x148,
                "cr3": 0x150, "cr0": 0x158, "dr7": 0x160, "dr6": 0x168, "rflags": 0x170,
                "rip": 0x178, "g_pat": 0x268, "pkru": 0x2E8, "tsc_aux": 0x2EC, "rcx": 0x308,
                "rdx": 0x310, "sev_features": 0x3B0, "xcr0": 0x3E8, "mxcsr": 0x408,
                "x87_ftw": 0x40C, "x87_fsw": 0x40E, "x87_fcw": 0x410}
WIDTH = {"vmpl": 1, "cpl": 1, "pkru": 4, "tsc_aux": 4, "mxcsr": 4, "x87_ftw": 2, "x87_fsw": 2,
         "x87_fcw": 2}


@pytest.mark.parametrize("name,offset", sorted(VMSA_OFFSETS.items()))
def test_vmsa_field_offsets(name, offset):
    width = WIDTH.get(name, 8)
    value = (1 << (8 * width)) - 2
    page = build_vmsa({name: value})
    assert len(page) == 4096 == SevEsSaveArea.sizeof()
    assert int.from_bytes(page[offset:offset + width], "little") == value
    assert page[:offset] == bytes(offset) and page[offset + width:] == bytes(4096 - offset - width)


@pytest.mark.parametrize("index,segment", list(enumerate(
    ["es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr"])))
def test_vmsa_segment_offsets(index, segment):
    page = build_vmsa({segment: {"selector": 0x1234, "attrib": 0x5678, "limit": 0x9ABCDEF0,
                                 "base": 0x1122334455667788}})
    at = 16 * index
    assert page[at:at + 16] == bytes.fromhex("3412" "7856" "f0debc9a" "8877665544332211")


def test_vmsa_profiles_field_values():
    qemu = parse_vmsa(build_vmsa(reset_vmsa_values(QEMU, 0xFFFFFFF0, 0x21, 0xA00F11, False)))
    assert qemu["cs"] == {"selector": 0xF000, "attrib": 0x9B, "limit": 0xFFFF,
                          "base": 0xFFFF0000}
    assert (qemu["rip"], qemu["rdx"], qemu["sev_features"]) == (0xFFF0, 0xA00F11, 0x21)
    assert (qemu["mxcsr"], qemu["x87_fcw"], qemu["g_pat"]) == (0x1F80, 0x37F, 0x0007040600070406)
    legacy = parse_vmsa(build_vmsa(reset_vmsa_values(QEMU, 0xFFFFFFF0, 1, 0, True)))
    assert (legacy["mxcsr"], legacy["x87_fcw"]) == (0, 0)
    ec2_bsp = parse_vmsa(build_vmsa(reset_vmsa_values(EC2, 0xFFFFFFF0, 1, 0xA00F11, False)))
    ec2_ap = parse_vmsa(build_vmsa(reset_vmsa_values(EC2, 0x80B004, 1, 0xA00F11, False)))
    assert (ec2_bsp["cs"]["attrib"], ec2_ap["cs"]["attrib"]) == (0x9A, 0x9B)
    assert (ec2_bsp["ss"]["attrib"], ec2_bsp["tr"]["attrib"], ec2_bsp["rdx"]) == (0x92, 0x83, 0x600)
    assert (ec2_ap["cs"]["base"], ec2_ap["rip"]) == (0x800000, 0xB004)
    gce = parse_vmsa(build_vmsa(reset_vmsa_values(GCE, 0xFFFFFFF0, 1, 0xA00F11, False)))
    assert (gce["g_pat"], gce["rdx"], gce["mxcsr"]) == (0x00070106, 0x600, 0)


def test_legacy_vm_type_changes_only_the_fpu_fields():
    base = dict(mode="snp", ovmf=OVMF, vcpus=2, vcpu_type="EPYC-Milan")
    init2 = measure(MeasurementConfig(**base))
    legacy = measure(MeasurementConfig(**base, legacy_vm_type=True, host_checks=False))
    assert init2.digest != legacy.digest
    for page_a, page_b in zip(init2.vmsas, legacy.vmsas):
        diff = [i for i in range(4096) if page_a[i] != page_b[i]]
        assert diff and all(0x408 <= i < 0x412 for i in diff)
    assert measure(MeasurementConfig(**base, legacy_vm_type=False)).digest == init2.digest


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(1, 12), st.sampled_from(["QEMU", "ec2", "gce"]),
       st.sampled_from(["snp", "seves"]))
def test_n_vcpus_extend_n_minus_1_by_one_vmsa(vcpus, vmm, mode):
    image = FirmwareSpec().build()
    config = MeasurementConfig(mode=mode, ovmf="unused", vcpus=vcpus + 1,
                               vcpu_type="EPYC-Milan", vmm_type=vmm)
    inputs = _inputs(config, image)
    bigger = vmsa_pages(inputs)
    assert bigger[:vcpus] == vmsa_pages(inputs, vcpus)
    if mode == "snp":
        smaller = SnpLaunchDigest().replay(snp_plan(inputs, bigger[:vcpus]))
        assert smaller.pages + 1 == SnpLaunchDigest().replay(snp_plan(inputs, bigger)).pages
        extended = smaller.copy()
        extended.extend(PageType.VMSA, VMSA_GPA, hashlib.sha384(bigger[-1]).digest())
        assert extended.digest == SnpLaunchDigest().replay(snp_plan(inputs, bigger)).digest


def _inputs(config, image):
    from snpmeasure.launch.ovmf import LaunchInputs
    return LaunchInputs(config, parse_firmware(image, path="gen.fd"), None)


def test_seeded_hash_equals_full_image_on_the_real_firmware():
    seed = measure(MeasurementConfig(mode="snp:ovmf-hash", ovmf=OVMF))
    full = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=3, vcpu_type="EPYC-Genoa"))
    seeded = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=3, vcpu_type="EPYC-Genoa",
                                       snp_ovmf_hash=seed.hex))
    assert seeded.digest == full.digest


def test_plan_page_count_of_the_real_firmware():
    config = MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=4, vcpu_type="EPYC")
    inputs = load_inputs(config)
    updates = list(snp_plan(inputs, vmsa_pages(inputs)))
    section_pages = sum(1 if s.type in (2, 3) else s.size // 4096 for s in inputs.firmware.sections)
    assert len(updates) == 4 * 1024 // 4 + section_pages + 4
    assert [u.page_type for u in updates[-4:]] == [PageType.VMSA] * 4
    assert updates[0].gpa == 0xFFC00000 and updates[1023].gpa == 0xFFFFF000


def test_kernel_hash_table_layout():
    hashes = KernelHashes(kernel=b"\x01" * 32, initrd=b"\x02" * 32, cmdline=b"\x03" * 32)
    table = hashes.table()
    assert len(table) == 0xB0 and table[0xA8:] == bytes(8)
    parsed = PaddedSevHashTable.parse(table)["table"]
    assert parsed["length"] == 0xA8
    assert (parsed["cmdline"]["sha256"], parsed["initrd"]["sha256"],
            parsed["kernel"]["sha256"]) == (b"\x03" * 32, b"\x02" * 32, b"\x01" * 32)
    page = hashes.page(0xC00)
    assert len(page) == 4096 and page[0xC00:0xCB0] == table and page[:0xC00] == bytes(0xC00)


def test_cmdline_bytes():
    assert cmdline_bytes(None) == b"\x00"
    assert cmdline_bytes("") == b"\x00"
    assert cmdline_bytes("grüße") == "grüße".encode() + b"\x00"
    assert cmdline_bytes(b"\xff") == b"\xff\x00"


def test_streaming_hash_memory_does_not_grow_with_file_size(tmp_path):
    big = tmp_path / "initrd"
    with open(big, "wb") as handle:  # 96 MiB sparse file: cheap to make
        handle.truncate(96 << 20)
    tracemalloc.start()
    try:
        digest = sha256_file(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    reference = hashlib.sha256()
    zeros = bytes(1 << 20)
    for _ in range(96):
        reference.update(zeros)
    assert digest == reference.digest()


def test_parallel_page_hashing_equals_sequential(tmp_path, monkeypatch):
    """Long plans hash pages in a helper process; the digest must not change."""
    import random

    from snpmeasure.engine import parallel
    from snpmeasure.engine.igvm import measure_igvm
    from snpmeasure.formats.igvm_writer import IgvmWriter
    from snpmeasure.launch.plan import firmware_pages

    monkeypatch.setattr(parallel, "available", lambda: True)
    rng = random.Random(5)
    ovmf = OVMF.read_bytes()
    image = rng.randbytes((20 << 20) - len(ovmf)) + ovmf  # 20 MiB: above PARALLEL_MIN_PAGES
    firmware = parse_firmware(image, "big.fd")
    pages = firmware.size // 4096
    assert pages >= PARALLEL_MIN_PAGES
    parallel_digest = SnpLaunchDigest().replay(firmware_pages(firmware), pages).digest
    run_digest = SnpLaunchDigest().extend_pages(firmware.gpa, firmware.data).digest
    monkeypatch.setenv("SNPMEASURE_SEQUENTIAL", "1")
    monkeypatch.setattr(parallel, "available", lambda: False)
    sequential = SnpLaunchDigest().replay(firmware_pages(firmware), pages).digest
    assert sequential == parallel_digest == run_digest
    assert SnpLaunchDigest().extend_pages(firmware.gpa, firmware.data).digest == sequential
    writer = IgvmWriter().platform()
    for index in range(PARALLEL_MIN_PAGES + 300):
        data = rng.randbytes(4096) if index % 3 else None
        writer.page_data(0x100000 + index * 4096, data, flags=2 if index % 7 == 0 else 0)
    path = tmp_path / "big.igvm"
    path.write_bytes(writer.build())
    sequential = measure_igvm(path).digest
    monkeypatch.delenv("SNPMEASURE_SEQUENTIAL")
    monkeypatch.setattr(parallel, "available", lambda: True)
    assert measure_igvm(path).digest == sequential


def test_parallel_helper_is_reaped(monkeypatch):
    import os

    from snpmeasure.engine import parallel
    from snpmeasure.launch.plan import empty_pages, data_pages
    monkeypatch.setattr(parallel, "available", lambda: True)
    page = bytes(range(256)) * 16
    updates = list(data_pages(0, page * PARALLEL_MIN_PAGES, "x")) + \
        list(empty_pages(0x10000000, 8192, PageType.ZERO, "z"))
    SnpLaunchDigest().replay(iter(updates), len(updates))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_runs_of_equal_pages_fold_in_as_every_page_does():
    """extend_pages reuses the digest of a page equal to the one before it (firmware padding):
    the result equals hashing every page, for bytes and memoryviews, with runs at the start,
    in the middle and at the end, and pages that differ in their last byte only."""
    import hashlib
    import random
    import struct

    def by_hand(gpa, data):  # the SNP ABI's PAGE_INFO chain, one page at a time: DIGEST_CUR,
        digest = bytes(48)   # CONTENTS, LENGTH 0x70, PAGE_TYPE (1, NORMAL), IMI_PAGE,
        for at in range(0, len(data), 4096):  # VMPL3..1 permissions (4 bytes), GPA
            info = struct.pack("<HBB4xQ", 0x70, 1, 0, gpa + at)
            digest = hashlib.sha384(digest + hashlib.sha384(data[at:at + 4096]).digest()
                                    + info).digest()
        return digest

    ff, zero = b"\xff" * 4096, bytes(4096)
    last_byte = bytes(4095) + b"\x01"
    data = ff * 3 + zero + last_byte + zero * 2 + random.Random(3).randbytes(4096) + ff * 2
    for value in (data, memoryview(data), bytearray(data)):
        assert SnpLaunchDigest().extend_pages(0x1000, value).digest == by_hand(0x1000, data)
