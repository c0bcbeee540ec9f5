"""Publishing: signed manifests (DSSE, in-toto), report verify with manifest keys, IGVM manifests,
batches of ID blocks, Trustee RVPS messages. Expectations come from the DSSE specification's
vectors, an independent DSSE verifier and Trustee's extractor and policy written out here."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from conftest import DATA, ROOT, SAMPLES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from schema_check import check

from snpmeasure.cli.main import main
from snpmeasure.errors import ConfigError
from snpmeasure.formats.dsse import pae

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
SCHEMA = json.loads((ROOT / "docs" / "manifest.schema.json").read_text())
PREDICATE = "https://snpmeasure.invalid/manifest/v2"


# -- DSSE: the specification's vectors --------------------------------------------------------

def test_pae_vectors_from_the_dsse_specification():
    """DSSE protocol.md v1.0.2 and go-securesystemslib dsse/sign_test.go TestPAE."""
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("http://example.com/HelloWorld", "ಠ".encode()) == \
        b"DSSEv1 29 http://example.com/HelloWorld 3 \xe0\xb2\xa0"
    body = bytes(range(256)) * 4
    kind = "application/vnd.in-toto+json"
    assert pae(kind, body) == b"DSSEv1 %d %s %d %s" % (len(kind), kind.encode(), len(body), body)


def test_the_specification_signature_verifies():
    """The ECDSA P-256 envelope of DSSE protocol.md v1.0.2 (raw r || s signature)."""
    from snpmeasure.formats.signing import verify_signature
    from snpmeasure.errors import VerificationError

    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    sig = base64.b64decode("A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJ"
                           "PcIAriEGAHTVeCUjW2JIZA==")
    message = pae("http://example.com/HelloWorld", b"hello world")
    verify_signature(public, sig, message, "vector")
    with pytest.raises(VerificationError):
        verify_signature(public, sig, message + b"!", "vector")


# -- signed manifests ----------------------------------------------------------------------

def _keys(tmp_path):
    keys = {"p256": ec.generate_private_key(ec.SECP256R1()),
            "p384": ec.generate_private_key(ec.SECP384R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate()}
    paths = {}
    for name, key in keys.items():
        private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        paths[name] = (str(private), str(public))
    return keys, paths


def independent_dsse_verify(envelope: dict, public_key) -> dict:
    """A DSSE verifier written from the specification alone: PAE, then the signature (DER
    ECDSA with the curve's hash, or Ed25519), then the payload."""
    payload = base64.standard_b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    message = b"DSSEv1 " + str(len(kind)).encode() + b" " + kind + b" " + \
        str(len(payload)).encode() + b" " + payload
    sig = base64.standard_b64decode(envelope["signatures"][0]["sig"])
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(sig, message)
    else:
        digest = hashes.SHA384() if public_key.curve.key_size == 384 else hashes.SHA256()
        public_key.verify(sig, message, ec.ECDSA(digest))
    return json.loads(payload)


@pytest.mark.parametrize("kind", ["p256", "p384", "ed25519"])
def test_signed_manifest_is_an_in_toto_statement_in_dsse(tmp_path, capsys, kind):
    keys, paths = _keys(tmp_path)
    out = tmp_path / "signed.json"
    args = ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1-2", "--vcpu-type",
            "EPYC-Milan"]
    assert main(args + ["--sign", paths[kind][0], "-o", str(out)]) == 0
    envelope = json.loads(out.read_text())
    assert set(envelope) == {"payloadType", "payload", "signatures"}
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64encode(base64.b64decode(envelope["payload"])).decode() == \
        envelope["payload"]  # standard alphabet, padded (what cosign decodes)
    statement = independent_dsse_verify(envelope, keys[kind].public_key())
    assert set(statement) == {"_type", "subject", "predicateType", "predicate"}
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE
    ovmf_sha = hashlib.sha256(open(OVMF, "rb").read()).hexdigest()
    assert statement["subject"] == [{"name": "OVMF.amdsev.fd", "digest": {"sha256": ovmf_sha}}]
    check(statement["predicate"], SCHEMA)
    assert main(args) == 0
    assert statement["predicate"] == json.loads(capsys.readouterr().out)
    keyid = envelope["signatures"][0]["keyid"]
    der = keys[kind].public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    assert keyid == hashlib.sha256(der).hexdigest()


