"""Malformed and unlaunchable firmware: each corruption gets its own precise error."""
from __future__ import annotations

import warnings

import pytest
from builders import PAGE, FirmwareSpec, metadata_bytes
from conftest import DATA

from snpmeasure import MeasurementConfig, measure
from snpmeasure.abi import ovmf as L
from snpmeasure.errors import FormatError, SnpMeasureWarning, UnsupportedError
from snpmeasure.formats.firmware import parse_firmware


def fmt_error(image: bytes) -> FormatError:
    with pytest.raises(FormatError) as info:
        parse_firmware(image, path="fw.fd")
    assert str(info.value).startswith("fw.fd: ")
    return info.value


def measure_image(tmp_path, image: bytes, **kw):
    path = tmp_path / "fw.fd"
    path.write_bytes(image)
    kw = {"mode": "snp", "vcpus": 2, "vcpu_type": "EPYC-v4", **kw}
    return measure(MeasurementConfig(ovmf=path, **kw))


def test_the_default_spec_is_valid():
    firmware = parse_firmware(FirmwareSpec().build())
    assert len(firmware.sections) == 7 and firmware.reset_address == 0x80B004


def test_empty_file():
    assert fmt_error(b"").field == "size"


def test_size_not_page_multiple():
    assert fmt_error(FirmwareSpec().build()[:-1]).field == "size"


def test_no_footer_guid():
    err = fmt_error(bytes(PAGE))
    assert err.field == "footer table" and "96b582de" in err.reason
    # the GUID of the footer entry ends 32 bytes before the end, so it starts 48 before it;
    # the message and the offset say the same place
    assert "not found 48 bytes before the end" in err.reason and err.offset == PAGE - 48


def test_truncated_image_loses_its_footer():
    image = FirmwareSpec(size=8 * PAGE).build()
    assert fmt_error(image[:4 * PAGE]).field == "footer table"


def test_footer_length_too_large():
    image = bytearray(FirmwareSpec().build())
    at = len(image) - 32 - 18
    image[at:at + 2] = (0xFFFF).to_bytes(2, "little")
    assert fmt_error(bytes(image)).field == "footer table length"


def test_footer_length_too_small():
    image = bytearray(FirmwareSpec().build())
    at = len(image) - 32 - 18
    image[at:at + 2] = (3).to_bytes(2, "little")
    assert fmt_error(bytes(image)).field == "footer table length"


def test_entry_length_runs_past_the_table():
    image = bytearray(FirmwareSpec().build())
    at = len(image) - 32 - 18 - 18  # trailer of the entry nearest the footer
    image[at:at + 2] = (0x7FFF).to_bytes(2, "little")
    err = fmt_error(bytes(image))
    assert err.field.startswith("footer table entry") and err.field.endswith("length")


def test_entry_too_short_for_its_payload():
    spec = FirmwareSpec(reset_address=None, extra_entries=[(L.SEV_ES_RESET_BLOCK_GUID, b"\x01")])
    err = fmt_error(spec.build())
    assert "SEV-ES reset block" in err.field and "needs 4" in err.reason


def test_duplicate_entries():
    spec = FirmwareSpec(extra_entries=[(L.SEV_ES_RESET_BLOCK_GUID, b"\x04\xb0\x80\x00")])
    assert "appears twice" in fmt_error(spec.build()).reason


def test_metadata_offset_outside_the_file():
    spec = FirmwareSpec()
    image = bytearray(spec.build())
    marker = L.guid_bytes(L.SEV_METADATA_OFFSET_GUID)
    at = bytes(image).index(marker) - 2 - 4
    image[at:at + 4] = (len(image) + 16).to_bytes(4, "little")
    assert fmt_error(bytes(image)).field == "SEV metadata offset"


def test_metadata_signature():
    raw = metadata_bytes([(0x800000, PAGE, 1)], signature=b"XSEV")
    assert fmt_error(FirmwareSpec(metadata=raw).build()).field == "SEV metadata signature"


def test_metadata_version():
    raw = metadata_bytes([(0x800000, PAGE, 1)], version=2)
    assert fmt_error(FirmwareSpec(metadata=raw).build()).field == "SEV metadata version"


def test_metadata_count_larger_than_length():
    raw = metadata_bytes([(0x800000, PAGE, 1)], count=1000)
    assert fmt_error(FirmwareSpec(metadata=raw).build()).field == "SEV metadata length"


def test_metadata_length_past_end_of_file():
    raw = metadata_bytes([(0x800000, PAGE, 1)], length=0x7FFFFFF0)
    assert fmt_error(FirmwareSpec(metadata=raw).build()).field == "SEV metadata length"


