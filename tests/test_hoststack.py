"""The host-stack model: QEMU/KVM defaults, cloud rules and refusals, each against an expectation
computed outside snpmeasure (sev-snp-measure's parts put together as the upstream source says)."""
from __future__ import annotations

import hashlib
import json

import pytest
from conftest import DATA, SAMPLES

from snpmeasure import MeasurementConfig, measure
from snpmeasure.abi.products import product_from_cpuid
from snpmeasure.cli.main import main
from snpmeasure.errors import ConfigError, HostRuleError
from snpmeasure.launch.cpu import HOST_CPUS, decode_signature, signature_problem
from snpmeasure.launch.hoststack import RULES

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
SUFFIX = str(DATA / "ovmf_AmdSev_suffix.bin")
MILAN, GENOA = 0x00A00F11, 0x00A10F11


def peer_pieces(mode, vcpus, sig, vmm="QEMU"):
    """sev-snp-measure's OVMF and VMSA pages (the peer models KVM_SEV_INIT2 and KVM's GPA)."""
    from sevsnpmeasure.ovmf import OVMF as PeerOvmf
    from sevsnpmeasure.sev_mode import SevMode
    from sevsnpmeasure.vmm_types import VMMType
    from sevsnpmeasure.vmsa import VMSA

    ovmf = PeerOvmf(OVMF)
    sev_mode = {"seves": SevMode.SEV_ES, "snp": SevMode.SEV_SNP}[mode]
    pages = list(VMSA(sev_mode, ovmf.sev_es_reset_eip(), sig, 0x1 if mode == "snp" else 0,
                      VMMType[vmm]).pages(vcpus))
    return ovmf, pages


def zero_fpu(page: bytes) -> bytes:
    """A VMSA as KVM's legacy init leaves it: mxcsr (0x408) and x87_fcw (0x410) zero."""
    page = bytearray(page)
    page[0x408:0x40C] = bytes(4)
    page[0x410:0x412] = bytes(2)
    return bytes(page)


# -- SEV-ES: QEMU's legacy-vm-type=auto is the legacy KVM VM type ---------------------------

@pytest.mark.parametrize("vcpus", [1, 3])
def test_seves_default_is_the_legacy_vm_type(vcpus):
    ovmf, pages = peer_pieces("seves", vcpus, MILAN)
    legacy = hashlib.sha256(ovmf.data() + b"".join(zero_fpu(p) for p in pages)).digest()
    init2 = hashlib.sha256(ovmf.data() + b"".join(pages)).digest()
    base = dict(mode="seves", ovmf=OVMF, vcpus=vcpus, vcpu_type="EPYC-Milan")
    assert measure(MeasurementConfig(**base)).digest == legacy
    assert measure(MeasurementConfig(**base, legacy_vm_type=True)).digest == legacy
    assert measure(MeasurementConfig(**base, legacy_vm_type=False)).digest == init2
    for version in ("8.2", "9.0"):  # no legacy-vm-type property before 9.1: always legacy
        assert measure(MeasurementConfig(**base, qemu_version=version)).digest == legacy
        with pytest.raises(HostRuleError, match="legacy-option"):
            MeasurementConfig(**base, qemu_version=version, legacy_vm_type=False)


def test_snp_has_no_legacy_vm_type_on_upstream_qemu(capsys):
    args = ["measure", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC"]
    assert main(args + ["--legacy-vm-type"]) == 5
    out, err = capsys.readouterr()
    assert out == "" and "host rule 'legacy-option'" in err and err.count("\n") == 1
    assert main(args + ["--legacy-vm-type", "--no-host-checks"]) == 0
    assert "host check 'legacy-option' skipped" in capsys.readouterr().err
    for version in ("8.2", "9.0"):
        assert main(args + ["--qemu-version", version]) == 5
        assert "snp-qemu" in capsys.readouterr().err


# -- GCE: VMSAs at the product's highest page address ----------------------------------------

def gce_expected(vcpus, sig, vmsa_gpa):
    from sevsnpmeasure.gctx import GCTX
    from sevsnpmeasure.guest import snp_update_metadata_pages
    from sevsnpmeasure.vmm_types import VMMType

    ovmf, pages = peer_pieces("snp", vcpus, sig, "gce")
    gctx = GCTX()
    gctx.update_normal_pages(ovmf.gpa(), ovmf.data())
    snp_update_metadata_pages(gctx, ovmf, None, VMMType.gce)
    for page in pages:
        gctx._update(0x02, vmsa_gpa, hashlib.sha384(page).digest())
    return gctx.ld()


@pytest.mark.parametrize("cpu,sig,gpa", [("EPYC-Milan", MILAN, 0xFFFFFFFFF000),
                                         ("EPYC-Genoa", GENOA, 0xFFFFFFFFFF000)])
@pytest.mark.parametrize("vcpus", [1, 4])
def test_gce_vmsa_address_follows_the_product(cpu, sig, gpa, vcpus):
    got = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=vcpus, vmm_type="gce",
                                    vcpu_type=cpu))
    assert got.digest == gce_expected(vcpus, sig, gpa)
    by_sig = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=vcpus, vmm_type="gce",
                                       vcpu_sig=sig | 0x2))  # another stepping, same product
    assert by_sig.digest == got.digest


