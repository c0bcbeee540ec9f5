"""manifest, explain, find and inspect."""
from __future__ import annotations

import json
import random

import pytest
from conftest import DATA, ROOT, SAMPLES
from oracle import peer_measure
from schema_check import check

from snpmeasure import MeasurementConfig, measure
from snpmeasure.cli.main import main
from snpmeasure.launch.cpu import CPU_TYPES, signature_of_type

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
SCHEMA = json.loads((ROOT / "docs" / "manifest.schema.json").read_text())


def run_json(capsys, args):
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_manifest_entries_equal_the_peer_and_measure(capsys, empty_file):
    doc = run_json(capsys, ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1-8,16",
                            "--vcpu-type", "EPYC-v4,EPYC-Milan,EPYC-Genoa-v2,EPYC-Turin",
                            "--vmm-type", "all", "--guest-features", "0x1,0x21",
                            "--legacy-vm-type", "on,off", "--kernel", str(empty_file),
                            "--append", "console=ttyS0", "--no-host-checks"])
    check(doc, SCHEMA)
    entries = doc["measurements"]
    # QEMU: 4 types x 2 features x 2 legacy; ec2: 2 features (the CPU enters nothing); gce:
    # 2 VMSA addresses (Genoa's; Milan's, which the others take) x 2 features; x 9 counts
    assert len(entries) == (16 + 2 + 4) * 9
    assert {e["vcpu_type"] for e in entries if e["vmm_type"] == "ec2"} == {None}
    assert {e["vcpu_type"] for e in entries if e["vmm_type"] == "gce"} == {"EPYC-v4",
                                                                          "EPYC-Genoa-v2"}
    assert doc["cmdline_sha256"] == __import__("hashlib").sha256(b"console=ttyS0\x00").hexdigest()
    rng = random.Random(4)
    for entry in rng.sample(entries, 25):
        # the peer measures GCE's VMSAs at the Milan address whatever the product
        peer_ok = entry["legacy_vm_type"] in (False, None) and not (
            entry["vmm_type"] == "gce" and entry["vcpu_type"].startswith("EPYC-Genoa"))
        config = MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=entry["vcpus"],
                                   vcpu_type=entry["vcpu_type"] or "EPYC", vmm_type=entry["vmm_type"],
                                   guest_features=int(entry["guest_features"], 16),
                                   legacy_vm_type=entry["legacy_vm_type"], kernel=empty_file,
                                   append="console=ttyS0", host_checks=False)
        assert measure(config).hex == entry["measurement"]
        if peer_ok:
            peer = peer_measure("snp", OVMF, vcpus=entry["vcpus"],
                                vcpu_sig=signature_of_type(entry["vcpu_type"] or "EPYC"),
                                vmm_type=entry["vmm_type"],
                                guest_features=int(entry["guest_features"], 16),
                                kernel=str(empty_file), append="console=ttyS0")
            assert peer.hex() == entry["measurement"]


@pytest.mark.parametrize("mode", ["seves", "sev", "snp:svsm"])
def test_manifest_other_modes(capsys, mode):
    args = ["manifest", "--mode", mode, "--vcpus", "1-3", "--vcpu-type", "EPYC,EPYC-Rome"]
    if mode == "snp:svsm":
        args += ["--ovmf", str(DATA / "svsm_ovmf.fd"), "--svsm", str(DATA / "svsm.bin"),
                 "--vars-size", "540672"]
    else:
        args += ["--ovmf", OVMF]
    doc = run_json(capsys, args)
    check(doc, SCHEMA)
    for entry in doc["measurements"]:
        kw = dict(mode=mode, vcpus=entry["vcpus"], vcpu_type=entry["vcpu_type"])
        if mode == "snp:svsm":
            kw.update(ovmf=DATA / "svsm_ovmf.fd", svsm=DATA / "svsm.bin", vars_size=540672)
        else:
            kw.update(ovmf=OVMF)
        if mode == "sev":
            kw = dict(mode="sev", ovmf=OVMF)
        assert measure(MeasurementConfig(**kw)).hex == entry["measurement"]
    assert len(doc["measurements"]) == (1 if mode == "sev" else 6)


