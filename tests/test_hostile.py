"""Hostile input: fuzz properties for every parser (bounded for CI), resource limits, output
safety, and the exit-code table."""
from __future__ import annotations

import os
import re
import sys
import time
import tracemalloc

import pytest
from conftest import DATA, ROOT, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(ROOT / "fuzz"))
from targets import TARGETS  # noqa: E402

from snpmeasure.cli.main import main  # noqa: E402

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SAMPLES_BY_TARGET = {
    "firmware": [DATA / "ovmf_AmdSev_suffix.bin", DATA / "ovmf_OvmfX64_suffix.bin"],
    "svsm": [],
    "igvm": [DATA / "igvm" / "linux_x64_vtl0.igvm"],
    "report": [DATA / "reports" / "report_milan.hex"],
    "keys": [DATA / "keys" / "id_key_test.pem", DATA / "reports" / "vcek_milan.der",
             DATA / "reports" / "ark_ask_milan.pem"],
    "cert_table": [],
    "inputs": [],
    "dsse": [],
    "corim": [],
    "configfs": [],
}


def _sample_bytes(name: str) -> list[bytes]:
    out = [path.read_bytes() for path in SAMPLES_BY_TARGET[name]]
    if name == "svsm":
        out.append((DATA / "svsm.bin").read_bytes()[-8192:])
    if name == "igvm":
        from snpmeasure.formats.igvm_writer import IgvmWriter
        out.append(IgvmWriter().platform().guest_policy().parameter_area(0, 4096)
                   .page_data(0x1000, b"\x01" * 4096).parameter_insert(0x2000, 0)
                   .vp_context(0xFFFFFFFFF000, bytes(4096)).build())
    if name == "inputs":
        out += [b"1-64,128", b"EPYC-Milan,EPYC-Genoa", b'{"measurements": []}']
    if name in ("dsse", "corim", "configfs"):
        from seed import publishing_samples
        out += list(publishing_samples()[name].values())
    if name == "cert_table":
        from snpmeasure.formats.cert_table import ARK_GUID, ASK_GUID, VCEK_GUID, build_cert_table
        chain = (DATA / "reports" / "ark_ask_milan.pem").read_bytes()
        out.append(build_cert_table([(VCEK_GUID, (DATA / "reports" / "vcek_milan.der")
                                      .read_bytes()), (ASK_GUID, chain), (ARK_GUID, chain)]))
    return out


def mutations(name: str):
    """Arbitrary bytes, and real samples with bytes overwritten, inserted or cut."""
    samples = _sample_bytes(name)

    @st.composite
    def mutate(draw):
        data = bytearray(draw(st.sampled_from(samples)))
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["flip", "write", "cut", "insert"]))
            at = draw(st.integers(0, max(0, len(data) - 1)))
            if kind == "flip" and data:
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "write":
                patch = draw(st.binary(min_size=1, max_size=8))
                data[at:at + len(patch)] = patch
            elif kind == "cut":
                del data[at:at + draw(st.integers(1, 64))]
            else:
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
        return bytes(data)

    strategies = [st.binary(max_size=4096)]
    if samples:
        strategies.append(mutate())
    return st.one_of(*strategies)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parsers_raise_only_our_errors(name):
    @FUZZ
    @given(mutations(name))
    def check(data):
        TARGETS[name](data)  # anything but SnpMeasureError propagates and fails the test

    check()


def test_fuzz_regressions():
    """Every input a long fuzzing run ever found, kept as a regression test."""
    directory = DATA / "fuzz-regressions"
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "README.md")
    for path in files:
        TARGETS[path.parent.name](path.read_bytes())


# -- resource limits --------------------------------------------------------------------------

def _sparse(path, size):
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


@pytest.mark.parametrize("args,size,code", [
    (["measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf"], 300 << 20, 4),
    (["report", "show"], 64 << 20, 4),
    (["key-digest"], 64 << 20, 4),
    (["inspect"], 300 << 20, 4),
])
def test_huge_files_are_refused_before_reading(tmp_path, capsys, args, size, code):
    path = _sparse(tmp_path / "huge", size)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        assert main(args + [str(path)]) == code
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 30  # a generous bound: these fail at once
    assert peak < 16 << 20
    out, err = capsys.readouterr()
    assert out == "" and "limit" in err and err.count("\n") == 1


