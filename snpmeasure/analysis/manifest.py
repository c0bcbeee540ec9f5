"""Reference-value manifests: many configurations of one image as one deterministic document
(schema: docs/manifest.schema.json). Reading them back is ``formats.manifest``."""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import ConfigError, SnpMeasureWarning
from ..files import input_size, sha256_file
from ..launch.config import MeasurementConfig
from ..launch.kernel_hashes import cmdline_bytes
from ..launch.profiles import profile_named
from ..limits import MAX_MATRIX_ENTRIES, MAX_VCPUS
from .matrix import Matrix, expand_variants

MANIFEST_VERSION = 2  # 2: host stack (QEMU release, host checks), IGVM sources


def input_record(path) -> dict:
    """An input file as the manifest lists it: base name, size, SHA-256."""
    return {"name": os.path.basename(str(path)), "size": input_size(path),
            "sha256": sha256_file(path).hex()}


def check_matrix_size(entries: int) -> None:
    """Refuse a manifest of more than ``MAX_MATRIX_ENTRIES`` entries. ``entries`` is the product
    of the lengths of the parsed lists, computed before any combination is made or checked."""
    if entries > MAX_MATRIX_ENTRIES:
        raise ConfigError(f"the lists make {entries} configurations, over the limit of "
                          f"{MAX_MATRIX_ENTRIES} manifest entries (MAX_MATRIX_ENTRIES, "
                          "docs/security.md); narrow the lists")


# host rules that leave a CPU model out of "--vcpu-type all" rather than refuse it
EVERY_CPU_SKIPS = frozenset({"cpu-model", "gce-vmsa-gpa"})
# ... and out of a list of CPUs crossed with several VMMs: a CPU GCE does not run (Turin) is
# left out for GCE only, with a warning, since the lists cannot say "Turin, but not on GCE"
CROSSED_VMM_SKIPS = frozenset({"gce-vmsa-gpa"})


def build_manifest(base: MeasurementConfig, *, vmm_types: Sequence[str],
                   vcpu_counts: Sequence[int] | None,
                   cpus: Sequence[tuple[str | None, int | None]],
                   guest_features: Sequence[int], legacy: Sequence[bool | None],
                   progress: Callable[[int, int], None] | None = None,
                   every_cpu: bool = False) -> dict:
    """The manifest of ``base``'s image for every combination of the lists, in the order given
    (VMM type, CPU, guest features, legacy VM type, vCPU count). ``progress(done, total)`` is
    called after each entry. ``every_cpu`` (``--vcpu-type all``): a CPU model that does not
    apply to a VMM (one the QEMU release lacks, rule cpu-model; one of no product GCE runs,
    rule gce-vmsa-gpa) is left out for it instead of stopping the manifest. With several VMM
    types, a CPU GCE does not run is left out for GCE, with a warning."""
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
    skipped: list = []
    variants = expand_variants(base, vmm_types, cpus, guest_features, legacy,
                               firmware=matrix.inputs.firmware,
                               skip_rules=EVERY_CPU_SKIPS if every_cpu else
                               CROSSED_VMM_SKIPS if len(vmm_types) > 1 else frozenset(),
                               skipped=skipped)
    if skipped and not every_cpu:
        cells = sorted({f"{vmm} on {cpu}" for vmm, cpu, _ in skipped})
        warnings.warn(SnpMeasureWarning(
            f"left out {', '.join(cells)}: refused by host rule "
            f"{', '.join(sorted({rule for _, _, rule in skipped}))} (docs/measurement.md); the "
            "other VMM types keep those CPUs"))
    entries = []
    total = len(variants) * (1 if mode.value == "sev" else len(vcpu_counts or [1]))
    for variant in variants:
        for entry in matrix.measure(variant, vcpu_counts or [1]):
            entries.append(entry.to_json())
            if progress is not None:
                progress(len(entries), total)
    if mode.value == "sev":
        for entry in entries:
            entry["vcpus"] = None
    inputs = {"ovmf": input_record(base.ovmf)}
    for name, path in (("kernel", base.kernel), ("initrd", base.initrd), ("svsm", base.svsm)):
        if path:
            inputs[name] = input_record(path)
    return _document(
        mode.value, "ovmf", inputs, entries,
        {"qemu_version": base.qemu_version, "host_checks": base.host_checks},
        append=base.append if base.kernel else None,
        cmdline_sha256=hashlib.sha256(cmdline_bytes(base.append)).hexdigest()
        if base.kernel else None,
        vars_size=base.vars_size,
        snp_ovmf_hash=base.snp_ovmf_hash.hex() if base.snp_ovmf_hash else None)


