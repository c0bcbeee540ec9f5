"""measure's two parsers (typer, and the typer-free fast path) agree on every command line.

Both read the same declarations (``cli.options``); these tests run each command line through
both and compare exit code, stdout, stderr and the files written.
"""
from __future__ import annotations

import os

import pytest
from conftest import DATA, SAMPLES

from snpmeasure.cli.main import main
from snpmeasure.cli.options import MEASURE
from snpmeasure.cli.spec import parse_plain

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
SUFFIX = str(DATA / "ovmf_AmdSev_suffix.bin")
SVSM = str(DATA / "svsm.bin")
SVSM_OVMF = str(DATA / "svsm_ovmf.fd")
SNP = ["--mode", "snp", "--ovmf", OVMF]
NO_CHECKS = ["--no-host-checks"]  # a 4 KiB firmware excerpt or a non-bzImage kernel

VALID = [
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC-Milan"],
    SNP + ["--vcpus", "3", "--vcpu-sig", "0xa00f11", "-v", "--output-format", "base64"],
    SNP + ["--vcpus", "1", "--vcpu-family", "25", "--vcpu-model", "17", "--vcpu-stepping", "0",
           "--verbose"],
    SNP + ["--vcpus", "2", "--vmm-type", "ec2"],
    SNP + ["--vcpus", "2", "--vmm-type", "GCE", "--guest-features", "0x21"],
    SNP + ["--vcpus", "2", "--vcpu-type", "epyc", "--legacy-vm-type"] + NO_CHECKS,
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--no-legacy-vm-type", "--legacy-vm-type",
           "--no-host-checks"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--kernel", SUFFIX, "--initrd", SUFFIX,
           "--append", "console=ttyS0 a=b", "--no-host-checks"],
    ["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--ovmf", OVMF,
     "--no-legacy-vm-type", "--qemu-version", "9.1"],
    SNP + ["--vcpus", "2", "--vcpu-sig", "0xa10f11", "--vmm-type", "gce", "--debug-swap"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC-Turin", "--secure-tsc", "--qemu-version",
           "10.1.3"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vmsa-dir", "out", "--force"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--dump-vmsa"],
    ["--mode", "snp:ovmf-hash", "--ovmf", OVMF],
    ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", SUFFIX, "--no-host-checks",
     "--snp-ovmf-hash", "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c"
                        "374c2a55c467a50da6d466b74"],
    ["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-Rome", "--ovmf", OVMF],
    ["--mode", "sev", "--ovmf", OVMF, "--kernel", SUFFIX, "--no-host-checks"],
    ["--mode", "snp:svsm", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf", SVSM_OVMF, "--svsm", SVSM,
     "--vars-size", "540672"],
    ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-sig", "1", "--ovmf", SVSM_OVMF, "--svsm", SVSM,
     "--vars-file", SVSM],
    # = joined, repeated (the last wins), options in any order
    ["--mode=snp", f"--ovmf={OVMF}", "--vcpus=4", "--vcpu-type=EPYC", "--vcpus=2"],
    ["--append=a=b", "--kernel", SUFFIX, "--vcpus", "1", "--vcpu-type", "EPYC"] + SNP
    + NO_CHECKS,
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vcpu-type", "EPYC-Genoa"],
]

ODD = [
    SNP + ["--vcpus", "\u0664", "--vcpu-type", "EPYC"],             # Arabic-Indic digit four
    SNP + ["--vcpus", "\uff12", "--vcpu-type", "EPYC"],             # fullwidth digit two
    SNP + ["--vcpus", "2", "--vcpu-sig", "\u0660xa00f11"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--guest-features", "0x2_1"],
    SNP + ["--vcpus", "", "--vcpu-type", "EPYC"],
    SNP + ["--vcpus", "2", "--vcpu-type", ""],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vmm-type", ""],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vmsa-dir", ""],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vmsa-dir="],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--output-format", ""],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--guest-features", ""],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--append", ""],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--kernel", ""],
    ["--mode", "", "--ovmf", SUFFIX, "--vcpus", "1"],
    ["--mode", "snp", "--ovmf", "", "--vcpus", "1"],
    SNP + ["--vcpus", " 2 ", "--vcpu-type", " EPYC "],
    SNP + ["--vcpus", "-1", "--vcpu-type", "EPYC"],
    SNP + ["--vcpus", "0x2", "--vcpu-type", "EPYC"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vars-size", "4096"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--snp-ovmf-hash", "zz"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--vcpu-sig", "0x1"],
    # what the fast path leaves to typer: usage errors, help, unknown options, extra words
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--dump-vmsa=yes"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--legacy-vm-type=on"],
    SNP + ["--vcpus", "2", "--vcpu-type"],
    SNP + ["--vcpus", "2", "--vcpu-typ", "EPYC"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "extra"],
    SNP + ["--vcpus", "2", "--vcpu-type", "EPYC", "--", "--force"],
    SNP + ["--vcpus", "2", "-vv"],
    ["--ovmf", SUFFIX, "--vcpus", "2"],
    ["--mode", "snp", "--vcpus", "2"],
    SNP + ["--vcpus", "2", "--vcpu-type", "--help"],                # --help is the value
    SNP + ["--help"],
    [],
]


def _run(argv, fast, directory, capsys, monkeypatch):
    directory.mkdir()
    (directory / "out").mkdir()
    monkeypatch.chdir(directory)
    code = main(["measure", *argv], fast=fast)
    out, err = capsys.readouterr()
    files = {name: (directory / "out" / name).read_bytes()
             for name in sorted(os.listdir(directory / "out"))}
    files.update({name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))
                  if name != "out"})
    return code, out, err, files


@pytest.mark.parametrize("argv", VALID + ODD, ids=lambda a: " ".join(a)[-60:] or "none")
def test_both_parsers_agree(argv, tmp_path, capsys, monkeypatch):
    fast = _run(argv, True, tmp_path / "fast", capsys, monkeypatch)
    typer_path = _run(argv, False, tmp_path / "typer", capsys, monkeypatch)
    assert fast == typer_path


@pytest.mark.parametrize("argv", VALID, ids=lambda a: " ".join(a)[-60:])
def test_valid_command_lines_take_the_fast_path_and_succeed(argv, tmp_path, capsys,
                                                            monkeypatch):
    assert parse_plain(MEASURE, argv) is not None
    code, out, err, _ = _run(argv, True, tmp_path / "run", capsys, monkeypatch)
    assert code == 0 and out.strip() and "error" not in err


def test_odd_values_are_refused_with_one_line(tmp_path, capsys, monkeypatch):
    """Non-ASCII digits, underscores and empty values are errors, not silently converted."""
    for index, argv in enumerate(ODD[:15]):
        code, out, err, _ = _run(argv, True, tmp_path / str(index), capsys, monkeypatch)
        assert code in (2, 3), (argv, err)
        assert out == "" and err.startswith("snpmeasure: error: ") and err.count("\n") == 1, \
            (argv, err)


def test_the_fast_parser_knows_exactly_the_typer_options():
    import typer

    from snpmeasure.cli.app import app

    command = typer.main.get_command(app).commands["measure"]
    declared = set()
    for param in command.params:
        declared.update(param.opts)
        declared.update(getattr(param, "secondary_opts", []) or [])
    declared -= {"--help", "-h", "--version"}
    names = {name for opt in MEASURE.options if opt.kind != "version" for name in opt.names}
    assert declared == names