def test_igvm_claiming_too_many_pages_is_refused_early(tmp_path, capsys):
    from snpmeasure.formats.igvm_writer import IgvmWriter
    writer = IgvmWriter().platform()
    for index in range(2050):  # 2050 empty 2 MiB pages claim 1,049,600 page updates
        writer.page_data(index * 0x200000, None, flags=1)
    path = tmp_path / "claims.igvm"
    path.write_bytes(writer.build())
    start = time.perf_counter()
    assert main(["igvm", str(path)]) == 5
    assert time.perf_counter() - start < 30
    assert "limit" in capsys.readouterr().err


def test_firmware_claiming_huge_tables_is_refused(tmp_path):
    from builders import FirmwareSpec, metadata_bytes
    from snpmeasure.errors import FormatError
    from snpmeasure.formats.firmware import parse_firmware
    huge = metadata_bytes([(0x800000, 4096, 1)], count=0xFFFFFFFF)
    with pytest.raises(FormatError):
        parse_firmware(FirmwareSpec(metadata=huge).build())


def test_matrix_limits(capsys):
    ovmf = str(SAMPLES / "OVMF.amdsev.fd")
    assert main(["manifest", "--mode", "snp", "--ovmf", ovmf, "--vcpus", "1-4096",
                 "--vcpu-type", "all", "--guest-features", "0-100"]) == 2
    assert "limit" in capsys.readouterr().err
    assert main(["find", "--ovmf", ovmf, "--measurement", "00" * 48, "--max-vcpus",
                 "4096", "--no-host-checks"]) == 2
    assert "limit" in capsys.readouterr().err


# -- output safety ------------------------------------------------------------------------------

MEASURE = ["measure", "--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf",
           str(SAMPLES / "OVMF.amdsev.fd")]


