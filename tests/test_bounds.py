"""Counts and sizes claimed by hostile inputs are bounded before anything of that size is built.

Every input is generated here and is small (a firmware claiming 2^31 SEV metadata descriptors is
16 pages); each test checks the error (class or exit code) and that the peak of memory traced by
tracemalloc stays small, whatever the input claims. No test asserts on time: list parsing is
shown linear by counting the lines it executes.
"""
from __future__ import annotations

import itertools
import json
import struct
import sys
import tracemalloc
import zlib

import pytest
from builders import FirmwareSpec, metadata_bytes
from conftest import DATA

from snpmeasure.abi.snp import PageType
from snpmeasure.cli.main import main
from snpmeasure.errors import ConfigError, FormatError
from snpmeasure.formats.firmware import parse_firmware
from snpmeasure.limits import (MAX_IGVM_PARAMETER_AREAS, MAX_IGVM_PLATFORMS,
                               MAX_INSPECT_HEADERS, MAX_LIST_VALUES, MAX_MATRIX_ENTRIES,
                               MAX_SEV_METADATA_SECTIONS)

PAGE = 4096
MiB = 1 << 20
SMALL_FIRMWARE = str(DATA / "ovmf_AmdSev_suffix.bin")


@pytest.fixture(scope="module", autouse=True)
def warm_imports(tmp_path_factory):
    """Run each command once before anything is traced: the modules a command imports on first
    use would otherwise count in the first traced peak."""
    from snpmeasure.formats.igvm_writer import IgvmWriter

    path = tmp_path_factory.mktemp("warm") / "small.igvm"
    path.write_bytes(IgvmWriter().platform().guest_policy().page_data(0x1000, bytes(PAGE))
                     .build())
    for args in (["igvm", str(path)], ["inspect", str(path)], ["inspect", SMALL_FIRMWARE],
                 ["manifest", "--mode", "snp", "--ovmf", SMALL_FIRMWARE, "--vcpus", "1",
                  "--vcpu-type", "EPYC"],
                 ["find", "--ovmf", SMALL_FIRMWARE, "--measurement", "00" * 48],
                 ["measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
                  SMALL_FIRMWARE, "--no-host-checks"]):
        main(args)


def traced(function, *args, **kwargs):
    """(result or raised exception, peak bytes traced while ``function`` ran)."""
    tracemalloc.start()
    try:
        try:
            result = function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned to the test, which checks it
            result = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def run_main(capsys, args):
    """(exit code, stdout, stderr, peak bytes traced) of one command line."""
    code, peak = traced(main, args)
    out, err = capsys.readouterr()
    return code, out, err, peak


@pytest.fixture
def exact_firmware_reads(monkeypatch):
    """``files.read_file`` asks for limit + 1 bytes (256 MiB for a firmware image): the pages are
    never touched, but tracemalloc counts them. Read exactly the file instead, so that the peaks
    measured are those of the code under test."""
    import os

    import snpmeasure.formats.firmware as firmware_module

    def read_exactly(path, limit, what="file"):
        assert os.stat(path).st_size <= limit
        with open(path, "rb") as handle:
            return handle.read()

    monkeypatch.setattr(firmware_module, "read_file", read_exactly)


def one_error_line(out: str, err: str) -> None:
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err


# -- 1. SEV metadata descriptors ----------------------------------------------------------------

def test_a_count_whose_descriptors_cannot_fit_is_refused_at_once():
    image = FirmwareSpec(metadata=metadata_bytes([(0x800000, PAGE, 1)],
                                                 count=1 << 31)).build()
    error, peak = traced(parse_firmware, image)
    assert isinstance(error, FormatError) and error.field == "SEV metadata length"
    assert peak < MiB


