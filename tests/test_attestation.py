"""report verify fails closed: real reports verify against the pinned AMD roots alone; forgeries,
self-made chains, missing or mismatched certificates, stale or forged CRLs and tampered
certificate tables never exit 0 (issue: "Report verification that fails closed")."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import DATA, SAMPLES
from cryptography.hazmat.primitives import hashes

import pki
from snpmeasure.attestation.authenticity import Collateral, verify_endorsement_chain
from snpmeasure.attestation.trust import PINNED, pinned_chain
from snpmeasure.cli.main import main
from snpmeasure.formats.cert_table import (ARK_GUID, ASK_GUID, VCEK_GUID, VLEK_GUID,
                                           build_cert_table)
from snpmeasure.formats.certificates import amd_extensions, load_certificate
from snpmeasure.formats.report import parse_report

REPORTS = DATA / "reports"
AT = "2026-06-01T00:00:00Z"   # inside every test certificate's validity


def verify(capsys, *args):
    code = main(["report", "verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def verify_json(capsys, *args):
    code, out, err = verify(capsys, *args, "--json")
    return code, json.loads(out) if out else None, err


def statuses(doc):
    return {c["name"]: c["status"] for c in doc["checks"]}


# -- pinned roots --------------------------------------------------------------------------------

def test_pinned_roots_load_and_match_their_fingerprints():
    for (product, chain), (_, intermediate_sha, ark_sha) in PINNED.items():
        intermediate, ark = pinned_chain(product, chain)
        assert ark.subject.rfc4514_string().startswith("CN=ARK-" + product)
        expected = ("SEV-VLEK-" if chain == "vlek" else "SEV-") + product
        assert intermediate.subject.rfc4514_string().startswith("CN=" + expected)
        intermediate.verify_directly_issued_by(ark)
        ark.verify_directly_issued_by(ark)


def test_a_damaged_pinned_file_is_refused(tmp_path, monkeypatch):
    from snpmeasure.attestation import trust
    from snpmeasure.errors import SnpMeasureError

    good = (pki.pem(pki.hierarchy("Milan").ask, pki.hierarchy("Milan").ark))
    (tmp_path / "vcek_chain_milan.pem").write_bytes(good)
    monkeypatch.setattr(trust, "ROOTS", str(tmp_path))
    trust.pinned_chain.cache_clear()
    try:
        with pytest.raises(SnpMeasureError, match="fingerprints"):
            trust.pinned_chain("Milan", "vcek")
    finally:
        trust.pinned_chain.cache_clear()


# -- real reports from three sources, against the pinned roots alone ---------------------------

REAL = [
    ("virtee/sev Milan", REPORTS / "report_milan.hex", ["--vcek", REPORTS / "vcek_milan.der"],
     "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"),
    ("Trustee Milan", REPORTS / "trustee_report_milan.bin",
     ["--vcek", REPORTS / "trustee_vcek_milan.der"], None),
    ("Azure Milan", REPORTS / "azure_report_milan.bin",
     ["--vcek", REPORTS / "azure_vcek_chain_milan.pem"], None),
    ("AWS VLEK Milan v3", REPORTS / "aws_vlek_report_milan.bin",
     ["--vcek", REPORTS / "aws_vlek_milan.der", "--at", "2025-06-01T00:00:00Z"], None),
]


@pytest.mark.parametrize("name,report,args,measurement", REAL, ids=[r[0] for r in REAL])
def test_real_reports_verify_against_the_pinned_roots(capsys, name, report, args, measurement):
    extra = ["--measurement", measurement] if measurement else []
    code, doc, err = verify_json(capsys, report, *args, *extra)
    assert code == 0, doc
    assert doc["result"] == "verified" and err == ""
    assert doc["trust_root"]["source"] == "pinned AMD root"
    assert doc["product"] == "Milan"
    got = statuses(doc)
    for check in ("signature", "certificate_chain", "certificate_tcb", "certificate_names",
                  "certificate_validity", "certificate_extensions", "product"):
        assert got[check] == "pass", (check, doc)
    assert got["revocation"] == "note"


def test_the_vlek_report_fails_once_its_vlek_has_expired(capsys):
    code, doc, err = verify_json(capsys, REPORTS / "aws_vlek_report_milan.bin", "--vcek",
                                 REPORTS / "aws_vlek_milan.der", "--at", "2026-06-01")
    assert code == 8
    validity = next(c for c in doc["checks"] if c["name"] == "certificate_validity")
    assert validity["reason"] == "certificate_not_valid"
    assert validity["detail"].startswith("the VLEK is no longer valid (expired on ")
    assert "not authenticated" in err and err.count("\n") == 1


def test_the_turin_vcek_chains_to_the_pinned_turin_root():
    cert = load_certificate(REPORTS / "vcek_turin.der")
    ext = amd_extensions(cert)
    assert ext.product == "Turin" and len(ext.hwid) == 8 and "fmc" in ext.tcb
    result = verify_endorsement_chain(cert, "Turin", Collateral())
    assert [c.status for c in result.checks] == ["pass", "note"], result.checks
    assert result.anchor.source == "pinned AMD root"
    assert verify_endorsement_chain(cert, "Milan", Collateral()).checks[0].status == "fail"


def test_version_4_reports_parse_with_the_version_3_layout():
    h = pki.hierarchy("Milan")
    for version in (2, 3, 4, 5):
        report = parse_report(pki.report_for(h, version=version))
        assert report.version == version
        assert report.product == ("Milan" if version >= 3 else "unknown")


# -- forgeries: never exit 0 ---------------------------------------------------------------------

def test_no_certificate_at_all(capsys):
    code, out, err = verify(capsys, REPORTS / "report_milan.hex")
    assert code == 8 and "result: not-authenticated" in out
    assert "no VCEK certificate was given" in err


def test_self_signed_vcek_re_signing_a_real_report(tmp_path, capsys):
    """An attacker re-signs the real report with their own P-384 key and self-signs a VCEK."""
    h = pki.hierarchy("Milan", seed=5)
    real = bytearray(bytes.fromhex((REPORTS / "report_milan.hex").read_text()))
    spec_key = h.vcek_key
    forged = pki.ReportSpec().build(None)  # only to reuse the signing code below
    del forged
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r, s = decode_dss_signature(spec_key.sign(bytes(real[:0x2A0]), ec.ECDSA(hashes.SHA384())))
    real[0x2A0:0x2E8] = r.to_bytes(72, "little")
    real[0x2E8:0x330] = s.to_bytes(72, "little")
    (tmp_path / "forged.bin").write_bytes(bytes(real))
    self_signed = pki.certificate("SEV-VCEK", "SEV-VCEK", h.vcek_key.public_key(), h.vcek_key,
                                  1, ca=False,
                                  extensions=pki.endorsement_extensions(
                                      "Milan", h.tcb, bytes(real[0x1A0:0x1E0])))
    (tmp_path / "self.der").write_bytes(pki.der(self_signed))
    code, doc, _ = verify_json(capsys, tmp_path / "forged.bin", "--vcek", tmp_path / "self.der")
    assert code == 8 and doc["result"] == "not-authenticated"
    assert statuses(doc)["signature"] == "pass"  # the forger's key does sign it...
    assert statuses(doc)["certificate_chain"] == "fail"  # ...but chains to nothing trusted


def test_self_made_ark_ask_vcek_chain_given_as_ca(tmp_path, capsys):
    h = pki.hierarchy("Milan", seed=1)
    paths = h.write(tmp_path)
    (tmp_path / "report.bin").write_bytes(pki.report_for(h))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.pem(h.ask, h.ark))
    code, doc, _ = verify_json(capsys, tmp_path / "report.bin", "--vcek", paths["vcek"],
                               "--ca", bundle, "--at", AT)
    assert code == 8
    chain = next(c for c in doc["checks"] if c["name"] == "certificate_chain")
    assert chain["reason"] == "untrusted_chain" and "not a trusted root" in chain["detail"]
    # the same hierarchy named as a trust root verifies, and the result says so
    code, doc, _ = verify_json(capsys, tmp_path / "report.bin", "--vcek", paths["vcek"],
                               "--ca", bundle, "--trust-root", paths["root"], "--at", AT)
    assert code == 0, doc
    assert doc["trust_root"]["source"] == f"--trust-root {paths['root']}"
    code, out, _ = verify(capsys, tmp_path / "report.bin", "--vcek", paths["vcek"], "--ca",
                          paths["ca"], "--trust-root", paths["root"], "--at", AT)
    assert code == 0 and f"trust root: --trust-root {paths['root']}" in out


@pytest.mark.parametrize("forged", ["forged_vcek_milan_1.der", "forged_vcek_milan_2.der"])
def test_certificates_that_only_name_amd_are_refused(capsys, forged):
    code, doc, _ = verify_json(capsys, REPORTS / "trustee_report_milan.bin", "--vcek",
                               REPORTS / forged)
    assert code == 8 and statuses(doc)["signature"] == "fail"


def test_a_vcek_of_another_chip(capsys):
    code, doc, _ = verify_json(capsys, REPORTS / "report_milan.hex", "--vcek",
                               REPORTS / "trustee_vcek_milan.der")
    assert code == 8 and statuses(doc)["signature"] == "fail"


def test_tampering_with_any_signed_byte(tmp_path, capsys):
    raw = bytearray(bytes.fromhex((REPORTS / "report_milan.hex").read_text()))
    for offset in (0x08, 0x90, 0xC0, 0x180, 0x1A0):
        tampered = bytearray(raw)
        tampered[offset] ^= 0x01
        (tmp_path / "t.bin").write_bytes(bytes(tampered))
        code, _, _ = verify(capsys, tmp_path / "t.bin", "--vcek", REPORTS / "vcek_milan.der")
        assert code in (4, 8), offset


# -- a generated hierarchy: every version and product ------------------------------------------

@pytest.fixture(scope="module")
def milan(tmp_path_factory):
    directory = tmp_path_factory.mktemp("milan")
    h = pki.hierarchy("Milan", seed=2)
    return h, h.write(directory), directory


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
@pytest.mark.parametrize("version", [2, 3, 4, 5])
def test_every_version_and_product(tmp_path, capsys, product, version):
    h = pki.hierarchy(product, seed=3)
    paths = h.write(tmp_path)
    (tmp_path / "r.bin").write_bytes(pki.report_for(h, version=version))
    args = [tmp_path / "r.bin", "--vcek", paths["vcek"], "--trust-root", paths["root"],
            "--ca", paths["ca"], "--at", AT]
    code, doc, _ = verify_json(capsys, *args)
    assert code == 0, doc
    assert doc["product"] == product and doc["report_version"] == version
    # without --trust-root the same chain is not trusted
    assert verify(capsys, *[a for a in args if a not in ("--trust-root", paths["root"])])[0] == 8


def test_vlek_reports(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "v.bin").write_bytes(pki.report_for(h, signing_key=1))
    base = [tmp_path / "v.bin", "--trust-root", paths["root"], "--ca", paths["ca"], "--at", AT]
    code, doc, _ = verify_json(capsys, *base, "--vcek", paths["vlek"])
    assert code == 0, doc
    # a VLEK report checked with a VCEK, and a VCEK report checked with a VLEK
    code, doc, _ = verify_json(capsys, *base, "--vcek", paths["vcek"])
    assert code == 8
    assert next(c for c in doc["checks"] if c["status"] == "fail")["reason"] == "wrong_key_kind"
    (tmp_path / "c.bin").write_bytes(pki.report_for(h))
    code, doc, _ = verify_json(capsys, tmp_path / "c.bin", "--vcek", paths["vlek"],
                               *base[1:])
    assert code == 8
    # a VLEK chained through the ASK instead of the ASVK
    bad_vlek = pki.certificate("SEV-VLEK", "SEV-Milan", h.vlek_key.public_key(), h.ask_key, 1,
                               ca=False, extensions=pki.endorsement_extensions(
                                   "Milan", h.tcb, None, vlek=True))
    (tmp_path / "bad.der").write_bytes(pki.der(bad_vlek))
    code, doc, _ = verify_json(capsys, *base, "--vcek", tmp_path / "bad.der")
    assert code == 8 and statuses(doc)["certificate_names"] == "fail"


def test_unsigned_and_unknown_algorithm_reports(tmp_path, capsys, milan):
    h, paths, _ = milan
    base = ["--vcek", paths["vcek"], "--trust-root", paths["root"], "--ca", paths["ca"],
            "--at", AT]
    (tmp_path / "none.bin").write_bytes(pki.report_for(h, signing_key=7))
    code, doc, _ = verify_json(capsys, tmp_path / "none.bin", *base)
    assert code == 8 and doc["checks"][0]["reason"] == "unsigned_report"
    (tmp_path / "algo.bin").write_bytes(pki.report_for(h, signature_algo=2))
    code, doc, _ = verify_json(capsys, tmp_path / "algo.bin", *base)
    assert code == 8 and doc["checks"][1]["reason"] == "unknown_signature_algorithm"


def test_products_from_cpuid(tmp_path, capsys):
    h = pki.hierarchy("Genoa", seed=4)
    paths = h.write(tmp_path)
    base = ["--vcek", paths["vcek"], "--trust-root", paths["root"], "--ca", paths["ca"],
            "--at", AT]
    # Bergamo and Siena (Zen 4c, model 0xA0-0xAF) use Genoa's keys
    (tmp_path / "b.bin").write_bytes(pki.report_for(h, cpuid=(0x19, 0xA1, 0x02)))
    code, doc, _ = verify_json(capsys, tmp_path / "b.bin", *base)
    assert code == 0 and doc["product"] == "Genoa"
    # an unknown part is never given a product name
    (tmp_path / "u.bin").write_bytes(pki.report_for(h, cpuid=(0x1A, 0x50, 0x00)))
    code, doc, _ = verify_json(capsys, tmp_path / "u.bin", *base)
    assert code == 8 and next(c for c in doc["checks"] if c["name"] == "product")["reason"] \
        == "unknown_product"
    assert parse_report(pki.report_for(h, cpuid=(0x1A, 0x50, 0x00))).product == "unknown"
    code, doc, _ = verify_json(capsys, tmp_path / "u.bin", *base, "--product", "Genoa")
    assert code == 0
    # --product contradicting the CPUID fields
    code, doc, _ = verify_json(capsys, tmp_path / "b.bin", *base, "--product", "Milan")
    assert code == 8


@pytest.mark.parametrize("change,reason", [
    (dict(vcek_not_before=pki.EPOCH.replace(year=2027)), "certificate_not_valid"),
    (dict(vcek_days=30), "certificate_not_valid"),
    (dict(ask_not_before=pki.EPOCH.replace(year=2027)), "untrusted_chain"),
    (dict(ark_days=100), "untrusted_chain"),
    (dict(vcek_issuer="SEV-Genoa"), "wrong_issuer"),
    (dict(ask_issuer="ARK-Genoa"), "untrusted_chain"),
])
def test_dates_and_names(tmp_path, capsys, change, reason):
    h = pki.hierarchy("Milan", seed=6, **change)
    paths = h.write(tmp_path)
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    code, doc, _ = verify_json(capsys, tmp_path / "r.bin", "--vcek", paths["vcek"],
                               "--trust-root", paths["root"], "--ca", paths["ca"], "--at", AT)
    assert code == 8
    assert reason in {c["reason"] for c in doc["checks"] if c["status"] == "fail"}, doc


@pytest.mark.parametrize("drop,reason", [
    (("2",), "missing_extension"),        # productName1
    (("3.1",), "missing_extension"),      # blSPL
    (("3.8",), "missing_extension"),      # ucodeSPL
    (("4",), "missing_extension"),        # hwID
])
def test_missing_extensions(tmp_path, capsys, drop, reason):
    base = pki.hierarchy("Milan", seed=7)
    ext = pki.endorsement_extensions("Milan", base.tcb, base.chip_id, drop=drop)
    h = pki.hierarchy("Milan", seed=7, vcek_extensions=ext)
    paths = h.write(tmp_path)
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    code, doc, _ = verify_json(capsys, tmp_path / "r.bin", "--vcek", paths["vcek"],
                               "--trust-root", paths["root"], "--ca", paths["ca"], "--at", AT)
    assert code == 8
    assert reason in {c["reason"] for c in doc["checks"] if c["status"] == "fail"}


def test_extension_values_must_match(tmp_path, capsys, milan):
    h, paths, _ = milan
    base = ["--vcek", paths["vcek"], "--trust-root", paths["root"], "--ca", paths["ca"],
            "--at", AT]
    cases = {
        "tcb_mismatch": pki.report_for(h, tcb={**h.tcb, "snp": 9}),
        "chip_id_mismatch": pki.report_for(h, chip_id=bytes(range(1, 65))),
        "masked_chip_id": pki.report_for(h, chip_id=bytes(64)),
    }
    for reason, raw in cases.items():
        (tmp_path / "r.bin").write_bytes(raw)
        code, doc, _ = verify_json(capsys, tmp_path / "r.bin", *base)
        assert code == 8 and reason in {c["reason"] for c in doc["checks"]}, (reason, doc)
    code, doc, _ = verify_json(capsys, tmp_path / "r.bin", *base, "--allow-masked-chip-id")
    assert code == 0
    # given for a report whose CHIP_ID is not masked, the option is said not to have applied
    (tmp_path / "u.bin").write_bytes(pki.report_for(h))
    code, doc, _ = verify_json(capsys, tmp_path / "u.bin", *base, "--allow-masked-chip-id")
    chip = [c for c in doc["checks"] if c["name"] == "chip_id"]
    assert code == 0 and "--allow-masked-chip-id did not apply" in chip[0]["detail"]
    genoa_named = pki.endorsement_extensions("Milan", h.tcb, h.chip_id, product_name="Genoa")
    other = pki.hierarchy("Milan", seed=2, vcek_extensions=genoa_named)
    (tmp_path / "o.der").write_bytes(pki.der(other.vcek))
    (tmp_path / "o.bin").write_bytes(pki.report_for(other))
    code, doc, _ = verify_json(capsys, tmp_path / "o.bin", "--vcek", tmp_path / "o.der",
                               *base[2:])
    assert code == 8 and "product_mismatch" in {c["reason"] for c in doc["checks"]}


# -- revocation ----------------------------------------------------------------------------------

def test_crls(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    base = [tmp_path / "r.bin", "--vcek", paths["vcek"], "--trust-root", paths["root"],
            "--ca", paths["ca"], "--at", AT]

    def with_crl(crl, *more, der=True):
        path = tmp_path / "crl.der"
        path.write_bytes(crl.public_bytes(__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER
            if der else __import__("cryptography.hazmat.primitives.serialization",
                                   fromlist=["Encoding"]).Encoding.PEM))
        return verify_json(capsys, *base, "--crl", path, *more)

    code, doc, _ = with_crl(pki.crl(h))
    assert code == 0 and statuses(doc)["revocation"] == "pass"
    code, doc, _ = with_crl(pki.crl(h), der=False)
    assert code == 0
    cases = {
        "revoked": pki.crl(h, revoked=[h.ask.serial_number]),
        "crl_stale": pki.crl(h, days=30),
        "crl_not_yet_valid": pki.crl(h, last_update=pki.NOW.replace(year=2027)),
        "crl_forged": pki.crl(h, signer=pki.rsa_key(99)),
    }
    for reason, crl in cases.items():
        code, doc, _ = with_crl(crl)
        assert code == 8, reason
        assert next(c for c in doc["checks"] if c["name"] == "revocation")["reason"] == reason
    # the VCEK's serial in an ARK's CRL names a certificate the ARK issued, not the VCEK
    code, doc, _ = with_crl(pki.crl(h, revoked=[h.vcek.serial_number]))
    assert code == 0
    # --require-crl
    code, doc, _ = verify_json(capsys, *base, "--require-crl")
    assert code == 8 and statuses(doc)["revocation"] == "fail"
    code, doc, _ = with_crl(pki.crl(h), "--require-crl")
    assert code == 0
    # a CRL of another ARK does not count
    other = pki.hierarchy("Milan", seed=8)
    code, doc, _ = with_crl(pki.crl(other), "--require-crl")
    assert code == 8
    (tmp_path / "junk.crl").write_bytes(b"not a crl")
    assert verify(capsys, *base, "--crl", tmp_path / "junk.crl")[0] == 4


# -- certificates from the host -----------------------------------------------------------------

def test_certificate_tables(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    base = [tmp_path / "r.bin", "--trust-root", paths["root"], "--at", AT]
    good = build_cert_table([(VCEK_GUID, pki.der(h.vcek)), (ASK_GUID, pki.der(h.ask)),
                             (ARK_GUID, pki.der(h.ark))])
    (tmp_path / "table.bin").write_bytes(good)
    code, doc, _ = verify_json(capsys, *base, "--certs", tmp_path / "table.bin")
    assert code == 0, doc
    # the table's own ARK is not trusted without --trust-root
    assert verify(capsys, tmp_path / "r.bin", "--certs", tmp_path / "table.bin", "--at", AT)[0] == 8
    # a table carrying a forged VCEK
    forged = pki.hierarchy("Milan", seed=9)
    (tmp_path / "forged.bin").write_bytes(build_cert_table([(VCEK_GUID, pki.der(forged.vcek))]))
    assert verify(capsys, *base, "--certs", tmp_path / "forged.bin")[0] == 8
    # malformed tables: exit 4, nothing verified
    vcek = pki.der(h.vcek)
    entry = lambda guid, offset, length: __import__("uuid").UUID(guid).bytes + \
        offset.to_bytes(4, "little") + length.to_bytes(4, "little")
    bad = {
        "no terminator": entry(VCEK_GUID, 24, len(vcek)) + vcek,
        "offset into table": entry(VCEK_GUID, 8, len(vcek)) + bytes(24) + vcek,
        "past the end": entry(VCEK_GUID, 48, len(vcek) + 1) + bytes(24) + vcek,
        "overlap": entry(VCEK_GUID, 72, len(vcek)) + entry(ASK_GUID, 80, 100) + bytes(24) + vcek,
        "twice": entry(VCEK_GUID, 72, len(vcek)) + entry(VCEK_GUID, 72 + len(vcek), 4)
        + bytes(24) + vcek + b"abcd",
        "zero length": entry(VLEK_GUID, 48, 0) + bytes(24),
        "junk certificate": entry(VCEK_GUID, 48, 4) + bytes(24) + b"junk",
        "empty file": b"",   # not even the terminator: a host without certificates gives none
    }
    for name, blob in bad.items():
        (tmp_path / "bad.bin").write_bytes(blob)
        code, out, err = verify(capsys, *base, "--certs", tmp_path / "bad.bin")
        assert code == 4, name
        assert out == "" and err.startswith("snpmeasure: error: ") and "bad.bin" in err, name
    # a well-formed table with no VCEK: the failure names the table that was searched
    (tmp_path / "none.bin").write_bytes(build_cert_table([(ASK_GUID, pki.der(h.ask))]))
    code, doc, _ = verify_json(capsys, *base, "--certs", tmp_path / "none.bin")
    failed = {c["name"]: c["detail"] for c in doc["checks"] if c["status"] == "fail"}
    assert code == 8 and failed["endorsement_certificate"].startswith(
        f"none of --certs {tmp_path / 'none.bin'} holds a VCEK")


def test_snpguest_directory(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "vcek.der").write_bytes(pki.der(h.vcek))
    (certs / "ask.pem").write_bytes(pki.pem(h.ask))
    (certs / "ark.pem").write_bytes(pki.pem(h.ark))
    code, doc, _ = verify_json(capsys, tmp_path / "r.bin", "--certs", certs, "--trust-root",
                               paths["root"], "--at", AT)
    assert code == 0, doc
    empty = tmp_path / "empty"
    empty.mkdir()
    assert verify(capsys, tmp_path / "r.bin", "--certs", empty)[0] == 3


def test_a_ca_bundle_that_also_holds_the_vcek(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    (tmp_path / "all.pem").write_bytes(pki.pem(h.vcek, h.ask, h.ark))
    code, doc, _ = verify_json(capsys, tmp_path / "r.bin", "--ca", tmp_path / "all.pem",
                               "--trust-root", paths["root"], "--at", AT)
    assert code == 0, doc
    code, doc, _ = verify_json(capsys, tmp_path / "r.bin", "--vcek", tmp_path / "all.pem",
                               "--trust-root", paths["root"], "--at", AT)
    assert code == 0, doc


# -- output hygiene ------------------------------------------------------------------------------

def test_names_from_inputs_cannot_inject_lines_or_escapes(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "r.bin").write_bytes(pki.report_for(h))
    evil = pki.certificate("ARK-Milan\n\x1b[2JPASS  certificate_chain", "ARK-Milan\n\x1b[2J"
                           "PASS  certificate_chain", pki.rsa_key(50).public_key(),
                           pki.rsa_key(50), 9, ca=True)
    (tmp_path / "evil.pem").write_bytes(pki.pem(evil))
    code, out, err = verify(capsys, tmp_path / "r.bin", "--vcek", paths["vcek"], "--ca",
                            tmp_path / "evil.pem", "--at", AT)
    assert code == 8
    assert "\x1b" not in out + err
    assert all(line.split()[0] in ("PASS", "FAIL", "NOTE", "result:", "trust")
               for line in out.splitlines()), out
    assert "\\x1b" in out or "\\x0a" in out


def test_json_reason_codes(capsys):
    code, doc, _ = verify_json(capsys, REPORTS / "report_milan.hex", "--vcek",
                               REPORTS / "vcek_milan.der", "--measurement", "00" * 48)
    assert code == 6 and doc["result"] == "mismatch"
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    assert [c["reason"] for c in failed] == ["measurement_mismatch"]
    assert "snpmeasure find" in failed[0]["detail"]
    assert all(c["reason"] is None for c in doc["checks"] if c["status"] != "fail")


def test_short_report_data_is_compared_as_a_prefix(tmp_path, capsys, milan):
    h, paths, _ = milan
    nonce = bytes(range(1, 33))
    (tmp_path / "r.bin").write_bytes(pki.report_for(h, report_data=nonce + bytes(32)))
    base = [tmp_path / "r.bin", "--vcek", paths["vcek"], "--trust-root", paths["root"],
            "--ca", paths["ca"], "--at", AT]
    assert verify(capsys, *base, "--report-data", nonce.hex())[0] == 0
    assert verify(capsys, *base, "--report-data", (nonce + bytes(32)).hex())[0] == 0
    assert verify(capsys, *base, "--report-data", nonce[:31].hex())[0] == 6


def test_report_data_mismatches_say_what_the_guest_put(tmp_path, capsys, milan):
    import hashlib

    h, paths, _ = milan
    nonce = bytes(range(1, 33))
    base = ["--vcek", paths["vcek"], "--trust-root", paths["root"], "--ca", paths["ca"],
            "--at", AT]
    cases = [  # (REPORT_DATA in the report, the flag given, the hint)
        (nonce + b"\x01" * 32, ["--report-data", nonce.hex()],
         "the first 32 bytes match, the other 32 are not zero"),
        (nonce + bytes(32), ["--nonce-hex", nonce.hex()],
         "REPORT_DATA holds the nonce itself, not its SHA-512: give it with --report-data"),
        (hashlib.sha512(nonce).digest(), ["--report-data", nonce.hex()],
         "REPORT_DATA is the SHA-512 of the given bytes: give them with --nonce-hex"),
    ]
    for index, (data, flag, hint) in enumerate(cases):
        path = tmp_path / f"r{index}.bin"
        path.write_bytes(pki.report_for(h, report_data=data))
        code, out, _ = verify(capsys, path, *base, *flag)
        assert code == 6 and hint in out, (flag, out)
        fixed = {"--report-data": ["--nonce-hex", nonce.hex()], "--nonce-hex":
                 ["--report-data", nonce.hex()]}[flag[0]]
        if index:  # following the hint verifies
            assert verify(capsys, path, *base, *fixed)[0] == 0


def test_unchecked_measurement_and_unsigned_manifest_are_noted(tmp_path, capsys, milan):
    h, paths, _ = milan
    (tmp_path / "r.bin").write_bytes(pki.report_for(h, measurement=b"\x07" * 48,
                                                    policy=0x30000 | 1 << 16))
    base = [tmp_path / "r.bin", "--vcek", paths["vcek"], "--trust-root", paths["root"], "--ca",
            paths["ca"], "--at", AT]
    code, out, _ = verify(capsys, *base)
    assert code == 0 and "result: verified" in out
    assert f"NOTE  measurement              {'07' * 48} not checked: no --measurement or " \
           "--manifest" in out
    manifest = tmp_path / "m.json"
    assert main(["manifest", "--mode", "snp", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"),
                 "--vcpus", "2", "--vcpu-type", "EPYC", "-o", str(manifest)]) == 0
    entry = json.loads(manifest.read_text())["measurements"][0]
    (tmp_path / "r.bin").write_bytes(pki.report_for(
        h, measurement=bytes.fromhex(entry["measurement"]), policy=0x30000 | 1 << 16))
    code, out, _ = verify(capsys, *base, "--manifest", manifest, "--smt", "off")
    assert code == 6
    assert "matches manifest entry mode=snp, vcpus=2, vcpu-type=EPYC, vcpu-sig=0x800f12, " \
           "vmm-type=QEMU, guest-features=0x1, legacy-vm-type=off" in out
    assert "NOTE  manifest_signature       the manifest is not signed" in out
    assert "FAIL  policy_smt               SMT allowed is on (expected off)" in out
    # configurations the measurement cannot tell apart (EPYC and EPYC-v1 share a signature):
    # the first is named and the others counted, not hidden
    assert main(["manifest", "--mode", "snp", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"),
                 "--vcpus", "2", "--vcpu-type", "EPYC,EPYC-v1", "-o", str(manifest),
                 "--force"]) == 0
    code, out, _ = verify(capsys, *base, "--manifest", manifest)
    assert code == 0 and "vcpu-type=EPYC, " in out
    assert "and 1 other entry with the same value (--json lists them all)" in out
    code, doc, _ = verify_json(capsys, *base, "--manifest", manifest)
    assert [e["vcpu_type"] for e in doc["matched_manifest_entries"]] == ["EPYC", "EPYC-v1"]


@pytest.mark.parametrize("name", ["vcek_milan.der", "ark_ask_milan.pem"])
def test_a_certificate_given_as_a_certificate_table_is_named(name, capsys):
    code, out, err = verify(capsys, REPORTS / "report_milan.hex", "--certs", REPORTS / name)
    assert code == 4 and out == "" and err.count("\n") == 1
    assert "is a certificate, not a table: give a VCEK or VLEK with --vcek" in err


def test_bad_flags(capsys, milan):
    h, paths, _ = milan
    report = REPORTS / "report_milan.hex"
    assert verify(capsys, report, "--at", "yesterday")[0] == 2
    assert verify(capsys, report, "--product", "Venice")[0] == 2
    assert verify(capsys, report, "--trust-root", paths["ca"])[0] == 2  # two certificates


def test_the_pki_helper_builds_amd_shaped_reports():
    spec = pki.ReportSpec()
    assert replace(spec, version=5).version == 5
    raw = spec.build(None)
    assert len(raw) == 0x4A0 and parse_report(raw).product == "Milan"


def test_the_verdict_needs_every_required_check_present():
    """A check that was never run counts as a failure, not as a pass (fail closed)."""
    from snpmeasure.attestation.authenticity import REQUIRED, Authentication
    from snpmeasure.attestation.check import NOTE, Check

    complete = [Check(name, "pass", "") for name in REQUIRED] + [Check("revocation", NOTE, "")]
    assert Authentication(checks=list(complete)).authentic
    for index in range(len(complete)):
        partial = complete[:index] + complete[index + 1:]
        assert not Authentication(checks=partial).authentic, complete[index].name
    assert not Authentication(checks=complete + [Check("extra", "fail", "")]).authentic
    assert not Authentication(checks=[c if c.name != "signature" else Check("signature", NOTE, "")
                                      for c in complete]).authentic
