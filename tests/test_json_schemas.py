"""Every JSON output against its schema (docs/json.md, docs/schemas/): real outputs of every
command, run in-process, each also shown to fail its schema with one undocumented key added; the
schemas themselves follow the vocabulary (snake_case keys, closed objects, one definition of a
shared value)."""
from __future__ import annotations

import base64
import copy
import json
import re
import shutil

import pytest
from conftest import DATA, ROOT, SAMPLES
from schema_check import SchemaError, check

import pki
from snpmeasure.abi import igvm as L
from snpmeasure.cli.main import main
from snpmeasure.formats.igvm_writer import IgvmWriter
from snpmeasure.launch.cpu import signature_of_type

SCHEMAS = ROOT / "docs" / "schemas"
MANIFEST_SCHEMA = ROOT / "docs" / "manifest.schema.json"
OVMF = str(SAMPLES / "OVMF.amdsev.fd")
IGVM = str(DATA / "igvm" / "linux_x64_vtl0.igvm")
REPORTS = DATA / "reports"
MILAN = str(REPORTS / "report_milan.hex")
MILAN_MEASUREMENT = ("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc3"
                     "9b2c60bd95b9c480cd81841f")
KEYS = ["--id-key", str(DATA / "keys" / "id_key_test.pem")]
AUTHOR = ["--author-key", str(DATA / "keys" / "author_key_test.pem")]
SNP_LAUNCH = ["--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type", "EPYC"]
# each schema file and the test that validates real outputs against it
COVERAGE = {"igvm.schema.json": "test_igvm", "id-block.schema.json": "test_id_block",
            "id-block-index.schema.json": "test_id_block_index",
            "manifest.schema.json": "test_id_block_index",
            "explain-step.schema.json": "test_explain",
            "explain-compare.schema.json": "test_explain", "find.schema.json": "test_find",
            "inspect.schema.json": "test_inspect", "report-show.schema.json": "test_report_show",
            "report-verify.schema.json": "test_report_verify",
            "kds-url.schema.json": "test_kds_url", "kds-fetch.schema.json": "test_kds_fetch",
            "rvps-message.schema.json": "test_rvps_message",
            "signed-manifest.schema.json": "test_signed_manifest"}
# formats that are not ours: their keys are spelled as their specifications spell them
FOREIGN_KEYS = {"signed-manifest.schema.json": {"payloadType", "predicateType", "_type"}}


def schema(name: str) -> dict:
    return json.loads((MANIFEST_SCHEMA if name == "manifest.schema.json"
                       else SCHEMAS / name).read_text())


def validate(doc, name: str):
    """``doc`` matches the schema, and the same document with one undocumented key does not."""
    check(doc, schema(name))
    widened = copy.deepcopy(doc)
    (widened[0] if isinstance(widened, list) else widened)["undocumented_key"] = 1
    with pytest.raises(SchemaError, match="undocumented key"):
        check(widened, schema(name))
    return doc


def run(capsys, args, code=0) -> str:
    got = main(args)
    out, err = capsys.readouterr()
    assert got == code, err
    return out


def run_json(capsys, args, name, code=0):
    return validate(json.loads(run(capsys, args, code)), name)


# -- igvm, id-block, index.json -----------------------------------------------------------------

def test_igvm(capsys, tmp_path):
    doc = run_json(capsys, ["igvm", IGVM, "--output-format", "json"], "igvm.schema.json")
    assert (doc["loader"], doc["check_kvm"], doc["vcpus"], doc["vcpu_sig"]) == \
        ("igvmmeasure", False, None, None)
    assert doc["id_block"]["matches_measurement"] is True
    assert doc["id_block"]["id_version"] == 1 and doc["id_block"]["guest_svn"] == 2
    doc = run_json(capsys, ["igvm", IGVM, "--loader", "qemu", "--vcpus", "2", "--vcpu-type",
                            "epyc-genoa", "--no-host-checks", "--ignore-id-block",
                            "--output-format", "json"], "igvm.schema.json")
    assert (doc["check_kvm"], doc["host_checks"], doc["qemu_version"]) == (True, False, "11.1")
    assert doc["vcpu_type"] == "EPYC-Genoa"
    assert doc["vcpu_sig"] == hex(signature_of_type("EPYC-Genoa"))
    assert doc["id_block"]["matches_measurement"] is False
    es = tmp_path / "es.igvm"
    es.write_bytes(IgvmWriter().platform(1, L.Platform.SEV_ES)
                   .page_data(0x1000, b"\xa1" * 4096, 1).build())
    base = ["igvm", str(es), "--platform", "sev-es", "--loader", "qemu", "--vcpus", "1",
            "--vcpu-sig", "0xa00f11", "--qemu-version", "10.2", "--output-format", "json"]
    legacy = run_json(capsys, base, "igvm.schema.json")
    init2 = run_json(capsys, base + ["--no-legacy-vm-type"], "igvm.schema.json")
    assert (legacy["legacy_vm_type"], init2["legacy_vm_type"]) == (True, False)
    assert legacy["id_block"] is None and len(legacy["measurement"]) == 64