def test_a_count_that_fits_but_is_over_the_limit_is_refused_before_any_descriptor(
        tmp_path, capsys):
    count = 100_000  # 1.2 MB of descriptors: they fit in the file
    raw = metadata_bytes([(0x1000 * i, PAGE, 1) for i in range(4)], count=count,
                         length=16 + 12 * count)
    spec = FirmwareSpec(size=(count * 12 // PAGE + 32) * PAGE, metadata=raw + bytes(12 * count))
    image = spec.build()
    error, peak = traced(parse_firmware, image)
    assert isinstance(error, FormatError) and error.field == "SEV metadata section count"
    assert str(MAX_SEV_METADATA_SECTIONS) in str(error)
    assert peak < MiB  # the image is the caller's; no descriptor list was built
    path = tmp_path / "many.fd"
    path.write_bytes(image)
    code, out, err, _ = run_main(capsys, ["inspect", str(path)])
    assert code == 4 and "limit" in err
    one_error_line(out, err)


@pytest.mark.parametrize("count,ok", [(MAX_SEV_METADATA_SECTIONS, True),
                                      (MAX_SEV_METADATA_SECTIONS + 1, False)])
def test_the_section_limit_is_exact(count, ok):
    sections = [(0x100000 + i * PAGE, PAGE, 1) for i in range(count)]
    spec = FirmwareSpec(size=64 * PAGE, sections=sections)
    if ok:
        assert len(parse_firmware(spec.build()).sections) == count
    else:
        with pytest.raises(FormatError, match="over the limit"):
            parse_firmware(spec.build())


# -- 2. a huge SNP_KERNEL_HASHES section ----------------------------------------------------------

def hashes_firmware(section_size: int) -> bytes:
    """A firmware whose only metadata section is a KERNEL_HASHES section of ``section_size``
    bytes at GPA 0x1000 (the hash table in its first page)."""
    return FirmwareSpec(size=16 * PAGE, hash_table=(0x1C00, 0x400), secret_block=None,
                        sections=[(0x1000, section_size, 0x10)]).build()


def test_inspect_describes_a_2_gib_hashes_section_without_its_pages(tmp_path, capsys,
                                                                   exact_firmware_reads):
    from snpmeasure.analysis.inspect import inspect_firmware

    firmware = parse_firmware(hashes_firmware((2 << 30) - 0x1000))
    info, peak = traced(inspect_firmware, firmware)
    assert peak < 4 * MiB  # it allocated the section twice (4 GiB) before
    rule = info["sev_metadata"]["sections"][0]["measured"]["QEMU"]
    assert rule == ("524287 NORMAL page(s) with the kernel hashes table; 524287 ZERO page(s) "
                    "without a kernel")
    assert info["measured_direct_boot"]["snp"] is True
    path = tmp_path / "hashes.fd"
    path.write_bytes(firmware.data)
    code, out, err, peak = run_main(capsys, ["inspect", str(path), "--json"])
    assert code == 0 and json.loads(out)["sev_metadata"]["sections"][0]["size"] == 0x7FFFF000
    assert peak < 4 * MiB


def test_hashes_section_pages_are_made_one_at_a_time():
    from snpmeasure.launch.kernel_hashes import KernelHashes
    from snpmeasure.launch.profiles import PROFILES
    from snpmeasure.launch.sections import kernel_hashes_area, metadata_updates

    firmware = parse_firmware(hashes_firmware((2 << 30) - 0x1000))
    hashes = KernelHashes(b"\1" * 32, b"\2" * 32, b"\3" * 32)

    def first_updates():
        section, page = kernel_hashes_area(firmware, hashes)
        assert len(page) == PAGE and section.size == (2 << 30) - 0x1000
        return list(itertools.islice(metadata_updates(firmware, PROFILES["QEMU"], hashes), 3))

    updates, peak = traced(first_updates)
    assert peak < MiB
    assert [u.page_type for u in updates] == [PageType.NORMAL] * 3
    assert bytes(updates[0].data) == hashes.page(0xC00)
    assert bytes(updates[1].data) == bytes(updates[2].data) == bytes(PAGE)
    assert [u.gpa for u in updates] == [0x1000, 0x2000, 0x3000]
    assert updates[1].source.endswith(" +0x1000")


def test_measuring_a_kernel_with_a_large_hashes_section_does_not_allocate_it(
        tmp_path, capsys, bzimage, exact_firmware_reads):
    size = 64 << 20  # 16384 pages, measured one by one
    image = FirmwareSpec(size=16 * PAGE, hash_table=(0x1C00, 0x400), secret_block=None,
                         sections=[(0x1000, size - 0x1000, 0x10)]).build()
    path = tmp_path / "fw.fd"
    path.write_bytes(image)
    args = ["measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
            str(path), "--kernel", str(bzimage), "--no-host-checks"]
    code, out, err, peak = run_main(capsys, args)
    assert code == 0, err
    assert peak < 8 * MiB  # it built 2 x 64 MiB before


# -- 3. IGVM files with many headers -----------------------------------------------------------

def platform(mask=1, platform_type=2):
    return struct.pack("<IIIBBHQ", 0x001, 16, mask, 0, platform_type, 1, 0)


def policy(value=0x30000, mask=1):
    return struct.pack("<IIQII", 0x101, 16, value, mask, 0)


def area(index):
    return struct.pack("<IIQII", 0x301, 16, PAGE, index, 0)


def page_data(gpa, mask=1):
    return struct.pack("<IIQIIIHH", 0x302, 24, gpa, mask, 0, 0, 0, 0)


def ignorable():
    return struct.pack("<II", 0x800003F0, 0)  # an unknown header a loader may skip


def id_block(mask=1, guest_svn=0):
    payload = bytearray(696)
    struct.pack_into("<IB", payload, 0, mask, 0)
    struct.pack_into("<I", payload, 4 + 4 + 48 + 16 + 16 + 4, guest_svn)
    return struct.pack("<II", 0x30B, len(payload)) + bytes(payload)


def igvm_file(path, headers) -> int:
    """Write an IGVM file of the given variable headers (and one page of file data); return the
    size of its header section."""
    section = b"".join(headers)
    total = 24 + len(section) + PAGE
    head = struct.pack("<IIIIII", 0x4D564749, 1, 24, len(section), total, 0)
    crc = zlib.crc32(section, zlib.crc32(head)) & 0xFFFFFFFF
    path.write_bytes(struct.pack("<IIIIII", 0x4D564749, 1, 24, len(section), total, crc)
                     + section + bytes(PAGE))
    return len(section)


def open_igvm(path):
    from snpmeasure.formats.igvm import IgvmFile

    with IgvmFile(path) as igvm:
        return (igvm.header_count, len(igvm.platforms()), igvm.guest_policy(1),
                igvm.guest_policy(2), len(igvm.id_blocks()))


def test_too_many_platforms_are_refused(tmp_path, capsys):
    path = tmp_path / "platforms.igvm"
    igvm_file(path, [platform(1 << (i % 32)) for i in range(100_000)] + [policy()])
    error, peak = traced(open_igvm, path)
    assert isinstance(error, FormatError) and str(MAX_IGVM_PLATFORMS) in str(error)
    assert peak < 4 * MiB
    for command in (["igvm"], ["inspect"]):
        code, out, err, _ = run_main(capsys, command + [str(path)])
        assert code == 4 and "limit" in err
        one_error_line(out, err)


def test_too_many_parameter_areas_are_refused(tmp_path, capsys):
    path = tmp_path / "areas.igvm"
    igvm_file(path, [platform(), policy()] + [area(i) for i in range(100_000)])
    error, peak = traced(open_igvm, path)
    assert isinstance(error, FormatError) and str(MAX_IGVM_PARAMETER_AREAS) in str(error)
    assert peak < 8 * MiB
    code, out, err, _ = run_main(capsys, ["igvm", str(path)])
    assert code == 4 and "limit" in err
    one_error_line(out, err)
    igvm_file(path, [platform(), policy()] + [area(i) for i in range(MAX_IGVM_PARAMETER_AREAS)])
    assert open_igvm(path)[0] == MAX_IGVM_PARAMETER_AREAS + 2


@pytest.mark.parametrize("kind", ["policies", "id_blocks", "ignorable", "pages"])
def test_parsing_holds_memory_independent_of_the_header_count(tmp_path, kind):
    make = {"policies": lambda i: policy(0x30000 + i, 1 + (i % 2)),
            "id_blocks": lambda i: id_block(1, i),
            "ignorable": lambda i: ignorable(),
            "pages": lambda i: page_data(i * PAGE)}[kind]
    count = {"policies": 30_000, "id_blocks": 5_000, "ignorable": 50_000,
             "pages": 30_000}[kind]
    path = tmp_path / f"{kind}.igvm"
    section = igvm_file(path, [platform(1), platform(2, 5)]
                        + ([policy()] if kind != "policies" else [])
                        + [make(i) for i in range(count)])
    result, peak = traced(open_igvm, path)
    assert not isinstance(result, Exception), result
    assert peak < section + 2 * MiB  # the header section is read whole; nothing per header
    headers, platforms, first_policy, second_policy, id_blocks = result
    assert platforms == 2 and headers == count + 2 + (kind != "policies")
    if kind == "policies":  # the first policy of each mask bit is the one used
        assert (first_policy, second_policy) == (0x30000, 0x30001)
    if kind == "id_blocks":
        assert id_blocks == 1


def test_the_last_id_block_of_a_mask_is_kept(tmp_path):
    from snpmeasure.formats.igvm import IgvmFile

    path = tmp_path / "ids.igvm"
    igvm_file(path, [platform(1), platform(2, 5), policy(0x30000, 3), id_block(1, 1),
                     id_block(3, 2), id_block(2, 3), id_block(1, 4), id_block(0, 5)])
    with IgvmFile(path) as igvm:
        kept = igvm.id_blocks()
        assert [h.payload.guest_svn for h in kept] == [3, 4]
        assert [h for h in kept if h.compatibility_mask & 1][-1].payload.guest_svn == 4
        assert [h for h in kept if h.compatibility_mask & 2][-1].payload.guest_svn == 3
        assert igvm.guest_policy(2) == igvm.guest_policy(1) == 0x30000


def test_measuring_holds_memory_independent_of_the_header_count(tmp_path, capsys):
    path = tmp_path / "ignorable.igvm"
    section = igvm_file(path, [platform(), policy(), page_data(0)]
                        + [ignorable()] * 50_000)
    code, out, err, peak = run_main(capsys, ["igvm", str(path)])
    assert code == 0, err
    assert peak < section + 4 * MiB


def test_inspect_lists_a_bounded_number_of_headers(tmp_path, capsys, monkeypatch):
    import snpmeasure.analysis.inspect as inspect_module

    monkeypatch.setattr(inspect_module, "MAX_INSPECT_HEADERS", 100)
    path = tmp_path / "many.igvm"
    count = 10_000
    section = igvm_file(path, [platform(), policy()] + [page_data(i * PAGE)
                                                          for i in range(count)])
    info, peak = traced(inspect_module.inspect_igvm, path)
    assert peak < section + 2 * MiB  # it listed every header and its updates before
    assert len(info["headers"]) == 100 and info["header_count"] == count + 2
    assert info["headers_omitted"] == count + 2 - 100
    assert info["snp"]["page_updates"] == count  # the digest covers every directive
    assert len(info["snp"]["updates_by_directive"]) == 98  # only listed directives
    assert "PAGE_DATA #99" in info["snp"]["updates_by_directive"]
    for args in (["inspect", str(path), "--json"], ["inspect", str(path)]):
        code, out, err, peak = run_main(capsys, args)
        assert code == 0, err
        assert peak < section + 4 * MiB
        if "--json" in args:
            doc = json.loads(out)
            assert set(doc) >= {"path", "format", "format_version", "size", "platforms",
                                "headers", "snp", "header_count", "headers_omitted"}
            assert doc["headers"][0]["type"] == "SUPPORTED_PLATFORM"
        else:
            assert f"{count + 2} headers" in out.splitlines()[0]
            assert f"{count + 2 - 100} more headers not listed" in out.splitlines()[-1]


def test_inspect_lists_every_header_up_to_the_limit(tmp_path):
    from snpmeasure.analysis.inspect import describe_igvm, inspect_igvm

    path = tmp_path / "limit.igvm"
    igvm_file(path, [platform(), policy(), page_data(0)]
              + [ignorable()] * (MAX_INSPECT_HEADERS - 3 + 10))
    info = inspect_igvm(path)
    assert len(info["headers"]) == MAX_INSPECT_HEADERS and info["headers_omitted"] == 10
    assert describe_igvm(info).splitlines()[-1].startswith("  ... 10 more headers")
    igvm_file(path, [platform(), policy(), page_data(0)])
    info = inspect_igvm(path)
    assert len(info["headers"]) == info["header_count"] == 3 and info["headers_omitted"] == 0
    assert "more headers" not in describe_igvm(info)


# -- 4. lists and combinations -----------------------------------------------------------------

def lines_executed(function, *args) -> int:
    """How many lines of snpmeasure/cli/values.py run during ``function(*args)`` (a measure of
    work that does not depend on the machine's speed)."""
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename.endswith("values.py"):
            if event == "line":
                count += 1
            return trace
        return None

    sys.settrace(trace)
    try:
        function(*args)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("item,values", [("1-4096", 4096), ("0-65535", 65536), ("7", 1)])
def test_int_list_is_linear_in_the_text(item, values):
    from snpmeasure.cli.values import int_list

    text = ",".join([item] * 2000)
    assert int_list("--vcpus", text) == int_list("--vcpus", item)
    assert len(int_list("--vcpus", item)) == values
    once = lines_executed(int_list, "--vcpus", item)
    # every repeat of a range it has already listed costs a few lines, not a pass over the range
    assert lines_executed(int_list, "--vcpus", text) < once + 40 * 2000


def test_int_list_keeps_order_and_drops_repeats():
    from snpmeasure.cli.values import int_list

    assert int_list("--x", "5-7,1-6,0x10,3,8-9,7-10") == [5, 6, 7, 1, 2, 3, 4, 16, 8, 9, 10]
    assert int_list("--x", "10,1-20,15-30") == [10, 1, 2, 3, 4, 5, 6, 7, 8, 9, *range(11, 31)]
    assert int_list("--x", "-3,0,-3") == [-3, 0]


@pytest.mark.parametrize("text", ["0-40000,40001-80000", "0-65535,65536",
                                  ",".join(str(i) for i in range(MAX_LIST_VALUES + 1))])
def test_more_values_than_the_limit_are_refused(text):
    from snpmeasure.cli.values import int_list

    error, peak = traced(int_list, "--vcpus", text)
    assert isinstance(error, ConfigError) and str(MAX_LIST_VALUES) in str(error)
    assert peak < 16 * MiB
    assert len(int_list("--vcpus", f"0-{MAX_LIST_VALUES - 1}")) == MAX_LIST_VALUES


def test_name_and_bool_lists_are_linear_in_the_text():
    from snpmeasure.cli.values import bool_list, cpu_choices, vmm_type_list

    assert bool_list("--x", ",".join(["on", "off"] * 5000)) == [True, False]
    assert vmm_type_list("--x", ",".join(["QEMU", "ec2"] * 5000)) == ["QEMU", "ec2"]
    assert lines_executed(bool_list, "--x", ",".join(["on"] * 5000)) < 20 * 5000
    sigs = ",".join(["0xa00f11-0xa00f20"] * 2000)
    assert len(cpu_choices({"vcpu_sig": sigs})) == 16
    assert lines_executed(cpu_choices, {"vcpu_sig": sigs}) < 60 * 2000


@pytest.mark.parametrize("args", [
    ["manifest", "--mode", "snp", "--ovmf", SMALL_FIRMWARE, "--vcpus", "1-4096",
     "--vcpu-sig", "0-65535", "--guest-features", "0-65535"],
    ["manifest", "--mode", "snp", "--ovmf", SMALL_FIRMWARE, "--vcpus",
     ",".join(["1-4096"] * 3000), "--vcpu-type", "all", "--vmm-type", "all",
     "--guest-features", "0-1000", "--legacy-vm-type", "on,off"],
    ["find", "--ovmf", SMALL_FIRMWARE, "--measurement", "00" * 48, "--vcpus", "1-4096",
     "--vcpu-sig", "0-65535", "--guest-features", "0-65535"],
    ["find", "--ovmf", SMALL_FIRMWARE, "--measurement", "00" * 48, "--max-vcpus", "4096",
     "--no-host-checks"],
])
def test_products_of_large_lists_are_refused_at_once(capsys, args):
    code, out, err, peak = run_main(capsys, args)
    assert code == 2 and str(MAX_MATRIX_ENTRIES) in err and "MAX_MATRIX_ENTRIES" in err
    one_error_line(out, err)
    assert peak < 32 * MiB  # the parsed lists, not their combinations


def test_igvm_manifest_products_are_refused_before_the_file_is_read(tmp_path, capsys):
    path = tmp_path / "small.igvm"
    igvm_file(path, [platform(), policy(), page_data(0)])
    code, out, err, peak = run_main(capsys, [
        "manifest", "--igvm", str(path), "--loader", "qemu", "--vcpus", "1-4096",
        "--vcpu-sig", "0-65535"])
    assert code == 2 and "MAX_MATRIX_ENTRIES" in err
    one_error_line(out, err)
    assert peak < 32 * MiB
