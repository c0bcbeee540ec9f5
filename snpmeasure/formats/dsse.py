"""Signed manifests: a DSSE envelope around an in-toto Statement whose predicate is the manifest.

Sources: DSSE v1.0.2 (secure-systems-lab/dsse ``envelope.md``, ``protocol.md``: the JSON
envelope, PAE, base64), in-toto attestation v1.2.0 (``spec/v1/statement.md``,
``spec/v1/envelope.md``: Statement v1, payload type ``application/vnd.in-toto+json``, subjects
with a ``sha256`` digest), and what cosign 3.1.2 ``verify-blob-attestation`` reads (standard
base64 with padding; no fields beyond the Statement's at its top level or in subjects).

The Statement's subjects are the manifest's input files (name and SHA-256); its predicate is the
manifest document itself, and its predicate type names the manifest version
(:func:`predicate_type`). Signatures are DER ECDSA (P-256 with SHA-256, P-384 with SHA-384) or
Ed25519 over PAE(payload type, payload); each carries the signer's key ID (SHA-256 of its
SubjectPublicKeyInfo), which verification does not trust: a signature counts only if it
verifies with a key the verifier gave.
"""
from __future__ import annotations

import base64
import binascii
import json

from ..errors import FormatError, SignatureError, VerificationError
from .signing import key_id, sign_der, verify_signature

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE_PREFIX = "https://snpmeasure.invalid/manifest/v"  # .invalid: RFC 2606, no owner


def predicate_type(manifest_version: int) -> str:
    """The in-toto predicate type of a manifest of ``manifest_version`` (a URI that names the
    version of the schema in docs/, under the reserved .invalid domain since the project owns
    none)."""
    return f"{PREDICATE_TYPE_PREFIX}{manifest_version}"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
    LEN the ASCII decimal byte length (DSSE protocol.md v1.0.2)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def statement(document: dict) -> dict:
    """The in-toto Statement v1 of a manifest: its inputs as subjects, itself as predicate."""
    subjects = [{"name": record["name"], "digest": {"sha256": record["sha256"]}}
                for record in document["inputs"].values()]
    return {"_type": STATEMENT_TYPE, "subject": subjects,
            "predicateType": predicate_type(document["manifest_version"]),
            "predicate": document}


def sign_envelope(payload: bytes, private_keys: list, payload_type: str = PAYLOAD_TYPE) -> dict:
    """A DSSE envelope of ``payload`` signed by every key (standard base64, padded)."""
    message = pae(payload_type, payload)
    signatures = [{"keyid": key_id(key.public_key()),
                   "sig": base64.b64encode(sign_der(key, message)).decode()}
                  for key in private_keys]
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode(),
            "signatures": signatures}


def signed_manifest(document: dict, private_keys: list) -> bytes:
    """The bytes of a signed manifest: the envelope as JSON, with a final newline."""
    payload = json.dumps(statement(document), separators=(",", ":")).encode()
    return (json.dumps(sign_envelope(payload, private_keys), indent=2) + "\n").encode()


def is_envelope(document: object) -> bool:
    return isinstance(document, dict) and "payloadType" in document and "signatures" in document


def _b64(text: object, path: str, field: str) -> bytes:
    """Standard or URL-safe base64 with padding, as DSSE verifiers must accept."""
    if not isinstance(text, str):
        raise FormatError(path, field, "is not a base64 string")
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(text, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise FormatError(path, field, "is not valid base64")


def open_envelope(envelope: dict, public_keys: list, path: str) -> tuple[dict, list[str]]:
    """The manifest inside a signed manifest, once a signature verifies with one of
    ``public_keys``; also the key IDs that verified. The payload is decoded only from the bytes
    that were verified (DSSE: never re-parse the envelope after verification)."""
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise FormatError(path, "payloadType", f"{payload_type!r} is not {PAYLOAD_TYPE!r}")
    payload = _b64(envelope.get("payload"), path, "payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise FormatError(path, "signatures", "must be a non-empty list")
    message = pae(payload_type, payload)
    verified = []
    for index, signature in enumerate(signatures):
        if not isinstance(signature, dict):
            raise FormatError(path, f"signatures[{index}]", "is not an object")
        raw = _b64(signature.get("sig"), path, f"signatures[{index}].sig")
        for public_key in public_keys:
            try:
                verify_signature(public_key, raw, message, "signature")
            except VerificationError:  # this key did not make this signature
                continue
            verified.append(key_id(public_key))
            break
    if not verified:
        raise SignatureError(f"{path}: no signature of the signed manifest verifies with the "
                             f"{len(public_keys)} key(s) given (--manifest-key)")
    try:
        claim = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise FormatError(path, "payload", "is not JSON") from None
    except RecursionError:
        raise FormatError(path, "payload", "nests too deeply to be a manifest") from None
    if not isinstance(claim, dict) or claim.get("_type") != STATEMENT_TYPE:
        raise FormatError(path, "payload", f"is not an in-toto Statement ({STATEMENT_TYPE})")
    document = claim.get("predicate")
    if not isinstance(document, dict) or not isinstance(document.get("manifest_version"), int):
        raise FormatError(path, "predicate", "is not a snpmeasure manifest")
    if claim.get("predicateType") != predicate_type(document["manifest_version"]):
        raise FormatError(path, "predicateType", f"{claim.get('predicateType')!r} is not "
                          f"{predicate_type(document['manifest_version'])!r}")
    try:
        expected = statement(document)["subject"]
    except (KeyError, TypeError, AttributeError):
        raise FormatError(path, "predicate", "is not a snpmeasure manifest (inputs)") from None
    if claim.get("subject") != expected:
        raise FormatError(path, "subject", "does not list the manifest's input files")
    return document, verified