def test_id_block(capsys):
    doc = run_json(capsys, ["id-block", *SNP_LAUNCH, *KEYS, *AUTHOR, "--id-version", "3",
                            "--guest-svn", "2", "--output-format", "json"], "id-block.schema.json")
    assert doc["fields"]["id_version"] == 3 and doc["fields"]["guest_svn"] == 2
    assert doc["author_key_enabled"] is True and doc["id_auth_fields"]["auth_key_algo"] == 1
    assert len(base64.b64decode(doc["id_auth"])) == 4096
    doc = run_json(capsys, ["id-block", "--measurement", "00" * 48, *KEYS, "--policy",
                            "0x30000", "--output-format", "json"], "id-block.schema.json")
    assert doc["author_key_digest"] is None and doc["fields"]["policy"] == "0x30000"
    assert doc["fields"]["policy_decoded"]["smt"] is True


def test_id_block_index(capsys, tmp_path):
    manifest = tmp_path / "m.json"
    run(capsys, ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1-2", "--vcpu-type",
                 "EPYC", "-o", str(manifest)])
    validate(json.loads(manifest.read_text()), "manifest.schema.json")
    run(capsys, ["id-block", "--manifest", str(manifest), "--out-dir", str(tmp_path / "a"),
                 *KEYS, "--id-version", "4"])
    index = validate(json.loads((tmp_path / "a" / "index.json").read_text()),
                     "id-block-index.schema.json")
    assert index["id_version"] == 4 and len(index["entries"]) == 2
    assert index["entries"][1]["vcpu_sig"] == "0x800f12"
    # a hand-written manifest: only a manifest entry's keys are echoed, in a closed shape
    hand = {"manifest_version": 2, "measurements": [
        {"mode": "snp", "measurement": "11" * 48, "note": "not a manifest key"},
        {"mode": "seves", "measurement": "22" * 32}]}
    manifest.write_text(json.dumps(hand))
    run(capsys, ["id-block", "--manifest", str(manifest), "--out-dir", str(tmp_path / "b"),
                 *KEYS])
    index = validate(json.loads((tmp_path / "b" / "index.json").read_text()),
                     "id-block-index.schema.json")
    assert index["skipped_entries"] == 1
    assert set(index["entries"][0]) == {"index", "mode", "measurement", "id_block_file",
                                        "id_auth_file", "qemu_properties"}


# -- explain, find, inspect, manifest --------------------------------------------------------------

