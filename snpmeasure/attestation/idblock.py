"""ID blocks and ID authentication for SNP_LAUNCH_FINISH (QEMU ``id-block=``, ``id-auth=``).

    >>> from snpmeasure.attestation.idblock import IdBlock, sign_id_block
    >>> from snpmeasure.formats.keys import load_private_key
    >>> block = IdBlock(launch_digest=bytes(48))
    >>> signed = sign_id_block(block, load_private_key("id.pem"))  # doctest: +SKIP
    >>> signed.qemu_properties  # doctest: +SKIP

Signing verifies both signatures with the public keys before returning, so a block that does not
verify is never handed out.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

from ..abi import id_block as L
from ..abi.codec import codec
from ..errors import ConfigError, VerificationError
from ..formats.encoding import parse_digest, parse_id16
from ..formats.keys import key_digest, public_key_from_sev, sev_public_key, sign, verify
from ..formats.report import json_policy
from .policy import DEFAULT_POLICY, check_policy


@dataclass(frozen=True)
class IdBlock:
    """The 96-byte ID block."""

    launch_digest: bytes
    family_id: bytes = bytes(16)
    image_id: bytes = bytes(16)
    version: int = 1
    guest_svn: int = 0
    policy: int = DEFAULT_POLICY

    def __post_init__(self) -> None:
        object.__setattr__(self, "launch_digest", parse_digest(self.launch_digest))
        object.__setattr__(self, "family_id", parse_id16(self.family_id, "--family-id"))
        object.__setattr__(self, "image_id", parse_id16(self.image_id, "--image-id"))
        for flag, value in (("--id-version", self.version), ("--guest-svn", self.guest_svn)):
            if not 0 <= value < 1 << 32:
                raise ConfigError(f"{flag} {value} does not fit in 32 bits")
        check_policy(self.policy)

    def to_bytes(self) -> bytes:
        return codec("id_block.IdBlock").build({"ld": self.launch_digest, "family_id": self.family_id,
                                "image_id": self.image_id, "version": self.version,
                                "guest_svn": self.guest_svn, "policy": self.policy})

    @classmethod
    def from_bytes(cls, raw: bytes) -> "IdBlock":
        if len(raw) != L.ID_BLOCK_SIZE:
            raise VerificationError(f"an ID block is {L.ID_BLOCK_SIZE} bytes, not {len(raw)}")
        p = codec("id_block.IdBlock").parse(raw)
        return cls(p.ld, p.family_id, p.image_id, p.version, p.guest_svn, p.policy)

    def fields(self) -> dict:
        return {
            "launch_digest": self.launch_digest.hex(),
            "family_id": self.family_id.hex(),
            "image_id": self.image_id.hex(),
            "id_version": self.version,  # the option --id-version (docs/json.md)
            "guest_svn": self.guest_svn,
            "policy": f"{self.policy:#x}",
            "policy_decoded": json_policy(self.policy),
        }


@dataclass(frozen=True)
class SignedIdBlock:
    """An ID block with its ID authentication structure and the key digests."""

    id_block: bytes
    id_auth: bytes
    id_key_digest: bytes
    author_key_digest: bytes | None

    @property
    def author_key_enabled(self) -> bool:
        return self.author_key_digest is not None

    @property
    def qemu_properties(self) -> str:
        """The ``sev-snp-guest`` properties to add to QEMU's ``-object``."""
        text = (f"id-block={base64.b64encode(self.id_block).decode()},"
                f"id-auth={base64.b64encode(self.id_auth).decode()}")
        if self.author_key_enabled:
            text += ",author-key-enabled=on"
        return text

    def to_json(self) -> dict:
        auth = codec("id_block.IdAuth").parse(self.id_auth)
        return {
            "id_block": base64.b64encode(self.id_block).decode(),
            "id_auth": base64.b64encode(self.id_auth).decode(),
            "id_key_digest": self.id_key_digest.hex(),
            "author_key_digest": self.author_key_digest.hex() if self.author_key_digest else None,
            "author_key_enabled": self.author_key_enabled,
            "qemu_properties": self.qemu_properties,
            "fields": IdBlock.from_bytes(self.id_block).fields(),
            "id_auth_fields": {"id_key_algo": auth.id_key_algo,
                               "auth_key_algo": auth.auth_key_algo},
        }


def sign_id_block(block: IdBlock, id_key, author_key=None) -> SignedIdBlock:
    """Sign ``block`` with the ID key (and the ID key with the author key), then verify both."""
    raw_block = block.to_bytes()
    id_public = sev_public_key(id_key.public_key())
    auth = {
        "id_key_algo": L.ALGO_ECDSA_P384_SHA384,
        "auth_key_algo": L.ALGO_ECDSA_P384_SHA384 if author_key is not None else 0,
        "id_block_sig": sign(id_key, raw_block),
        "id_pubkey": id_public,
        "id_key_sig": bytes(L.SIGNATURE_SIZE),
        "author_pubkey": bytes(L.PUBLIC_KEY_SIZE),
    }
    if author_key is not None:
        auth["id_key_sig"] = sign(author_key, id_public)
        auth["author_pubkey"] = sev_public_key(author_key.public_key())
    signed = SignedIdBlock(
        id_block=raw_block,
        id_auth=codec("id_block.IdAuth").build(auth),
        id_key_digest=key_digest(id_key.public_key()),
        author_key_digest=key_digest(author_key.public_key()) if author_key is not None else None,
    )
    verify_id_auth(signed.id_block, signed.id_auth, author_key_enabled=author_key is not None)
    return signed


def verify_id_auth(id_block: bytes, id_auth: bytes, author_key_enabled: bool) -> SignedIdBlock:
    """Check the signatures of an ID block and its ID_AUTH with the keys embedded in ID_AUTH."""
    if len(id_auth) != L.ID_AUTH_SIZE:
        raise VerificationError(f"ID_AUTH is {L.ID_AUTH_SIZE} bytes, not {len(id_auth)}")
    IdBlock.from_bytes(id_block)
    auth = codec("id_block.IdAuth").parse(id_auth)
    if auth.id_key_algo != L.ALGO_ECDSA_P384_SHA384:
        raise VerificationError(f"ID key algorithm {auth.id_key_algo} is not ECDSA P-384 (1)")
    id_public = public_key_from_sev(auth.id_pubkey)
    verify(id_public, auth.id_block_sig, id_block, "the ID block signature")
    author_digest = None
    if author_key_enabled:
        if auth.auth_key_algo != L.ALGO_ECDSA_P384_SHA384:
            raise VerificationError(f"author key algorithm {auth.auth_key_algo} is not ECDSA "
                                    "P-384 (1)")
        author_public = public_key_from_sev(auth.author_pubkey)
        verify(author_public, auth.id_key_sig, bytes(auth.id_pubkey), "the ID key signature")
        author_digest = key_digest(author_public)
    return SignedIdBlock(id_block, id_auth, key_digest(id_public), author_digest)
