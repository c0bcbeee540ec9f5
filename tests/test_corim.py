"""CoRIM output checked against the CDDL of draft-ietf-rats-corim-11 and the AMD SEV-SNP profile
(draft-deeglaze-amd-sev-snp-corim-profile-02) with an independent decoder (cbor2), and COSE_Sign1
signatures checked with ``cryptography`` directly (RFC 9052 section 4.4 Sig_structure, RFC 9053
r || s)."""
from __future__ import annotations

import hashlib
import re

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from snpmeasure.errors import (ConfigError, FormatError, SnpMeasureWarning, UnsupportedError,
                               VerificationError)
from snpmeasure.publish import corim as C

# The launch measurement of Veraison's SEV-SNP test CoRIM (veraison/services
# scheme/sevsnp/test/corim/corim-sevsnp-valid.cbor) and its mkey-641 measurement-map there.
VERAISON_MEASUREMENT = ("7699e6ac12ccdfd1dfac70e649ce1f046cb2afbb003438f4cdddfe2ccbe182fa5ffbe8dc"
                        "db930454324e10c52c788980")
VERAISON_641 = bytes.fromhex("a20019028101a1028182075830" + VERAISON_MEASUREMENT)
M2 = hashlib.sha384(b"second launch").hexdigest()
M3 = hashlib.sha384(b"svsm launch").hexdigest()
SEV_ES = hashlib.sha256(b"sev-es launch").hexdigest()
CHIP_OID = bytes.fromhex("2b060104019c780301")   # 1.3.6.1.4.1.3704.3.1, BER contents octets
CSP_OID = bytes.fromhex("2b060104019c780302")    # 1.3.6.1.4.1.3704.3.2
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def entry(mode: str, measurement: str, vcpus: int = 1, vcpu_type: str = "EPYC-v4") -> dict:
    return {"mode": mode, "vcpus": vcpus, "vcpu_type": vcpu_type, "vcpu_sig": None,
            "vmm_type": "QEMU", "guest_features": "0x1" if mode.startswith("snp") else "0x0",
            "legacy_vm_type": None, "measurement": measurement}


def manifest(*entries) -> dict:
    return {"tool": "snpmeasure", "version": "0", "manifest_version": 2, "mode": "snp",
            "future_key": {"ignored": True}, "measurements": list(entries)}


def mixed_manifest() -> dict:
    """Three distinct SNP measurements, one repeated, and one SEV-ES entry."""
    return manifest(entry("snp", VERAISON_MEASUREMENT, 1), entry("snp", M2, 2),
                    entry("seves", SEV_ES, 2), entry("snp", VERAISON_MEASUREMENT, 1, "EPYC-Genoa"),
                    entry("snp:svsm", M3, 4))


def build(manifests=None, **kw) -> bytes:
    with pytest.warns(SnpMeasureWarning):
        return C.build_corim(manifests or [mixed_manifest()], **kw)


def thaw(value):
    """Plain dicts and lists for cbor2's frozendicts and tuples (found inside tags)."""
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, thaw(value.value))
    if isinstance(value, (dict, cbor2.frozendict)):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


def unsigned_map(data: bytes) -> dict:
    item = cbor2.loads(data)
    assert isinstance(item, cbor2.CBORTag) and item.tag == 501
    return thaw(item.value)


def comids(data: bytes) -> list[dict]:
    tags = unsigned_map(data)[1]
    assert all(isinstance(tag, cbor2.CBORTag) and tag.tag == 506 for tag in tags)
    assert all(isinstance(tag.value, bytes) for tag in tags)
    return [thaw(cbor2.loads(tag.value)) for tag in tags]


def triples(data: bytes, index: int = 0) -> list:
    return comids(data)[index][4][0]


# --- the unsigned CoRIM against the CDDL -------------------------------------------------------