def _report_and_manifest(tmp_path, keys=None):
    """A real Milan report and a manifest (written by the library) listing its measurement."""
    from snpmeasure.formats.dsse import signed_manifest
    from snpmeasure.formats.report import load_report

    report = DATA / "reports" / "report_milan.hex"
    measurement = load_report(report).measurement.hex()
    document = {"tool": "snpmeasure", "version": "test", "manifest_version": 2, "mode": "snp",
                "source": "ovmf", "host": {"qemu_version": "11.1", "host_checks": True},
                "igvm": None, "inputs": {"ovmf": {"name": "OVMF.fd", "size": 1,
                                                  "sha256": "00" * 32}},
                "append": None, "cmdline_sha256": None, "vars_size": None,
                "snp_ovmf_hash": None,
                "measurements": [{"mode": "snp", "vcpus": 4, "vcpu_type": "EPYC-Milan",
                                  "vcpu_sig": "0xa00f11", "vmm_type": "QEMU",
                                  "guest_features": "0x1", "legacy_vm_type": False,
                                  "measurement": measurement}]}
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(document))
    signed = tmp_path / "signed-manifest.json"
    if keys:
        signed.write_bytes(signed_manifest(document, keys))
    return str(report), str(plain), str(signed), document


def _verify_args(report):
    return ["report", "verify", report, "--vcek", str(DATA / "reports" / "vcek_milan.der"),
            "--ca", str(DATA / "reports" / "ark_ask_milan.pem"), "--at",
            "2025-06-01T00:00:00Z"]


def test_report_verify_trusts_a_manifest_only_through_its_key(tmp_path, capsys):
    keys, paths = _keys(tmp_path)
    report, plain, signed, _ = _report_and_manifest(tmp_path, [keys["p384"]])
    base = _verify_args(report)
    assert main(base + ["--manifest", plain]) == 0
    capsys.readouterr()
    # signed and verified with the right key (any of several)
    assert main(base + ["--manifest", signed, "--manifest-key", paths["p256"][1],
                        "--manifest-key", paths["p384"][1], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["matched_manifest_entries"][0]["vcpus"] == 4
    # a signed manifest without a key, with the wrong key; an unsigned one with a key
    # (the checks are printed, as for every verdict, with the manifest's as an authenticity
    # failure: exit 8)
    for extra in ([], ["--manifest-key", paths["ed25519"][1]]):
        assert main(base + ["--manifest", signed] + extra) == 8
        out, err = capsys.readouterr()
        assert "FAIL  manifest_signature" in out and "result: not-authenticated" in out
        assert err.count("\n") == 1 and "--manifest-key" in err
        assert "not authenticated: manifest_signature: " in err
    assert main(base + ["--manifest", plain, "--manifest-key", paths["p384"][1], "--json"]) == 8
    result = json.loads(capsys.readouterr().out)
    assert result["result"] == "not-authenticated"
    failures = {c["name"]: c for c in result["checks"] if c["status"] == "fail"}
    assert set(failures) == {"manifest_signature", "measurement"}  # the manifest was not read
    failed = failures["manifest_signature"]
    assert failed["kind"] == "authenticity"
    assert failed["reason"] == "manifest_not_trusted" and "not signed" in failed["detail"]
    # several manifests: the measurement may be an entry of any; a signed one must verify
    other = tmp_path / "other.json"
    other.write_text(plain_text := open(plain).read().replace(
        json.loads(open(plain).read())["measurements"][0]["measurement"], "ab" * 48))
    assert plain_text != open(plain).read()
    for order in ([str(other), plain], [plain, str(other)]):
        assert main(base + [a for path in order for a in ("--manifest", path)]) == 0
        assert "matches manifest entry" in capsys.readouterr().out
    assert main(base + ["--manifest", str(other), "--manifest", signed]) == 8
    out = capsys.readouterr().out
    assert "FAIL  manifest_signature" in out and "not read: see manifest_signature" in out
    # a tampered payload: one measurement digit changed, the signature kept
    envelope = json.loads(open(signed).read())
    statement = base64.b64decode(envelope["payload"])
    tampered = statement.replace(b'"vcpus":4', b'"vcpus":8')
    assert tampered != statement
    envelope["payload"] = base64.b64encode(tampered).decode()
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(envelope))
    assert main(base + ["--manifest", str(bad), "--manifest-key", paths["p384"][1]]) == 8
    capsys.readouterr()


def test_signed_manifest_with_an_encrypted_key(tmp_path, monkeypatch, capsys):
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"s3cret")))
    args = ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC",
            "--sign", str(path)]
    assert main(args) == 2
    assert "give its passphrase with --sign-passphrase-env or --sign-passphrase-file" in \
        capsys.readouterr().err
    monkeypatch.setenv("SIGN_PASS", "s3cret")
    assert main(args + ["--sign-passphrase-env", "SIGN_PASS"]) == 0
    envelope = json.loads(capsys.readouterr().out)
    independent_dsse_verify(envelope, key.public_key())
    rsa_path = tmp_path / "rsa.pem"
    from cryptography.hazmat.primitives.asymmetric import rsa
    rsa_path.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert main(args[:-1] + [str(rsa_path)]) == 5
    assert "P-256, ECDSA P-384 or Ed25519" in capsys.readouterr().err