def test_gce_without_a_cpu_assumes_milan_and_says_so(capsys):
    args = ["measure", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vmm-type", "gce"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out.strip() == gce_expected(2, MILAN, 0xFFFFFFFFF000).hex()
    assert "Milan is assumed" in err
    assert main(args + ["--vcpu-type", "EPYC-Turin"]) == 5
    assert "gce-vmsa-gpa" in capsys.readouterr().err


# -- refusals: kernels, firmware sizes, SEV features, CPUs ----------------------------------

def _kernel(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_only_bzimage_kernels_get_kernel_hashes(tmp_path, bzimage, capsys):
    elf = _kernel(tmp_path, "vmlinux", b"\x7fELF\x02\x01\x01" + bytes(0x2000))
    multiboot = bytearray(0x2000)
    multiboot[0x40:0x44] = (0x1BADB002).to_bytes(4, "little")  # multiboot header magic
    multiboot = _kernel(tmp_path, "mb.bin", bytes(multiboot))
    for mode in ("snp", "sev", "seves"):
        base = ["measure", "--mode", mode, "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                "EPYC"]
        for kernel in (elf, multiboot):
            assert main(base + ["--kernel", kernel]) == 5
            out, err = capsys.readouterr()
            assert out == "" and "not a bzImage" in err and "host rule 'bzimage'" in err
        assert main(base + ["--kernel", str(bzimage)]) == 0
        capsys.readouterr()
    for name in ("id-block", "manifest", "explain"):
        extra = {"id-block": ["--id-key", str(DATA / "keys" / "id_key_test.pem")],
                 "manifest": [], "explain": []}[name]
        assert main([name, "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                     "EPYC", "--kernel", elf] + extra) == 5, name
        assert "bzimage" in capsys.readouterr().err


def test_firmware_size_rule_follows_the_vm_type(capsys):
    """-bios takes whole 64 KiB blocks; SNP and INIT2 SEV-ES guests cannot use pflash."""
    def run(*extra):
        code = main(["measure", "--ovmf", SUFFIX, "--vcpus", "1", "--vcpu-type", "EPYC",
                     *extra])
        return code, capsys.readouterr().err
    code, err = run("--mode", "snp")
    assert code == 5 and "4096 bytes, not a multiple of 64 KiB" in err and "bios-size" in err
    assert run("--mode", "seves")[0] == 0          # legacy: pflash takes 4 KiB pages
    assert run("--mode", "sev")[0] == 0
    assert run("--mode", "seves", "--no-legacy-vm-type")[0] == 5
    code, err = run("--mode", "snp", "--no-host-checks")
    assert code == 0 and "host check 'bios-size' skipped" in err


@pytest.mark.parametrize("features,named,ok", [
    (0x1, [], True), (0x21, [], True), (0x201, [], True), (0x221, [], True),
    (0x1, ["--debug-swap"], True), (0x1, ["--secure-tsc", "--debug-swap"], True),
    (0x3, [], False), (0x101, [], False), (0x20, [], False), (1 << 63 | 1, [], False)])
def test_sev_features_kvm_accepts(features, named, ok, capsys):
    args = ["measure", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC",
            "--guest-features", hex(features)] + named
    assert main(args) == (0 if ok else 5)
    out, err = capsys.readouterr()
    if ok:
        total = features | (0x20 if "--debug-swap" in named else 0) \
            | (0x200 if "--secure-tsc" in named else 0)
        assert out.strip() == measure(MeasurementConfig(
            mode="snp", ovmf=OVMF, vcpus=1, vcpu_type="EPYC", guest_features=total)).hex
    else:
        assert "host rule 'sev-features'" in err


def test_cpu_models_per_qemu_release_and_host_cpus(capsys):
    base = dict(mode="snp", ovmf=OVMF, vcpus=1)
    with pytest.raises(HostRuleError, match="added in 10.1"):
        MeasurementConfig(**base, vcpu_type="EPYC-Turin", qemu_version="10.0")
    assert MeasurementConfig(**base, vcpu_type="EPYC-Turin", qemu_version="10.1")
    with pytest.raises(HostRuleError, match="added in 11.1"):
        MeasurementConfig(**base, vcpu_type="EPYC-Genoa-v3", qemu_version="10.2")
    with pytest.raises(HostRuleError, match="cpu-signature"):
        MeasurementConfig(**base, vcpu_sig=0x10A00F11)
    with pytest.raises(HostRuleError, match="reserved bits"):
        MeasurementConfig(**base, vcpu_sig=0xA0FF11)
    with pytest.raises(HostRuleError, match="extended family"):
        MeasurementConfig(**base, vcpu_sig=0xA00E11)
    with pytest.raises(ConfigError, match="--vcpu-sig"):
        MeasurementConfig(**base, vcpu_type="host")
    with pytest.raises(ConfigError, match="not a QEMU release"):
        MeasurementConfig(**base, vcpu_type="EPYC", qemu_version="10.7")
    for name, sig in HOST_CPUS.items():
        family, model, _ = decode_signature(sig)
        assert signature_problem(sig) is None, name
        assert product_from_cpuid(family, model) in ("Naples", "Rome", "Milan", "Genoa",
                                                     "Turin", "unknown"), name


def test_find_searches_host_cpu_signatures(capsys):
    target = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=3, vcpu_sig=0x00A10F12))
    assert main(["find", "--ovmf", OVMF, "--measurement", target.hex, "--max-vcpus", "4",
                 "--vmm-type", "QEMU", "--json"]) == 0
    match = json.loads(capsys.readouterr().out)["matches"][0]
    assert match["vcpu_sig"] == "0xa10f12" and "Genoa-X" in match["host_cpu"]
    assert match["vcpus"] == 3 and match["host_rule_broken"] is None


def test_find_and_manifest_apply_the_same_rules(capsys):
    args = ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC",
            "--legacy-vm-type", "on,off"]
    assert main(args) == 5
    assert "legacy-option" in capsys.readouterr().err
    assert main(args + ["--no-host-checks"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["legacy_vm_type"] for e in doc["measurements"]] == [True, False]
    # find: a refused launch is found only with --no-host-checks, which names the rule
    target = measure(MeasurementConfig(mode="snp", ovmf=OVMF, vcpus=2, vcpu_type="EPYC-Milan",
                                       guest_features=0x5, host_checks=False))
    find = ["find", "--ovmf", OVMF, "--measurement", target.hex, "--max-vcpus", "2",
            "--vmm-type", "QEMU", "--vcpu-type", "EPYC-Milan", "--json"]
    assert main(find) == 6
    capsys.readouterr()
    assert main(find + ["--no-host-checks"]) == 0
    match = json.loads(capsys.readouterr().out)["matches"][0]
    assert match["guest_features"] == "0x5" and match["host_rule_broken"] == "sev-features"
    assert main(find + ["--guest-features", "0x1,0x5"]) == 6
    assert "1 by 'sev-features'" in capsys.readouterr().err


def test_explain_names_the_rules(capsys):
    assert main(["explain", "--mode", "seves", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type",
                 "EPYC-Milan"]) == 0
    out = capsys.readouterr().out
    assert "legacy KVM_SEV_(ES_)INIT" in out and "[rule seves-vm-type]" in out
    assert "VMSA of vCPU 1 [rules seves-vm-type, cpu-model]" in out
    assert main(["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                 "EPYC-Genoa", "--vmm-type", "gce", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last["gpa"] == "0xffffffffff000" and "gce-vmsa-gpa" in last["rules"]
    # every decision's rule is on the steps it shaped, in JSON as in the text header
    assert main(["explain", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                 "EPYC-Genoa", "--json"]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert steps[0]["source"].startswith("firmware") and steps[0]["rules"] == ["bios-size"]
    assert steps[-1]["rules"] == ["init2-fpu", "vmsa-gpa", "sev-features", "cpu-model"]
    assert all(step["rules"] == [] for step in steps
               if step["page_type"] in ("SECRETS", "CPUID"))


def test_every_rule_names_an_upstream_source_and_is_documented():
    from conftest import ROOT

    doc = (ROOT / "docs" / "measurement.md").read_text()
    for rule, (what, source) in RULES.items():
        assert what and source, rule
        assert f"`{rule}`" in doc, f"docs/measurement.md does not explain rule {rule}"


def test_the_rules_table_in_the_docs_is_the_code_s():
    from conftest import ROOT
    from snpmeasure.launch.hoststack import rules_markdown

    assert rules_markdown() in (ROOT / "docs" / "measurement.md").read_text()


def test_the_host_cpu_table_in_the_docs_is_the_code_s():
    from conftest import ROOT

    doc = (ROOT / "docs" / "measurement.md").read_text()
    for name, sig in HOST_CPUS.items():
        assert f"| {name} | {sig:#010x} |" in doc, name