def test_corim_map_fields():
    data = build()
    assert data[:3] == bytes.fromhex("d901f5")          # #6.501, two-byte tag head
    corim = unsigned_map(data)
    assert set(corim) == {0, 1, 3}
    assert isinstance(corim[0], str) and corim[0]
    assert isinstance(corim[1], list) and len(corim[1]) == 1
    profile = corim[3]                                 # a single #6.32 URI, not an array
    assert isinstance(profile, cbor2.CBORTag) and profile.tag == 32
    assert profile.value == "tag:amd.com,2024:snp-corim-profile" == C.PROFILE
    assert bytes.fromhex("d82078227461673a616d642e636f6d2c323032343a736e702d636f72696d2d70726f66"
                         "696c65") in data


def test_concise_mid_tag_fields():
    (comid,) = comids(build())
    assert set(comid) <= {0, 1, 4} and {1, 4} <= set(comid)
    assert set(comid[1]) == {0} and isinstance(comid[1][0], str) and comid[1][0]
    assert set(comid[4]) == {0}                       # reference-triples only
    assert isinstance(comid[4][0], list) and comid[4][0]


def test_reference_triples_in_order_deduplicated():
    records = triples(build())
    digests = []
    for record in records:
        assert isinstance(record, list) and len(record) == 2
        environment, claims = record
        assert environment == {0: {0: cbor2.CBORTag(111, CHIP_OID)}}
        assert set(environment[0]) == {0}             # no vendor (1), model (2), layer, index
        assert len(claims) == 1
        assert claims[0][0] == 641 and set(claims[0]) == {0, 1} and set(claims[0][1]) == {2}
        ((alg, value),) = claims[0][1][2]
        assert alg == 7 and isinstance(value, bytes) and len(value) == 48
        digests.append(value.hex())
    assert digests == [VERAISON_MEASUREMENT, M2, M3]


def test_class_id_bytes_have_no_der_header():
    (comid_bytes,) = [tag.value for tag in cbor2.loads(build()).value[1]]
    assert comid_bytes.count(bytes.fromhex("d86f492b060104019c780301")) == 3
    assert b"\x06\x09\x2b\x06\x01\x04\x01\x9c\x78" not in comid_bytes
    assert C.CLASS_ID_CHIP == CHIP_OID and C.CLASS_ID_CSP == CSP_OID


def test_vlek_uses_the_csp_class():
    for record in triples(build(vlek=True)):
        assert record[0] == {0: {0: cbor2.CBORTag(111, CSP_OID)}}


def test_measurement_map_bytes_match_veraison():
    (comid_bytes,) = [tag.value for tag in cbor2.loads(build()).value[1]]
    assert comid_bytes.count(VERAISON_641) == 1
    for other in (M2, M3):
        expected = bytes.fromhex("a20019028101a1028182075830" + other)
        assert comid_bytes.count(expected) == 1
    # and the same map encoded alone by the independent encoder
    claim = triples(build())[0][1][0]
    assert cbor2.dumps(claim, canonical=True) == VERAISON_641


def test_one_comid_per_manifest():
    second = manifest(entry("snp", M3), entry("snp", M2))
    data = build([mixed_manifest(), second])
    assert len(comids(data)) == 2
    assert [r[1][0][1][2][0][1].hex() for r in triples(data, 1)] == [M3, M2]
    assert comids(data)[0][1][0] != comids(data)[1][1][0]


def test_deterministic_output():
    first, again = build(), build()
    assert first == again
    corim = unsigned_map(first)
    assert UUID_TEXT.fullmatch(corim[0])
    assert UUID_TEXT.fullmatch(comids(first)[0][1][0])
    assert build(policy=1) != first                    # ids follow the content
    assert unsigned_map(build(policy=1))[0] != corim[0]
    assert comids(build(policy=1))[0][1][0] != comids(first)[0][1][0]


def test_given_ids_are_used_verbatim():
    data = build([mixed_manifest(), manifest(entry("snp", M2))], corim_id="corim-1",
                 tag_ids=["tag-a", "tag-b"])
    assert unsigned_map(data)[0] == "corim-1"
    assert [comid[1][0] for comid in comids(data)] == ["tag-a", "tag-b"]


