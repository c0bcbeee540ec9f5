"""CoRIM reference values for SEV-SNP launch measurements: build, sign (COSE_Sign1), verify, read.

Sources: draft-ietf-rats-corim-11 (CDDL: ``tagged-unsigned-corim-map``, ``concise-mid-tag``,
``reference-triple-record``, ``measurement-map``; section "Signed CoRIM" for the COSE_Sign1
envelope and its protected header), draft-deeglaze-amd-sev-snp-corim-profile-02 (the profile
identifier, the environment class-ids, the mkey numbers and their value types), RFC 9052
section 4.4 (Sig_structure), RFC 9053 (algorithm identifiers), RFC 9090 (CBOR tag 111).

Each manifest becomes one CoMID holding one reference triple per distinct SEV-SNP launch
measurement: a triple's measurements must all match, so alternatives are separate triples.
The output is deterministic CBOR; identifiers not given are derived from the content, so the same
manifests always give byte-identical CoRIMs. Everything decoded is size-bounded first and every
decoder failure is a :class:`FormatError` on the path ``<corim>``.
"""
from __future__ import annotations

import hashlib
import io
import re
import uuid
import warnings
from collections.abc import Mapping
from functools import lru_cache

from ..errors import (ConfigError, FormatError, SnpMeasureWarning, UnsupportedError,
                      VerificationError)
from ..formats.signing import cose_algorithm, is_ecdsa, key_id, sign_raw, verify_signature
from ..limits import MAX_CORIM
from ..text import counted

# draft-deeglaze-amd-sev-snp-corim-profile-02, "AMD SEV-SNP CoRIM Profile" (the text; its
# example spells it with a slash, and the editor's copy moved to 2025; Veraison uses this one).
PROFILE = "tag:amd.com,2024:snp-corim-profile"

# Environment class-ids (profile -02, "AMD SEV-SNP Target Environment"): 1.3.6.1.4.1.3704.3.1
# (attestation by chip, VCEK) and .3.2 (by CSP, VLEK). Tag 111 carries the OID's BER contents
# octets only, without the ASN.1 tag and length (RFC 9090 section 2). The draft writes
# h'0609...' with the DER header, but corim-11's own example is 111(h'6086480186F84D010F0401')
# (no 06 0b), and Veraison (veraison/corim comid/oid.go, scheme/sevsnp test CoRIM) emits
# 111(h'2b060104019c780301'); the class is compared as encoded bytes, so the two forms never
# match and we follow the RFC and the deployed verifier.
CLASS_ID_CHIP = bytes.fromhex("2b060104019c780301")
CLASS_ID_CSP = bytes.fromhex("2b060104019c780302")

MKEY_POLICY = 2            # POLICY: &(raw-value: 4): tagged-bytes8, R[0x008:0x010]
MKEY_MEASUREMENT = 641     # MEASUREMENT: &(digests: 2): [[7, bytes48]]
MKEY_REPORTED_TCB = 647    # REPORTED_TCB: &(svn: 1): svn64-type
SHA384 = 7                 # IANA Named Information Hash Algorithm Registry, sha-384

CONTENT_TYPE = "application/rim+cbor"   # corim-11 protected-corim-header-map

# CBOR tags (corim-11 cddl/cbor-tags.txt; RFC 9052; RFC 8949; RFC 9090)
TAG_COSE_SIGN1, TAG_URI, TAG_OID = 18, 32, 111
TAG_UNSIGNED_CORIM, TAG_COMID = 501, 506
TAG_SVN, TAG_MIN_SVN, TAG_BYTES = 552, 553, 560

# COSE header labels (RFC 9052 section 3.1; corim-11 "Signed CoRIM")
_ALG, _CRIT, _CONTENT_TYPE, _KID, _CORIM_META, _CWT_CLAIMS = 1, 2, 3, 4, 8, 15
_HASH_ENVELOPE = 258       # payload_hash_alg: the payload is a digest, not the CoRIM
_ALG_NAMES = {-7: "ES256", -35: "ES384", -8: "EdDSA"}