def test_explain(capsys, tmp_path):
    for args in (SNP_LAUNCH, ["--mode", "sev", "--ovmf", OVMF],
                 ["--mode", "seves", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC"],
                 ["--igvm", IGVM]):
        lines = run(capsys, ["explain", *args, "--json"]).splitlines()
        steps = [validate(json.loads(line), "explain-step.schema.json") for line in lines]
        assert [s["index"] for s in steps] == list(range(len(steps)))
    assert [s["gpa"] for s in steps if s["page_type"] == "VMSA"] == ["0x803000"]  # the IGVM
    doc = run_json(capsys, ["explain", *SNP_LAUNCH, "--compare", "--vcpu-type EPYC-Milan",
                            "--json"], "explain-compare.schema.json")
    assert doc["equal"] is False and doc["first_update"]["page_type"] == "VMSA"
    assert doc["diverge_at"] == doc["first_update"]["index"]
    assert doc["first_measurement"] != doc["second_measurement"]
    doc = run_json(capsys, ["explain", *SNP_LAUNCH, "--compare", "--vcpus 2", "--json"],
                   "explain-compare.schema.json")
    assert doc["equal"] is True and doc["diverge_at"] is None and doc["reasons"] == []


def test_find(capsys):
    target = run(capsys, ["measure", *SNP_LAUNCH]).strip()
    doc = run_json(capsys, ["find", "--ovmf", OVMF, "--measurement", target, "--vcpus", "1-2",
                            "--vmm-type", "QEMU", "--vcpu-type", "EPYC,EPYC-Milan",
                            "--guest-features", "0x1,0x3", "--json"], "find.schema.json")
    assert doc["refused_by_host_rules"] == {"sev-features": 2}
    (match,) = doc["matches"]
    assert (match["vcpus"], match["vcpu_type"], match["guest_features"]) == (2, "EPYC", "0x1")
    assert match["host_rule_broken"] is None
    doc = run_json(capsys, ["find", "--ovmf", OVMF, "--measurement", target, "--vcpus", "2",
                            "--vmm-type", "QEMU", "--vcpu-type", "EPYC", "--legacy-vm-type",
                            "on,off", "--no-host-checks", "--json"], "find.schema.json")
    assert doc["refused_by_host_rules"] == {} and len(doc["matches"]) == 1


def test_inspect(capsys):
    doc = run_json(capsys, ["inspect", OVMF, "--json"], "inspect.schema.json")
    assert doc["format"] == "firmware"
    section = doc["sev_metadata"]["sections"][-1]
    assert (section["type"], section["type_value"]) == ("SNP_KERNEL_HASHES", "0x10")
    assert int(section["end_gpa"], 16) == int(section["gpa"], 16) + section["size"]
    for name in ("ovmf_OvmfX64_suffix.bin", "svsm.bin"):
        run_json(capsys, ["inspect", str(DATA / name), "--json"], "inspect.schema.json")
    doc = run_json(capsys, ["inspect", IGVM, "--json"], "inspect.schema.json")
    assert doc["format"] == "igvm" and doc["snp"]["policy"] == "0x3001f"
    assert doc["platforms"][0]["highest_vtl"] == 0 and doc["platforms"][0]["type_value"] == "0x2"
    area = next(h for h in doc["headers"] if h["type"] == "PARAMETER_AREA")
    assert area["fields"]["number_of_bytes"] == 4096 and area["fields"]["file_offset"] == "0x0"


def test_manifest_of_an_igvm_file(capsys):
    doc = run_json(capsys, ["manifest", "--igvm", IGVM, "--loader", "qemu", "--vcpus", "1,2",
                            "--vcpu-type", "EPYC-Milan", "--no-host-checks"],
                   "manifest.schema.json")
    assert [e["vcpus"] for e in doc["measurements"]] == [1, 2]


def test_inspect_text_escapes_the_file_name(capsys, tmp_path):
    for source in (OVMF, IGVM):
        plain = tmp_path / "plain"
        shutil.copyfile(source, plain)
        hostile = tmp_path / "x\x1b[2J\nfirmware      etc-passwd"
        shutil.copyfile(source, hostile)
        expected = run(capsys, ["inspect", str(plain)]).splitlines()
        out = run(capsys, ["inspect", str(hostile)])
        assert "\x1b" not in out and "\\x1b[2J\\x0afirmware" in out
        assert len(out.splitlines()) == len(expected)
        assert out.splitlines()[1:] == expected[1:]


# -- reports, verification, KDS --------------------------------------------------------------------

def test_report_show(capsys, tmp_path):
    doc = run_json(capsys, ["report", "show", MILAN, "--json"], "report-show.schema.json")
    assert doc["measurement"] == MILAN_MEASUREMENT and doc["signature_algo"] == 1
    assert doc["product"] == "unknown" and "fmc" not in doc["reported_tcb_decoded"]
    # fields a version 2 report does not have are null, not the zeros of its reserved bytes
    assert [doc[name] for name in ("cpuid_fam_id", "cpuid_mod_id", "cpuid_step",
                                   "launch_mit_vector", "current_mit_vector")] == [None] * 5
    run_json(capsys, ["report", "show", str(REPORTS / "aws_vlek_report_milan.bin"), "--json"],
             "report-show.schema.json")
    for version, product in ((3, "Turin"), (5, "Genoa")):
        h = pki.hierarchy(product, seed=60)
        path = tmp_path / f"{product}.bin"
        path.write_bytes(pki.report_for(h, version=version))
        doc = run_json(capsys, ["report", "show", str(path), "--json"],
                       "report-show.schema.json")
        assert doc["product"] == product and doc["version"] == version
        assert ("fmc" in doc["reported_tcb_decoded"]) == (product == "Turin")
        assert isinstance(doc["cpuid_fam_id"], int)
        assert (doc["launch_mit_vector"] is None) == (version < 5)


def test_report_verify(capsys, tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"manifest_version": 2, "measurements": [
        {"mode": "snp", "vcpus": 4, "measurement": MILAN_MEASUREMENT, "comment": "dropped"}]}))
    base = ["report", "verify", MILAN, "--vcek", str(REPORTS / "vcek_milan.der"), "--json"]
    short = run_json(capsys, base + ["--manifest", str(manifest), "--min-tcb",
                                     "bl=3,ucode=115", "--deny-debug", "--smt", "on"],
                     "report-verify.schema.json")
    assert short["result"] == "verified"
    assert short["matched_manifest_entries"] == [
        {"mode": "snp", "vcpus": 4, "measurement": MILAN_MEASUREMENT}]
    tcb = next(c for c in short["checks"] if c["name"] == "reported_tcb")
    assert "boot_loader=3" in tcb["detail"] and "microcode=115" in tcb["detail"]
    long = run_json(capsys, base + ["--manifest", str(manifest), "--min-tcb",
                                    "boot_loader=3,microcode=115", "--deny-debug", "--smt", "on"],
                    "report-verify.schema.json")
    assert long == short  # --min-tcb's short and long names are one option; it is not echoed
    doc = run_json(capsys, base + ["--min-tcb", "bl=4", "--measurement", "00" * 48],
                   "report-verify.schema.json", code=6)
    failed = {c["name"]: c["reason"] for c in doc["checks"] if c["status"] == "fail"}
    assert failed == {"reported_tcb": "below_minimum", "measurement": "measurement_mismatch"}
    tcb = next(c for c in doc["checks"] if c["name"] == "reported_tcb")
    assert tcb["detail"] == "boot_loader 3 < 4"
    doc = run_json(capsys, ["report", "verify", MILAN, "--vcek", str(REPORTS / "vcek_turin.der"),
                            "--json"], "report-verify.schema.json", code=8)
    assert doc["result"] == "not-authenticated"
    doc = run_json(capsys, ["report", "verify", MILAN, "--json"], "report-verify.schema.json",
                   code=8)
    assert doc["trust_root"] is None