def test_policy_and_min_tcb():
    data = build(policy=0x30000, min_tcb=0x1B00000000000408)
    for record in triples(data):
        measurement, policy, tcb = record[1]
        assert measurement[0] == 641
        assert policy == {0: 2, 1: {4: cbor2.CBORTag(560, bytes.fromhex("0000030000000000"))}}
        assert tcb == {0: 647, 1: {1: cbor2.CBORTag(553, 0x1B00000000000408)}}   # min-svn
    raw = cbor2.loads(data).value[1][0].value
    assert raw.count(bytes.fromhex("a2000201a104d9023048" "0000030000000000")) == 3
    assert raw.count(bytes.fromhex("a20019028701a101d90229" "1b1b00000000000408")) == 3


def test_policy_and_tcb_ranges():
    for bad in ({"policy": -1}, {"policy": 1 << 64}, {"min_tcb": 1 << 64}, {"policy": True}):
        with pytest.raises(ConfigError):
            C.build_corim([manifest(entry("snp", M2))], **bad)
    assert C.build_corim([manifest(entry("snp", M2))], policy=(1 << 64) - 1, min_tcb=0)


def test_sev_es_entries_are_skipped_with_a_warning():
    with pytest.warns(SnpMeasureWarning, match=r"skipped 2 SEV/SEV-ES"):
        data = C.build_corim([manifest(entry("seves", SEV_ES), entry("snp", M2),
                                       entry("sev", SEV_ES))])
    assert [r[1][0][1][2][0][1].hex() for r in triples(data)] == [M2]


def test_manifest_without_snp_entries_is_refused():
    with pytest.raises(UnsupportedError, match="no SEV-SNP measurement"):
        C.build_corim([manifest(entry("seves", SEV_ES), entry("sev", SEV_ES))])
    with pytest.raises(UnsupportedError):
        C.build_corim([manifest(entry("snp", M2)), manifest()])
    with pytest.raises(ConfigError):
        C.build_corim([])


def test_malformed_manifests():
    cases = [manifest(entry("snp", SEV_ES)),             # 32 bytes in an SNP mode
             manifest(entry("snp", "zz" * 48)),
             manifest(entry("tdx", M2)),
             {"measurements": "none"},
             {"measurements": [["snp", M2]]}]
    for case in cases:
        with pytest.raises(FormatError) as info:
            C.build_corim([case])
        assert info.value.path == "<manifest>"


def test_bad_ids_are_refused():
    one, two = [manifest(entry("snp", M2))], [manifest(entry("snp", M2))] * 2
    for manifests, kw in ((one, {"tag_ids": []}), (one, {"tag_ids": [""]}),
                          (one, {"corim_id": ""}), (two, {"tag_ids": ["a", "a"]}),
                          (two, {"tag_ids": ["a"]})):
        with pytest.raises(ConfigError):
            C.build_corim(manifests, **kw)
    assert C.build_corim(two, tag_ids=["a", "b"])


# --- reading -----------------------------------------------------------------------------------

def test_corim_measurements_of_own_output():
    assert [m.hex() for m in C.corim_measurements(build())] == [VERAISON_MEASUREMENT, M2, M3]


def veraison_shaped_corim() -> bytes:
    """A CoRIM shaped like Veraison's SEV-SNP vector: language, 16-byte tag-id, the draft's DER
    class-id spelling, an instance, more mkeys, a non-SNP environment, an attest-key CoMID."""
    tag = cbor2.CBORTag
    snp_env = {0: {0: tag(111, b"\x06\x09" + CHIP_OID)}, 1: tag(560, b"\x01" * 64)}
    other_env = {0: {0: tag(111, bytes.fromhex("6086480186F84D010F0401"))}}
    comid = {0: "en-GB", 1: {0: b"\xf6" * 16}, 4: {0: [
        [snp_env, [{0: 0, 1: {0: {0: "2", 1: 4}}}, {0: 1, 1: {1: tag(553, 0)}},
                   {0: 641, 1: {2: [[1, b"\x00" * 32], [7, bytes.fromhex(VERAISON_MEASUREMENT)]]}},
                   {0: 647, 1: {1: tag(552, 6059311823650291722)}}]],
        [other_env, [{0: 641, 1: {2: [[7, b"\x55" * 48]]}}]],
        [{0: {0: tag(111, CSP_OID)}}, [{0: 641, 1: {2: [["sha-384", bytes.fromhex(M2)]]}}]]]}}
    trust = {1: {0: b"\x00" * 16}, 4: {3: [[{0: {1: "Advanced Micro Devices", 2: "ARK-Genoa"}},
                                            [tag(555, "-----BEGIN CERTIFICATE-----")]]]}}
    return cbor2.dumps(tag(501, {0: "00000000-0000-0000-5596-0000000000001",
                                 1: [tag(506, cbor2.dumps(comid)), tag(506, cbor2.dumps(trust))],
                                 3: tag(32, C.PROFILE)}))


