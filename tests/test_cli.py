"""The command line: output text identical to sev-snp-measure, errors as one line and exit code."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import DATA, ROOT, SAMPLES

from snpmeasure.cli.app import app
from snpmeasure.cli.main import main

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
SUFFIX = str(DATA / "ovmf_AmdSev_suffix.bin")
PEER = shutil.which("sev-snp-measure") or os.path.join(os.path.dirname(sys.executable),
                                                        "sev-snp-measure")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "snpmeasure", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def run_peer(*args, cwd=None):
    return subprocess.run([PEER, *args], capture_output=True, text=True, cwd=cwd)


# (command line, flags that select the peer's model where our default differs)
PEER_COMPATIBLE = [
    (["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-Genoa", "--ovmf", OVMF], []),
    (["--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--ovmf", OVMF, "-v"], []),
    (["--mode", "snp", "--vcpus", "2", "--vcpu-sig", "0xa00f11", "--ovmf", OVMF,
      "--output-format", "base64", "--verbose"], []),
    (["--mode", "snp", "--vcpus", "3", "--vcpu-family", "25", "--vcpu-model", "1",
      "--vcpu-stepping", "1", "--ovmf", OVMF, "--guest-features", "0x21"], []),
    # SEV-ES: the peer models legacy-vm-type=off (KVM_SEV_INIT2); QEMU's default is legacy
    (["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-Rome", "--ovmf", OVMF, "-v"],
     ["--no-legacy-vm-type"]),
    (["--mode", "sev", "--ovmf", OVMF, "--output-format", "base64", "-v"], []),
    (["--mode", "snp", "--vcpus", "1", "--vmm-type", "ec2", "--ovmf", OVMF], []),
    (["--mode", "snp", "--vcpus", "1", "--vmm-type", "gce", "--vcpu-type", "EPYC-Milan",
      "--ovmf", OVMF, "-v"], []),
    # a 4 KiB firmware excerpt (sev-snp-measure's test vectors): no -bios image QEMU loads
    (["--mode", "snp:ovmf-hash", "--ovmf", SUFFIX], ["--no-host-checks"]),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", SUFFIX,
      "--snp-ovmf-hash", "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c"
      "374c2a55c467a50da6d466b74"], ["--no-host-checks"]),
]


@pytest.mark.parametrize("args,flags", PEER_COMPATIBLE, ids=lambda a: " ".join(a[:4]))
def test_output_identical_to_peer(args, flags):
    ours, peer = run("measure", *args, *flags), run_peer(*args)
    assert peer.returncode == 0, peer.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == peer.stdout
    if "--no-host-checks" in flags:
        assert ours.stderr.startswith("snpmeasure: warning: host check 'bios-size' skipped")
    elif "0x21" in args:  # upstream QEMU asks for no SEV feature: a warning, same digest
        assert ours.stderr.startswith("snpmeasure: warning: --guest-features 0x21: upstream")
        assert "rule qemu-features" in ours.stderr and ours.stderr.count("\n") == 1
    else:
        assert ours.stderr == ""
    if flags:  # without them our default models the host, not the peer
        default = run("measure", *args)
        assert default.stdout != peer.stdout and default.returncode in (0, 5)


def test_dump_vmsa_writes_the_peers_files(tmp_path):
    args = ["--mode", "snp", "--vcpus", "3", "--vcpu-type", "EPYC-v4", "--ovmf", OVMF,
            "--dump-vmsa"]
    (tmp_path / "ours").mkdir()
    (tmp_path / "peer").mkdir()
    assert run("measure", *args, cwd=tmp_path / "ours").returncode == 0
    assert run_peer(*args, cwd=tmp_path / "peer").returncode == 0
    names = sorted(os.listdir(tmp_path / "peer"))
    assert names == ["vmsa0.bin", "vmsa1.bin", "vmsa2.bin"]
    assert sorted(os.listdir(tmp_path / "ours")) == names
    for name in names:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "peer" / name).read_bytes()


def test_vmsa_dir_writes_into_the_chosen_directory(tmp_path, capsys):
    target = tmp_path / "vmsas"
    target.mkdir()
    code = main(["measure", "--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC",
                 "--ovmf", OVMF, "--vmsa-dir", str(target)])
    assert code == 0
    assert sorted(p.name for p in target.iterdir()) == ["vmsa0.bin", "vmsa1.bin"]
    assert all(len(p.read_bytes()) == 4096 for p in target.iterdir())
    assert capsys.readouterr().out.strip()


BAD = [
    # (args, exit code, words the message must contain)
    (["--mode", "snp", "--vcpus", "0", "--vcpu-type", "EPYC", "--ovmf", OVMF], 2, "--vcpus"),
    (["--mode", "snp", "--vcpus", "1", "--ovmf", OVMF], 2, "--vcpu-type"),
    (["--mode", "snp", "--vcpu-type", "EPYC", "--ovmf", OVMF], 2, "--vcpus"),
    (["--mode", "snp", "--vcpus", "x", "--vcpu-type", "EPYC", "--ovmf", OVMF], 2, "--vcpus"),
    (["--mode", "snpx", "--ovmf", OVMF], 2, "--mode"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-Milan", "--vmm-type", "gce",
      "--ovmf", OVMF, "--no-legacy-vm-type"], 2, "--no-legacy-vm-type applies to QEMU only"),
    (["--mode", "snp", "--vcpus", "1", "--vmm-type", "ec2", "--ovmf", OVMF, "--kernel", OVMF],
     5, "measure the cloud without --kernel, --initrd and --append"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-Nope", "--ovmf", OVMF], 2,
     "--vcpu-type"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--vmm-type", "kvm",
      "--ovmf", OVMF], 2, "--vmm-type"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--guest-features", str(1 << 64),
      "--ovmf", OVMF], 2, "--guest-features"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--guest-features", "zz",
      "--ovmf", OVMF], 2, "--guest-features"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--snp-ovmf-hash", "abcd",
      "--ovmf", OVMF], 2, "--snp-ovmf-hash"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--snp-ovmf-hash", "g" * 96,
      "--ovmf", OVMF], 2, "--snp-ovmf-hash"),
    (["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC", "--snp-ovmf-hash", "00" * 48,
      "--ovmf", OVMF], 2, "--snp-ovmf-hash"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--initrd", OVMF,
      "--ovmf", OVMF], 2, "--kernel"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--append", "x",
      "--ovmf", OVMF], 2, "--kernel"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--vcpu-sig", "1",
      "--ovmf", OVMF], 2, "--vcpu-sig"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-family", "25", "--ovmf", OVMF], 2,
     "--vcpu-model"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-family", "25", "--vcpu-model", "1",
      "--vcpu-stepping", "16", "--ovmf", OVMF], 2, "--vcpu-stepping"),
    (["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF], 2,
     "--svsm"),
    (["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF,
      "--svsm", OVMF], 2, "--vars-size"),
    (["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF,
      "--svsm", OVMF, "--vars-size", "1", "--vars-file", OVMF], 2, "--vars-file"),
    (["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF,
      "--svsm", OVMF, "--vars-size", "100"], 2, "--vars-size"),
    (["--mode", "snp:svsm", "--vcpus", "1", "--vmm-type", "ec2", "--ovmf", OVMF,
      "--svsm", OVMF, "--vars-size", "4096"], 2, "QEMU"),
    (["--mode", "snp", "--vcpus", "1", "--vmm-type", "ec2", "--legacy-vm-type",
      "--ovmf", OVMF], 2, "--legacy-vm-type"),
    (["--mode", "sev", "--ovmf", OVMF, "--dump-vmsa"], 2, "--dump-vmsa"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF,
      "--output-format", "json"], 2, "--output-format"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF, "--bogus"], 2,
     "--bogus"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", "/nonexistent/OVMF.fd"],
     3, "/nonexistent/OVMF.fd"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", str(DATA)], 3,
     "directory"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF, "--kernel",
      "/nonexistent/vmlinuz"], 3, "/nonexistent/vmlinuz"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
      str(DATA / "PROVENANCE.md")], 4, "PROVENANCE.md"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF, "--kernel",
      OVMF], 5, "not a bzImage"),
    (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf",
      str(DATA / "ovmf_OvmfX64_suffix.bin")], 5, "not a multiple of 64 KiB"),
]


@pytest.mark.parametrize("mode,words", [("snp", "SNP_KERNEL_HASHES"), ("sev", "hash-table")])
def test_kernel_for_firmware_without_hashes_is_one_line(mode, words, tmp_path, bzimage, capsys):
    from builders import FirmwareSpec

    image = tmp_path / "fw.fd"
    image.write_bytes(FirmwareSpec(size=16 * 4096, sections=[(0x800000, 4096, 1)],
                                   hash_table=None).build())
    args = ["measure", "--mode", mode, "--ovmf", str(image), "--kernel", str(bzimage)]
    assert main(args + (["--vcpus", "1", "--vcpu-type", "EPYC"] if mode == "snp" else [])) == 5
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("snpmeasure: error: ") and err.count("\n") == 1
    assert words in err


@pytest.mark.parametrize("args,code,words", BAD, ids=lambda v: str(v)[:60])
def test_bad_input_is_one_line_with_its_exit_code(args, code, words, capsys):
    assert main(["measure", *args]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("snpmeasure: error: ")
    assert err.count("\n") == 1
    assert words in err
    assert "Traceback" not in err


def test_errors_through_a_real_process():
    result = run("measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC",
                 "--ovmf", str(DATA / "PROVENANCE.md"))
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.startswith("snpmeasure: error: ")
    assert len(result.stderr.splitlines()) == 1


def test_internal_errors_are_one_line_unless_debug(monkeypatch, capsys):
    import snpmeasure.engine.measure as engine

    def broken(config):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(engine, "measure", broken)
    args = ["measure", "--mode", "sev", "--ovmf", OVMF]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "internal error" in err and "--debug" in err
    assert main(["--debug", *args]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_version_and_help():
    for args in (["--version"], ["measure", "--version"]):
        result = run(*args)
        assert result.returncode == 0
        assert result.stdout.startswith("snpmeasure ")
    result = run("measure", "--help")
    assert result.returncode == 0
    for flag in ("--mode", "--vcpus", "--vcpu-type", "--vcpu-sig", "--vcpu-family",
                 "--vcpu-model", "--vcpu-stepping", "--vmm-type", "--ovmf", "--kernel",
                 "--initrd", "--append", "--guest-features", "--output-format",
                 "--snp-ovmf-hash", "--dump-vmsa", "--svsm", "--vars-size", "--vars-file",
                 "--legacy-vm-type", "--vmsa-dir", "--verbose"):
        assert flag in result.stdout, flag


def test_every_command_has_help_text():
    import typer

    command = typer.main.get_command(app)
    for name, sub in command.commands.items():
        assert (sub.help or "").strip(), name
        for param in sub.params:
            if param.name not in ("help",):
                assert (getattr(param, "help", None) or "").strip(), f"{name} {param.name}"


def test_case_insensitive_vmm_and_cpu_type(capsys):
    base = ["measure", "--mode", "snp", "--vcpus", "2", "--ovmf", OVMF]
    assert main(base + ["--vcpu-type", "EPYC-Milan", "--vmm-type", "QEMU"]) == 0
    first = capsys.readouterr().out
    assert main(base + ["--vcpu-type", "epyc-milan", "--vmm-type", "qemu"]) == 0
    assert capsys.readouterr().out == first


def test_ovmf_hash_mode_ignores_inapplicable_flags_with_a_warning(capsys):
    assert main(["measure", "--mode", "snp:ovmf-hash", "--ovmf", SUFFIX, "--dump-vmsa",
                 "--no-host-checks"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("086e2e91")
    assert "warning" in err and "--dump-vmsa" in err


def test_guest_features_in_seves_warns_and_keeps_the_peers_value(capsys):
    args = ["measure", "--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", OVMF]
    assert main(args) == 0
    plain = capsys.readouterr().out
    assert main(args + ["--guest-features", "0x21"]) == 0
    out, err = capsys.readouterr()
    assert out == plain and "--guest-features does not apply to mode seves" in err


def test_shell_completion(tmp_path):
    script = run("completion", "bash")
    assert script.returncode == 0 and "_SNPMEASURE_COMPLETE=complete_bash" in script.stdout
    assert "complete -o default -F _snpmeasure_completion snpmeasure" in script.stdout
    for shell in ("zsh", "fish"):
        assert run("completion", shell).returncode == 0
    bad = run("completion", "tcsh")
    assert bad.returncode == 2 and bad.stdout == "" and "tcsh" in bad.stderr

    def complete(words, cword):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "_SNPMEASURE_COMPLETE": "complete_bash",
               "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        return subprocess.run([sys.executable, "-m", "snpmeasure"], capture_output=True,
                              text=True, env=env).stdout.split()
    assert complete("snpmeasure mea", 1) == ["measure"]
    assert "--vcpu-type" in complete("snpmeasure measure --vcpu-t", 2)
    assert complete("snpmeasure report ver", 2) == ["verify"]
    # values: modes, CPU models (of the model table), VMMs, the a|b|c metavars; in a list, the
    # item being typed
    assert complete("snpmeasure measure --mode s", 3) == ["sev", "seves", "snp", "snp:ovmf-hash",
                                                          "snp:svsm"]
    assert "EPYC-Genoa-v2" in complete("snpmeasure measure --vcpu-type EPYC-G", 3)
    assert complete("snpmeasure manifest --vcpu-type EPYC,EPYC-Tu", 3)[0] == "EPYC,EPYC-Turin"
    assert complete("snpmeasure find --vmm-type QEMU,", 3) == ["QEMU,QEMU", "QEMU,ec2",
                                                               "QEMU,gce", "QEMU,all"]
    assert complete("snpmeasure manifest --vcpu-type a", 3) == ["all"]
    assert complete("snpmeasure manifest --legacy-vm-type o", 3) == ["on", "off"]
    assert complete("snpmeasure igvm f --loader m", 4) == ["microsoft"]
    assert complete("snpmeasure export --format ", 3) == ["rvps", "corim"]


def test_vmsa_options_without_vmsas_name_the_option_given(tmp_path, capsys):
    base = ["measure", "--ovmf", OVMF, "--vmsa-dir", str(tmp_path / "v")]
    assert main(base + ["--mode", "sev"]) == 2
    assert "--vmsa-dir is not available in mode sev" in capsys.readouterr().err
    assert main(["measure", "--ovmf", OVMF, "--mode", "sev", "--dump-vmsa"]) == 2
    assert "--dump-vmsa is not available in mode sev" in capsys.readouterr().err
    assert main(base + ["--mode", "snp:ovmf-hash"]) == 0
    assert "--vmsa-dir is ignored in mode snp:ovmf-hash" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_vmsa_dir_is_created_when_missing(tmp_path, capsys):
    target = tmp_path / "out" / "vmsas"
    args = ["measure", "--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf", OVMF,
            "--vmsa-dir", str(target)]
    assert main(args) == 0
    assert sorted(p.name for p in target.iterdir()) == ["vmsa0.bin", "vmsa1.bin"]
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    assert main(args[:-1] + [str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_standard_input_as_a_file(capsys, monkeypatch):
    import io

    report = (DATA / "reports" / "report_milan.hex").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(report)))
    assert main(["report", "show", "-", "--json"]) == 0
    shown = __import__("json").loads(capsys.readouterr().out)
    assert shown["measurement"].startswith("7a1e5c266c0108dbc9bb94fa")  # tests/data PROVENANCE
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * (2 << 20))))
    assert main(["report", "show", "-"]) == 4
    assert "limit" in capsys.readouterr().err


def test_inapplicable_flags_and_decimal_features_are_named(capsys):
    base = ["measure", "--ovmf", OVMF]
    assert main(base + ["--mode", "sev", "--vcpus", "4", "--vcpu-type", "EPYC"]) == 0
    err = capsys.readouterr().err
    assert "--vcpus, --vcpu-type do not apply to mode sev" in err
    assert main(base + ["--mode", "snp", "--vcpus", "2", "--vmm-type", "ec2", "--vcpu-type",
                        "EPYC-Genoa"]) == 0
    assert "--vcpu-type does not enter an ec2 measurement" in capsys.readouterr().err
    assert main(base + ["--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC",
                        "--guest-features", "21"]) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 0x21?" in err
    assert main(base + ["--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC",
                        "--guest-features", "1"]) == 0
    assert capsys.readouterr().err == ""
    # each warning names the options that were given, and only those
    assert main(base + ["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC",
                        "--debug-swap"]) == 0
    assert capsys.readouterr().err == ("snpmeasure: warning: --debug-swap does not apply to "
                                       "mode seves, whose VMSAs carry SEV_FEATURES 0\n")
    assert main(base + ["--mode", "sev", "--secure-tsc", "--vmm-type", "gce"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "snpmeasure: warning: --secure-tsc does not apply to mode sev, which measures no VMSA",
        "snpmeasure: warning: --vmm-type does not apply to mode sev, which measures no VMSA"]
    assert main(base + ["--mode", "sev"]) == 0
    assert capsys.readouterr().err == ""
