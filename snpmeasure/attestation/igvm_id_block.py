"""The SNP_ID_BLOCK of an IGVM file: compared with the computed digest, signatures verified."""
from __future__ import annotations

from dataclasses import dataclass

from ..abi.codec import codec
from ..errors import ConfigError, VerificationError
from ..formats.igvm import Header, IgvmFile
from ..formats.keys import key_digest, public_key_from_sev, verify
from .idblock import IdBlock


@dataclass(frozen=True)
class IdBlockCheck:
    """An SNP_ID_BLOCK found in the file and what checking it showed."""

    header: Header
    ld: bytes
    matches: bool
    signature_ok: bool
    signature_error: str | None
    id_key_digest: bytes | None
    author_key_digest: bytes | None

    def to_json(self) -> dict:
        p = self.header.payload
        return {"launch_digest": self.ld.hex(), "matches_measurement": self.matches,
                "family_id": bytes(p.family_id).hex(), "image_id": bytes(p.image_id).hex(),
                "id_version": p.version, "guest_svn": p.guest_svn,
                "author_key_enabled": bool(p.author_key_enabled),
                "signatures_verified": self.signature_ok, "signature_error": self.signature_error,
                "id_key_digest": self.id_key_digest.hex() if self.id_key_digest else None,
                "author_key_digest": self.author_key_digest.hex() if self.author_key_digest
                else None}


def _sev_public_key(key) -> bytes:
    return codec("id_block.EcdsaPublicKey").build({"curve": key.curve, "qx": bytes(key.qx),
                                                   "qy": bytes(key.qy)})


def _sev_signature(sig) -> bytes:
    return codec("id_block.EcdsaSignature").build({"r": bytes(sig.r_comp),
                                                   "s": bytes(sig.s_comp)})


def check_id_block(igvm: IgvmFile, mask: int, digest: bytes) -> IdBlockCheck | None:
    """Decode the SNP_ID_BLOCK for ``mask`` (if any), compare it, verify its signatures."""
    headers = [h for h in igvm.id_blocks() if h.compatibility_mask & mask]
    if not headers:
        return None
    header = headers[-1]
    p = header.payload
    id_digest = author_digest = None
    error = None
    try:
        policy = igvm.guest_policy(mask)
        if policy is None:
            raise VerificationError("no GUEST_POLICY header for the SNP platform")
        if p.id_key_algorithm != 1:
            raise VerificationError(f"ID key algorithm {p.id_key_algorithm} is not ECDSA P-384")
        block = IdBlock(launch_digest=bytes(p.ld), family_id=bytes(p.family_id),
                        image_id=bytes(p.image_id), version=p.version, guest_svn=p.guest_svn,
                        policy=policy).to_bytes()
        id_raw = _sev_public_key(p.id_public_key)
        id_key = public_key_from_sev(id_raw)
        id_digest = key_digest(id_key)
        verify(id_key, _sev_signature(p.id_key_signature), block, "the ID block signature")
        if p.author_key_enabled:
            if p.author_key_algorithm != 1:
                raise VerificationError(f"author key algorithm {p.author_key_algorithm} is not "
                                        "ECDSA P-384")
            author_key = public_key_from_sev(_sev_public_key(p.author_public_key))
            author_digest = key_digest(author_key)
            verify(author_key, _sev_signature(p.author_key_signature), id_raw,
                   "the ID key signature")
    except (VerificationError, ConfigError) as exc:
        error = str(exc)
    return IdBlockCheck(header, bytes(p.ld), bytes(p.ld) == digest, error is None, error,
                        id_digest, author_digest)


def measure_and_check(path, options) -> tuple:
    """The IGVM launch digest for ``options`` and, on the SNP platform, its ID block check
    (None without an ID block): ``(IgvmMeasurement, IdBlockCheck | None)``."""
    from ..abi.igvm import Platform
    from ..engine.igvm import measure_igvm_file
    from ..launch.igvm import PLATFORMS

    with IgvmFile(path) as igvm:
        result = measure_igvm_file(igvm, options)
        block = None
        platform = PLATFORMS[options.platform]
        if platform is Platform.SEV_SNP:
            block = check_id_block(igvm, igvm.compatibility_mask(platform), result.digest)
        return result, block