def test_corim_measurements_of_a_foreign_corim():
    assert [m.hex() for m in C.corim_measurements(veraison_shaped_corim())] == \
        [VERAISON_MEASUREMENT, M2]


def test_corim_measurements_refuses_wrong_digest_sizes():
    tag = cbor2.CBORTag
    comid = {1: {0: "t"}, 4: {0: [[{0: {0: tag(111, CHIP_OID)}},
                                   [{0: 641, 1: {2: [[7, b"\x00" * 32]]}}]]]}}
    data = cbor2.dumps(tag(501, {0: "c", 1: [tag(506, cbor2.dumps(comid))]}))
    with pytest.raises(FormatError, match="48"):
        C.corim_measurements(data)


@pytest.mark.parametrize("data", [
    b"", b"\xff", bytes.fromhex("d901f5"), bytes.fromhex("d901f5a1"),
    cbor2.dumps(cbor2.CBORTag(502, {0: "x", 1: []})),
    cbor2.dumps(cbor2.CBORTag(501, {0: "x"})),
    cbor2.dumps(cbor2.CBORTag(501, {0: "x", 1: []})),
    cbor2.dumps(cbor2.CBORTag(501, {0: 5, 1: [cbor2.CBORTag(506, b"")]})),
    cbor2.dumps(cbor2.CBORTag(501, {0: "x", 1: [cbor2.CBORTag(506, b"\xa1")]})),
    cbor2.dumps(cbor2.CBORTag(501, {0: "x", 1: [cbor2.CBORTag(506, cbor2.dumps({1: {0: "t"}}))]})),
    bytes.fromhex("d901f5a2006178019f80ff"),               # indefinite-length array
    bytes.fromhex("d901f5a3006178018000617a"),              # duplicate key 0
    bytes.fromhex("d901f5a2006178" "01" "d81c81d81d00"),    # a shared, self-containing array
    bytes.fromhex("d901f5a2006178" "01" "d81e82" "1b7fffffffffffffff" "01"),  # tag 30 rational
    cbor2.dumps(cbor2.CBORTag(501, {0: "x", 1: [cbor2.CBORTag(506, cbor2.dumps(
        {1: {0: "t"}, 4: {0: []}}))]})) + b"\x00",      # trailing bytes
])
def test_malformed_corims_are_format_errors(data):
    with pytest.raises(FormatError) as info:
        C.corim_measurements(data)
    assert info.value.path == "<corim>"


def test_size_is_checked_before_decoding():
    with pytest.raises(FormatError, match="limit"):
        C.corim_measurements(b"\xd9\x01\xf5" + b"\x00" * C.MAX_CORIM)
    with pytest.raises(FormatError, match="limit"):
        C.verify_corim(b"\x00" * (C.MAX_CORIM + 1), [ec.generate_private_key(ec.SECP256R1())
                                                      .public_key()])


def test_deep_nesting_is_a_format_error():
    with pytest.raises(FormatError):
        C.corim_measurements(b"\xd9\x01\xf5" + b"\x81" * 100000 + b"\x00")


# --- signing -----------------------------------------------------------------------------------