# -- IGVM manifests ------------------------------------------------------------------------

def test_igvm_manifest_entries_equal_the_igvm_command(tmp_path, capsys):
    from test_igvm_qemu import FILE_STATE, VMSA_GPA, vmsa_page, write

    path = write(tmp_path / "g.igvm", lambda w: w.page_data(0x1000, b"\x11" * 4096)
                 .vp_context(VMSA_GPA, vmsa_page(FILE_STATE)))
    doc_args = ["manifest", "--igvm", str(path), "--loader", "qemu", "--vcpus", "1-3,8",
                "--vcpu-type", "EPYC-Milan,EPYC-Genoa"]
    assert main(doc_args) == 0
    doc = json.loads(capsys.readouterr().out)
    check(doc, SCHEMA)
    assert doc["source"] == "igvm" and doc["igvm"]["loader"] == "qemu"
    assert len(doc["measurements"]) == 8
    for entry in doc["measurements"]:
        assert main(["igvm", str(path), "--loader", "qemu", "--vcpus", str(entry["vcpus"]),
                     "--vcpu-type", entry["vcpu_type"]]) == 0
        assert capsys.readouterr().out.strip() == entry["measurement"]
    # 1 vCPU needs no signature: both CPU types give the same digest
    ones = [e["measurement"] for e in doc["measurements"] if e["vcpus"] == 1]
    assert ones[0] == ones[1]
    assert main(["manifest", "--igvm", str(path)]) == 0  # igvmmeasure rules: one entry
    plain = json.loads(capsys.readouterr().out)
    assert [e["vcpus"] for e in plain["measurements"]] == [None]
    assert plain["measurements"][0]["measurement"] == \
        __import__("snpmeasure.engine.igvm", fromlist=["x"]).measure_igvm(path).hex
    assert main(["manifest", "--igvm", str(path), "--mode", "snp"]) == 2


# -- ID blocks for a whole manifest ---------------------------------------------------------

