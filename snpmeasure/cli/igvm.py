"""``snpmeasure igvm``: the launch digest of an IGVM file, checked against its ID block."""
from __future__ import annotations

import json
import warnings

from ..errors import ConfigError, VerificationError


def run_igvm(values: dict) -> None:
    from ..attestation.igvm_id_block import measure_and_check
    from .values import igvm_options

    path, output_format = values["file"], values["output_format"]
    if output_format not in ("hex", "base64", "json"):
        raise ConfigError(f"--output-format {output_format!r} is not hex, base64 or json")
    options = igvm_options(values)
    result, block = measure_and_check(path, options)
    if block is not None:
        problems = []
        if not block.matches:
            problems.append(f"the ID block's launch digest {block.ld.hex()} differs from the "
                            f"computed {result.hex}")
        if not block.signature_ok:
            problems.append(f"the ID block does not verify: {block.signature_error}")
        if problems:
            if not values["ignore_id_block"]:
                raise VerificationError(f"{path}: " + "; ".join(problems)
                                        + " (--ignore-id-block to print the digest anyway)")
            for problem in problems:
                warnings.warn(f"{path}: {problem}")
    if output_format == "json":
        print(json.dumps(igvm_json(result, options, block), indent=2))
        return
    value = result.hex if output_format == "hex" else result.base64
    print(f"Calculated {options.platform.upper()} IGVM measurement: {value}"
          if values["verbose"] else value)


def igvm_json(result, options, block) -> dict:
    """The JSON of ``igvm --output-format json`` (docs/schemas/igvm.schema.json): the digest and
    the options that decided it, named as the options (and as a manifest --igvm names them);
    null where an option does not apply."""
    qemu_rules = options.loader == "qemu" or options.check_kvm
    return {"measurement": result.hex, "platform": options.platform, "loader": options.loader,
            "native_zero": options.native_zero, "check_kvm": options.check_kvm or
            options.loader == "qemu", "host_checks": options.host_checks,
            "qemu_version": options.qemu_version if qemu_rules else None,
            "vcpus": options.vcpus, "vcpu_type": options.vcpu_type,
            "vcpu_sig": None if options.signature is None else f"{options.signature:#x}",
            "legacy_vm_type": options.effective_legacy_vm_type
            if qemu_rules and options.platform == "sev-es" else None,
            "page_updates": result.pages,
            "id_block": None if block is None else block.to_json()}