SNP_MODES = ("snp", "snp:svsm")
SEV_MODES = ("sev", "seves")
_HEX48 = re.compile(r"[0-9a-fA-F]{96}")
_MANIFEST = "<manifest>"
_CORIM = "<corim>"
_UINT64 = 1 << 64
_ARRAY = (list, tuple)   # cbor2 6 decodes arrays inside tags as tuples, maps as frozendicts

# Tags cbor2 decodes into Python objects of its own (5.x and 6.x; 6.x also 52, 54, 43000).
# None belongs in a CoRIM this module reads, and some are costly on hostile input (rationals,
# regular expressions, MIME, shared references): with cbor2 6 they stay plain CBORTags.
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260,
                  261, 1004, 43000, 55799)
_MAX_DEPTH = 32            # CoRIMs written here nest about ten levels deep


def _cbor():
    import cbor2
    return cbor2


def _dumps(value) -> bytes:
    """Deterministic CBOR (cbor2's canonical: preferred integer sizes, sorted map keys)."""
    return _cbor().dumps(value, canonical=True)


@lru_cache(maxsize=None)
def _decode_options() -> dict:
    """The hardening options this cbor2 accepts (6.x: all; 5.x: none of them)."""
    cbor2 = _cbor()

    def keep(tag):
        return lambda value, *_: cbor2.CBORTag(tag, value)

    options = {"max_depth": _MAX_DEPTH, "allow_indefinite": False, "allow_duplicate_keys": False,
               "semantic_decoders": {tag: keep(tag) for tag in _SEMANTIC_TAGS}}
    try:
        cbor2.CBORDecoder(io.BytesIO(b"\xf6"), **options).decode()
    except TypeError:
        return {}
    return options


def _decode(data: bytes, field: str):
    """One CBOR item of at most MAX_CORIM bytes, nothing after it; FormatError otherwise."""
    if not isinstance(data, (bytes, bytearray)):
        raise FormatError(_CORIM, field, "is not CBOR bytes")
    if len(data) > MAX_CORIM:
        raise FormatError(_CORIM, field, f"{len(data)} bytes is over the {MAX_CORIM}-byte limit")
    cbor2 = _cbor()
    stream = io.BytesIO(bytes(data))
    try:
        item = cbor2.CBORDecoder(stream, **_decode_options()).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "undecodable"
        raise FormatError(_CORIM, field, f"not valid CBOR ({reason})") from None
    if stream.tell() != len(data):
        raise FormatError(_CORIM, field, f"{len(data) - stream.tell()} bytes after the CBOR item",
                          stream.tell())
    return item


def _expect(value, kind, field: str, what: str):
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FormatError(_CORIM, field, f"is not {what}")
    return value


def _tagged(value, tag: int, field: str):
    """The content of CBOR tag ``tag``."""
    if not isinstance(value, _cbor().CBORTag) or value.tag != tag:
        raise FormatError(_CORIM, field, f"is not CBOR tag {tag}")
    return value.value


# --- building ---------------------------------------------------------------------------------

def _hex48(value, field: str) -> bytes:
    if not isinstance(value, str) or not _HEX48.fullmatch(value):
        raise FormatError(_MANIFEST, field, "is not 96 hex digits (a 48-byte SEV-SNP "
                          "measurement)")
    return bytes.fromhex(value)


