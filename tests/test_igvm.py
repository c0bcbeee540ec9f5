"""IGVM: the published sample, model-based tests on written files, corrupt files, ID blocks."""
from __future__ import annotations

import hashlib
import json
import tracemalloc
import zlib

import pytest
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from snpmeasure.abi import igvm as L
from snpmeasure.abi.snp import VMSA_GPA
from snpmeasure.cli.main import main
from snpmeasure.engine.snp import SnpLaunchDigest
from snpmeasure.errors import FormatError, InputError, UnsupportedError
from snpmeasure.analysis.explain import explain_igvm
from snpmeasure.attestation.igvm_id_block import measure_and_check
from snpmeasure.engine.igvm import measure_igvm
from snpmeasure.launch.igvm import IgvmOptions
from snpmeasure.formats.igvm_writer import IgvmWriter

SAMPLE = DATA / "igvm" / "linux_x64_vtl0.igvm"
VECTOR = json.loads((DATA / "vectors.json").read_text())["igvm"]["igvm/linux_x64_vtl0.igvm"]
PAGE = 4096
N, V, Z, U, S, C = 1, 2, 3, 4, 5, 6  # SNP page types


def test_sample_equals_the_published_digest(capsys):
    assert measure_igvm(SAMPLE).hex == VECTOR["expected"]
    assert main(["igvm", str(SAMPLE)]) == 0
    assert capsys.readouterr().out == VECTOR["expected"] + "\n"


def test_sample_id_block_verifies():
    result, block = measure_and_check(SAMPLE, IgvmOptions())
    assert result.hex == VECTOR["expected"]
    assert block.matches and block.signature_ok
    assert block.header.payload.guest_svn == 2