def test_kds_url(capsys):
    doc = run_json(capsys, ["kds", "url", MILAN, "--product", "Milan", "--json"],
                   "kds-url.schema.json")
    assert doc["endorser"] == "vcek" and "ucodeSPL=115" in doc["vcek"]
    doc = run_json(capsys, ["kds", "url", str(REPORTS / "aws_vlek_report_milan.bin"), "--json"],
                   "kds-url.schema.json")
    assert doc["vcek"] is None


def test_kds_fetch(capsys, tmp_path, monkeypatch):
    import time

    from test_kds import Kds, serve_milan

    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    kds = Kds()
    try:
        kds.throttle_first = False
        serve_milan(kds)
        kds.routes["/vlek/v1/Milan/cert_chain"] = (200, (
            ROOT / "snpmeasure" / "attestation" / "roots" / "vlek_chain_milan.pem").read_bytes())
        cache = tmp_path / "cache"
        base = ["kds", "fetch", "--cache", str(cache), "--kds-url", kds.url, "--retries", "0",
                "--json"]
        doc = run_json(capsys, base + [MILAN, "--product", "Milan"], "kds-fetch.schema.json")
        assert [(i["item"], i["state"]) for i in doc] == [
            ("cert_chain", "fetched"), ("vcek", "fetched"), ("crl", "not_available")]
        assert doc[2]["path"] is None and "404" in doc[2]["detail"]
        doc = run_json(capsys, base + [MILAN, "--product", "Milan"], "kds-fetch.schema.json")
        assert [i["state"] for i in doc[:2]] == ["cached", "cached"]
        assert doc[0]["detail"] is None
        doc = run_json(capsys, base + [str(REPORTS / "aws_vlek_report_milan.bin")],
                       "kds-fetch.schema.json")
        assert [(i["item"], i["state"]) for i in doc] == [
            ("cert_chain", "fetched"), ("vlek", "not_fetched"), ("crl", "not_available")]
        text = run(capsys, base[:-1] + [str(REPORTS / "aws_vlek_report_milan.bin")])
        assert "vlek       not fetched: KDS serves VLEKs" in text
    finally:
        kds.close()


# -- export --format rvps ------------------------------------------------------------------------

def test_rvps_message(capsys, tmp_path):
    manifest = tmp_path / "m.json"
    run(capsys, ["manifest", *SNP_LAUNCH[:4], "--vcpus", "1,2", "--vcpu-type", "EPYC",
                 "-o", str(manifest)])
    for encoding in ("hex", "base64"):
        doc = run_json(capsys, ["export", "--format", "rvps", "--manifest", str(manifest),
                                "--min-tcb", "bl=3,snp=8", "--policy", "0x30000", "--smt", "on",
                                "--tsme", "off", "--measurement-encoding", encoding],
                       "rvps-message.schema.json")
        values = json.loads(base64.b64decode(doc["payload"]))
        assert len(values["snp_launch_measurement"]) == 2
        assert values["snp_bootloader"][0] == 3 and values["snp_smt_enabled"] is True
    # the payload is checked too: a value of the wrong type inside it fails
    values["snp_bootloader"] = "3"
    doc["payload"] = base64.b64encode(json.dumps(values).encode()).decode()
    with pytest.raises(SchemaError):
        check(doc, schema("rvps-message.schema.json"))


