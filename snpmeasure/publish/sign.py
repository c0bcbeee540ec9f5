"""Signatures for published documents (see ``formats.signing``)."""
from ..formats.signing import (COSE_EDDSA, COSE_ES256, COSE_ES384, algorithm_name,  # noqa: F401
                               cose_algorithm, is_ecdsa, key_id, public_key_der, sign_der,
                               sign_raw, verify_signature)
