"""Reference values for Trustee (confidential-containers/trustee): an RVPS "sample" message.

Sources (trustee at v0.21.0, commit 258ea4ac, and HEAD 78962cd4):

* ``rvps/src/lib.rs``: the message ``{"version": "0.1.0", "type": "sample", "payload": ...}``;
  ``rvps/src/extractors/sample/mod.rs``: the payload is the standard base64 (padded) of a JSON
  object mapping reference-value names to values, stored as given.
* ``attestation-service/src/ear_token/ear_default_policy_cpu.rego`` (v0.16.0 and later): the
  names the default policy reads for SEV-SNP and how it compares them:
  ``snp_launch_measurement`` (the report's measurement must be ``in`` the list),
  ``snp_bootloader``, ``snp_microcode``, ``snp_snp_svn``, ``snp_tee_svn`` (``in`` lists of
  integers: the reported TCB components), ``snp_smt_enabled``, ``snp_tsme_enabled`` (``==``
  booleans: platform info), ``snp_guest_abi_major``, ``snp_guest_abi_minor`` (``==`` integers),
  ``snp_single_socket``, ``snp_smt_allowed`` (``==`` booleans: guest policy). Debug and
  migration agent must be off (hard-coded).
* ``deps/verifier/src/snp/mod.rs``: the measurement claim is lowercase hex since v0.18.0
  (commit d7831293), standard base64 before; the TCB and policy claims are JSON integers and
  booleans since v0.14.0 (commit fa25802c).

A minimum TCB becomes, per component, the list of every value from the minimum to 255: the
policy tests membership, not order. The policy's "configuration" rule holds only when all six
configuration values are registered (a missing one compares against null), so the platform
values (``smt``, ``tsme``) should be given with a policy.
"""
from __future__ import annotations

import base64
import json
import warnings

from ..abi.policy import decode_policy
from ..errors import ConfigError, SnpMeasureWarning
from ..text import counted

MESSAGE_VERSION = "0.1.0"
MEASUREMENT_ENCODINGS = ("hex", "base64")  # Trustee v0.18.0+ / v0.10 to v0.17
TCB_NAMES = {"boot_loader": "snp_bootloader", "microcode": "snp_microcode",
             "snp": "snp_snp_svn", "tee": "snp_tee_svn"}


def reference_values(documents: list[dict], *, measurement_encoding: str = "hex",
                     min_tcb: dict | None = None, policy: int | None = None,
                     smt: bool | None = None, tsme: bool | None = None) -> dict:
    """The reference values (name -> value) of the SEV-SNP entries of ``documents``."""
    if measurement_encoding not in MEASUREMENT_ENCODINGS:
        raise ConfigError(f"--measurement-encoding {measurement_encoding!r} is not hex or base64")
    measurements: list[str] = []
    skipped = 0
    for document in documents:
        for entry in document["measurements"]:
            raw = bytes.fromhex(entry["measurement"])
            if len(raw) != 48:
                skipped += 1  # SEV/SEV-ES: Trustee's SNP policy has no use for them
                continue
            text = raw.hex() if measurement_encoding == "hex" else base64.b64encode(raw).decode()
            if text not in measurements:
                measurements.append(text)
    if not measurements:
        raise ConfigError("the manifests hold no SEV-SNP measurement (Trustee's reference "
                          "values are for SNP reports)")
    if skipped:
        warnings.warn(SnpMeasureWarning(
            f"skipped {counted(skipped, 'SEV/SEV-ES measurement')}: Trustee's SNP reference "
            "values hold SEV-SNP launch measurements only"), stacklevel=2)
    values: dict = {"snp_launch_measurement": measurements}
    for component, minimum in (min_tcb or {}).items():
        if component not in TCB_NAMES:
            raise ConfigError(f"--min-tcb {component} has no Trustee reference value (Trustee "
                              f"reads {', '.join(TCB_NAMES)})")
        if not 0 <= minimum <= 255:
            raise ConfigError(f"--min-tcb {component}={minimum} is outside 0..255")
        values[TCB_NAMES[component]] = list(range(minimum, 256))
    if smt is not None:
        values["snp_smt_enabled"] = smt
    if tsme is not None:
        values["snp_tsme_enabled"] = tsme
    if policy is not None:
        decoded = decode_policy(policy)
        if decoded["debug"] or decoded["migrate_ma"]:
            raise ConfigError(f"--policy {policy:#x} allows debugging or a migration agent, "
                              "which Trustee's default policy never accepts")
        values["snp_guest_abi_major"] = decoded["abi_major"]
        values["snp_guest_abi_minor"] = decoded["abi_minor"]
        values["snp_single_socket"] = decoded["single_socket"]
        values["snp_smt_allowed"] = decoded["smt"]
    return values


def rvps_message(values: dict) -> dict:
    """The RVPS registration message for ``values`` (the 'sample' extractor's format)."""
    payload = json.dumps(values, separators=(",", ":")).encode()
    return {"version": MESSAGE_VERSION, "type": "sample",
            "payload": base64.b64encode(payload).decode()}