def _snp_measurements(manifest, index: int) -> tuple[list[bytes], int]:
    """The distinct SNP measurements of one manifest in its order, and how many SEV and SEV-ES
    entries it has."""
    where = f"manifests[{index}]"
    if not isinstance(manifest, dict):
        raise FormatError(_MANIFEST, where, "is not a manifest object")
    entries = manifest.get("measurements")
    if not isinstance(entries, list):
        raise FormatError(_MANIFEST, f"{where}.measurements", "is missing or not a list")
    found: dict[bytes, None] = {}
    skipped = 0
    for number, entry in enumerate(entries):
        field = f"{where}.measurements[{number}]"
        if not isinstance(entry, dict):
            raise FormatError(_MANIFEST, field, "is not an object")
        mode = entry.get("mode")
        if mode in SEV_MODES:
            skipped += 1
        elif mode in SNP_MODES:
            found.setdefault(_hex48(entry.get("measurement"), f"{field}.measurement"))
        else:
            raise FormatError(_MANIFEST, f"{field}.mode", f"unknown mode {mode!r}")
    if not found:
        raise UnsupportedError(f"manifest {index + 1} has no SEV-SNP measurement "
                               f"({len(entries)} entries, none in mode snp or snp:svsm); the "
                               "AMD SEV-SNP CoRIM profile describes SNP launches only")
    return list(found), skipped


