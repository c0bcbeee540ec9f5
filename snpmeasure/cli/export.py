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


def _entry_product(entry: dict) -> str | None:
    """The product line a manifest entry's vCPUs name: from its signature (QEMU), else from its
    CPU model (GCE keeps the model, whose product decides its VMSA address); None for entries
    without a CPU (EC2: its VMSAs do not depend on it; SEV modes)."""
    from ..abi.products import UNKNOWN, product_from_cpuid
    from ..launch.cpu import CPU_MODELS, decode_signature

    if entry.get("vcpu_sig"):
        family, model, _ = decode_signature(int(entry["vcpu_sig"], 16))
    elif entry.get("vcpu_type") in CPU_MODELS:
        family, model, _ = CPU_MODELS[entry["vcpu_type"]]
    else:
        return None
    product = product_from_cpuid(family, model)
    return None if product == UNKNOWN else product


def _tcb_versions(components: dict, product: str | None, documents: list[dict]) -> dict:
    """The REPORTED_TCB minimum of --min-tcb (one TCB_VERSION) for each SNP measurement, in
    the layout of the product its entries' CPUs name; --product for entries that name none
    (EC2's). A measurement whose entries need two different TCB_VERSION values is refused:
    one claim holds one value."""
    from ..abi.products import canonical_product, tcb_value

    if product is not None and canonical_product(product) is None:
        raise ConfigError(f"--product {product!r} is not Milan, Genoa or Turin")
    fallback = canonical_product(product) if product is not None else None
    products: dict[str, set] = {}
    for document in documents:
        for entry in document["measurements"]:
            if len(entry["measurement"]) != 96:  # SEV and SEV-ES: not in a CoRIM
                continue
            products.setdefault(entry["measurement"], set()).add(
                _entry_product(entry) or fallback)
    if fallback is not None and all(None not in names and fallback not in names
                                    for names in products.values()):
        raise ConfigError(f"--product {fallback} would not be used: every entry names its CPU, "
                          "whose product's TCB layout it follows")
    values = {}
    for measurement, names in products.items():
        if None in names:
            raise ConfigError("--min-tcb for a CoRIM needs each entry's product, whose TCB "
                              f"layout it follows: measurement {measurement[:16]}... has "
                              "entries without a CPU (EC2, for instance): give --product "
                              "Milan, Genoa or Turin for them")
        encoded = {}
        for name in sorted(names):
            try:
                encoded[name] = tcb_value(components, name)
            except KeyError as exc:
                raise ConfigError(f"--min-tcb {exc.args[0]} is not a TCB component of "
                                  f"{name}") from None
        if len(set(encoded.values())) > 1:
            raise ConfigError(f"measurement {measurement[:16]}... is the value of launches on "
                              f"{' and '.join(encoded)}, whose TCB_VERSION layouts differ, so "
                              "one minimum cannot describe both: build a manifest per product "
                              "(manifest --vcpu-type of one product) and export each")
        values[bytes.fromhex(measurement)] = next(iter(encoded.values()))
    return values


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
    signing = [("--signer-name", values["signer_name"] != "snpmeasure"),
               ("--sign-passphrase-env", values["sign_passphrase_env"] is not None),
               ("--sign-passphrase-file", values["sign_passphrase_file"] is not None)]
    if fmt == "rvps":
        inapplicable += signing
    given = [flag for flag, present in inapplicable if present]
    if given:
        raise ConfigError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not "
                          f"apply to --format {fmt}")
    unused = [flag for flag, present in signing if present] if values["sign"] is None else []
    if unused:
        raise ConfigError(f"{', '.join(unused)} would not be used: "
                          f"{'it goes' if len(unused) == 1 else 'they go'} with --sign")
    if fmt == "corim" and values["product"] is not None and not values["min_tcb"]:
        raise ConfigError("--product would not be used: it names the TCB layout of --min-tcb, "
                          "which was not given")
    keys = tuple(load_public_key(path, flag="--manifest-key", accept=SIGNING_KEYS)
                 for path in values["manifest_key"] or ())
    documents = [load_manifest(path, keys) for path in values["manifest"]]
    min_tcb = None
    if values["min_tcb"]:
        from .report import parse_min_tcb
        min_tcb = parse_min_tcb(values["min_tcb"])
    policy = parse_int("--policy", values["policy"])
    if policy is not None:
        from ..attestation.policy import check_policy
        check_policy(policy)
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
            tcb = _tcb_versions(min_tcb, values["product"], documents)
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
