"""Reference-value manifests: many configurations of one image as one deterministic document
(schema: docs/manifest.schema.json). Reading them back is ``formats.manifest``."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from .. import __version__
from ..errors import ConfigError
from ..files import sha256_file
from ..launch.config import MeasurementConfig
from ..launch.kernel_hashes import cmdline_bytes
from ..launch.profiles import profile_named
from ..limits import MAX_MATRIX_ENTRIES, MAX_VCPUS
from .matrix import Matrix, expand_variants

MANIFEST_VERSION = 1


def input_record(path) -> dict:
    """An input file as the manifest lists it: base name, size, SHA-256."""
    return {"name": os.path.basename(str(path)), "size": os.stat(path).st_size,
            "sha256": sha256_file(path).hex()}


def check_matrix_size(entries: int) -> None:
    if entries > MAX_MATRIX_ENTRIES:
        raise ConfigError(f"{entries} configurations exceed the limit of {MAX_MATRIX_ENTRIES}; "
                          "narrow the lists")


def build_manifest(base: MeasurementConfig, *, vmm_types: Sequence[str],
                   vcpu_counts: Sequence[int] | None,
                   cpus: Sequence[tuple[str | None, int | None]],
                   guest_features: Sequence[int], legacy: Sequence[bool | None]) -> dict:
    """The manifest of ``base``'s image for every combination of the lists, in the order given
    (VMM type, CPU, guest features, legacy VM type, vCPU count)."""
    mode = base.mode
    if mode.value == "snp:ovmf-hash":
        raise ConfigError("manifest measures launches; mode snp:ovmf-hash is a firmware hash")
    if mode.has_vmsa and not vcpu_counts:
        raise ConfigError(f"--vcpus is required in mode {mode.value}")
    for count in vcpu_counts or []:
        if not 1 <= count <= MAX_VCPUS:
            raise ConfigError(f"--vcpus {count} is outside 1..{MAX_VCPUS}")
    if mode.has_vmsa and not cpus:
        if any(profile_named(v).needs_vcpu_signature for v in vmm_types):
            raise ConfigError(f"mode {mode.value} needs --vcpu-type, --vcpu-sig or "
                              "--vcpu-family/--vcpu-model/--vcpu-stepping for QEMU")
    for value in guest_features:
        if not 0 <= value < 1 << 64:
            raise ConfigError(f"--guest-features {value:#x} does not fit in 64 bits")
    cpus = cpus or [(None, None)]
    # bounded before anything is validated or measured: every combination counts
    check_matrix_size(len(vmm_types) * len(cpus) * len(guest_features) * len(legacy)
                      * len(vcpu_counts or [1]))
    matrix = Matrix(base)
    variants = expand_variants(base, vmm_types, cpus, guest_features, legacy,
                               firmware=matrix.inputs.firmware)
    entries = [entry.to_json() for variant in variants
               for entry in matrix.measure(variant, vcpu_counts or [1])]
    if mode.value == "sev":
        for entry in entries:
            entry["vcpus"] = None
    inputs = {"ovmf": input_record(base.ovmf)}
    for name, path in (("kernel", base.kernel), ("initrd", base.initrd), ("svsm", base.svsm)):
        if path:
            inputs[name] = input_record(path)
    return {
        "tool": "snpmeasure",
        "version": __version__,
        "manifest_version": MANIFEST_VERSION,
        "mode": mode.value,
        "inputs": inputs,
        "append": base.append if base.kernel else None,
        "cmdline_sha256": hashlib.sha256(cmdline_bytes(base.append)).hexdigest()
        if base.kernel else None,
        "vars_size": base.vars_size,
        "snp_ovmf_hash": base.snp_ovmf_hash.hex() if base.snp_ovmf_hash else None,
        "measurements": entries,
    }