def test_id_blocks_for_every_entry_in_one_run(tmp_path, capsys):
    from test_id_block import _verify_sev_signature

    from snpmeasure.formats.keys import load_private_key

    manifest = tmp_path / "m.json"
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1-64", "--vcpu-type",
                 "EPYC-Milan,EPYC-Genoa,EPYC-Turin", "-o", str(manifest)]) == 0
    out_dir = tmp_path / "ids"
    id_key = load_private_key(DATA / "keys" / "id_key_test.pem")
    author_key = load_private_key(DATA / "keys" / "author_key_test.pem")
    keys = ["--id-key", str(DATA / "keys" / "id_key_test.pem"), "--author-key",
            str(DATA / "keys" / "author_key_test.pem")]
    assert main(["id-block", "--manifest", str(manifest), "--out-dir", str(out_dir),
                 "--guest-svn", "7", "--no-smt"] + keys) == 0
    capsys.readouterr()
    index = json.loads((out_dir / "index.json").read_text())
    entries = json.loads(manifest.read_text())["measurements"]
    assert len(index["entries"]) == len(entries) == 192
    assert index["manifest"]["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    for item, entry in zip(index["entries"], entries):
        block = (out_dir / item["id_block_file"]).read_bytes()
        auth = (out_dir / item["id_auth_file"]).read_bytes()
        # the ID block layout (SNP ABI): LD, family ID, image ID, version, SVN, policy
        assert block[:48].hex() == entry["measurement"]
        assert int.from_bytes(block[84:88], "little") == 7  # guest SVN
        assert int.from_bytes(block[88:96], "little") == 0x20000  # policy: SMT off
        _verify_sev_signature(id_key.public_key(), auth[0x40:0x240], block)
        _verify_sev_signature(author_key.public_key(), auth[0x680:0x880], auth[0x240:0x644])
        assert item["qemu_properties"].startswith(
            "id-block=" + base64.b64encode(block).decode() + ",id-auth=")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids", "m.json"]  # nothing staged
    # the directory is replaced whole, only with --force, and only an earlier batch
    assert main(["id-block", "--manifest", str(manifest), "--out-dir", str(out_dir)] + keys) == 7
    assert main(["id-block", "--manifest", str(manifest), "--out-dir", str(tmp_path)] + keys
                + ["--force"]) == 7
    capsys.readouterr()
    # EC2 and GCE entries get none: those clouds take no ID block
    clouds = tmp_path / "clouds.json"
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1,2", "--vcpu-type",
                 "EPYC-Milan", "--vmm-type", "QEMU,ec2,gce", "-o", str(clouds)]) == 0
    assert main(["id-block", "--manifest", str(clouds), "--out-dir", str(tmp_path / "c")]
                + keys) == 0
    err = capsys.readouterr().err
    assert "4 EC2/GCE entries left out (those clouds take no ID block" in err
    index = json.loads((tmp_path / "c" / "index.json").read_text())
    assert [e["vmm_type"] for e in index["entries"]] == ["QEMU", "QEMU"]
    assert index["skipped_entries"] == 4


# -- Trustee ---------------------------------------------------------------------------------

def trustee_sample_extractor(message: str) -> dict:
    """Trustee's RVPS: version check, then the 'sample' extractor (rvps/src/lib.rs,
    rvps/src/extractors/sample/mod.rs at v0.21.0): strict standard base64, then JSON."""
    document = json.loads(message)
    assert document.get("version", "0.1.0") == "0.1.0", "Version unmatched"
    assert document["type"] == "sample"
    payload = base64.b64decode(document["payload"], validate=True)
    values = json.loads(payload)
    assert isinstance(values, dict)
    return values


def trustee_snp_policy(values: dict, claims: dict) -> dict:
    """The SNP block of ear_default_policy_cpu.rego (v0.16.0 to v0.21.0), in Python."""
    def rv(name):
        return values.get(name)

    executables = 3 if claims["measurement"] in (rv("snp_launch_measurement") or []) else 33
    hardware = 2 if all(claims[claim] in (rv(name) or []) for claim, name in (
        ("reported_tcb_bootloader", "snp_bootloader"), ("reported_tcb_microcode", "snp_microcode"),
        ("reported_tcb_snp", "snp_snp_svn"), ("reported_tcb_tee", "snp_tee_svn"))) else 97
    base = not claims["policy_debug_allowed"] and not claims["policy_migrate_ma"]
    full = base and all(claims[claim] == rv(name) for claim, name in (
        ("platform_smt_enabled", "snp_smt_enabled"), ("platform_tsme_enabled", "snp_tsme_enabled"),
        ("policy_abi_major", "snp_guest_abi_major"), ("policy_abi_minor", "snp_guest_abi_minor"),
        ("policy_single_socket", "snp_single_socket"), ("policy_smt_allowed", "snp_smt_allowed")))
    configuration = 2 if full else 3 if base else 36
    return {"executables": executables, "hardware": hardware, "configuration": configuration}