def test_sample_explain_and_inspect(capsys):
    explanation = explain_igvm(SAMPLE, IgvmOptions())
    assert explanation.steps[-1].digest.hex() == VECTOR["expected"]
    assert len(explanation.steps) == 201  # 199 pages + 1 parameter insert + 1 VMSA
    assert main(["explain", "--igvm", str(SAMPLE), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[-1]["digest"] == VECTOR["expected"]
    vmsa = [x for x in lines if x["page_type"] == "VMSA"]
    assert len(vmsa) == 1 and vmsa[0]["gpa"] == "0x803000"
    assert main(["inspect", str(SAMPLE), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["platforms"][0]["type"] == "SEV_SNP" and info["snp"]["policy"] == "0x3001f"
    assert info["snp"]["measurement"] == VECTOR["expected"]
    assert info["snp"]["id_block"]["signatures_verified"] is True


# -- a model of the rules, independent of snpmeasure/igvm.py --------------------------------

def model_digest(directives, loader="igvmmeasure", native_zero=False, areas=None):
    """directives: ("page", gpa, data|None, flags, data_type) | ("insert", gpa, index) |
    ("vmsa", gpa, page|None); areas: {index: number_of_bytes}."""
    chain = SnpLaunchDigest()
    zero = bytes(PAGE)
    for item in directives:
        if item[0] == "page":
            _, gpa, data, flags, data_type = item
            if loader == "microsoft" and flags & 4:
                continue
            size = 0x200000 if flags & 1 else PAGE
            for off in range(0, size, PAGE):
                if data_type == 0 and flags & 2:
                    chain.extend(U, gpa + off, bytes(48))
                elif data_type == 0 and data is None:
                    if native_zero:
                        chain.extend(Z, gpa + off, bytes(48))
                    else:
                        chain.extend(N, gpa + off, hashlib.sha384(zero).digest())
                elif data_type == 0:
                    chain.extend(N, gpa + off, hashlib.sha384(data[off:off + PAGE]).digest())
                elif data_type == 1:
                    chain.extend(S, gpa + off, bytes(48))
                else:
                    chain.extend(C, gpa + off, bytes(48))
        elif item[0] == "insert":
            _, gpa, index = item
            pages = areas[index] // PAGE if loader == "microsoft" else 1
            for page in range(pages):
                chain.extend(U, gpa + page * PAGE, bytes(48))
        else:
            _, gpa, page = item
            chain.extend(V, gpa, hashlib.sha384(page or zero).digest())
    return chain.digest


def write(directives, areas, tmp_path, name="g.igvm", padding=b"\x00", version=1, other=True):
    writer = IgvmWriter().platform(compatibility_mask=1)
    if other:
        writer.platform(compatibility_mask=2, platform_type=L.Platform.TDX)
    writer.guest_policy(0x30000, 1)
    for index, size in areas.items():
        writer.parameter_area(index, size)
    for item in directives:
        if item[0] == "page":
            _, gpa, data, flags, data_type = item
            writer.page_data(gpa, data, 1, flags, data_type)
            if other:  # a directive for the other platform, which must be ignored
                writer.page_data(gpa, b"\xAA" * PAGE if not flags & 1 else None, 2, 0, 0)
        elif item[0] == "insert":
            writer.parameter_insert(item[1], item[2], 1)
        else:
            writer.vp_context(item[1], item[2], 1)
    path = tmp_path / name
    path.write_bytes(writer.build(padding=padding, format_version=version))
    return path


@st.composite
def directive_lists(draw):
    items, gpa = [], 0x100000
    areas = {0: draw(st.sampled_from([PAGE, 3 * PAGE]))}
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["page", "page", "page", "insert", "vmsa"]))
        if kind == "page":
            flags = draw(st.sampled_from([0, 0, 2, 4, 1, 3]))
            data_type = draw(st.sampled_from([0, 0, 0, 1, 2, 3])) if not flags & 2 else 0
            size = 0x200000 if flags & 1 else PAGE
            gpa = (gpa + size - 1) // size * size
            data = None
            if data_type == 0 and not flags & 2 and draw(st.booleans()) and size == PAGE:
                data = draw(st.binary(min_size=1, max_size=64)).ljust(PAGE, b"\x5A")
            items.append(("page", gpa, data, flags, data_type))
            gpa += size
        elif kind == "insert":
            items.append(("insert", gpa, 0))
            gpa += areas[0]
        else:
            page = draw(st.one_of(st.none(), st.binary(min_size=8, max_size=8).map(
                lambda b: b * 512)))
            items.append(("vmsa", draw(st.sampled_from([VMSA_GPA, gpa])), page))
            gpa += PAGE
    return items, areas


@settings(max_examples=60, deadline=None, derandomize=True)
@given(directive_lists(), st.sampled_from(["igvmmeasure", "microsoft"]), st.booleans(),
       st.sampled_from([b"\x00", b"0"]), st.sampled_from([1, 2]))
def test_written_files_measure_as_the_model_says(tmp_path_factory, spec, loader, native_zero,
                                                 padding, version):
    directives, areas = spec
    path = write(directives, areas, tmp_path_factory.mktemp("igvm"), padding=padding,
                 version=version)
    got = measure_igvm(path, IgvmOptions(loader=loader, native_zero=native_zero))
    assert got.digest == model_digest(directives, loader, native_zero, areas)
    assert explain_igvm(path, IgvmOptions(loader=loader, native_zero=native_zero)) \
        .steps[-1].digest == got.digest


def test_sev_es_platform_hashes_page_data_and_vmsas(tmp_path):
    data, vmsa = b"\x11" * PAGE, b"\x22" * PAGE
    writer = (IgvmWriter().platform(1, L.Platform.SEV_ES).page_data(0x1000, data, 1)
              .page_data(0x2000, None, 1).page_data(0x3000, data, 1, flags=2)
              .vp_context(VMSA_GPA, vmsa, 1))
    path = tmp_path / "es.igvm"
    path.write_bytes(writer.build())
    expected = hashlib.sha256(data + data + vmsa).digest()  # empty pages add nothing
    assert measure_igvm(path, IgvmOptions(platform="sev-es")).digest == expected
    with pytest.raises(UnsupportedError, match="no SEV_SNP platform"):
        measure_igvm(path)


def test_check_kvm_applies_qemus_refusals_to_other_loaders(tmp_path):
    """--check-kvm refuses exactly what QEMU/KVM refuses (the cases of test_igvm_qemu.py); what
    igvmmeasure's old check refused but QEMU accepts (DebugSwap, a second VMSA for vCPU 0, a
    VMSA before page data, CR0 without NE, no VMSA at all) now measures."""
    from snpmeasure.launch.vmsa import build_vmsa
    from snpmeasure.errors import HostRuleError

    good = build_vmsa({"cr0": 0x31, "sev_features": 1, "xcr0": 1})
    accepted = [
        [("page", 0x1000, None, 0, 0), ("vmsa", VMSA_GPA, good)],
        [("vmsa", VMSA_GPA, build_vmsa({"cr0": 0x11, "sev_features": 0x21, "xcr0": 1}))],
        [("vmsa", VMSA_GPA, good), ("vmsa", VMSA_GPA, good)],
        [("vmsa", VMSA_GPA, good), ("page", 0x1000, None, 0, 0)],
        [("page", 0x1000, None, 0, 0)],
    ]
    for index, directives in enumerate(accepted):
        path = write(directives, {}, tmp_path, f"a{index}")
        checked = measure_igvm(path, IgvmOptions(check_kvm=True, vcpus=1, vcpu_sig=0xA00F11))
        assert checked.digest == measure_igvm(path).digest  # the check changes no digest
    refused = [([("vmsa", 0x5000, good)], "not KVM's"),
               ([("vmsa", VMSA_GPA, build_vmsa({"sev_features": 1}))], "XCR0")]
    for index, (directives, words) in enumerate(refused):
        path = write(directives, {}, tmp_path, f"k{index}")
        with pytest.raises(HostRuleError, match=words):
            measure_igvm(path, IgvmOptions(check_kvm=True))
        measure_igvm(path)  # without the check the file measures


# -- corrupt files: each refused with its own error -----------------------------------------

def _base_file():
    return bytearray(IgvmWriter().platform().guest_policy().parameter_area(0, PAGE)
                     .page_data(0x1000, b"\x01" * PAGE).parameter_insert(0x2000, 0)
                     .vp_context(VMSA_GPA, bytes(PAGE)).build())


def _refix_crc(image: bytearray) -> bytearray:
    start = int.from_bytes(image[8:12], "little")
    size = int.from_bytes(image[12:16], "little")
    head = bytes(image[:20]) + bytes(4)
    crc = zlib.crc32(bytes(image[start:start + size]), zlib.crc32(head)) & 0xFFFFFFFF
    image[20:24] = crc.to_bytes(4, "little")
    return image


def _header_offset(image, kind):
    start = int.from_bytes(image[8:12], "little")
    cursor = start
    while True:
        t, length = int.from_bytes(image[cursor:cursor + 4], "little"), \
            int.from_bytes(image[cursor + 4:cursor + 8], "little")
        if t == kind:
            return cursor
        cursor += 8 + length + (-(8 + length) % 8)


def _set(image, at, value, width=4):
    image[at:at + width] = value.to_bytes(width, "little")
    return image


def corrupt(name):
    image = _base_file()
    if name == "magic":
        return _set(image, 0, 0x12345678), "magic"
    if name == "version":
        return _refix_crc(_set(image, 4, 9)), "format version"
    if name == "crc":
        at = _header_offset(image, L.HeaderType.PAGE_DATA) + 8
        image[at] ^= 1
        return image, "checksum"
    if name == "total size":
        return _refix_crc(image + bytearray(8)), "total file size"
    if name == "truncated":
        return image[:-100], "total file size"
    if name == "section outside file":
        return _set(image, 12, 0x7FFFFFF0), "variable header section"
    if name == "misaligned section":
        return _refix_crc(_set(image, 12, int.from_bytes(image[12:16], "little") - 4)), \
            "variable header section"
    if name == "header length":
        at = _header_offset(image, L.HeaderType.VP_CONTEXT)
        return _refix_crc(_set(image, at + 4, 0xFFFF)), "length"
    if name == "short payload":
        at = _header_offset(image, L.HeaderType.GUEST_POLICY)
        return _refix_crc(_set(image, at + 4, 4)), "GUEST_POLICY) length"
    if name == "unknown required":
        at = _header_offset(image, L.HeaderType.GUEST_POLICY)
        return _refix_crc(_set(image, at, 0x1FF)), "unknown required header type"
    if name == "order":
        at = _header_offset(image, L.HeaderType.SUPPORTED_PLATFORM)
        at2 = _header_offset(image, L.HeaderType.GUEST_POLICY)
        a, b = bytes(image[at:at + 24]), bytes(image[at2:at2 + 24])
        image[at:at + 24], image[at2:at2 + 24] = b, a
        return _refix_crc(image), "appears after"
    if name == "page offset":
        at = _header_offset(image, L.HeaderType.PAGE_DATA)
        return _refix_crc(_set(image, at + 8 + 12, len(image) - 10)), "file offset"
    if name == "page gpa":
        at = _header_offset(image, L.HeaderType.PAGE_DATA)
        return _refix_crc(_set(image, at + 8, 0x1800, 8)), "gpa"
    if name == "page flags":
        at = _header_offset(image, L.HeaderType.PAGE_DATA)
        return _refix_crc(_set(image, at + 8 + 16, 0x80)), "flags"
    if name == "vmsa offset":
        at = _header_offset(image, L.HeaderType.VP_CONTEXT)
        return _refix_crc(_set(image, at + 8 + 12, len(image) - 8)), "file offset"
    if name == "insert area":
        at = _header_offset(image, L.HeaderType.PARAMETER_INSERT)
        return _refix_crc(_set(image, at + 8 + 12, 7)), "not declared"
    if name == "area size":
        at = _header_offset(image, L.HeaderType.PARAMETER_AREA)
        return _refix_crc(_set(image, at + 8, 0x123, 8)), "size"
    raise AssertionError(name)


CORRUPTIONS = ["magic", "version", "crc", "total size", "truncated", "section outside file",
               "misaligned section", "header length", "short payload", "unknown required",
               "order", "page offset", "page gpa", "page flags", "vmsa offset", "insert area",
               "area size"]


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corrupt_files_are_refused_with_their_own_error(tmp_path, capsys, name):
    image, words = corrupt(name)
    path = tmp_path / "bad.igvm"
    path.write_bytes(bytes(image))
    with pytest.raises(FormatError) as info:
        measure_igvm(path)
    assert words in str(info.value), str(info.value)
    assert main(["igvm", str(path)]) == 4
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1


def test_ignorable_unknown_header_is_skipped(tmp_path):
    base = IgvmWriter().platform().page_data(0x1000, b"\x01" * PAGE)
    plain = tmp_path / "plain.igvm"
    plain.write_bytes(base.build())
    extra = tmp_path / "extra.igvm"
    extra.write_bytes(base.raw_header(0x80000333, b"\x00" * 12).build())
    assert measure_igvm(extra).digest == measure_igvm(plain).digest


def test_missing_and_small_files(tmp_path):
    with pytest.raises(InputError):
        measure_igvm(tmp_path / "nope.igvm")
    small = tmp_path / "small.igvm"
    small.write_bytes(b"IGVM")
    with pytest.raises(FormatError, match="too small"):
        measure_igvm(small)


# -- ID blocks --------------------------------------------------------------------------------

def _signed_id_block(digest, policy, author=True, tamper=None):
    from snpmeasure.attestation.idblock import IdBlock, sign_id_block
    from snpmeasure.formats.keys import load_private_key

    id_key = load_private_key(DATA / "keys" / "id_key_test.pem")
    author_key = load_private_key(DATA / "keys" / "author_key_test.pem") if author else None
    signed = sign_id_block(IdBlock(launch_digest=digest, guest_svn=4, policy=policy), id_key,
                           author_key)
    auth = signed.id_auth
    sig = lambda raw: {"r_comp": raw[:72], "s_comp": raw[72:144]}  # noqa: E731
    key = lambda raw: {"curve": int.from_bytes(raw[:4], "little"), "reserved": 0,  # noqa: E731
                       "qx": raw[4:76], "qy": raw[76:148]}
    values = {"compatibility_mask": 1, "author_key_enabled": int(author), "reserved": bytes(3),
              "ld": digest, "family_id": bytes(16), "image_id": bytes(16), "version": 1,
              "guest_svn": 4, "id_key_algorithm": 1, "author_key_algorithm": int(author),
              "id_key_signature": sig(auth[0x40:0x240]), "id_public_key": key(auth[0x240:0x644]),
              "author_key_signature": sig(auth[0x680:0x880]),
              "author_public_key": key(auth[0x880:0xC84])}
    if tamper:
        tamper(values)
    return values


def _with_id_block(tmp_path, values, name):
    writer = (IgvmWriter().platform().guest_policy(0x30000).page_data(0x1000, b"\x07" * PAGE)
              .vp_context(VMSA_GPA, bytes(PAGE)).snp_id_block(values))
    path = tmp_path / name
    path.write_bytes(writer.build())
    return path


def test_id_block_checks(tmp_path, capsys):
    plain = tmp_path / "plain.igvm"
    plain.write_bytes(IgvmWriter().platform().guest_policy(0x30000)
                      .page_data(0x1000, b"\x07" * PAGE).vp_context(VMSA_GPA, bytes(PAGE))
                      .build())
    digest = measure_igvm(plain).digest
    for author in (True, False):
        good = _with_id_block(tmp_path, _signed_id_block(digest, 0x30000, author), "good.igvm")
        result, block = measure_and_check(good, IgvmOptions())
        assert result.digest == digest and block.matches
        assert block.signature_ok, block.signature_error
        assert main(["igvm", str(good), "--output-format", "json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["id_block"]["author_key_enabled"] is author
    wrong_ld = _with_id_block(tmp_path, _signed_id_block(bytes(48), 0x30000), "ld.igvm")
    assert main(["igvm", str(wrong_ld)]) == 6
    assert "differs" in capsys.readouterr().err
    assert main(["igvm", str(wrong_ld), "--ignore-id-block"]) == 0
    out, err = capsys.readouterr()
    assert out == digest.hex() + "\n" and "warning" in err
    # signed for a different policy than the file's GUEST_POLICY: the signature fails
    other_policy = _with_id_block(tmp_path, _signed_id_block(digest, 0x30000 | 1 << 19), "p")
    assert main(["igvm", str(other_policy)]) == 6
    assert "does not verify" in capsys.readouterr().err

    def flip(values):
        values["author_key_signature"]["r_comp"] = bytes(72)
    bad_author = _with_id_block(tmp_path, _signed_id_block(digest, 0x30000, tamper=flip), "a")
    assert main(["igvm", str(bad_author)]) == 6
    assert "ID key signature" in capsys.readouterr().err


def test_large_file_memory_is_bounded_by_one_directive(tmp_path):
    """A 96 MiB IGVM (24576 data pages) measures with a small, size-independent peak."""
    pages = 24576
    writer = IgvmWriter().platform()
    marker = b"\x00" * PAGE
    for index in range(pages):
        writer.page_data(0x100000 + index * PAGE, marker)
    image = writer.build()
    path = tmp_path / "big.igvm"
    path.write_bytes(image)
    del image, writer
    tracemalloc.start()
    try:
        result = measure_igvm(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 96 << 20
    assert peak < 12 << 20, peak
    assert result.pages == pages


def test_igvm_cli_errors(capsys, tmp_path):
    assert main(["igvm", str(SAMPLE), "--loader", "qemu"]) == 2
    assert main(["igvm", str(SAMPLE), "--platform", "tdx"]) == 2
    assert main(["igvm", str(SAMPLE), "--output-format", "xml"]) == 2
    assert main(["igvm", str(tmp_path / "missing.igvm")]) == 3
    assert main(["explain", "--igvm", str(SAMPLE), "--mode", "snp"]) == 2
    capsys.readouterr()
    assert main(["igvm", str(SAMPLE), "--output-format", "base64", "-v"]) == 0
    assert capsys.readouterr().out.startswith("Calculated SNP IGVM measurement: Lo+YJL0BDn")
