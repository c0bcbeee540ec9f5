"""ID blocks, ID_AUTH and key digests (SPEC-NOTES section 7)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import warnings

import pytest
from conftest import DATA, ROOT, SAMPLES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from snpmeasure.abi import id_block as L
from snpmeasure.cli.main import main
from snpmeasure.errors import ConfigError, UnsupportedError, VerificationError
from snpmeasure.attestation.idblock import IdBlock, sign_id_block, verify_id_auth
from snpmeasure.formats.keys import key_digest, load_private_key

KEYS = DATA / "keys"
ID_KEY = KEYS / "id_key_test.pem"
AUTHOR_KEY = KEYS / "author_key_test.pem"
DIGEST_B64 = "1QXJrNIKUu0K/T52PTt7G91pXVTViKPp15V7gDtFdgIzLVkReBSFtVLLvtkKIPI1"
DIGEST = base64.b64decode(DIGEST_B64)
VECTORS = json.loads((DATA / "vectors.json").read_text())["id_key_digests"]


def test_key_digests_equal_the_published_values(capsys):
    for name in ("id_key_test.pem", "author_key_test.pem"):
        published = VECTORS[f"keys/{name}"]
        key = load_private_key(KEYS / name)
        assert base64.b64encode(key_digest(key.public_key())).decode() == published
        assert main(["key-digest", str(KEYS / name), "--output-format", "base64"]) == 0
        assert capsys.readouterr().out == published + "\n"
        assert main(["key-digest", str(KEYS / name)]) == 0
        assert capsys.readouterr().out == base64.b64decode(published).hex() + "\n"


def test_key_digest_of_public_key_and_der_forms(tmp_path, capsys):
    key = load_private_key(ID_KEY)
    pub = tmp_path / "id.pub.der"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    der = tmp_path / "id.der"
    der.write_bytes(key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    expected = base64.b64decode(VECTORS["keys/id_key_test.pem"]).hex() + "\n"
    for path in (pub, der):
        assert main(["key-digest", str(path)]) == 0
        assert capsys.readouterr().out == expected


def independent_key_digest(public_key) -> bytes:
    """The 0x404-byte SEV key built by hand from SPEC-NOTES, independent of abi/id_block.py."""
    n = public_key.public_numbers()
    raw = (2).to_bytes(4, "little") + n.x.to_bytes(72, "little") + n.y.to_bytes(72, "little")
    import hashlib
    return hashlib.sha384(raw + bytes(0x404 - len(raw))).digest()


def test_key_digest_of_fresh_keys_equals_an_independent_computation(tmp_path, capsys):
    for _ in range(5):
        key = ec.generate_private_key(ec.SECP384R1())
        path = tmp_path / "k.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
        assert main(["key-digest", str(path)]) == 0
        assert capsys.readouterr().out == independent_key_digest(key.public_key()).hex() + "\n"


def test_key_digest_of_a_der_and_pem_certificate_is_quiet(tmp_path, capsys):
    """AMD's VCEK (serial number 0, which cryptography warns about) in DER and PEM: the digest
    of its P-384 key, and no warning from the library underneath."""
    from cryptography import x509

    der = DATA / "reports" / "vcek_milan.der"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the serial number, here in the test's own parsing
        cert = x509.load_der_x509_certificate(der.read_bytes())
    pem = tmp_path / "vcek.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for path in (der, pem):
        assert main(["key-digest", str(path)]) == 0
        out, err = capsys.readouterr()
        assert out == independent_key_digest(cert.public_key()).hex() + "\n" and err == ""
    two = tmp_path / "two.pem"
    two.write_bytes(pem.read_bytes() * 2)
    assert main(["key-digest", str(two)]) == 4
    assert "holds 2 certificates; one is expected" in capsys.readouterr().err


def test_key_digest_of_junk_names_every_kind_it_takes(tmp_path, capsys):
    (tmp_path / "junk").write_bytes(b"\x30\x03junk")
    assert main(["key-digest", str(tmp_path / "junk")]) == 4
    out, err = capsys.readouterr()
    assert out == "" and "not a PEM or DER key or certificate" in err


def test_launch_options_with_a_given_measurement_are_refused(tmp_path, capsys):
    """--measurement is the digest itself: launch options beside it would be silently unused."""
    base = ["id-block", "--measurement", DIGEST_B64, "--id-key", str(ID_KEY)]
    assert main(base + ["--vcpus", "4", "--vcpu-type", "EPYC-Genoa", "--no-legacy-vm-type"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "--vcpus, --vcpu-type, --no-legacy-vm-type would not be used" in err
    # ID block options are not launch options
    assert main(base + ["--guest-svn", "2", "--no-smt", "--vmm-type", "QEMU"]) == 0
    capsys.readouterr()


def test_id_block_layout_is_byte_exact():
    block = IdBlock(launch_digest=DIGEST, family_id="00112233445566778899aabbccddeeff",
                    image_id="a0b1c2d3-e4f5-0617-2839-4a5b6c7d8e9f", version=1, guest_svn=7,
                    policy=0x30000 | (1 << 19))
    expected = (DIGEST + bytes.fromhex("00112233445566778899aabbccddeeff")
                + bytes.fromhex("a0b1c2d3e4f5061728394a5b6c7d8e9f") + (1).to_bytes(4, "little")
                + (7).to_bytes(4, "little") + (0xB0000).to_bytes(8, "little"))
    assert block.to_bytes() == expected and len(expected) == 0x60


def _verify_sev_signature(public_key, sig: bytes, data: bytes):
    r = int.from_bytes(sig[:72], "little")
    s = int.from_bytes(sig[72:144], "little")
    assert sig[144:] == bytes(0x200 - 144)
    public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA384()))


def test_signatures_verify_independently_with_cryptography():
    id_key, author_key = load_private_key(ID_KEY), load_private_key(AUTHOR_KEY)
    signed = sign_id_block(IdBlock(launch_digest=DIGEST), id_key, author_key)
    auth = signed.id_auth
    assert len(auth) == 0x1000
    assert int.from_bytes(auth[0:4], "little") == 1 and int.from_bytes(auth[4:8], "little") == 1
    _verify_sev_signature(id_key.public_key(), auth[0x40:0x240], signed.id_block)
    _verify_sev_signature(author_key.public_key(), auth[0x680:0x880], auth[0x240:0x644])
    assert auth[0x8:0x40] == bytes(0x38) and auth[0x644:0x680] == bytes(0x3C)
    assert auth[0xC84:] == bytes(0x1000 - 0xC84)
    assert independent_key_digest(id_key.public_key()) == signed.id_key_digest
    assert independent_key_digest(author_key.public_key()) == signed.author_key_digest


def test_without_author_key_the_author_fields_are_zero():
    signed = sign_id_block(IdBlock(launch_digest=DIGEST), load_private_key(ID_KEY))
    assert signed.author_key_digest is None
    assert "author-key-enabled" not in signed.qemu_properties
    assert signed.id_auth[0x680:0xC84] == bytes(0xC84 - 0x680)
    assert int.from_bytes(signed.id_auth[4:8], "little") == 0


def test_tampered_blocks_do_not_verify():
    signed = sign_id_block(IdBlock(launch_digest=DIGEST), load_private_key(ID_KEY),
                           load_private_key(AUTHOR_KEY))
    block = bytearray(signed.id_block)
    block[0] ^= 1
    with pytest.raises(VerificationError, match="ID block signature"):
        verify_id_auth(bytes(block), signed.id_auth, True)
    auth = bytearray(signed.id_auth)
    auth[0x680 + 5] ^= 1
    with pytest.raises(VerificationError, match="ID key signature"):
        verify_id_auth(signed.id_block, bytes(auth), True)


def test_peer_form_and_output(capsys):
    from sevsnpmeasure.id_block import snp_calc_id_block

    peer = snp_calc_id_block(DIGEST, str(ID_KEY), str(AUTHOR_KEY)).splitlines()
    assert main(["id-block", "--measurement", DIGEST_B64, "--idkey", str(ID_KEY),
                 "--authorkey", str(AUTHOR_KEY)]) == 0
    ours = capsys.readouterr().out.splitlines()
    assert len(ours) == len(peer) == 3
    # ECDSA signatures are randomised: the ID block and the key lines are deterministic
    assert ours[0].split(",")[0] == peer[0].split(",")[0]
    assert ours[1:] == peer[1:]
    ours_auth = base64.b64decode(ours[0].split(",id-auth=")[1])
    peer_auth = base64.b64decode(peer[0].split(",id-auth=")[1])
    assert ours_auth[0x240:0x644] == peer_auth[0x240:0x644]
    assert ours_auth[0x880:0xC84] == peer_auth[0x880:0xC84]
    verify_id_auth(base64.b64decode(ours[0].split(",")[0][len("id-block="):]), ours_auth, True)


def test_peer_form_through_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "snpmeasure", "id-block", "--measurement", DIGEST_B64,
         "--idkey", str(ID_KEY), "--authorkey", str(AUTHOR_KEY)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("id-block=" + DIGEST_B64[:-4])
    assert lines[1] == "id_key_hash: " + VECTORS["keys/id_key_test.pem"]
    assert lines[2] == "author_key: " + VECTORS["keys/author_key_test.pem"]


def test_json_output_fields(capsys, tmp_path):
    out_block, out_auth = tmp_path / "id_block.bin", tmp_path / "id_auth.bin"
    assert main(["id-block", "--measurement", DIGEST.hex(), "--id-key", str(ID_KEY),
                 "--author-key", str(AUTHOR_KEY), "--family-id", "11" * 16,
                 "--image-id", "22" * 16, "--guest-svn", "3", "--id-version", "1",
                 "--no-smt", "--allow-debug", "--abi-major", "1", "--abi-minor", "51",
                 "--single-socket", "--output-format", "json",
                 "--id-block-out", str(out_block), "--id-auth-out", str(out_auth)]) == 0
    doc = json.loads(capsys.readouterr().out)
    block = base64.b64decode(doc["id_block"])
    auth = base64.b64decode(doc["id_auth"])
    assert out_block.read_bytes() == block and out_auth.read_bytes() == auth
    policy = (1 << 17) | (1 << 19) | (1 << 20) | (1 << 8) | 51
    assert doc["fields"]["policy"] == hex(policy)
    assert doc["fields"]["policy_decoded"]["smt"] is False
    assert doc["fields"]["policy_decoded"]["debug"] is True
    assert doc["fields"]["policy_decoded"]["abi_minor"] == 51
    assert doc["fields"]["family_id"] == "11" * 16 and doc["fields"]["image_id"] == "22" * 16
    assert doc["fields"]["guest_svn"] == 3 and doc["fields"]["launch_digest"] == DIGEST.hex()
    assert doc["id_key_digest"] == base64.b64decode(VECTORS["keys/id_key_test.pem"]).hex()
    assert doc["author_key_digest"] == base64.b64decode(VECTORS["keys/author_key_test.pem"]).hex()
    assert doc["author_key_enabled"] is True and doc["qemu_properties"].endswith(",author-key-enabled=on")
    _verify_sev_signature(load_private_key(ID_KEY).public_key(), auth[0x40:0x240], block)


def test_measurement_computed_in_the_same_call(capsys):
    assert main(["id-block", "--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-Genoa",
                 "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"), "--id-key", str(ID_KEY),
                 "--output-format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fields"]["launch_digest"] == DIGEST.hex()  # vectors.json debian-amdsev-snp-4vcpu


def test_encrypted_key_passphrase_from_env_and_file(tmp_path, monkeypatch, capsys):
    key = load_private_key(ID_KEY)
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"s3cret pass")))
    base = ["id-block", "--measurement", DIGEST_B64, "--id-key", str(path)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "encrypted" in err and "s3cret" not in err
    assert "--id-key-passphrase-env or --id-key-passphrase-file" in err
    assert main(["key-digest", str(path)]) == 2
    assert "--passphrase-env or --passphrase-file" in capsys.readouterr().err
    (tmp_path / "pass").write_bytes(b"s3cret pass\n")
    assert main(["key-digest", str(path), "--passphrase-file", str(tmp_path / "pass")]) == 0
    assert capsys.readouterr().out == \
        base64.b64decode(VECTORS["keys/id_key_test.pem"]).hex() + "\n"  # vectors.json
    # report verify has no passphrase options: an encrypted --id-key asks for the public half
    assert main(["report", "verify", str(DATA / "reports" / "report_milan.hex"),
                 "--id-key", str(path)]) == 2
    err = capsys.readouterr().err
    assert "encrypted private key; give its public key or certificate" in err
    monkeypatch.setenv("IDPASS", "s3cret pass")
    assert main(base + ["--id-key-passphrase-env", "IDPASS"]) == 0
    with_env = capsys.readouterr().out
    pass_file = tmp_path / "pass"
    assert main(base + ["--id-key-passphrase-file", str(pass_file)]) == 0
    assert capsys.readouterr().out.split(",")[0] == with_env.split(",")[0]
    monkeypatch.setenv("IDPASS", "wrong")
    assert main(base + ["--id-key-passphrase-env", "IDPASS"]) == 2
    err = capsys.readouterr().err
    assert "wrong" not in err.replace("wrong passphrase", "") and "s3cret" not in err
    monkeypatch.delenv("IDPASS")
    assert main(base + ["--id-key-passphrase-env", "IDPASS"]) == 2
    assert "IDPASS" in capsys.readouterr().err


def _write(tmp_path, name, key):
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@pytest.mark.parametrize("maker,words", [
    (lambda: rsa.generate_private_key(65537, 2048), "not an ECDSA P-384"),
    (lambda: ec.generate_private_key(ec.SECP256R1()), "not P-384"),
])
def test_wrong_key_types_refused(tmp_path, capsys, maker, words):
    path = _write(tmp_path, "bad.pem", maker())
    assert main(["id-block", "--measurement", DIGEST_B64, "--id-key", str(path)]) == 5
    out, err = capsys.readouterr()
    assert out == "" and words in err and err.count("\n") == 1
    with pytest.raises(UnsupportedError):
        load_private_key(path)


BAD = [
    (["--measurement", "abcd"], "48"),
    (["--measurement", "zz" * 48], "hex"),
    (["--measurement", DIGEST_B64, "--family-id", "00" * 15], "16"),
    (["--measurement", DIGEST_B64, "--image-id", "not-a-uuid"], "--image-id"),
    (["--measurement", DIGEST_B64, "--policy", "0x10000"], "bit 17"),
    (["--measurement", DIGEST_B64, "--policy", "0x4030000"], "reserved"),
    (["--measurement", DIGEST_B64, "--abi-major", "256"], "--abi-major"),
    (["--measurement", DIGEST_B64, "--guest-svn", str(1 << 32)], "--guest-svn"),
    ([], "--measurement"),
    (["--measurement", DIGEST_B64, "--mode", "snp", "--ovmf", "x"], "either"),
    (["--measurement", DIGEST_B64, "--output-format", "xml"], "--output-format"),
]


@pytest.mark.parametrize("args,words", BAD, ids=lambda v: str(v)[:40])
def test_bad_fields_refused(args, words, capsys):
    assert main(["id-block", "--id-key", str(ID_KEY), *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and words in err and err.count("\n") == 1


def test_missing_and_malformed_key_files(tmp_path, capsys):
    assert main(["id-block", "--measurement", DIGEST_B64]) == 2
    assert "--id-key" in capsys.readouterr().err
    assert main(["id-block", "--measurement", DIGEST_B64, "--id-key", "/nonexistent.pem"]) == 3
    assert "/nonexistent.pem" in capsys.readouterr().err
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    assert main(["id-block", "--measurement", DIGEST_B64, "--id-key", str(junk)]) == 4
    assert main(["key-digest", str(junk)]) == 4  # malformed input (README exit codes)
    capsys.readouterr()


def test_policy_helpers():
    from snpmeasure.abi.policy import decode_policy
    from snpmeasure.attestation.policy import build_policy

    assert build_policy(0x30000, smt=False) == 0x20000
    assert build_policy(0x30000, debug=True, migrate_ma=True) == 0x30000 | (1 << 19) | (1 << 18)
    assert decode_policy(0x30000)["smt"] is True
    with pytest.raises(ConfigError):
        build_policy(0x10000)


def test_id_auth_layout_offsets():
    assert L.IdAuth.sizeof() == 0x1000 and L.IdBlock.sizeof() == 0x60
    assert L.EcdsaPublicKey.sizeof() == 0x404 and L.EcdsaSignature.sizeof() == 0x200


def test_snp_create_id_block_alias(capsys):
    from sevsnpmeasure.id_block import snp_calc_id_block

    peer = snp_calc_id_block(DIGEST, str(ID_KEY), str(AUTHOR_KEY)).splitlines()
    assert main(["snp-create-id-block", "--measurement", DIGEST_B64, "--idkey", str(ID_KEY),
                 "--authorkey", str(AUTHOR_KEY)]) == 0
    ours = capsys.readouterr().out.splitlines()
    assert ours[0].split(",")[0] == peer[0].split(",")[0] and ours[1:] == peer[1:]
    assert main(["snp-create-id-block", "--measurement", DIGEST_B64, "--idkey",
                 str(ID_KEY)]) == 2
    assert "missing key files" in capsys.readouterr().err


def test_hex_text_is_never_read_as_base64():
    """64 hex digits are a 32-byte value; read as base64 they would be 48 bytes of garbage."""
    from snpmeasure.formats.encoding import parse_bytes_value, parse_measurement

    sev = "ab" * 32
    assert parse_measurement(sev) == bytes.fromhex(sev)
    with pytest.raises(ConfigError):
        parse_bytes_value(sev, 48, "--measurement")
    assert parse_bytes_value(DIGEST_B64, 48, "--measurement") == DIGEST


def test_passphrase_for_an_unencrypted_key_is_named_as_such(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IDPASS", "whatever")
    assert main(["id-block", "--measurement", DIGEST_B64, "--id-key", str(ID_KEY),
                 "--id-key-passphrase-env", "IDPASS"]) == 2
    err = capsys.readouterr().err
    assert "not encrypted" in err and "whatever" not in err