@pytest.mark.parametrize("section,words", [
    ((0x800000, 0, 1), "size 0"),
    ((0x800800, PAGE, 1), "multiples of 4096"),
    ((0x800000, 0x1800, 1), "multiples of 4096"),
    ((0xFFFFF000, 2 * PAGE, 1), "past 4 GiB"),
    ((0xFFFF0000, PAGE, 1), "overlaps the firmware image"),
])
def test_bad_section_placement(section, words):
    err = fmt_error(FirmwareSpec(size=16 * PAGE, sections=[section]).build())
    assert err.field.startswith("SEV metadata section 0") and words in err.reason


def test_overlapping_sections():
    spec = FirmwareSpec(sections=[(0x800000, 4 * PAGE, 1), (0x802000, PAGE, 2)])
    err = fmt_error(spec.build())
    assert "overlaps section 0" in err.reason


def test_kernel_without_kernel_hashes_section(tmp_path, bzimage):
    image = FirmwareSpec(sections=[(0x800000, PAGE, 1)]).build()
    with pytest.raises(UnsupportedError, match="SNP_KERNEL_HASHES"):
        measure_image(tmp_path, image, kernel=bzimage)


def test_kernel_without_hash_table_block(tmp_path, bzimage):
    image = FirmwareSpec(hash_table=None).build()
    with pytest.raises(UnsupportedError, match="no SEV hash-table block"):
        measure_image(tmp_path, image, kernel=bzimage)


@pytest.mark.parametrize("block", [(0, 0x400), (0x810C00, 0x40)])
def test_kernel_with_unusable_hash_table_block(tmp_path, bzimage, block):
    image = FirmwareSpec(hash_table=block).build()
    with pytest.raises(UnsupportedError, match="unusable"):
        measure_image(tmp_path, image, kernel=bzimage)
    with pytest.raises(UnsupportedError):
        measure_image(tmp_path, image, kernel=bzimage, mode="sev")


@pytest.mark.parametrize("base", [0x80F000, 0x810F80, 0x811000, 0x900000])
def test_hash_table_outside_first_page_of_its_section(tmp_path, bzimage, base):
    image = FirmwareSpec(hash_table=(base, 0x400)).build()
    with pytest.raises(UnsupportedError, match="first page"):
        measure_image(tmp_path, image, kernel=bzimage)
    # without a kernel the table is not used, and the launch is fine
    assert len(measure_image(tmp_path, image).digest) == 48


def test_no_reset_block(tmp_path):
    image = FirmwareSpec(reset_address=None).build()
    with pytest.raises(UnsupportedError, match="reset block"):
        measure_image(tmp_path, image)
    with pytest.raises(UnsupportedError, match="reset block"):
        measure_image(tmp_path, image, mode="seves", vcpus=1)


def test_zero_reset_address(tmp_path):
    image = FirmwareSpec(reset_address=0).build()
    with pytest.raises(UnsupportedError, match="zero"):
        measure_image(tmp_path, image)


def test_snp_needs_metadata(tmp_path):
    image = FirmwareSpec(with_metadata=False).build()
    with pytest.raises(UnsupportedError, match="no SEV metadata"):
        measure_image(tmp_path, image)
    assert len(measure_image(tmp_path, image, mode="sev").digest) == 32


@pytest.mark.parametrize("kind", [2, 3])
def test_multi_page_secrets_or_cpuid_refused(tmp_path, kind):
    image = FirmwareSpec(sections=[(0x800000, 2 * PAGE, kind)]).build()
    with pytest.raises(UnsupportedError, match="one-page"):
        measure_image(tmp_path, image)


def test_unknown_section_type_qemu_warns_and_measures_zero_pages(tmp_path):
    known = FirmwareSpec(sections=[(0x800000, 2 * PAGE, 4)]).build()     # SVSM_CAA: ZERO pages
    unknown = FirmwareSpec(sections=[(0x800000, 2 * PAGE, 0x77)]).build()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = measure_image(tmp_path, unknown, snp_ovmf_hash=bytes(48))
    assert any(issubclass(w.category, SnpMeasureWarning) and "0x77" in str(w.message)
               for w in caught)
    # the images differ in the type field, so compare from the same seeded firmware hash
    assert got.digest == measure_image(tmp_path, known, snp_ovmf_hash=bytes(48)).digest


@pytest.mark.parametrize("vmm", ["ec2", "gce"])
def test_unknown_section_type_refused_for_ec2_and_gce(tmp_path, vmm):
    image = FirmwareSpec(sections=[(0x800000, PAGE, 0x77)]).build()
    with pytest.raises(UnsupportedError, match="0x77"):
        measure_image(tmp_path, image, vmm_type=vmm, vcpu_type="EPYC-Milan")


