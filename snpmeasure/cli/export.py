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


def _tcb_version(components: dict, product: str | None, documents: list[dict]) -> int:
    """The REPORTED_TCB (one TCB_VERSION) of --min-tcb, whose layout is the product's: from
    --product, or from the manifests' vCPU signatures when they name one product."""
    from ..abi.products import canonical_product, product_from_cpuid, tcb_value
    from ..launch.cpu import decode_signature

    if product is not None:
        name = canonical_product(product)
        if name is None:
            raise ConfigError(f"--product {product!r} is not Milan, Genoa or Turin")
    else:
        found = {product_from_cpuid(*decode_signature(int(entry["vcpu_sig"], 16))[:2])
                 for document in documents for entry in document["measurements"]
                 if entry.get("vcpu_sig") and len(entry["measurement"]) == 96}
        if len(found) != 1 or "unknown" in found:
            raise ConfigError("--min-tcb for a CoRIM needs the product, whose TCB layout it "
                              "follows: give --product Milan, Genoa or Turin (the manifests' "
                              "CPUs name " + (", ".join(sorted(found)) or "none") + ")")
        (name,) = found
    try:
        return tcb_value(components, name)
    except KeyError as exc:
        raise ConfigError(f"--min-tcb {exc.args[0]} is not a TCB component of {name}") from None


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
                    [("--vlek", values["vlek"]), ("--sign", values["sign"] is not None),
                     ("--chip-id", values["chip_id"] is not None),
                     ("--csp-id", values["csp_id"] is not None),
                     ("--product", values["product"] is not None)])
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
        tcb = None
        if min_tcb:
            tcb = _tcb_version(min_tcb, values["product"], documents)
        instance = None
        if values["chip_id"] is not None and values["csp_id"] is not None:
            raise ConfigError("give --chip-id or --csp-id, not both")
        if values["chip_id"] is not None:
            if values["vlek"]:
                raise ConfigError("--chip-id names a chip (VCEK); with --vlek give --csp-id")
            from ..formats.encoding import parse_bytes_value
            instance = parse_bytes_value(values["chip_id"], 64, "--chip-id")
        elif values["csp_id"] is not None:
            if not values["vlek"]:
                raise ConfigError("--csp-id names a CSP; it goes with --vlek")
            instance = values["csp_id"].encode()
        data = build_corim(documents, policy=policy, min_tcb=tcb, vlek=values["vlek"],
                           instance=instance)
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