@pytest.mark.parametrize("qemu", ["9.1", "11.1"])
def test_manifest_every_cpu_type_is_every_one_that_applies(capsys, qemu):
    """--vcpu-type all: each VMM gets the models that apply to it, where a named list would be
    refused: models the QEMU release defines (rule cpu-model), and for GCE the products it runs
    (rule gce-vmsa-gpa: Milan and Genoa, one entry each)."""
    from snpmeasure.launch.cpu import CPU_TYPES, MODEL_SINCE

    def release(text):
        return tuple(int(part) for part in text.split("."))

    doc = run_json(capsys, ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1",
                            "--vcpu-type", "all", "--vmm-type", "QEMU,ec2,gce",
                            "--qemu-version", qemu])
    by_vmm = {}
    for entry in doc["measurements"]:
        by_vmm.setdefault(entry["vmm_type"], []).append(entry["vcpu_type"])
    defined = [name for name in CPU_TYPES if release(MODEL_SINCE[name]) <= release(qemu)]
    assert by_vmm["QEMU"] == defined
    assert (len(defined) < len(CPU_TYPES)) == (qemu == "9.1")  # 9.1 lacks the newer models
    assert by_vmm["ec2"] == [None]
    assert sorted(by_vmm["gce"]) == ["EPYC-Genoa", "EPYC-Milan"]
    # a named model GCE does not run is still refused
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                 "EPYC-Rome", "--vmm-type", "gce"]) == 5
    assert "gce-vmsa-gpa" in capsys.readouterr().err
    # ... but crossed with several VMM types it is left out for GCE only, with a warning
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                 "EPYC-Milan,EPYC-Turin", "--vmm-type", "QEMU,gce"]) == 0
    out, err = capsys.readouterr()
    assert [(e["vmm_type"], e["vcpu_type"]) for e in json.loads(out)["measurements"]] == [
        ("QEMU", "EPYC-Milan"), ("QEMU", "EPYC-Turin"), ("gce", "EPYC-Milan")]
    assert err == ("snpmeasure: warning: left out gce on EPYC-Turin: refused by host rule "
                   "gce-vmsa-gpa (docs/measurement.md); the other VMM types keep those CPUs\n")


def test_manifest_is_deterministic_and_written_atomically(tmp_path, capsys):
    args = ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1-4", "--vcpu-type", "all"]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(args + ["-o", str(first)]) == 0
    assert main(args + ["-o", str(second)]) == 0
    assert capsys.readouterr().out == ""
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
    doc = json.loads(first.read_text())
    assert [e["vcpu_type"] for e in doc["measurements"][::4]] == list(CPU_TYPES)


@pytest.mark.parametrize("args,words", [
    (["--vcpus", "4-1"], "empty"),
    (["--vcpus", "0-3"], "outside"),
    (["--vcpus", "1,,2"], "empty item"),
    (["--vcpu-type", "EPYC,Nope"], "Nope"),
    (["--vmm-type", "QEMU,xen"], "xen"),
    (["--legacy-vm-type", "maybe"], "maybe"),
    (["--guest-features", "0x1,zz"], "zz"),
])
def test_manifest_bad_lists(capsys, args, words):
    base = ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC"]
    assert main(base + args) == 2
    out, err = capsys.readouterr()
    assert out == "" and words in err and err.count("\n") == 1


def test_explain_final_digest_and_page_count(capsys, bzimage):
    args = ["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "3", "--vcpu-type",
            "EPYC-Milan", "--kernel", str(bzimage), "--json"]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=3, vcpu_type="EPYC-Milan",
                                         kernel=bzimage))
    assert lines[-1]["digest"] == expected.hex
    # 1024 firmware pages + sections (9+3+1+1+1+31+1 pages) + 3 VMSAs
    assert len(lines) == 1024 + 47 + 3
    assert [line["index"] for line in lines] == list(range(len(lines)))
    hashes_page = next(line for line in lines if line["gpa"] == "0x810000")
    assert hashes_page["page_type"] == "NORMAL" and "kernel hashes" in hashes_page["source"]
    assert main(args[:-1]) == 0
    table = capsys.readouterr().out
    assert f"measurement: {expected.hex}" in table and "updates: 1074" in table


def test_explain_sev_modes_end_in_the_measurement(capsys):
    for mode in ("seves", "sev"):
        args = ["explain", "--mode", mode, "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type", "EPYC",
                "--json"]
        assert main(args) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        cfg = MeasurementConfig(mode=mode, ovmf=OVMF, vcpus=2, vcpu_type="EPYC")
        assert lines[-1]["digest"] == measure(cfg).hex
        assert len(lines) == (3 if mode == "seves" else 1)