KEYS = {"P-256": (lambda: ec.generate_private_key(ec.SECP256R1()), -7),
        "P-384": (lambda: ec.generate_private_key(ec.SECP384R1()), -35),
        "Ed25519": (ed25519.Ed25519PrivateKey.generate, -8)}


def spki_sha256(public_key) -> bytes:
    return hashlib.sha256(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def check_cose_signature(public_key, signature: bytes, to_be_signed: bytes) -> None:
    """RFC 9053: ECDSA signatures are r || s of the curve size, hash per curve; Ed25519 pure."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, to_be_signed)
        return
    size = (public_key.curve.key_size + 7) // 8
    assert len(signature) == 2 * size
    der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                               int.from_bytes(signature[size:], "big"))
    digest = hashes.SHA384() if size == 48 else hashes.SHA256()
    public_key.verify(der, to_be_signed, ec.ECDSA(digest))


def cose_sign1(protected: dict, payload, private_key, unprotected=None, der=False) -> bytes:
    """An independent COSE_Sign1 writer for negative cases."""
    protected_bytes = cbor2.dumps(protected)
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        signature = private_key.sign(to_be_signed)
    else:
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        size = (private_key.curve.key_size + 7) // 8
        digest = hashes.SHA384() if size == 48 else hashes.SHA256()
        signature = private_key.sign(to_be_signed, ec.ECDSA(digest))
        if not der:
            r, s = decode_dss_signature(signature)
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected_bytes, unprotected or {}, payload, signature]))


def good_header(alg: int) -> dict:
    return {1: alg, 3: "application/rim+cbor", 8: cbor2.dumps({0: {0: "test"}})}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_signed_corim_structure_and_independent_verification(kind):
    make, alg = KEYS[kind]
    key = make()
    corim = build()
    signed = C.sign_corim(corim, key, signer_name="ACME Ltd.")
    item = cbor2.loads(signed)
    assert signed[0] == 0xD2 and isinstance(item, cbor2.CBORTag) and item.tag == 18
    protected, unprotected, payload, signature = item.value
    header = cbor2.loads(protected)
    assert set(header) == {1, 3, 8}
    assert header[1] == alg
    assert header[3] == "application/rim+cbor"
    assert isinstance(header[8], bytes) and cbor2.loads(header[8]) == {0: {0: "ACME Ltd."}}
    assert dict(unprotected) == {4: spki_sha256(key.public_key())}
    assert payload == corim and payload[:3] == bytes.fromhex("d901f5")
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    check_cose_signature(key.public_key(), signature, to_be_signed)
    assert C.verify_corim(signed, [key.public_key()]) == unsigned_map(corim)


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_verify_reads_an_independently_signed_corim(kind):
    make, alg = KEYS[kind]
    key = make()
    signed = cose_sign1(good_header(alg), build(), key)
    assert C.reference_measurements(C.verify_corim(signed, [key.public_key()]))[0].hex() == \
        VERAISON_MEASUREMENT


def test_default_signer_name():
    signed = C.sign_corim(build(), KEYS["P-384"][0]())
    header = cbor2.loads(cbor2.loads(signed).value[0])
    assert cbor2.loads(header[8]) == {0: {0: "snpmeasure"}}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_tampered_payload_fails(kind):
    key = KEYS[kind][0]()
    signed = bytearray(C.sign_corim(build(), key))
    at = signed.index(bytes.fromhex(M2))
    signed[at + 5] ^= 0x01
    with pytest.raises(VerificationError):
        C.verify_corim(bytes(signed), [key.public_key()])


def test_trailing_bytes_after_the_envelope_are_refused():
    key = KEYS["P-256"][0]()
    signed = C.sign_corim(build(), key)
    with pytest.raises(FormatError, match="after the CBOR item"):
        C.verify_corim(signed + b"\x00", [key.public_key()])


def test_tampered_signature_fails():
    key = KEYS["P-384"][0]()
    signed = bytearray(C.sign_corim(build(), key))
    signed[-1] ^= 0x01
    with pytest.raises(VerificationError):
        C.verify_corim(bytes(signed), [key.public_key()])


def test_wrong_key_fails():
    key, other = KEYS["P-384"][0](), KEYS["P-384"][0]()
    signed = C.sign_corim(build(), key)
    with pytest.raises(VerificationError):
        C.verify_corim(signed, [other.public_key()])
    with pytest.raises(VerificationError):               # another algorithm altogether
        C.verify_corim(signed, [KEYS["Ed25519"][0]().public_key(),
                                KEYS["P-256"][0]().public_key()])
    assert C.verify_corim(signed, [other.public_key(), key.public_key()])


def test_alg_must_match_the_key():
    key = KEYS["P-384"][0]()
    signed = cose_sign1(good_header(-7), build(), key)   # says ES256, signed with P-384
    with pytest.raises(VerificationError):
        C.verify_corim(signed, [key.public_key()])


def test_der_signatures_are_refused():
    key = KEYS["P-256"][0]()
    signed = cose_sign1(good_header(-7), build(), key, der=True)
    with pytest.raises(VerificationError):
        C.verify_corim(signed, [key.public_key()])


def test_protected_header_checks():
    key = KEYS["P-256"][0]()
    corim = build()
    bad_type = {**good_header(-7), 3: "application/cbor"}
    no_meta = {1: -7, 3: "application/rim+cbor"}
    bad_meta = {**good_header(-7), 8: cbor2.dumps({0: "test"})}
    for header in (bad_type, no_meta, bad_meta):
        with pytest.raises(FormatError):
            C.verify_corim(cose_sign1(header, corim, key), [key.public_key()])
    with pytest.raises(UnsupportedError):
        C.verify_corim(cose_sign1({**good_header(-7), 2: [99], 99: 1}, corim, key),
                       [key.public_key()])
    with pytest.raises(UnsupportedError):
        C.verify_corim(cose_sign1({**good_header(-7), 258: -16}, corim, key), [key.public_key()])
    cwt_only = {1: -7, 3: "application/rim+cbor", 15: {1: "issuer"}}
    assert C.verify_corim(cose_sign1(cwt_only, corim, key), [key.public_key()])


def test_envelope_shape_checks():
    key = KEYS["P-256"][0]()
    corim = build()
    protected = cbor2.dumps(good_header(-7))
    with pytest.raises(FormatError):
        C.verify_corim(corim, [key.public_key()])          # unsigned, not #6.18
    with pytest.raises(FormatError):
        C.verify_corim(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, corim])), [key.public_key()])
    with pytest.raises(UnsupportedError):
        C.verify_corim(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, None, b"s" * 64])),
                       [key.public_key()])
    with pytest.raises(FormatError):                       # a payload that is not a CoRIM
        C.verify_corim(cose_sign1(good_header(-7), b"\xa0", key), [key.public_key()])
    with pytest.raises(ConfigError):
        C.verify_corim(C.sign_corim(corim, key), [])


def test_sign_refuses_what_is_not_an_unsigned_corim():
    key = KEYS["P-256"][0]()
    signed = C.sign_corim(build(), key)
    for data in (signed, b"\xa0", b"not cbor"):
        with pytest.raises(FormatError):
            C.sign_corim(data, key)
    with pytest.raises(ConfigError):
        C.sign_corim(build(), key, signer_name="")


def test_unsupported_keys():
    corim = build()
    for key in (ec.generate_private_key(ec.SECP521R1()), rsa.generate_private_key(65537, 2048)):
        with pytest.raises(UnsupportedError):
            C.sign_corim(corim, key)
    signed = C.sign_corim(corim, KEYS["P-256"][0]())
    with pytest.raises(UnsupportedError):
        C.verify_corim(signed, [ec.generate_private_key(ec.SECP521R1()).public_key()])
    with pytest.raises(UnsupportedError):                # a public key cannot sign
        C.sign_corim(corim, KEYS["P-256"][0]().public_key())


def test_constants():
    assert (C.MKEY_MEASUREMENT, C.SHA384, C.MKEY_POLICY, C.MKEY_REPORTED_TCB) == (641, 7, 2, 647)
