"""snp:svsm: QEMU + COCONUT-SVSM before IGVM (SPEC-NOTES section 6).

sev-snp-measure 0.0.13 sets mxcsr 0x1F80 but never x87_fcw (a misspelt field) in this mode, so
its value matches no host stack. These tests show that our launch plan equals the peer's in every
other respect, and that our VMSA holds the hardware-derived values.
"""
from __future__ import annotations

import pytest
from conftest import DATA
from oracle import peer_measure

from snpmeasure import MeasurementConfig, SnpLaunchDigest, measure
from snpmeasure.launch.cpu import signature_of_type
from snpmeasure.launch.ovmf import load_inputs, snp_plan
from snpmeasure.launch.profiles import QEMU
from snpmeasure.launch.vmsa import build_vmsa, parse_vmsa, svsm_vmsa_values

OVMF = DATA / "svsm_ovmf.fd"
SVSM = DATA / "svsm.bin"
VARS_SIZE = 540672


def config(**kw):
    base = dict(mode="snp:svsm", ovmf=OVMF, svsm=SVSM, vars_size=VARS_SIZE, vcpus=2,
                vcpu_type="EPYC-v4")
    base.update(kw)
    return MeasurementConfig(**base)


@pytest.mark.parametrize("vcpus,cpu", [(1, "EPYC-v4"), (2, "EPYC-Milan"), (4, "EPYC-Genoa")])
def test_plan_equals_the_peer_when_its_fpu_quirk_is_reproduced(vcpus, cpu):
    cfg = config(vcpus=vcpus, vcpu_type=cpu)
    inputs = load_inputs(cfg)
    eip = inputs.svsm.gpa + inputs.svsm.svsm_launch_offset
    values = svsm_vmsa_values(QEMU, eip, 0x1, cfg.vcpu_sig, False)
    values["x87_fcw"] = 0  # the peer's misspelt field: mxcsr set, x87_fcw left zero
    quirky = (build_vmsa(values),) * vcpus
    replayed = SnpLaunchDigest().replay(snp_plan(inputs, quirky)).digest
    peer = peer_measure("snp:svsm", str(OVMF), vcpus=vcpus, vcpu_sig=signature_of_type(cpu),
                        svsm=str(SVSM), vars_size=VARS_SIZE)
    assert replayed == peer
    assert measure(cfg).digest != peer  # ours is the hardware-derived value, not the peer's


def test_default_is_the_legacy_init_fpu_state():
    result = measure(config())
    fields = parse_vmsa(result.vmsas[0])
    assert (fields["mxcsr"], fields["x87_fcw"]) == (0, 0)
    assert result.digest == measure(config(legacy_vm_type=True)).digest
    init2 = parse_vmsa(measure(config(legacy_vm_type=False)).vmsas[0])
    assert (init2["mxcsr"], init2["x87_fcw"]) == (0x1F80, 0x37F)


def test_svsm_entry_state():
    result = measure(config(vcpus=3))
    assert len(result.vmsas) == 3 and len(set(result.vmsas)) == 1
    fields = parse_vmsa(result.vmsas[0])
    svsm_gpa = 0x100000000 - OVMF.stat().st_size - VARS_SIZE - SVSM.stat().st_size
    assert fields["rip"] == svsm_gpa  # the SVSM info offset of this binary is 0
    assert fields["cs"] == {"selector": 8, "attrib": 0xC9B, "limit": 0xFFFFFFFF, "base": 0}
    for seg in ("es", "ss", "ds", "fs"):
        assert fields[seg] == {"selector": 16, "attrib": 0xC93, "limit": 0xFFFFFFFF, "base": 0}
    assert fields["gs"] == {"selector": 0, "attrib": 0x93, "limit": 0xFFFF, "base": 0}
    assert (fields["cr0"], fields["sev_features"], fields["rdx"]) == (0x11, 0x1, 0x800F12)
    assert (fields["efer"], fields["cr4"], fields["dr6"], fields["xcr0"]) == \
        (0x1000, 0x40, 0xFFFF0FF0, 1)


def test_vars_file_equals_vars_size(tmp_path, capsys):
    from snpmeasure.cli.main import main

    vars_file = tmp_path / "OVMF_VARS.fd"
    vars_file.write_bytes(bytes(VARS_SIZE))
    common = ["measure", "--mode", "snp:svsm", "--vcpus", "2", "--vcpu-type", "EPYC-v4",
              "--ovmf", str(OVMF), "--svsm", str(SVSM)]
    assert main(common + ["--vars-size", str(VARS_SIZE)]) == 0
    by_size = capsys.readouterr().out
    assert main(common + ["--vars-file", str(vars_file)]) == 0
    assert capsys.readouterr().out == by_size == measure(config()).hex + "\n"


def test_svsm_sections_overlapping_ovmf_refused(tmp_path):
    from builders import FirmwareSpec
    from snpmeasure.errors import FormatError

    svsm = tmp_path / "svsm.bin"
    ovmf_size = OVMF.stat().st_size
    ovmf_gpa = 0x100000000 - ovmf_size
    svsm.write_bytes(FirmwareSpec(
        sections=[(ovmf_gpa, 0x1000, 1)],
        extra_entries=[("a789a612-0597-4c4b-a49f-cbb1fe9d1ddd", bytes(4))]).build())
    with pytest.raises(FormatError, match="overlaps the OVMF image"):
        measure(config(svsm=svsm))
