"""``snpmeasure export``: manifests as a Trustee RVPS message or a CoRIM."""
from __future__ import annotations

import json
import sys

from ..errors import ConfigError
from .values import parse_int


def _on_off(value: str | None, flag: str) -> bool | None:
    if value is None:
        return None
    if value.lower() not in ("on", "off"):
        raise ConfigError(f"{flag} {value!r} is not on or off")
    return value.lower() == "on"


def run_export(values: dict) -> None:
    from ..formats.keys import SIGNING_KEYS, load_public_key
    from ..formats.manifest import load_manifest

    fmt, output, force = values["format"], values["output"], values["force"]
    if fmt not in ("rvps", "corim"):
        raise ConfigError(f"--format {fmt!r} is not rvps or corim" if fmt else
                          "--format is required (rvps or corim)")
    if not values["manifest"]:
        raise ConfigError("--manifest is required")
    if output is not None:
        from ..files import check_outputs
        check_outputs([output], force)
    inapplicable = ([("--measurement-encoding", values["measurement_encoding"] != "hex"),
                     ("--smt", values["smt"] is not None), ("--tsme", values["tsme"] is not None)]
                    if fmt == "corim" else
                    [("--vlek", values["vlek"]), ("--sign", values["sign"] is not None)])
    given = [flag for flag, present in inapplicable if present]
    if given:
        raise ConfigError(f"{', '.join(given)} does not apply to --format {fmt}")
    keys = tuple(load_public_key(path, flag="--manifest-key", accept=SIGNING_KEYS)
                 for path in values["manifest_key"] or ())
    documents = [load_manifest(path, keys) for path in values["manifest"]]
    min_tcb = None
    if values["min_tcb"]:
        from .report import parse_min_tcb
        min_tcb = parse_min_tcb(values["min_tcb"])
    policy = parse_int("--policy", values["policy"])
    if fmt == "rvps":
        from ..publish.trustee import reference_values, rvps_message
        message = rvps_message(reference_values(
            documents, measurement_encoding=values["measurement_encoding"], min_tcb=min_tcb,
            policy=policy, smt=_on_off(values["smt"], "--smt"),
            tsme=_on_off(values["tsme"], "--tsme")))
        data = (json.dumps(message, indent=2) + "\n").encode()
    else:
        from ..publish.corim import build_corim, sign_corim
        snp_svn = None
        if min_tcb:
            if set(min_tcb) - {"snp"}:
                raise ConfigError("--format corim takes --min-tcb snp=N only (the profile's "
                                  "REPORTED_TCB is one SVN)")
            snp_svn = min_tcb.get("snp")
        data = build_corim(documents, policy=policy, min_tcb=snp_svn, vlek=values["vlek"])
        if values["sign"] is not None:
            from .analysis import _signing_keys
            (key,) = _signing_keys({**values, "sign": [values["sign"]]})
            data = sign_corim(data, key, signer_name=values["signer_name"])
    if output is None:
        if fmt == "corim" and sys.stdout.isatty():
            raise ConfigError("a CoRIM is binary CBOR: give -o FILE or redirect standard output")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        from ..files import write_atomic
        write_atomic(output, data, force)