def reported_tcb(report) -> dict:
    """REPORTED_TCB (report offset 0x180) of a Milan/Genoa report: boot loader, TEE, 4 reserved
    bytes, SNP, microcode (SEV-SNP ABI, TCB_VERSION)."""
    raw = report.raw[0x180:0x188]
    return {"boot_loader": raw[0], "tee": raw[1], "snp": raw[6], "microcode": raw[7]}


def _claims_of(report) -> dict:
    """The SNP claims Trustee's verifier derives (deps/verifier/src/snp/mod.rs, v0.18.0+)."""
    from snpmeasure.abi.policy import decode_policy

    f = report.fields
    policy = decode_policy(f["policy"])
    tcb = reported_tcb(report)
    info = f["platform_info"]
    return {"measurement": f["measurement"].hex(), "policy_abi_major": policy["abi_major"],
            "policy_abi_minor": policy["abi_minor"], "policy_smt_allowed": policy["smt"],
            "policy_migrate_ma": policy["migrate_ma"], "policy_debug_allowed": policy["debug"],
            "policy_single_socket": policy["single_socket"],
            "reported_tcb_bootloader": tcb["boot_loader"], "reported_tcb_tee": tcb["tee"],
            "reported_tcb_snp": tcb["snp"], "reported_tcb_microcode": tcb["microcode"],
            "platform_smt_enabled": bool(info & 1), "platform_tsme_enabled": bool(info & 2)}


def test_rvps_message_passes_trustees_policy_for_a_real_report(tmp_path, capsys):
    from snpmeasure.formats.report import load_report

    keys, paths = _keys(tmp_path)
    report_path, plain, signed, document = _report_and_manifest(tmp_path, [keys["ed25519"]])
    report = load_report(report_path)
    claims = _claims_of(report)
    tcb = reported_tcb(report)
    args = ["export", "--format", "rvps", "--manifest", signed, "--manifest-key",
            paths["ed25519"][1], "--min-tcb",
            f"bl={tcb['boot_loader']},tee={tcb['tee']},snp={tcb['snp']},"
            f"ucode={tcb['microcode']}", "--policy", hex(report.fields["policy"]),
            "--smt", "on" if claims["platform_smt_enabled"] else "off",
            "--tsme", "on" if claims["platform_tsme_enabled"] else "off"]
    assert main(args) == 0
    values = trustee_sample_extractor(capsys.readouterr().out)
    assert values["snp_launch_measurement"] == [claims["measurement"]]
    assert trustee_snp_policy(values, claims) == {"executables": 3, "hardware": 2,
                                                  "configuration": 2}
    # a TCB one below the minimum, another measurement: the policy says so
    lower = dict(claims, reported_tcb_snp=tcb["snp"] - 1 if tcb["snp"] else 0)
    if tcb["snp"]:
        assert trustee_snp_policy(values, lower)["hardware"] == 97
    assert trustee_snp_policy(values, dict(claims, measurement="00" * 48))["executables"] == 33
    # the base64 spelling of Trustee v0.17 and earlier
    assert main(["export", "--format", "rvps", "--manifest", plain,
                 "--measurement-encoding", "base64"]) == 0
    old = trustee_sample_extractor(capsys.readouterr().out)
    assert old == {"snp_launch_measurement": [
        base64.b64encode(bytes.fromhex(claims["measurement"])).decode()]}


def test_export_refusals(tmp_path, capsys):
    keys, paths = _keys(tmp_path)
    _, plain, signed, _ = _report_and_manifest(tmp_path, [keys["p256"]])
    cases = [
        (["--format", "rvps", "--manifest", signed], 8),                    # signed, no key
        (["--format", "rvps", "--manifest", plain, "--policy", "0xB0000"], 2),  # debug allowed
        (["--format", "rvps", "--manifest", plain, "--min-tcb", "fmc=1"], 2),
        (["--format", "rvps", "--manifest", plain, "--vlek"], 2),
        (["--format", "xml", "--manifest", plain], 2),
        (["--format", "rvps"], 2),
        # options that would be silently unused, and a policy no guest can have
        (["--format", "rvps", "--manifest", plain, "--sign-passphrase-file", "/nonexistent"], 2),
        (["--format", "rvps", "--manifest", plain, "--signer-name", "x"], 2),
        (["--format", "corim", "--manifest", plain, "--sign-passphrase-env", "X"], 2),
        (["--format", "corim", "--manifest", plain, "--product", "Milan"], 2),
        (["--format", "rvps", "--manifest", plain, "--policy", "0"], 2),
        (["--format", "corim", "--manifest", plain, "--policy", "0x4030000"], 2),
    ]
    for args, code in cases:
        assert main(["export"] + args) == code, args
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert code != 2 or "--" in err, err   # the flag is named