@pytest.mark.parametrize("extra,words", [
    ("--vcpu-type EPYC-Milan", "VMSA of vCPU 0: rdx 0x800f12 -> 0xa00f11"),
    ("--guest-features 0x21", "sev_features 0x1 -> 0x21"),
    ("--legacy-vm-type --no-host-checks", "mxcsr 0x1f80 -> 0x0"),
    ("--vcpus 3", "1 more update(s): VMSA of vCPU 2"),
    ("--vmm-type gce --vcpu-type EPYC-Milan", "metadata section 0"),
    ("--mode seves", "they diverge at update 0:\n  the modes differ (snp vs seves): SEV-SNP "
                     "chains SHA-384"),
    ("--mode snp:svsm --svsm tests/data/svsm.bin --vars-size 0x20000",
     "the modes differ (snp vs snp:svsm)\n"),
])
def test_explain_compare_names_the_difference(capsys, extra, words):
    args = ["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type", "EPYC",
            "--compare", extra.replace("tests/data", str(DATA))]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert words in out, out


def test_explain_compare_equal_configurations(capsys):
    args = ["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type", "EPYC",
            "--compare", "--vcpu-type EPYC-v4", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["equal"] is True


@pytest.mark.parametrize("seed", range(8))
def test_find_names_hidden_configurations(capsys, seed):
    """Seeds 0-3: launches the host accepts, found by a default search. Seeds 4-7: launches
    only a patched stack runs (odd feature bits, a legacy SNP VM type), found with
    --no-host-checks, which names the host rule each match breaks."""
    rng = random.Random(seed)
    checks = seed < 4
    vmm = rng.choice(["QEMU", "QEMU", "ec2", "gce"])
    cpu_types = [t for t in CPU_TYPES if "Milan" in t or "Genoa" in t] if vmm == "gce" \
        else CPU_TYPES
    if checks:
        features = rng.choice([0x1, 0x21, 0x201, 0x221])
    else:
        features = rng.choice([0x1 | 1 << rng.randint(1, 63), 0x21 ^ 1 << rng.randint(1, 63)])
    config = dict(mode="snp", ovmf=OVMF, vcpus=rng.randint(1, 96),
                  vcpu_type=rng.choice(cpu_types), vmm_type=vmm, guest_features=features,
                  host_checks=checks)
    if vmm == "QEMU":
        config["legacy_vm_type"] = False if checks else rng.random() < 0.5
    target = measure(MeasurementConfig(**config)).hex
    doc = run_json(capsys, ["find", "--ovmf", OVMF, "--measurement", target, "--json",
                            "--max-vcpus", "96"] + ([] if checks else ["--no-host-checks"]))
    assert doc["matches"], config
    hit = doc["matches"][0]
    assert (hit["vcpus"], hit["vmm_type"]) == (config["vcpus"], vmm)
    assert int(hit["guest_features"], 16) == config["guest_features"]
    if vmm == "QEMU":
        assert config["vcpu_type"] in hit["vcpu_types"]
        assert hit["legacy_vm_type"] == config["legacy_vm_type"]
    if vmm == "gce":  # the product is what matters
        assert hit["vcpu_types"][0][:10] == config["vcpu_type"][:10]
    broken = None if checks else \
        "legacy-option" if config.get("legacy_vm_type") else "sev-features"
    assert hit["host_rule_broken"] == broken


def test_find_from_a_report_file(tmp_path, capsys):
    target = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=5, vcpu_type="EPYC-Rome"))
    report = bytearray(0x4A0)
    report[0:4] = (2).to_bytes(4, "little")
    report[0x90:0xC0] = target.digest
    for name, data in (("r.bin", bytes(report)), ("r.hex", report.hex().encode())):
        path = tmp_path / name
        path.write_bytes(data)
        assert main(["find", "--ovmf", OVMF, "--report", str(path), "--max-vcpus", "8"]) == 0
        assert "vcpus=5" in capsys.readouterr().out


def test_find_reports_no_match(capsys):
    args = ["find", "--ovmf", OVMF, "--measurement", "00" * 48, "--max-vcpus", "4"]
    assert main(args) == 6
    out, err = capsys.readouterr()
    assert out == "" and "must differ" in err and err.count("\n") == 1
    assert "--vcpu-sig" in err and "-cpu host" in err


@pytest.mark.parametrize("extra,shown", [
    (["--measurement", "00" * 32, "--mode", "snp"],
     "--measurement is a 32-byte digest; mode snp measurements are 48 bytes (SHA-384)"),
    (["--measurement", "00" * 48, "--mode", "seves"],
     "--measurement is a 48-byte digest; mode seves measurements are 32 bytes (SHA-256)"),
    (["--report", str(DATA / "reports" / "report_milan.hex"), "--mode", "sev"],
     "report_milan.hex: the report's MEASUREMENT is a 48-byte digest; mode sev"),
    (["--measurement", "00" * 48, "--vcpus", "4", "--max-vcpus", "8"],
     "give --vcpus (the counts to search) or --max-vcpus (1..N), not both"),
])
def test_find_refuses_searches_that_cannot_match(extra, shown, capsys):
    """A digest of the wrong size for the mode, or two vCPU ranges: refused before searching
    (they searched thousands of configurations and ended in 'no match')."""
    assert main(["find", "--ovmf", OVMF] + extra) == 2
    out, err = capsys.readouterr()
    assert out == "" and shown in err and err.count("\n") == 1