def test_existing_outputs_are_not_overwritten_without_force(tmp_path, capsys):
    target = tmp_path / "out"
    target.mkdir()
    (target / "vmsa1.bin").write_bytes(b"keep me")
    assert main(MEASURE + ["--vmsa-dir", str(target)]) == 7
    out, err = capsys.readouterr()
    assert out == "" and "--force" in err
    assert (target / "vmsa1.bin").read_bytes() == b"keep me"
    assert sorted(p.name for p in target.iterdir()) == ["vmsa1.bin"]  # nothing half-written
    assert main(MEASURE + ["--vmsa-dir", str(target), "--force"]) == 0
    assert len((target / "vmsa1.bin").read_bytes()) == 4096
    manifest = tmp_path / "m.json"
    manifest.write_text("old")
    args = ["manifest", "--mode", "sev", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"), "-o",
            str(manifest)]
    capsys.readouterr()
    assert main(args) == 7 and manifest.read_text() == "old"
    assert main(args + ["--force"]) == 0 and manifest.read_text().startswith("{")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_symlinked_targets_are_refused_even_with_force(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "m.json"
    link.symlink_to(victim)
    args = ["manifest", "--mode", "sev", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"), "-o",
            str(link), "--force"]
    assert main(args) == 7
    assert "symbolic link" in capsys.readouterr().err and victim.read_text() == "precious"


def test_id_block_outputs_are_all_or_nothing(tmp_path, capsys):
    block = tmp_path / "id_block.bin"
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir()  # a directory where a file should go: the second output fails
    args = ["id-block", "--measurement", "00" * 48, "--id-key",
            str(DATA / "keys" / "id_key_test.pem"), "--id-block-out", str(block),
            "--id-auth-out", str(auth_dir)]
    assert main(args) == 7
    assert not block.exists() and capsys.readouterr().out == ""


def test_atomic_write_leaves_old_or_new(tmp_path, monkeypatch):
    from snpmeasure import files as output
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def fail_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", fail_replace)
    with pytest.raises(OSError):
        output.write_atomic(target, b"new", force=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


# -- the exit-code table -------------------------------------------------------------------------

def readme_exit_codes() -> dict:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Exit codes"):]
    codes = {}
    for m in re.finditer(r"^\| ([\d, ]+) \| (.+?) \|$", table, re.M):
        for code in m.group(1).split(","):
            codes[int(code)] = m.group(2)
    return codes


EVERY_COMMAND_FAILS = [
    # (command line, expected exit code)
    (["measure", "--mode", "snp", "--vcpus", "0", "--ovmf", "x"], 2),
    (["measure", "--mode", "sev", "--ovmf", "/nonexistent"], 3),
    (["measure", "--mode", "sev", "--ovmf", str(DATA / "PROVENANCE.md")], 4),
    (["measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
      str(DATA / "ovmf_OvmfX64_suffix.bin"), "--kernel", str(DATA / "PROVENANCE.md")], 5),
    (["id-block", "--measurement", "zz"], 2),
    (["id-block", "--measurement", "00" * 48, "--id-key", "/nonexistent"], 3),
    (["key-digest", str(DATA / "PROVENANCE.md")], 4),
    (["manifest", "--mode", "snp", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd")], 2),
    (["explain", "--mode", "snp", "--ovmf", str(DATA / "PROVENANCE.md"), "--vcpus", "1",
      "--vcpu-type", "EPYC"], 4),
    (["find", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"), "--measurement", "00" * 48,
      "--max-vcpus", "2"], 6),
    (["inspect", "/nonexistent"], 3),
    (["igvm", str(DATA / "PROVENANCE.md")], 4),
    (["report", "show", str(DATA / "PROVENANCE.md")], 4),
    (["report", "verify", str(DATA / "reports" / "report_milan.hex"), "--measurement",
      "00" * 48, "--vcek", str(DATA / "reports" / "vcek_milan.der")], 6),
    (["report", "verify", str(DATA / "reports" / "report_milan.hex")], 8),
    (["report", "verify", str(DATA / "reports" / "report_milan.hex"), "--vcek",
      str(DATA / "reports" / "vcek_turin.der")], 8),
    (["nonexistent-command"], 2),
]


@pytest.mark.parametrize("args,code", EVERY_COMMAND_FAILS, ids=lambda v: str(v)[:50])
def test_every_command_fails_with_a_documented_code(capsys, args, code):
    documented = readme_exit_codes()
    assert code in documented
    assert main(args) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code not in (6, 8):  # verification results print their checks on stdout
        assert out == "" and err.count("\n") == 1 and err.startswith("snpmeasure: error: ")


def test_readme_table_lists_every_error_class():
    from snpmeasure import errors
    documented = readme_exit_codes()
    for name in dir(errors):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.SnpMeasureError):
            assert cls.exit_code in documented, name
    assert set(documented) == {0, 1, 2, 3, 4, 5, 6, 7, 8, 129, 130, 143}


def test_no_traceback_and_no_secret_in_messages(tmp_path, capsys, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from snpmeasure.formats.keys import load_private_key
    key = load_private_key(DATA / "keys" / "id_key_test.pem")
    secret = "hunter2-passphrase"
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(secret.encode())))
    monkeypatch.setenv("PASS", secret[::-1])
    for args in (["key-digest", str(path), "--passphrase-env", "PASS"],
                 ["id-block", "--measurement", "00" * 48, "--id-key", str(path),
                  "--id-key-passphrase-env", "PASS"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert secret not in err and secret[::-1] not in err
        pem = (DATA / "keys" / "id_key_test.pem").read_text().splitlines()[1]
        assert pem not in err


@pytest.mark.parametrize("args", [
    ["measure", "--mode", "sev", "--ovmf", "/dev/zero"],
    ["measure", "--mode", "sev", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"), "--kernel",
     "/dev/zero"],
    ["igvm", "/dev/zero"],
    ["report", "show", "/dev/zero"],
    ["key-digest", "/dev/urandom"],
])
def test_devices_are_refused(capsys, args):
    assert main(args) == 3  # refused before reading (a read of /dev/zero would never end)
    out, err = capsys.readouterr()
    assert out == "" and ("device" in err or "regular file" in err)


def test_deeply_nested_json_is_malformed_input(tmp_path, capsys):
    """A manifest nested past the JSON decoder's recursion limit is exit 4, not a crash."""
    for name, text in (("list", "[" * 200000 + "]" * 200000),
                       ("inside", '{"manifest_version": 2, "measurements": '
                        + "[" * 100000 + "]" * 100000 + "}")):
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        for args in (["report", "verify", str(DATA / "reports" / "report_milan.hex"), "--vcek",
                      str(DATA / "reports" / "vcek_milan.der"), "--manifest", str(path)],
                     ["export", "--format", "rvps", "--manifest", str(path)],
                     ["id-block", "--manifest", str(path), "--out-dir", str(tmp_path / "o"),
                      "--id-key", str(DATA / "keys" / "id_key_test.pem")]):
            assert main(args) == 4, args
            out, err = capsys.readouterr()
            assert out == "" and "nests too deeply" in err and err.count("\n") == 1


def test_passphrase_bytes_are_never_decoded_nor_shown(tmp_path, capsys, monkeypatch):
    """A passphrase that is not UTF-8 works, and a wrong one is never echoed."""
    from cryptography.hazmat.primitives import serialization
    from snpmeasure.formats.keys import load_private_key
    key = load_private_key(DATA / "keys" / "id_key_test.pem")
    secret = b"\xff\xfe-not-utf8-\x80"
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(secret)))
    monkeypatch.setitem(os.environb, b"SNP_PASS", secret)
    assert main(["key-digest", str(path), "--passphrase-env", "SNP_PASS"]) == 0
    published = "hwt+NcU/inLQ0yL3WrKvgmJ5Kq9leWIs5BMcPyHyied8sFYKXjuQs5MuZ07HCcsU"  # vectors.json
    assert capsys.readouterr().out.strip() == __import__("base64").b64decode(published).hex()
    wrong = b"\xff\x80zq9marker"
    monkeypatch.setitem(os.environb, b"SNP_PASS", wrong)
    assert main(["key-digest", str(path), "--passphrase-env", "SNP_PASS"]) == 2
    err = capsys.readouterr().err
    for piece in ("zq9marker", "\\xff", "\\x80", "\udcff"):
        assert piece not in err
    file = tmp_path / "pass.txt"
    file.write_bytes(secret + b"\nsecond line")
    assert main(["key-digest", str(path), "--passphrase-file", str(file)]) == 0
    # passphrases OpenSSL cannot take are named for what they are, not "not encrypted"
    for content, shown in ((b"", "passphrase is empty"), (b"\nsecond", "passphrase is empty"),
                           (b"zq9marker\0pw", "holds a NUL byte")):
        file.write_bytes(content)
        assert main(["key-digest", str(path), "--passphrase-file", str(file)]) == 2
        err = capsys.readouterr().err
        assert shown in err and "not encrypted" not in err and "zq9marker" not in err
    # the passphrase given where the variable's name goes is not echoed back
    assert main(["key-digest", str(path), "--passphrase-env", os.fsdecode(wrong)]) == 2
    err = capsys.readouterr().err
    assert "not an environment variable name" in err
    for piece in ("zq9marker", "\\xff", "\\x80", "\udcff"):
        assert piece not in err


def test_file_names_are_escaped_in_text_output(tmp_path, capsys):
    """A file name with an escape sequence, a newline and a byte that is not UTF-8."""
    name = os.fsdecode(b"x\xff\x1b[31mred\nline.fd")
    path = tmp_path / name
    path.write_bytes((SAMPLES / "OVMF.amdsev.fd").read_bytes())
    for args in (["explain", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
                  str(path)],
                 ["measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
                  str(path) + "-missing"]):
        main(args)
        out, err = capsys.readouterr()
        for text in (out, err):
            assert "\x1b" not in text and "\udcff" not in text
            text.encode("utf-8")  # strict: what a strict-UTF-8 stdout would refuse
        assert "red\nline" not in out + err


def test_find_refuses_a_vcpu_count_of_zero(capsys):
    assert main(["find", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"), "--measurement", "00" * 48,
                 "--vcpus", "0,1"]) == 2
    assert "--vcpus 0" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["inspect"], ["igvm"], ["report", "show"], ["key-digest"],
                                     ["measure", "--mode", "sev", "--ovmf"]])
def test_unreadable_arguments_are_exit_3(tmp_path, capsys, monkeypatch, command):
    """Permission denied (the tests run as root, which reads everything: open is made to
    refuse the one path, as the kernel would for another user)."""
    import builtins
    import io

    path = tmp_path / "secret.bin"
    path.write_bytes(b"\x00" * 4096)
    real_open = builtins.open

    def refusing(file, *args, **kwargs):
        if os.fspath(file) == str(path) if isinstance(file, (str, os.PathLike)) else False:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    monkeypatch.setattr(io, "open", refusing)
    assert main(command + [str(path)]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "permission denied" in err and err.count("\n") == 1