# -- CoRIM from the command line (the module's own tests: test_corim.py) ---------------------

def _decode_corim(data: bytes):
    import cbor2

    corim = cbor2.loads(data)
    assert corim.tag == 501
    comids = [cbor2.loads(tag.value) for tag in corim.value[1]]
    return corim.value, comids


def test_export_corim_command(tmp_path, capsys):
    import cbor2

    keys, paths = _keys(tmp_path)
    _, plain, signed, document = _report_and_manifest(tmp_path, [keys["p256"]])
    out = tmp_path / "m.corim"
    chip = bytes(range(64))
    assert main(["export", "--format", "corim", "--manifest", signed, "--manifest-key",
                 paths["p256"][1], "--min-tcb", "bl=3,tee=1,snp=22,ucode=213", "--policy",
                 "0x30000", "--chip-id", chip.hex(), "-o", str(out)]) == 0
    corim, (comid,) = _decode_corim(out.read_bytes())
    assert corim[3] == cbor2.CBORTag(32, "tag:amd.com,2024:snp-corim-profile")
    (triple,) = comid[4][0]
    environment, claims = triple
    assert environment[0][0] == cbor2.CBORTag(111, bytes.fromhex("2b060104019c780301"))
    assert environment[1] == cbor2.CBORTag(560, chip)
    by_key = {claim[0]: claim[1] for claim in claims}
    assert by_key[641] == {2: [[7, bytes.fromhex(document["measurements"][0]["measurement"])]]}
    assert by_key[2] == {4: cbor2.CBORTag(560, (0x30000).to_bytes(8, "little"))}
    # Milan's TCB_VERSION (the manifest's CPU is EPYC-Milan): bl, tee, 4 reserved, snp, ucode
    expected_tcb = int.from_bytes(bytes([3, 1, 0, 0, 0, 0, 22, 213]), "little")
    assert by_key[647] == {1: cbor2.CBORTag(553, expected_tcb)}
    # --product for a manifest whose entries all name their CPU: it would not be used
    assert main(["export", "--format", "corim", "--manifest", plain, "--min-tcb", "bl=3",
                 "--product", "Turin", "-o", str(tmp_path / "t.corim")]) == 2
    assert "--product Turin would not be used: every entry names its CPU" in \
        capsys.readouterr().err
    # signed: a COSE_Sign1 around the same CoRIM
    assert main(["export", "--format", "corim", "--manifest", plain, "--sign",
                 paths["ed25519"][0], "--signer-name", "ACME CI", "-o",
                 str(tmp_path / "s.corim")]) == 0
    cose = cbor2.loads((tmp_path / "s.corim").read_bytes())
    assert cose.tag == 18
    protected = cbor2.loads(cose.value[0])
    assert protected[1] == -8 and protected[3] == "application/rim+cbor"
    assert cbor2.loads(protected[8]) == {0: {0: "ACME CI"}}
    for args in (["--csp-id", "cloud"], ["--vlek", "--chip-id", chip.hex()],
                 ["--min-tcb", "fmc=1"]):
        assert main(["export", "--format", "corim", "--manifest", plain, "-o",
                     str(tmp_path / "x.corim")] + args) == 2, args
        assert capsys.readouterr().err.count("\n") == 1


def _claims_by_measurement(path) -> dict:
    _, comids = _decode_corim(path.read_bytes())
    out = {}
    for comid in comids:
        for _, claims in comid[4][0]:
            by_key = {claim[0]: claim[1] for claim in claims}
            out[by_key[641][2][0][1].hex()] = by_key.get(647, {}).get(1)
    return out