def _uint64(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT64:
        raise ConfigError(f"the CoRIM {name} must be an unsigned 64-bit integer, not {value!r}")
    return value


def _claims(digest: bytes, policy: int | None, min_tcb: int | None) -> list:
    cbor2 = _cbor()
    claims = [{0: MKEY_MEASUREMENT, 1: {2: [[SHA384, digest]]}}]
    if policy is not None:
        # profile -02: 560(R[0x008:0x010]), the report's bytes, so little-endian.
        claims.append({0: MKEY_POLICY, 1: {4: cbor2.CBORTag(TAG_BYTES,
                                                            policy.to_bytes(8, "little"))}})
    if min_tcb is not None:
        # profile -02: REPORTED_TCB is "&(svn: 1): svn64-type", svn64-type = #6.552(uint64) /
        # #6.553(uint64); corim-11 svn-type-choice: 552 tagged-svn (equality), 553
        # tagged-min-svn (evidence >= reference). A minimum is 553. The profile's Evidence
        # translation writes 552 because evidence is exact. (Veraison accepts both and compares
        # the TCB component by component; a plain CoRIM verifier compares the uint64.)
        claims.append({0: MKEY_REPORTED_TCB, 1: {1: cbor2.CBORTag(TAG_MIN_SVN, min_tcb)}})
    return claims


def _triples(digests: list[bytes], class_id: bytes, policy, min_tcb: Mapping | int | None,
             instance: bytes | None = None) -> dict:
    # The class-map holds the class-id only (profile -02: "The rest of the class-map MUST remain
    # empty"; "model MUST NOT be present"). The instance is optional: a launch measurement is not
    # bound to a chip, but a verifier may want the values of one chip (560(CHIP_ID)) or one CSP
    # (560(CSP_ID)), as profile -02's environment example has; Veraison requires one.
    environment = {0: {0: _cbor().CBORTag(TAG_OID, class_id)}}
    if instance is not None:
        environment[1] = _cbor().CBORTag(TAG_BYTES, instance)
    return {0: [[environment, _claims(digest, policy, min_tcb.get(digest) if isinstance(
        min_tcb, Mapping) else min_tcb)] for digest in digests]}


def _uuid_text(domain: bytes, content: bytes) -> str:
    """A UUID string from SHA-256 of ``domain`` and ``content``: version 8 (RFC 9562 section
    5.8, its appendix B.2 builds name-based UUIDs from SHA-256 this way)."""
    raw = bytearray(hashlib.sha256(domain + b"\0" + content).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def _check_ids(tag_ids, count: int) -> list[str] | None:
    if tag_ids is None:
        return None
    tag_ids = list(tag_ids)
    if len(tag_ids) != count:
        raise ConfigError(f"{len(tag_ids)} CoMID tag id(s) given for {count} manifest(s)")
    if any(not isinstance(tag, str) or not tag for tag in tag_ids):
        raise ConfigError("a CoMID tag id must be a non-empty string")
    if len(set(tag_ids)) != count:
        raise ConfigError("the CoMID tag ids must differ from each other")
    return tag_ids


def build_corim(manifests: list[dict], *, corim_id: str | None = None,
                tag_ids: list[str] | None = None, policy: int | None = None,
                min_tcb: int | Mapping[bytes, int] | None = None, vlek: bool = False,
                instance: bytes | None = None) -> bytes:
    """The unsigned CoRIM (``#6.501``) of ``manifests``: one CoMID per manifest, one reference
    triple per distinct SEV-SNP measurement, each optionally also requiring the guest ``policy``
    (exact) and a minimum REPORTED_TCB ``min_tcb``: the whole TCB_VERSION as the report holds it
    (R[0x180:0x188] read as a little-endian uint64, every component packed), not one SVN; one
    value for every measurement, or a mapping from measurement to value (each in its product's
    layout; it must hold every SNP measurement of the manifests).
    ``vlek`` selects the by-CSP class (reports signed with a VLEK) instead of by-chip (VCEK);
    ``instance`` binds the values to one chip (its CHIP_ID) or CSP (its CSP_ID, UTF-8). SEV and
    SEV-ES entries are skipped with a warning; a manifest with no SNP entry is refused."""
    cbor2 = _cbor()
    if not manifests:
        raise ConfigError("a CoRIM needs at least one manifest")
    if corim_id is not None and (not isinstance(corim_id, str) or not corim_id):
        raise ConfigError("the CoRIM id must be a non-empty string")
    tag_ids = _check_ids(tag_ids, len(manifests))
    policy = None if policy is None else _uint64(policy, "policy")
    if isinstance(min_tcb, Mapping):
        min_tcb = {digest: _uint64(value, "minimum TCB") for digest, value in min_tcb.items()}
    elif min_tcb is not None:
        min_tcb = _uint64(min_tcb, "minimum TCB")
    class_id = CLASS_ID_CSP if vlek else CLASS_ID_CHIP
    if instance is not None and (not isinstance(instance, bytes) or not instance):
        raise ConfigError("the instance (CHIP_ID or CSP_ID) must be non-empty bytes")

    comids, skipped = [], 0
    for index, manifest in enumerate(manifests):
        digests, sev = _snp_measurements(manifest, index)
        skipped += sev
        if isinstance(min_tcb, Mapping) and any(d not in min_tcb for d in digests):
            missing = next(d for d in digests if d not in min_tcb)
            raise ConfigError(f"no minimum TCB for measurement {missing.hex()[:16]}... of "
                              f"manifest {index + 1}")
        triples = _triples(digests, class_id, policy, min_tcb, instance)
        tag_id = tag_ids[index] if tag_ids else \
            _uuid_text(b"snpmeasure CoMID tag-id", _dumps([index, triples]))
        comids.append(_dumps({1: {0: tag_id}, 4: triples}))
    if skipped:
        warnings.warn(SnpMeasureWarning(
            f"skipped {counted(skipped, 'SEV/SEV-ES measurement')}: the AMD SEV-SNP CoRIM "
            "profile has no SEV or SEV-ES launch measurement"), stacklevel=2)
    if corim_id is None:
        corim_id = _uuid_text(b"snpmeasure CoRIM id", _dumps([PROFILE, comids]))
    corim = _dumps(cbor2.CBORTag(TAG_UNSIGNED_CORIM, {
        0: corim_id, 1: [cbor2.CBORTag(TAG_COMID, comid) for comid in comids],
        3: cbor2.CBORTag(TAG_URI, PROFILE)}))
    if len(corim) > MAX_CORIM:
        raise UnsupportedError(f"the CoRIM would be {len(corim)} bytes, over the {MAX_CORIM}-byte "
                               "limit its readers here accept; split the manifests")
    return corim


# --- reading ----------------------------------------------------------------------------------

def _corim_map(item) -> dict:
    """The corim-map of a decoded ``#6.501`` CoRIM, its mandatory fields checked."""
    return _check_corim_map(_tagged(item, TAG_UNSIGNED_CORIM, "unsigned CoRIM"))


def _thaw(value, depth: int = 0):
    """Plain dicts and lists for the frozendicts and tuples cbor2 6 decodes inside tags."""
    if depth > _MAX_DEPTH:
        raise FormatError(_CORIM, "unsigned CoRIM", f"nests deeper than {_MAX_DEPTH} levels")
    cbor2 = _cbor()
    if isinstance(value, Mapping):
        return {key: _thaw(item, depth + 1) for key, item in value.items()}
    if isinstance(value, _ARRAY):
        return [_thaw(item, depth + 1) for item in value]
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, _thaw(value.value, depth + 1))
    return value


def _check_corim_map(corim) -> dict:
    corim = _expect(corim, Mapping, "corim-map", "a map")
    if 0 not in corim or 1 not in corim:
        raise FormatError(_CORIM, "corim-map", "lacks its id (0) or tags (1)")
    ident = corim[0]
    if not (isinstance(ident, str) or (isinstance(ident, bytes) and len(ident) == 16)):
        raise FormatError(_CORIM, "corim-map id", "is neither text nor a 16-byte UUID")
    tags = _expect(corim[1], _ARRAY, "corim-map tags", "a list")
    if not tags:
        raise FormatError(_CORIM, "corim-map tags", "is empty")
    for number, tag in enumerate(tags):
        if not isinstance(tag, _cbor().CBORTag):
            raise FormatError(_CORIM, f"corim-map tags[{number}]", "is not a tagged concise tag")
    return corim


def _is_snp_environment(environment) -> bool:
    """Whether a reference triple's environment is an SEV-SNP class (either spelling of the OID
    bytes: the draft's DER form is accepted on reading)."""
    if not isinstance(environment, Mapping) or not isinstance(environment.get(0), Mapping):
        return False
    class_id = environment[0].get(0)
    if not isinstance(class_id, _cbor().CBORTag) or class_id.tag != TAG_OID:
        return False
    return class_id.value in (CLASS_ID_CHIP, CLASS_ID_CSP, b"\x06\x09" + CLASS_ID_CHIP,
                              b"\x06\x09" + CLASS_ID_CSP)


def _measurement_digests(claim, field: str):
    """The SHA-384 digests of an mkey-641 measurement-map (nothing for other mkeys)."""
    claim = _expect(claim, Mapping, field, "a measurement-map")
    if claim.get(0) != MKEY_MEASUREMENT:
        return
    values = _expect(claim.get(1), Mapping, f"{field} mval", "a measurement-values-map")
    digests = _expect(values.get(2), _ARRAY, f"{field} digests", "a list of digests")
    for number, digest in enumerate(digests):
        where = f"{field} digests[{number}]"
        if not isinstance(digest, _ARRAY) or len(digest) != 2:
            raise FormatError(_CORIM, where, "is not a [alg, value] pair")
        alg, value = digest
        if alg in (SHA384, "sha-384"):
            value = _expect(value, bytes, where, "a byte string")
            if len(value) != 48:
                raise FormatError(_CORIM, where, f"a SHA-384 digest of {len(value)} bytes, not "
                                  "48")
            yield value


def _comid_measurements(tag, number: int):
    field = f"tags[{number}]"
    comid = _expect(_decode(_expect(tag.value, bytes, field, "a byte string"), field), Mapping,
                    field, "a concise-mid-tag map")
    triples = _expect(comid.get(4), Mapping, f"{field} triples", "a triples-map")
    records = _expect(triples.get(0, []), _ARRAY, f"{field} reference-triples", "a list")
    for index, record in enumerate(records):
        where = f"{field} reference-triples[{index}]"
        if not isinstance(record, _ARRAY) or len(record) != 2:
            raise FormatError(_CORIM, where, "is not an [environment, measurements] pair")
        environment, claims = record
        claims = _expect(claims, _ARRAY, f"{where} measurements", "a list")
        if not _is_snp_environment(environment):
            continue
        for position, claim in enumerate(claims):
            yield from _measurement_digests(claim, f"{where} measurements[{position}]")


def reference_measurements(corim: dict) -> list[bytes]:
    """The distinct 48-byte MEASUREMENT (mkey 641, SHA-384) reference values of a decoded
    corim-map (as :func:`verify_corim` returns it), in order, from the reference triples whose
    environment is an SEV-SNP class. Other conditions of a triple (policy, TCB) are not
    returned."""
    found: dict[bytes, None] = {}
    for number, tag in enumerate(_check_corim_map(corim)[1]):
        if tag.tag == TAG_COMID:
            for digest in _comid_measurements(tag, number):
                found.setdefault(digest)
    return list(found)


def corim_measurements(data: bytes) -> list[bytes]:
    """The MEASUREMENT reference values of an unsigned CoRIM (see :func:`reference_measurements`);
    a signed one must go through :func:`verify_corim` first."""
    return reference_measurements(_corim_map(_decode(data, "unsigned CoRIM")))


# --- signing ----------------------------------------------------------------------------------

def _signing_algorithm(key, private: bool) -> int:
    """The COSE algorithm of an ECDSA P-256 / P-384 or Ed25519 key (UnsupportedError else)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    wanted = (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey) if private \
        else (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)
    role = "private" if private else "public"
    if not isinstance(key, wanted):
        from ..formats.keys import describe_key
        raise UnsupportedError(f"a CoRIM {role} key must be an ECDSA P-256, ECDSA P-384 or "
                               f"Ed25519 {role} key, not {describe_key(key)}")
    if is_ecdsa(key) and not isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1)):
        raise UnsupportedError(f"a CoRIM key on curve {key.curve.name} is not supported (ECDSA "
                               "P-256 or P-384, or Ed25519)")
    return cose_algorithm(key)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 section 4.4: ["Signature1", body_protected, external_aad (empty), payload]."""
    return _dumps(["Signature1", protected, b"", payload])


def sign_corim(corim: bytes, private_key, *, signer_name: str = "snpmeasure") -> bytes:
    """The signed CoRIM ``#6.18(COSE_Sign1)`` of an unsigned one (corim-11 "Signed CoRIM"):
    protected {alg, content type, corim-meta naming ``signer_name``}, unprotected {kid: SHA-256
    of the public key's SubjectPublicKeyInfo}, the whole ``#6.501`` CoRIM as payload."""
    cbor2 = _cbor()
    alg = _signing_algorithm(private_key, private=True)
    if not isinstance(signer_name, str) or not signer_name:
        raise ConfigError("the CoRIM signer name must be a non-empty string")
    _corim_map(_decode(corim, "unsigned CoRIM"))
    payload = bytes(corim)
    protected = _dumps({_ALG: alg, _CONTENT_TYPE: CONTENT_TYPE,
                        _CORIM_META: _dumps({0: {0: signer_name}})})
    kid = bytes.fromhex(key_id(private_key.public_key()))
    signature = sign_raw(private_key, _sig_structure(protected, payload))
    return _dumps(cbor2.CBORTag(TAG_COSE_SIGN1, [protected, {_KID: kid}, payload, signature]))


def _protected_header(raw: bytes) -> dict:
    """The protected header of a signed CoRIM, checked against corim-11's
    protected-corim-header-map (inline payload form)."""
    header = _expect(_decode(raw, "protected header"), Mapping, "protected header", "a map")
    if _HASH_ENVELOPE in header:
        raise UnsupportedError("the CoRIM is a hash envelope (COSE header 258): only CoRIMs "
                               "carrying their payload are supported")
    alg = header.get(_ALG)
    if not isinstance(alg, int) or isinstance(alg, bool):
        raise FormatError(_CORIM, "protected header alg (1)", "is missing or not an integer")
    if header.get(_CONTENT_TYPE) != CONTENT_TYPE:
        raise FormatError(_CORIM, "protected header content type (3)",
                          f"is {header.get(_CONTENT_TYPE)!r}, not {CONTENT_TYPE!r}")
    if _CORIM_META not in header and _CWT_CLAIMS not in header:
        raise FormatError(_CORIM, "protected header", "has neither corim-meta (8) nor "
                          "CWT-Claims (15)")
    if _CORIM_META in header:
        field = "protected header corim-meta (8)"
        meta = _expect(_decode(_expect(header[_CORIM_META], bytes, field, "a byte string"),
                               field), Mapping, field, "a corim-meta-map")
        signer = _expect(meta.get(0), Mapping, f"{field} signer", "a corim-signer-map")
        _expect(signer.get(0), str, f"{field} signer-name", "text")
    critical = header.get(_CRIT, [])
    known = (_ALG, _CRIT, _CONTENT_TYPE, _CORIM_META, _CWT_CLAIMS)
    if not isinstance(critical, _ARRAY) or any(label not in known for label in critical):
        raise UnsupportedError(f"the CoRIM marks header parameters critical that are not "
                               f"understood here: {critical!r}")
    if alg not in _ALG_NAMES:
        raise UnsupportedError(f"the CoRIM is signed with COSE algorithm {alg}, not ES256 (-7), "
                               "ES384 (-35) or EdDSA (-8)")
    return header


def _sign1_parts(item) -> tuple[bytes, bytes, bytes]:
    """The protected header bytes, payload and signature of a COSE_Sign1 CoRIM."""
    parts = _tagged(item, TAG_COSE_SIGN1, "signed CoRIM (COSE_Sign1)")
    if not isinstance(parts, _ARRAY) or len(parts) != 4:
        raise FormatError(_CORIM, "COSE_Sign1", "is not an array of 4 items")
    protected, unprotected, payload, signature = parts
    _expect(protected, bytes, "COSE_Sign1 protected", "a byte string")
    _expect(unprotected, Mapping, "COSE_Sign1 unprotected", "a map")
    if payload is None:
        raise UnsupportedError("the CoRIM payload is detached (nil): only CoRIMs carrying their "
                               "payload are supported")
    _expect(payload, bytes, "COSE_Sign1 payload", "a byte string")
    _expect(signature, bytes, "COSE_Sign1 signature", "a byte string")
    return protected, payload, signature


def verify_corim(data: bytes, public_keys: list) -> dict:
    """Check a signed CoRIM against ``public_keys`` (ECDSA P-256 / P-384, Ed25519) and return
    its payload's corim-map, decoded. The header's algorithm must be that of the key that
    verifies. VerificationError when no key verifies it, FormatError when it is malformed."""
    if not public_keys:
        raise ConfigError("verifying a signed CoRIM needs at least one public key")
    algorithms = [_signing_algorithm(key, private=False) for key in public_keys]
    protected, payload, signature = _sign1_parts(_decode(data, "signed CoRIM"))
    alg = _protected_header(protected)[_ALG]
    candidates = [key for key, key_alg in zip(public_keys, algorithms) if key_alg == alg]
    if not candidates:
        raise VerificationError(f"the CoRIM is signed with {_ALG_NAMES[alg]}, and none of the "
                                f"{len(public_keys)} key(s) given is an {_ALG_NAMES[alg]} key")
    to_be_signed = _sig_structure(protected, payload)
    for key in candidates:
        try:
            verify_signature(key, signature, to_be_signed, "the CoRIM signature",
                             encodings=("raw",))
            break
        except VerificationError:
            continue
    else:
        raise VerificationError(f"the CoRIM signature does not verify with any of the "
                                f"{len(candidates)} {_ALG_NAMES[alg]} key(s) given")
    return _thaw(_corim_map(_decode(payload, "COSE_Sign1 payload")))