def test_find_with_a_kernel_searches_qemu_only(capsys, bzimage):
    """EC2 and GCE boot no kernel (rule cloud-kernel): with --kernel they are no candidates, so
    no warning invites --no-host-checks to search launches no cloud makes."""
    target = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=3, vcpu_type="EPYC-Milan",
                                       kernel=bzimage))
    args = ["find", "--ovmf", OVMF, "--kernel", str(bzimage), "--measurement", target.hex,
            "--max-vcpus", "4", "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert err == "" and doc["refused_by_host_rules"] == {}
    assert {m["vmm_type"] for m in doc["matches"]} == {"QEMU"}
    # named explicitly, a cloud is still searched, and its refusal counted
    assert main(args + ["--vmm-type", "QEMU,ec2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["refused_by_host_rules"] == {"cloud-kernel": 4}  # one per SEV-features value


def test_find_seves_measurement(capsys):
    target = measure(MeasurementConfig(mode="seves", ovmf=OVMF, vcpus=6, vcpu_type="EPYC-Milan",
                                       legacy_vm_type=True))
    assert main(["find", "--ovmf", OVMF, "--measurement", target.hex, "--max-vcpus", "8"]) == 0
    assert "mode=seves vmm-type=QEMU vcpus=6 vcpu-type=EPYC-Milan" in capsys.readouterr().out


def test_find_sev_measurement_is_one_match(capsys):
    """SEV measures the firmware (and hashes) only: the VMM does not enter it, so one match."""
    import hashlib  # without a kernel, SEV's launch digest is the SHA-256 of the firmware
    sev = hashlib.sha256(open(OVMF, "rb").read()).hexdigest()
    doc = run_json(capsys, ["find", "--ovmf", OVMF, "--measurement", sev, "--json",
                            "--vmm-type", "QEMU,ec2,gce", "--max-vcpus", "2"])
    assert [m["mode"] for m in doc["matches"]] == ["sev"]
    assert doc["matches"][0]["vmm_type"] is None


def test_inspect_json_against_the_known_layout(capsys):
    info = run_json(capsys, ["inspect", OVMF, "--json"])
    assert (info["size"], info["gpa"], info["sev_es_reset_address"]) == \
        (4194304, "0xffc00000", "0x80b004")
    assert info["hash_table"] == {"gpa": "0x810c00", "size": 0x400}
    assert info["secret_block"] == {"gpa": "0x810000", "size": 0xC00}
    sections = info["sev_metadata"]["sections"]
    assert [(s["gpa"], s["size"], s["type"]) for s in sections] == [
        ("0x800000", 0x9000, "SNP_SEC_MEM"), ("0x80a000", 0x3000, "SNP_SEC_MEM"),
        ("0x80d000", 0x1000, "SNP_SECRETS"), ("0x80e000", 0x1000, "CPUID"),
        ("0x80f000", 0x1000, "SVSM_CAA"), ("0x811000", 0x1F000, "SNP_SEC_MEM"),
        ("0x810000", 0x1000, "SNP_KERNEL_HASHES")]
    assert sections[0]["measured"]["gce"].endswith("UNMEASURED page(s)")
    assert "after all other sections" in sections[3]["measured"]["ec2"]
    assert sections[6]["measured"]["QEMU"] == ("1 NORMAL page(s) with the kernel hashes "
                                               "table; 1 ZERO page(s) without a kernel")
    for cloud in ("ec2", "gce"):  # they boot no kernel (rule cloud-kernel)
        assert sections[6]["measured"][cloud] == ("1 ZERO page(s) (no kernel is measured "
                                                  "there: rule cloud-kernel)")
    assert info["measured_direct_boot"]["snp"] is True
    assert len(info["footer_table"]) == 6
    assert main(["inspect", str(DATA / "ovmf_OvmfX64_suffix.bin")]) == 0
    assert "SNP: no" in capsys.readouterr().out
    assert main(["inspect", str(DATA / "PROVENANCE.md")]) == 4


@pytest.mark.parametrize("spec,launch,boot", [
    # no SEV metadata: QEMU's sev_snp_launch_finish exits ("Failed to locate SEV metadata
    # header"), so SNP cannot launch it and has no direct boot; SEV-ES still can
    (dict(with_metadata=False), (False, True), (False, True)),
    # no SEV-ES reset block: sev_es_find_reset_vector fails for SEV-ES and SNP alike
    # (SEV keeps its direct boot: the hash table needs no reset block)
    (dict(reset_address=None), (False, False), (False, True)),
    (dict(reset_address=0), (False, False), (False, True)),
    # no hash-table block: launches, but no measured direct boot in any mode
    (dict(hash_table=None), (True, True), (False, False)),
    # 68 KiB: QEMU's -bios (x86_bios_rom_init) takes whole 64 KiB blocks; SEV-ES has pflash
    (dict(size=17 * 4096), (False, True), (False, True)),
], ids=["no-metadata", "no-reset-block", "zero-reset-address", "no-hash-table", "bios-size"])
def test_inspect_says_which_launches_can_happen(spec, launch, boot, tmp_path, capsys):
    from builders import FirmwareSpec

    path = tmp_path / "fw.fd"
    path.write_bytes(FirmwareSpec(**spec).build())
    info = run_json(capsys, ["inspect", str(path), "--json"])
    assert (info["launch"]["snp"], info["launch"]["sev_es"]) == launch
    assert (info["measured_direct_boot"]["snp"], info["measured_direct_boot"]["sev_es"]) == boot
    for part in ("launch", "measured_direct_boot"):
        for key in ("snp", "sev_es"):
            assert (info[part][f"{key}_reason"] is None) == info[part][key]
    if not launch[0]:
        assert info["measured_direct_boot"]["snp_reason"] == "SEV-SNP cannot launch this firmware"
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "a kernel was given" not in text  # inspect is not a launch with a kernel
    # every reason is in the text output too, not only in --json
    for part in ("launch", "measured_direct_boot"):
        for key in ("snp", "sev_es"):
            if info[part][f"{key}_reason"]:
                assert info[part][f"{key}_reason"] in text
    # and the measurement refuses exactly what inspect says it cannot launch
    code = main(["measure", "--mode", "snp", "--ovmf", str(path), "--vcpus", "1",
                 "--vcpu-type", "EPYC"])
    capsys.readouterr()
    assert (code == 0) == launch[0]


def test_explain_folds_runs_of_pages_and_lists_all_on_request(capsys):
    args = ["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type", "EPYC"]
    assert main(args) == 0
    folded = capsys.readouterr().out.splitlines()
    assert main(args + ["--all"]) == 0
    every = capsys.readouterr().out.splitlines()
    rows = [line for line in every if line.strip()[:1].isdigit()]
    assert len(rows) == 1024 + 47 + 2
    firmware = next(line for line in folded if "firmware" in line and "pages" in line)
    assert firmware.split()[0] == "0-1023" and "1024 pages" in firmware
    assert "(0xffc00000-0xffffffff)" in firmware
    # the folded row's digest is the digest after the run's last page
    last_firmware = next(line for line in every if line.split()[0] == "1023")
    assert firmware.split()[5] == last_firmware.split()[4]
    assert len([line for line in folded if line.strip()[:1].isdigit()]) < 20
    assert folded[-2] == "updates: 1073 (runs of pages folded; --all lists each)"
    assert every[-2] == "updates: 1073"
    # nothing to fold (SEV-ES: one blob per part): no claim that anything was folded
    assert main(["explain", "--mode", "seves", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type",
                 "EPYC"]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == "updates: 3"
    assert folded[-1] == every[-1]  # the same measurement


def test_compare_names_the_kernel_hash_that_differs(capsys, bzimage, tmp_path):
    import hashlib

    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"initrd")
    args = ["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC",
            "--kernel", str(bzimage), "--initrd", str(initrd), "--append", "quiet"]
    assert main(args + ["--compare", "--append loud"]) == 0
    out = capsys.readouterr().out
    expected = (hashlib.sha256(b"quiet\0").hexdigest(), hashlib.sha256(b"loud\0").hexdigest())
    assert f"the cmdline hash differs: {expected[0]} vs {expected[1]}" in out
    assert "kernel hash differs" not in out and "initrd hash differs" not in out
    other = tmp_path / "initrd2"
    other.write_bytes(b"other")
    assert main(args + ["--compare", f"--initrd {other}"]) == 0
    out = capsys.readouterr().out
    assert "the initrd hash differs: " + hashlib.sha256(b"initrd").hexdigest() in out