def test_corim_min_tcb_follows_each_entrys_product(tmp_path, capsys):
    """Each measurement's REPORTED_TCB minimum is packed in the layout of the product its
    entries run on (AMD SEV-SNP ABI, TCB_VERSION: Milan and Genoa bl, tee, -, snp, ucode;
    Turin fmc, bl, tee, snp, -, ucode); EC2 entries (no CPU) take --product."""
    import cbor2

    manifest, turin_manifest = tmp_path / "m.json", tmp_path / "turin.json"
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1",
                 "--vcpu-type", "EPYC-Milan,EPYC-Genoa", "--vmm-type", "QEMU,gce",
                 "-o", str(manifest)]) == 0
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1",
                 "--vcpu-type", "EPYC-Turin", "-o", str(turin_manifest)]) == 0
    entries = json.loads(manifest.read_text())["measurements"] + \
        json.loads(turin_manifest.read_text())["measurements"]
    product = {("EPYC-Milan", "QEMU"): "Milan", ("EPYC-Genoa", "QEMU"): "Genoa",
               ("EPYC-Turin", "QEMU"): "Turin", ("EPYC-Milan", "gce"): "Milan",
               ("EPYC-Genoa", "gce"): "Genoa"}
    layouts = {"Milan": bytes([3, 1, 0, 0, 0, 0, 22, 213]),
               "Genoa": bytes([3, 1, 0, 0, 0, 0, 22, 213]),
               "Turin": bytes([0, 3, 1, 22, 0, 0, 0, 213])}
    out = tmp_path / "c.corim"
    assert main(["export", "--format", "corim", "--manifest", str(manifest), "--manifest",
                 str(turin_manifest), "--min-tcb", "bl=3,tee=1,snp=22,ucode=213",
                 "-o", str(out)]) == 0
    claims = _claims_by_measurement(out)
    assert len(claims) == 5 == len(entries)
    for entry in entries:
        name = product[(entry["vcpu_type"], entry["vmm_type"])]
        assert claims[entry["measurement"]] == cbor2.CBORTag(
            553, int.from_bytes(layouts[name], "little")), entry
    # fmc exists on Turin only: refused for the Milan entries
    assert main(["export", "--format", "corim", "--manifest", str(manifest), "--min-tcb",
                 "fmc=1", "-o", str(tmp_path / "x.corim")]) == 2
    assert "fmc is not a TCB component of Milan" in capsys.readouterr().err
    # EC2: no CPU in the entries, so the layout comes from --product, and only from it
    ec2 = tmp_path / "ec2.json"
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1,2",
                 "--vmm-type", "ec2", "-o", str(ec2)]) == 0
    args = ["export", "--format", "corim", "--manifest", str(ec2), "--min-tcb", "bl=3,fmc=2"]
    assert main(args + ["-o", str(tmp_path / "e.corim")]) == 2
    assert "give --product Milan, Genoa or Turin for them" in capsys.readouterr().err
    assert main(args + ["--product", "turin", "-o", str(tmp_path / "e.corim")]) == 0
    turin = int.from_bytes(bytes([2, 3, 0, 0, 0, 0, 0, 0]), "little")
    assert set(_claims_by_measurement(tmp_path / "e.corim").values()) == \
        {cbor2.CBORTag(553, turin)}
    # EC2 entries beside Milan and Genoa ones (the README's manifest): --product gives the EC2
    # entries their layout, the others keep their own
    assert main(["export", "--format", "corim", "--manifest", str(manifest), "--manifest",
                 str(ec2), "--min-tcb", "bl=3,tee=1,snp=22,ucode=213", "--product", "Turin",
                 "-o", str(tmp_path / "y.corim")]) == 0
    mixed = _claims_by_measurement(tmp_path / "y.corim")
    for entry in json.loads(manifest.read_text())["measurements"]:
        name = product[(entry["vcpu_type"], entry["vmm_type"])]
        assert mixed[entry["measurement"]] == cbor2.CBORTag(
            553, int.from_bytes(layouts[name], "little"))
    for entry in json.loads(ec2.read_text())["measurements"]:
        assert mixed[entry["measurement"]] == cbor2.CBORTag(
            553, int.from_bytes(layouts["Turin"], "little"))
    # one measurement on two products whose layouts differ cannot hold one minimum
    from snpmeasure.cli.export import _tcb_versions
    same = {"measurement": "ab" * 48, "vmm_type": "QEMU"}
    document = {"measurements": [{**same, "vcpu_type": "EPYC-Milan"},
                                 {**same, "vcpu_type": "EPYC-Turin"}]}
    with pytest.raises(ConfigError, match="whose TCB_VERSION layouts differ"):
        _tcb_versions({"boot_loader": 3}, None, [document])
    document["measurements"][1]["vcpu_type"] = "EPYC-Genoa"   # Milan's and Genoa's agree
    assert len(_tcb_versions({"boot_loader": 3}, None, [document])) == 1