def _document(mode: str, source: str, inputs: dict, entries: list, host: dict, *,
              igvm: dict | None = None, append: str | None = None,
              cmdline_sha256: str | None = None, vars_size: int | None = None,
              snp_ovmf_hash: str | None = None) -> dict:
    return {
        "tool": "snpmeasure",
        "version": __version__,
        "manifest_version": MANIFEST_VERSION,
        "mode": mode,
        "source": source,
        "host": host,
        "igvm": igvm,
        "inputs": inputs,
        "append": append,
        "cmdline_sha256": cmdline_sha256,
        "vars_size": vars_size,
        "snp_ovmf_hash": snp_ovmf_hash,
        "measurements": entries,
    }


IGVM_MODES = {"snp": "snp", "sev-es": "seves", "sev": "sev"}


def build_igvm_manifest(path, options, *, vcpu_counts: Sequence[int] | None,
                        cpus: Sequence[tuple[str | None, int | None]],
                        legacy: Sequence[bool | None],
                        progress: Callable[[int, int], None] | None = None) -> dict:
    """The manifest of an IGVM file: with the QEMU loader one entry per CPU, VM type (SEV-ES)
    and vCPU count, in the order given; with the other loaders (whose rules have no vCPU
    count) one entry. ``progress(done, total)`` is called after each entry."""
    from ..engine.igvm import measure_igvm_counts, measure_igvm_file
    from ..formats.igvm import IgvmFile

    qemu = options.loader == "qemu"
    counts = list(vcpu_counts or [])
    for count in counts:
        if not 1 <= count <= MAX_VCPUS:
            raise ConfigError(f"--vcpus {count} is outside 1..{MAX_VCPUS}")
    if qemu and options.platform != "sev" and not counts:
        raise ConfigError("manifest --igvm with --loader qemu needs --vcpus")
    if not qemu and (counts or any(cpu != (None, None) for cpu in cpus)
                     or any(value is not None for value in legacy)):
        raise ConfigError("--vcpus, --vcpu-type, --vcpu-sig and --legacy-vm-type apply to "
                          "--loader qemu")
    cpus = list(cpus) or [(None, None)]
    legacy = list(legacy) if options.platform == "sev-es" else [None]
    if not qemu or options.platform == "sev":
        counts = counts[:1] or [None]
    check_matrix_size(len(cpus) * len(legacy) * len(counts))
    mode = IGVM_MODES[options.platform]
    entries = []
    with IgvmFile(path) as igvm:
        for vcpu_type, vcpu_sig in cpus:
            for leg in legacy:
                variant = options.replace(vcpu_type=vcpu_type, vcpu_sig=vcpu_sig,
                                          legacy_vm_type=leg) if qemu else options
                if qemu:
                    digests = measure_igvm_counts(igvm, variant, [c or 1 for c in counts])
                else:
                    digests = {None: measure_igvm_file(igvm, variant).digest}
                for count in counts:
                    digest = digests[count or 1] if qemu else digests[None]
                    entries.append({
                        "mode": mode, "vcpus": count if mode != "sev" else None,
                        "vcpu_type": vcpu_type, "vcpu_sig": None if variant.signature is None
                        or not qemu else f"{variant.signature:#x}",
                        "vmm_type": "QEMU" if qemu else None, "guest_features": None,
                        "legacy_vm_type": variant.effective_legacy_vm_type
                        if mode == "seves" and qemu else None,
                        "measurement": digest.hex()})
                    if progress is not None:
                        progress(len(entries), len(cpus) * len(legacy) * len(counts))
    host = {"qemu_version": options.qemu_version if qemu or options.check_kvm else None,
            "host_checks": options.host_checks}
    return _document(mode, "igvm", {"igvm": input_record(path)}, entries, host,
                     igvm={"loader": options.loader, "platform": options.platform,
                           "native_zero": options.native_zero,
                           "check_kvm": options.check_kvm or qemu})
