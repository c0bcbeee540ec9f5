"""Published expected digests (tests/data/vectors.json; each case names its source)."""
from __future__ import annotations

import base64

import pytest
from conftest import DATA, firmware_path

from snpmeasure import MeasurementConfig, measure
from snpmeasure.cli.main import main
import json

CASES = json.loads((DATA / "vectors.json").read_text())["cases"]


def config_of(case, empty_file, **extra):
    kw = {"mode": case["mode"], "ovmf": firmware_path(case["firmware"])}
    if "vcpus" in case:
        kw["vcpus"] = case["vcpus"]
    if case["mode"] not in ("sev", "snp:ovmf-hash"):
        kw["vcpu_type"] = case.get("vcpu_type", "EPYC-v4")
    for name in ("kernel", "initrd"):
        if name in case:
            assert case[name] == "empty"
            kw[name] = empty_file
    if "append" in case:
        kw["append"] = case["append"]
    if "guest_features" in case:
        kw["guest_features"] = int(case["guest_features"], 16)
    for name in ("host_checks", "legacy_vm_type"):
        if name in case:
            kw[name] = case[name]
    kw.update(extra)
    return MeasurementConfig(**kw)


def cli_args(case, empty_file):
    args = ["measure", "--mode", case["mode"], "--ovmf", str(firmware_path(case["firmware"]))]
    if "vcpus" in case:
        args += ["--vcpus", str(case["vcpus"])]
    if case["mode"] not in ("sev", "snp:ovmf-hash"):
        args += ["--vcpu-type", case.get("vcpu_type", "EPYC-v4")]
    for name in ("kernel", "initrd"):
        if name in case:
            args += [f"--{name}", str(empty_file)]
    if "append" in case:
        args += ["--append", case["append"]]
    if "guest_features" in case:
        args += ["--guest-features", case["guest_features"]]
    if case.get("host_checks") is False:
        args.append("--no-host-checks")
    if case.get("legacy_vm_type") is False:
        args.append("--no-legacy-vm-type")
    return args


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_library_matches_published_value(case, empty_file):
    result = measure(config_of(case, empty_file))
    assert result.hex == case["expected"]
    if "expected_base64" in case:
        assert result.base64 == case["expected_base64"]
    assert base64.b64decode(result.base64) == result.digest


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_cli_prints_published_value(case, empty_file, capsys):
    assert main(cli_args(case, empty_file)) == 0
    out, err = capsys.readouterr()
    assert out == case["expected"] + "\n"
    if case.get("host_checks") is False:
        assert "snpmeasure: warning: host check " in err
    else:
        assert err == ""


def test_cli_base64_published_value(empty_file, capsys):
    case = next(c for c in CASES if "expected_base64" in c)
    assert main(cli_args(case, empty_file) + ["--output-format", "base64"]) == 0
    assert capsys.readouterr().out == case["expected_base64"] + "\n"


def test_seeded_ovmf_hash_equals_full_measurement(empty_file):
    seed_case = next(c for c in CASES if c["mode"] == "snp:ovmf-hash")
    full_case = next(c for c in CASES if c["id"] == "amdsev-snp-1vcpu-cmdline-0x21")
    assert seed_case["firmware"] == full_case["firmware"]
    seeded = measure(config_of(full_case, empty_file, snp_ovmf_hash=seed_case["expected"]))
    assert seeded.hex == full_case["expected"]