@pytest.mark.parametrize("document,shown", [
    ({}, "manifest_version: missing: not a snpmeasure manifest"),
    ({"manifest_version": 9}, "manifest_version: 9 is not a version this release reads (1 or 2)"),
    ({"manifest_version": True}, "manifest_version: true is not a version"),
])
def test_a_manifest_of_an_unknown_version_is_named_in_words(document, shown, tmp_path, capsys):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    assert main(["export", "--format", "rvps", "--manifest", str(path)]) == 4
    out, err = capsys.readouterr()
    assert out == "" and f"{path}: {shown}" in err and "None" not in err


def test_rvps_says_which_entries_it_leaves_out(tmp_path, capsys):
    """Trustee's SNP reference values hold SNP measurements: SEV-ES entries are left out, with a
    warning that counts them (as the CoRIM export does)."""
    mixed = tmp_path / "mixed.json"
    assert main(["manifest", "--mode", "seves", "--ovmf", OVMF, "--vcpus", "1,2", "--vcpu-type",
                 "EPYC", "-o", str(tmp_path / "es.json")]) == 0
    assert main(["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type",
                 "EPYC", "-o", str(mixed)]) == 0
    capsys.readouterr()
    assert main(["export", "--format", "rvps", "--manifest", str(tmp_path / "es.json"),
                 "--manifest", str(mixed)]) == 0
    out, err = capsys.readouterr()
    payload = json.loads(base64.b64decode(json.loads(out)["payload"]))
    assert len(payload["snp_launch_measurement"]) == 1
    assert "skipped 2 SEV/SEV-ES measurements" in err


def test_an_id_block_batch_takes_one_manifest(tmp_path, capsys):
    _, plain, _, _ = _report_and_manifest(tmp_path)
    assert main(["id-block", "--manifest", plain, "--manifest", plain, "--out-dir",
                 str(tmp_path / "ids"), "--id-key", str(DATA / "keys" / "id_key_test.pem")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--manifest given 2 times: a batch signs one manifest" in err
    assert not (tmp_path / "ids").exists()


@pytest.mark.parametrize("key,value", [
    ("vcpu_sig", "zz"), ("vcpu_sig", True), ("vcpu_sig", 5), ("vcpu_sig", "0x1ffffffff"),
    ("vcpus", 0), ("vcpus", "4"), ("vcpus", True), ("vmm_type", "xen"), ("mode", 3),
    ("guest_features", "1"), ("legacy_vm_type", "off"), ("vcpu_type", "\x1b[31m"),
])
def test_every_manifest_reader_refuses_a_malformed_entry(key, value, tmp_path, capsys):
    """Entry values are checked where manifests are read (their schema's types and ranges), so
    no reader decodes one unchecked (the CoRIM TCB layout decodes vcpu_sig: it was exit 1)."""
    _, plain, _, document = _report_and_manifest(tmp_path)
    document["measurements"][0][key] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    for args in (["export", "--format", "corim", "--manifest", str(bad), "--min-tcb", "bl=3"],
                 ["export", "--format", "rvps", "--manifest", str(bad)],
                 _verify_args(str(DATA / "reports" / "report_milan.hex")) + ["--manifest",
                                                                             str(bad)]):
        assert main(args) == 4, args
        out, err = capsys.readouterr()
        assert out == "" and f"bad.json: measurements[0].{key}: " in err
        assert "\x1b" not in err and err.count("\n") == 1