def test_signed_manifest(capsys, tmp_path):
    doc = run_json(capsys, ["manifest", *SNP_LAUNCH[:4], "--vcpus", "1,2", "--vcpu-type", "EPYC",
                            "--sign", str(DATA / "keys" / "id_key_test.pem")],
                   "signed-manifest.schema.json")
    statement = json.loads(base64.b64decode(doc["payload"]))
    validate(statement["predicate"], "manifest.schema.json")
    assert statement["predicateType"].endswith("/manifest/v2")
    # the Statement inside is checked too: a subject without its digest fails
    del statement["subject"][0]["digest"]
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(SchemaError):
        check(doc, schema("signed-manifest.schema.json"))


# -- the schemas themselves ----------------------------------------------------------------------

def schema_files() -> list[str]:
    return sorted(p.name for p in SCHEMAS.glob("*.schema.json")) + ["manifest.schema.json"]


def walk(node, path="$"):
    """Every (path, subschema) of a schema."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def test_every_schema_is_listed_documented_and_used():
    table = (ROOT / "docs" / "json.md").read_text()
    for name in schema_files():
        assert re.search(rf"\]\((schemas/)?{re.escape(name)}\)", table), name
        doc = schema(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert doc["title"] and doc["description"] and doc["$id"], name
    assert (SCHEMAS / "manifest.schema.json").exists() is False  # one manifest schema, in docs/


def test_every_schema_has_a_test_of_real_outputs():
    import inspect

    assert set(COVERAGE) == set(schema_files())
    for name, test in COVERAGE.items():
        assert f'"{name}"' in inspect.getsource(globals()[test]), (name, test)


def test_objects_are_closed_and_keys_are_snake_case():
    for name in schema_files():
        for path, node in walk(schema(name)):
            if "properties" in node and not path.endswith(".properties"):
                assert node.get("additionalProperties") is False, (name, path)
                for key in node["properties"]:
                    assert re.fullmatch(r"[a-z][a-z0-9_]*", key) \
                        or key in FOREIGN_KEYS.get(name, ()), (name, path, key)
            if node.get("type") == "object" and "properties" not in node:
                # a map: its keys are data, constrained by propertyNames, values by a schema
                assert "propertyNames" in node and isinstance(
                    node.get("additionalProperties"), dict), (name, path)


def test_a_shared_definition_is_the_same_everywhere():
    seen: dict = {}
    for name in schema_files():
        for key, definition in schema(name).get("$defs", {}).items():
            seen.setdefault(key, []).append((name, definition))
    shared = {key: uses for key, uses in seen.items() if len(uses) > 1}
    assert {"policy_decoded", "step", "igvm_id_block", "hex_int", "sha384", "measurement",
            "svn"} <= set(shared)
    for key, uses in shared.items():
        assert all(definition == uses[0][1] for _, definition in uses), key


def test_manifest_entries_have_one_definition():
    from snpmeasure.attestation.verify import MANIFEST_ENTRY_KEYS

    entry = schema("manifest.schema.json")["properties"]["measurements"]["items"]
    assert tuple(entry["properties"]) == MANIFEST_ENTRY_KEYS
    ours = schema("report-verify.schema.json")["$defs"]["manifest_entry"]["properties"]
    assert ours == entry["properties"]
    for name, define in (("find.schema.json", "match"),
                         ("id-block-index.schema.json", "index_entry")):
        props = schema(name)["$defs"][define]["properties"]
        assert {key: props[key] for key in MANIFEST_ENTRY_KEYS} == entry["properties"], name


def test_the_checker_refuses_what_it_cannot_check():
    with pytest.raises(SchemaError, match="does not know"):
        check(1, {"type": "integer", "multipleOf": 2})
    one_of = {"oneOf": [{"type": "integer"}, {"type": "integer", "minimum": 0}]}
    with pytest.raises(SchemaError, match="2 of the oneOf"):
        check(3, one_of)
    check(-3, one_of)
    hex_int = schema("inspect.schema.json")["$defs"]["hex_int"]
    check("0x1f", hex_int)
    for bad in ("0x01f", "0x1F", "1f", "0x"):
        with pytest.raises(SchemaError):
            check(bad, hex_int)
    with pytest.raises(SchemaError, match="longer than"):
        check("a" * 129, schema("id-block.schema.json")["properties"]["id_block"])
