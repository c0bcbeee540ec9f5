"""Attestation reports: the real Milan report and chain, reports signed by a generated test CA
chain for every version and field, tampering, expectations, malformed input."""
from __future__ import annotations

import json
import random

import pytest
from conftest import DATA
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from snpmeasure.abi import report as L
from snpmeasure.cli.main import main
from snpmeasure.errors import FormatError
from snpmeasure.formats.report import load_report, parse_report

REPORTS = DATA / "reports"
MILAN = REPORTS / "report_milan.hex"
MILAN_MEASUREMENT = ("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d"
                     "3e1a0dc39b2c60bd95b9c480cd81841f")
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


# -- the real report ----------------------------------------------------------------------------

def test_real_milan_report_with_its_chain(capsys):
    args = ["report", "verify", str(MILAN), "--vcek", str(REPORTS / "vcek_milan.der"),
            "--ca", str(REPORTS / "ark_ask_milan.pem"), "--measurement", MILAN_MEASUREMENT,
            "--deny-debug", "--smt", "on", "--policy", "0x30000", "--min-tcb",
            "bl=3,tee=0,snp=8,ucode=115", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"] == "verified"
    names = {c["name"]: c["status"] for c in doc["checks"]}
    assert names["signature"] == names["certificate_chain"] == names["chip_id"] == "pass"
    assert names["certificate_tcb"] == names["measurement"] == names["reported_tcb"] == "pass"


def test_real_report_fields():
    report = load_report(MILAN)
    data = report.to_json()
    assert report.version == 2 and data["policy"] == "0x30000"
    assert data["measurement"] == MILAN_MEASUREMENT
    assert data["reported_tcb_decoded"] == {"boot_loader": 3, "tee": 0, "snp": 8, "microcode": 0x73}
    assert data["key_info_decoded"]["signing_key"] == "VCEK"
    assert data["platform_info_decoded"]["smt_enabled"] is True


def test_real_report_wrong_chain_and_wrong_measurement(capsys):
    base = ["report", "verify", str(MILAN), "--vcek", str(REPORTS / "vcek_milan.der")]
    # a Turin chain does not help a Milan VCEK, but the pinned Milan root still does
    assert main(base + ["--ca", str(REPORTS / "ark_ask_turin.pem")]) == 0
    assert "PASS  certificate_chain" in capsys.readouterr().out
    assert main(base + ["--measurement", "00" * 48]) == 6
    out = capsys.readouterr().out
    assert "FAIL  measurement" in out and "result: mismatch" in out
    turin_vcek = ["report", "verify", str(MILAN), "--vcek", str(REPORTS / "vcek_turin.der")]
    assert main(turin_vcek) == 8
    out, err = capsys.readouterr()
    # read independently: CHIP_ID at 0x1A0 (SNP ABI, ATTESTATION_REPORT), hwID extension
    # 1.3.6.1.4.1.3704.1.4 (AMD's VCEK specification), an OCTET STRING of 64 bytes
    import warnings
    from cryptography import x509
    chip = bytes.fromhex(MILAN.read_text().strip())[0x1A0:0x1E0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AMD's serial number 0
        cert = x509.load_der_x509_certificate((REPORTS / "vcek_turin.der").read_bytes())
    hwid = cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")).value.value[-64:]
    assert f"the VCEK was issued for another chip (hwID {hwid.hex()[:16]}..., the report's " \
           f"CHIP_ID {chip.hex()[:16]}...)" in err


def test_manifest_that_does_and_does_not_contain_the_value(tmp_path, capsys):
    manifest = {"manifest_version": 2, "measurements": [
        {"mode": "snp", "vcpus": 2, "vcpu_type": "EPYC-Milan", "measurement": "11" * 48},
        {"mode": "snp", "vcpus": 4, "vcpu_type": "EPYC-Milan", "measurement": MILAN_MEASUREMENT}]}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(manifest))
    vcek = ["--vcek", str(REPORTS / "vcek_milan.der")]
    assert main(["report", "verify", str(MILAN), *vcek, "--manifest", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["matched_manifest_entries"][0]["vcpus"] == 4
    assert "vcpus=4" in next(c for c in doc["checks"] if c["name"] == "measurement")["detail"]
    manifest["measurements"].pop()
    path.write_text(json.dumps(manifest))
    assert main(["report", "verify", str(MILAN), *vcek, "--manifest", str(path)]) == 6
    capsys.readouterr()
    for text in ("{}", json.dumps({"measurements": []}), json.dumps(dict(manifest,
                                                                          manifest_version=3))):
        path.write_text(text)
        assert main(["report", "verify", str(MILAN), *vcek, "--manifest", str(path)]) == 4
        assert capsys.readouterr().out == ""


# -- a generated AMD-like chain (tests/pki.py), trusted through --trust-root ------------------

AT = "2026-06-01T00:00:00Z"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    import pki

    directory = tmp_path_factory.mktemp("chain")
    h = pki.hierarchy("Genoa", seed=20, chip_id=bytes(range(64)),
                      tcb={"bl": 4, "tee": 1, "snp": 22, "ucode": 0xD5, "fmc": 0})
    (directory / "vcek.pem").write_bytes(pki.pem(h.vcek))
    (directory / "vcek.der").write_bytes(pki.der(h.vcek))
    (directory / "ca.pem").write_bytes(pki.pem(h.ask))
    (directory / "root.pem").write_bytes(pki.pem(h.ark))
    fake = pki.hierarchy("Genoa", seed=21)
    (directory / "wrong_ca.pem").write_bytes(pki.pem(fake.ask, fake.ark))
    return {"dir": directory, "vcek_key": h.vcek_key, "chip": h.chip_id,
            "tcb": 0xD5 << 56 | 22 << 48 | 1 << 8 | 4,
            "trust": ["--trust-root", str(directory / "root.pem"), "--ca",
                      str(directory / "ca.pem"), "--at", AT]}


def make_report(chain, version=3, seed=0, **fields):
    """A report with random field values, signed by the test VCEK."""
    rng = random.Random(seed)
    values = {
        "version": version, "guest_svn": rng.randrange(1 << 32),
        "policy": 0x30000 | rng.randrange(256), "family_id": rng.randbytes(16),
        "image_id": rng.randbytes(16), "vmpl": rng.randrange(4), "signature_algo": 1,
        "current_tcb": chain["tcb"], "platform_info": rng.randrange(1 << 6),
        "key_info": 0, "reserved_0x04c": bytes(4), "report_data": rng.randbytes(64),
        "measurement": rng.randbytes(48), "host_data": rng.randbytes(32),
        "id_key_digest": rng.randbytes(48), "author_key_digest": rng.randbytes(48),
        "report_id": rng.randbytes(32), "report_id_ma": rng.randbytes(32),
        "reported_tcb": chain["tcb"], "cpuid_fam_id": 0x19 if version >= 3 else 0,
        "cpuid_mod_id": 0x11 if version >= 3 else 0, "cpuid_step": 1 if version >= 3 else 0,
        "reserved_0x18b": bytes(21), "chip_id": chain["chip"], "committed_tcb": chain["tcb"],
        "current_build": 3, "current_minor": 55, "current_major": 1, "reserved_0x1eb": bytes(1),
        "committed_build": 3, "committed_minor": 55, "committed_major": 1,
        "reserved_0x1ef": bytes(1), "launch_tcb": chain["tcb"],
        "launch_mit_vector": rng.randrange(1 << 64) if version >= 5 else 0,
        "current_mit_vector": rng.randrange(1 << 64) if version >= 5 else 0,
        "reserved_0x208": bytes(152), "signature_r": bytes(72), "signature_s": bytes(72),
        "reserved_0x330": bytes(368)}
    values.update(fields)
    raw = bytearray(L.AttestationReport.build(values))
    r, s = decode_dss_signature(chain["vcek_key"].sign(bytes(raw[:0x2A0]),
                                                       ec.ECDSA(hashes.SHA384())))
    raw[0x2A0:0x2E8] = r.to_bytes(72, "little")
    raw[0x2E8:0x330] = s.to_bytes(72, "little")
    return bytes(raw), values


@pytest.mark.parametrize("version", [2, 3, 5])
def test_generated_reports_verify_and_decode_every_field(chain, tmp_path, capsys, version):
    raw, values = make_report(chain, version, seed=version)
    path = tmp_path / "r.bin"
    path.write_bytes(raw)
    args = ["report", "verify", str(path), "--vcek", str(chain["dir"] / "vcek.der"),
            *chain["trust"], "--measurement", values["measurement"].hex(), "--json"]
    assert main(args) == 0, capsys.readouterr().out
    assert json.loads(capsys.readouterr().out)["result"] == "verified"
    assert main(["report", "show", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    for name, value in values.items():
        if name.startswith("reserved") or name.startswith("signature_"):
            continue
        if version < {"cpuid_fam_id": 3, "cpuid_mod_id": 3, "cpuid_step": 3,
                      "launch_mit_vector": 5, "current_mit_vector": 5}.get(name, 0):
            assert shown[name] is None, name  # reserved bytes in this version, not a field
        elif name.endswith("_tcb") or name in ("policy", "platform_info", "key_info",
                                             "launch_mit_vector", "current_mit_vector"):
            assert int(shown[name], 16) == value, name  # bit fields: hex strings
        elif isinstance(value, bytes):
            assert shown[name] == value.hex(), name
        else:
            assert shown[name] == value, name
    assert shown["product"] == ("unknown" if version == 2 else "Genoa")
    assert shown["reported_tcb_decoded"] == {"boot_loader": 4, "tee": 1, "snp": 22,
                                             "microcode": 0xD5}
    for encoded in (raw.hex(), __import__("base64").b64encode(raw).decode()):
        path.write_text(encoded + "\n")
        assert load_report(path).raw == raw


def test_turin_tcb_layout(chain):
    raw, _ = make_report(chain, 3, cpuid_fam_id=0x1A, cpuid_mod_id=2,
                         reported_tcb=0x0B00000004030201)
    report = parse_report(raw)
    assert report.product == "Turin"
    assert report.tcb(report.fields["reported_tcb"]) == {"fmc": 1, "boot_loader": 2, "tee": 3,
                                                         "snp": 4, "microcode": 0x0B}


# One bit flipped in each region: signed fields must break the signature (exit 8), reserved
# must-be-zero ranges are malformed input (exit 4).
def _offsets():
    offset = 0
    for sub in L.AttestationReport.subcons:
        yield sub.name, offset, sub.sizeof()
        offset += sub.sizeof()


@pytest.mark.parametrize("name,offset,size", list(_offsets()))
def test_one_bit_flipped_in_each_region(chain, tmp_path, capsys, name, offset, size):
    raw, _ = make_report(chain, 5, seed=7)
    tampered = bytearray(raw)
    bit = random.Random(offset).randrange(size * 8)
    if name == "version":
        bit = 3  # 5 -> 13: still not a silent success
    if name == "key_info":
        bit = 7  # a reserved bit of KEY_INFO
    tampered[offset + bit // 8] ^= 1 << (bit % 8)
    path = tmp_path / "t.bin"
    path.write_bytes(bytes(tampered))
    code = main(["report", "verify", str(path), "--vcek", str(chain["dir"] / "vcek.pem"),
                 *chain["trust"]])
    out, err = capsys.readouterr()
    if name.startswith("reserved") or name in ("version", "key_info"):
        assert code == 4, (name, out, err)
        assert out == "" and err.count("\n") == 1
    elif name == "vmpl" and bit >= 2:
        assert code == 4
    else:
        assert code == 8, (name, out, err)
        assert "FAIL" in out and "result: not-authenticated" in out
        if name == "chip_id":  # the failed signature says why it likely failed
            assert "the VCEK was issued for another chip (hwID" in out
        elif name not in ("reported_tcb", "cpuid_fam_id", "cpuid_mod_id", "cpuid_step"):
            assert "the report or the certificate was altered" in out or \
                "FAIL  signature " not in out, (name, out)


def test_wrong_chain_and_wrong_vcek(chain, tmp_path, capsys):
    raw, _ = make_report(chain, 3)
    path = tmp_path / "r.bin"
    path.write_bytes(raw)
    assert main(["report", "verify", str(path), "--vcek", str(chain["dir"] / "vcek.der"),
                 "--ca", str(chain["dir"] / "wrong_ca.pem"), "--at", AT]) == 8
    assert main(["report", "verify", str(path), "--vcek", str(chain["dir"] / "vcek.der"),
                 "--ca", str(chain["dir"] / "wrong_ca.pem"), "--trust-root",
                 str(chain["dir"] / "root.pem"), "--at", AT]) == 8
    assert main(["report", "verify", str(path), "--vcek", str(REPORTS / "vcek_milan.der")]) == 8
    capsys.readouterr()


def test_every_expectation_passes_and_fails(chain, tmp_path, capsys):
    from snpmeasure.formats.keys import key_digest, load_private_key

    id_digest = key_digest(load_private_key(DATA / "keys" / "id_key_test.pem").public_key())
    raw, v = make_report(chain, 3, seed=3, key_info=1, id_key_digest=id_digest, policy=0x30000)
    path = tmp_path / "r.bin"
    path.write_bytes(raw)
    good = {"--host-data": v["host_data"].hex(), "--report-data": v["report_data"].hex(),
            "--id-key": str(DATA / "keys" / "id_key_test.pem"),
            "--author-key-digest": v["author_key_digest"].hex(),
            "--family-id": v["family_id"].hex(), "--image-id": v["image_id"].hex(),
            "--min-guest-svn": str(v["guest_svn"]), "--min-tcb": "bl=4,tee=1,snp=22,ucode=213",
            "--policy": "0x30000", "--smt": "on", "--min-abi": "0.0", "--vmpl": str(v["vmpl"])}
    bad = {"--host-data": "00" * 32, "--report-data": "00" * 64,
           "--id-key": str(DATA / "keys" / "author_key_test.pem"),
           "--author-key-digest": "00" * 48, "--family-id": "00" * 16, "--image-id": "00" * 16,
           "--min-guest-svn": str(v["guest_svn"] + 1), "--min-tcb": "snp=23",
           "--policy": "0x31000", "--smt": "off", "--min-abi": "1.51",
           "--vmpl": str((v["vmpl"] + 1) % 4)}
    base = ["report", "verify", str(path), "--vcek", str(chain["dir"] / "vcek.der"),
            *chain["trust"]]
    args = base + [x for pair in good.items() for x in pair] + ["--deny-debug",
                                                                "--deny-migrate-ma"]
    assert main(args) == 0, capsys.readouterr().out
    capsys.readouterr()
    for flag, value in bad.items():
        assert main(base + [flag, value]) == 6, flag
        assert "FAIL" in capsys.readouterr().out
    # every expectation wrong at once: the error line names three and counts the rest
    assert main(base + [x for pair in bad.items() for x in pair]) == 6
    out, err = capsys.readouterr()
    failed = [line.split()[1] for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) >= 12 and err.count("\n") == 1
    assert all(name in err for name in failed[:3]) and failed[3] not in err
    assert f"and {len(failed) - 3} more (every check is on standard output)" in err
    debug_raw, _ = make_report(chain, 3, seed=4, policy=0x30000 | 1 << 19 | 1 << 20)
    path.write_bytes(debug_raw)
    assert main(base + ["--deny-debug"]) == 6
    assert main(base + ["--require-single-socket"]) == 0
    capsys.readouterr()


def test_without_a_vcek_nothing_is_verified(capsys):
    assert main(["report", "verify", str(MILAN), "--measurement", MILAN_MEASUREMENT]) == 8
    out, err = capsys.readouterr()
    assert "FAIL  endorsement_certificate" in out and "result: not-authenticated" in out
    assert "PASS  measurement" in out  # expectations are still reported, but cannot verify
    assert err.count("\n") == 1 and "--vcek" in err


@pytest.mark.parametrize("content,words", [
    (b"\x00" * 100, "size"),
    (b"zz" * 1184, "size"),
    (bytes([9]) + bytes(1183), "version"),
])
def test_malformed_reports(tmp_path, capsys, content, words):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=words):
        load_report(path)
    for command in (["report", "show", str(path)], ["report", "verify", str(path)]):
        assert main(command) == 4
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1


def test_bad_flags(capsys):
    for args in (["--host-data", "abc"], ["--min-tcb", "foo"], ["--smt", "maybe"],
                 ["--min-abi", "x"], ["--product", "Naples"], ["--at", "soon"]):
        assert main(["report", "verify", str(MILAN), *args]) == 2, args
        assert capsys.readouterr().out == ""
    assert main(["report", "verify", str(MILAN), "--vcek", "/nonexistent.der"]) == 3
    capsys.readouterr()


@pytest.mark.parametrize("flag,value,shown", [
    ("--min-tcb", "bl=-1", "--min-tcb boot_loader -1 is outside 0..255"),
    ("--min-tcb", "snp=999", "--min-tcb snp 999 is outside 0..255"),
    ("--min-guest-svn", "-5", "--min-guest-svn -5 is outside 0..0xffffffff"),
    ("--min-guest-svn", "99999999999", "is outside 0..0xffffffff"),
    ("--vmpl", "4", "--vmpl 4 is outside 0..3"),
    ("--min-abi", "1.300", "--min-abi minor 300 is outside 0..255"),
    ("--min-abi", "-1.0", "is not MAJOR.MINOR"),
    ("--policy", "0x10000000000000000", "--policy 0x10000000000000000 is outside"),
    ("--policy", "0", "--policy 0x0 lacks bit 17, which must be 1"),
])
def test_expectations_no_report_can_meet_are_flag_errors(flag, value, shown, capsys):
    """A threshold outside its field's range is a mistake in the command (exit 2), not a
    report that fails (or, for a negative minimum, passes) the check."""
    assert main(["report", "verify", str(MILAN), "--vcek", str(REPORTS / "vcek_milan.der"),
                 f"{flag}={value}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and shown in err and err.count("\n") == 1