def test_multi_page_kernel_hashes_section_measures_every_page(tmp_path, bzimage):
    """Pages after the first are NORMAL zero pages (QEMU zeroes the whole section)."""
    from snpmeasure import SnpLaunchDigest
    from snpmeasure.abi.snp import PageType
    from snpmeasure.launch.ovmf import load_inputs, snp_plan, vmsa_pages

    image = FirmwareSpec(sections=[(0x810000, 3 * PAGE, 0x10)]).build()
    path = tmp_path / "fw.fd"
    path.write_bytes(image)
    config = MeasurementConfig(mode="snp", ovmf=path, vcpus=1, vcpu_type="EPYC",
                               kernel=bzimage)
    inputs = load_inputs(config)
    updates = [u for u in snp_plan(inputs, vmsa_pages(inputs)) if u.gpa in
               (0x810000, 0x811000, 0x812000)]
    assert [u.page_type for u in updates] == [PageType.NORMAL] * 3
    assert bytes(updates[1].data) == bytes(PAGE) == bytes(updates[2].data)
    assert bytes(updates[0].data)[0xC00:0xC10] == L.guid_bytes(
        "9438d606-4f22-4cc9-b479-a793d411fd21")
    replayed = SnpLaunchDigest().replay(snp_plan(inputs, vmsa_pages(inputs))).digest
    assert replayed == measure(config).digest


def test_real_sample_without_kernel_hashes_refuses_kernel(bzimage):
    config = MeasurementConfig(mode="snp", ovmf=DATA / "ovmf_OvmfX64_suffix.bin", vcpus=1,
                               vcpu_type="EPYC", kernel=bzimage)
    with pytest.raises(UnsupportedError):
        measure(config)


def test_arbitrary_bytes_raise_only_our_errors():
    from hypothesis import given, settings, strategies as st

    from snpmeasure.errors import SnpMeasureError

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.binary(min_size=0, max_size=3 * PAGE).map(
        lambda b: b + bytes(-len(b) % PAGE)), st.integers(0, 2 * PAGE), st.binary(max_size=64))
    def check(data, at, patch):
        base = bytearray(FirmwareSpec(size=4 * PAGE).build())
        mutated = bytes(base[:at] + patch + base[at + len(patch):])[:len(base)]
        for candidate in (data, mutated):
            try:
                parse_firmware(candidate)
            except SnpMeasureError:
                pass

    check()


def test_ovmf_hash_mode_needs_no_metadata(tmp_path):
    """snp:ovmf-hash only hashes the firmware pages, as sev-snp-measure does; the snp launch
    that uses the seed still needs the metadata."""
    from oracle import peer_measure
    image = FirmwareSpec(with_metadata=False).build()
    path = tmp_path / "fw.fd"
    path.write_bytes(image)
    seed = measure(MeasurementConfig(mode="snp:ovmf-hash", ovmf=path))
    assert seed.digest == peer_measure("snp:ovmf-hash", str(path))
    with pytest.raises(UnsupportedError, match="no SEV metadata"):
        measure(MeasurementConfig(mode="snp", ovmf=path, vcpus=1, vcpu_type="EPYC",
                                  snp_ovmf_hash=seed.hex))


def test_files_given_to_ovmf_by_mistake_are_named(tmp_path, capsys):
    from snpmeasure.cli.main import main

    igvm = DATA / "igvm" / "linux_x64_vtl0.igvm"
    assert main(["measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
                 str(igvm)]) == 2
    assert "is an IGVM file" in capsys.readouterr().err
    # an OVMF_VARS volume: EFI_SYSTEM_NV_DATA_FV_GUID at 0x10, the _FVH signature at 0x28
    # (edk2 MdePkg PiFirmwareVolume.h, EFI_FIRMWARE_VOLUME_HEADER)
    image = bytearray(0x84000)
    image[0x10:0x20] = bytes.fromhex("8d2bf1ff96768b4ca9852747075b4f50")
    image[0x28:0x2C] = b"_FVH"
    with pytest.raises(FormatError, match="OVMF_VARS"):
        parse_firmware(bytes(image), path="vars.fd")


def test_parameter_insert_past_the_top_of_memory(tmp_path):
    from snpmeasure.formats.igvm import IgvmFile
    from snpmeasure.formats.igvm_writer import IgvmWriter

    path = tmp_path / "top.igvm"
    path.write_bytes(IgvmWriter().platform().guest_policy().parameter_area(0, 0x3000)
                     .page_data(0x1000, b"\x01" * 4096)
                     .parameter_insert(0xFFFFFFFFFFFFF000, 0).build())
    with pytest.raises(FormatError, match="past the top"):
        IgvmFile(path)
