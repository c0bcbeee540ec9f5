"""'-' is standard input for any option or argument that reads a file, and behaves as that file
would; one input per command may use it; '-o -' is standard output (issue 17)."""
from __future__ import annotations

import io
import json
import sys

import pytest
from conftest import DATA, SAMPLES

from snpmeasure.cli.main import main

OVMF = SAMPLES / "OVMF.amdsev.fd"
IGVM = DATA / "igvm" / "linux_x64_vtl0.igvm"
KEY = DATA / "keys" / "id_key_test.pem"
LAUNCH = ["--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Genoa"]


def feed(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def run(capsys, args) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture
def kernel(tmp_path):
    path = tmp_path / "vmlinuz"
    data = bytearray(b"k" * 300_000)
    data[0x202:0x206] = b"HdrS"  # a bzImage header, so the host check passes
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("case", ["ovmf", "kernel", "initrd", "key-digest", "igvm", "inspect",
                                  "report", "manifest-key"])
def test_dash_reads_standard_input_as_the_file_would_be_read(case, capsys, monkeypatch,
                                                             kernel, tmp_path):
    boot = ["--ovmf", str(OVMF), "--kernel", str(kernel), "--initrd", str(kernel)]
    cases = {  # (arguments with a path, the same with '-', the file fed to standard input)
        "ovmf": (["measure", *LAUNCH, "--ovmf", str(OVMF)],
                 ["measure", *LAUNCH, "--ovmf", "-"], OVMF),
        "kernel": (["measure", *LAUNCH, *boot],
                   ["measure", *LAUNCH, *boot[:2], "--kernel", "-", *boot[4:]], kernel),
        "initrd": (["measure", *LAUNCH, *boot], ["measure", *LAUNCH, *boot[:4], "--initrd", "-"],
                   kernel),
        "key-digest": (["key-digest", str(KEY)], ["key-digest", "-"], KEY),
        "igvm": (["igvm", str(IGVM)], ["igvm", "-"], IGVM),
        "inspect": (["inspect", str(IGVM), "--json"], ["inspect", "-", "--json"], IGVM),
        "report": (["report", "show", str(DATA / "reports" / "report_milan.hex")],
                   ["report", "show", "-"], DATA / "reports" / "report_milan.hex"),
        "manifest-key": (None, None, None),
    }
    if case == "manifest-key":  # a signed manifest checked with a key read from stdin
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP384R1())
        (tmp_path / "k.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        (tmp_path / "k.pub").write_bytes(public)
        run(capsys, ["manifest", "--ovmf", str(OVMF), *LAUNCH, "--sign", str(tmp_path / "k.pem"),
                     "-o", str(tmp_path / "m.json")])
        export = ["export", "--format", "rvps", "--manifest", str(tmp_path / "m.json")]
        expected = run(capsys, export + ["--manifest-key", str(tmp_path / "k.pub")])
        feed(monkeypatch, public)
        assert run(capsys, export + ["--manifest-key", "-"]) == expected
        return
    with_path, with_dash, source = cases[case]
    expected = run(capsys, with_path)
    feed(monkeypatch, source.read_bytes())
    got = run(capsys, with_dash)
    if case == "inspect":  # the path is part of the description
        expected, got = json.loads(expected), json.loads(got)
        assert got.pop("path") == "-" and expected.pop("path") == str(IGVM)
    assert got == expected


def test_manifest_of_a_firmware_from_standard_input_records_it(capsys, monkeypatch):
    path_doc = json.loads(run(capsys, ["manifest", "--ovmf", str(OVMF), *LAUNCH]))
    feed(monkeypatch, OVMF.read_bytes())
    dash_doc = json.loads(run(capsys, ["manifest", "--ovmf", "-", *LAUNCH]))
    assert dash_doc["inputs"]["ovmf"] == {**path_doc["inputs"]["ovmf"], "name": "-"}
    assert dash_doc["measurements"] == path_doc["measurements"]


def test_explain_compare_reads_standard_input_once_for_both_launches(capsys, monkeypatch):
    args = ["explain", *LAUNCH, "--compare", "--vcpus 3"]
    expected = run(capsys, args + ["--ovmf", str(OVMF)])
    feed(monkeypatch, OVMF.read_bytes())
    assert run(capsys, args + ["--ovmf", "-"]) == expected
    assert "VMSA of vCPU 2" in expected


@pytest.mark.parametrize("args,names", [
    (["measure", *LAUNCH, "--ovmf", "-", "--kernel", "-"], "--ovmf and --kernel"),
    (["explain", *LAUNCH, "--ovmf", "-", "--compare", f"--ovmf {OVMF} --kernel -"],
     "--kernel and --ovmf"),
    (["report", "verify", "-", "--vcek", "-"], "FILE and --vcek"),
    (["export", "--format", "rvps", "--manifest", "-", "--manifest", "-"],
     "--manifest and --manifest"),
], ids=["measure", "explain-compare", "report-verify", "repeated"])
def test_two_inputs_cannot_share_standard_input(args, names, capsys, monkeypatch):
    feed(monkeypatch, OVMF.read_bytes())
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"standard input ('-') can be read by one input only; {names} both name it" in err


def test_dash_output_is_standard_output_and_only_for_o(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = run(capsys, ["manifest", "--ovmf", str(OVMF), *LAUNCH])
    assert run(capsys, ["manifest", "--ovmf", str(OVMF), *LAUNCH, "-o", "-"]) == plain
    assert list(tmp_path.iterdir()) == []  # no file named '-'
    assert main(["id-block", "--measurement", "00" * 48, "--id-key", str(KEY),
                 "--id-block-out", "-", "--id-auth-out", "a.bin"]) == 2
    assert "--id-block-out -: only -o writes to standard output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_each_run_reads_its_own_standard_input(capsys, monkeypatch, tmp_path):
    other = tmp_path / "other.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other.write_bytes(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    digests = []
    for path in (KEY, other):
        feed(monkeypatch, path.read_bytes())
        digests.append(run(capsys, ["key-digest", "-"]))
    assert digests == [run(capsys, ["key-digest", str(KEY)]),
                       run(capsys, ["key-digest", str(other)])]
    assert digests[0] != digests[1]


def test_standard_input_over_its_limit_is_refused(capsys, monkeypatch):
    import snpmeasure.files as files

    monkeypatch.setattr(files, "MAX_STDIN", 1 << 20)
    feed(monkeypatch, b"k" * ((1 << 20) + 1))
    assert main(["measure", *LAUNCH, "--ovmf", str(OVMF), "--kernel", "-"]) == 4
    out, err = capsys.readouterr()
    assert out == "" and "more than the 1048576-byte limit for standard input" in err


@pytest.mark.parametrize("args,data,shown", [
    (["report", "show", "-"], b"", "standard input: size: the file is empty"),
    (["inspect", "-"], b"abc\n", "standard input: size: 4 bytes is not a multiple"),
])
def test_errors_name_standard_input_in_words(args, data, shown, capsys, monkeypatch):
    feed(monkeypatch, data)
    assert main(args) == 4
    out, err = capsys.readouterr()
    assert out == "" and err == f"snpmeasure: error: {shown}" + err.split(shown, 1)[1]
    assert "-:" not in err


def test_a_named_pipe_is_read_once_and_measured_whole(tmp_path, capsys):
    """A FIFO (mkfifo, or the shell's <(...)) can be read once: it is copied on first use, so
    the manifest's input record and the inspect hash are the file's, and a second reader of the
    same name does not wait for a writer that is gone."""
    import hashlib
    import json
    import os
    import threading

    data = OVMF.read_bytes()
    fifo = tmp_path / "firmware.fifo"

    def feed_fifo():
        os.mkfifo(fifo) if not fifo.exists() else None
        writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)
        writer.start()
        return writer

    def run_bounded(args):  # a reader that opened the FIFO twice would wait forever
        codes = []
        runner = threading.Thread(target=lambda: codes.append(main(args)), daemon=True)
        runner.start()
        runner.join(60)
        assert codes == [0], "the run did not finish: the pipe was opened again"

    writer = feed_fifo()
    run_bounded(["manifest", *LAUNCH, "--ovmf", str(fifo)])
    writer.join(10)
    record = json.loads(capsys.readouterr().out)["inputs"]["ovmf"]
    assert (record["size"], record["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    writer = feed_fifo()
    run_bounded(["inspect", str(fifo), "--json"])
    writer.join(10)
    shown = json.loads(capsys.readouterr().out)
    assert (shown["size"], shown["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
