"""Find the configuration(s) that produce an observed measurement."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from collections.abc import Callable, Sequence

from ..errors import ConfigError, HostRuleError, SnpMeasureWarning
from ..launch.config import MeasurementConfig, Mode
from ..launch.cpu import CPU_MODELS, CPU_TYPES, HOST_CPUS, MODEL_SINCE, cpu_signature
from ..launch.hoststack import DEBUG_SWAP, SECURE_TSC, SNP_ACTIVE, at_least
from ..launch.ovmf import check_firmware_size
from ..launch.profiles import VMM_TYPES, profile_named
from ..limits import MAX_MATRIX_ENTRIES
from .matrix import Matrix, MatrixEntry, expand_variants, variant_config

DEFAULT_MAX_VCPUS = 256
COMMON_GUEST_FEATURES = (0x1, 0x21, 0x3, 0x5, 0x9, 0x11, 0x41, 0x81, 0x101, 0x201, 0x4001,
                         0x8001, 0x23, 0x61)


def guest_feature_candidates(host_checks: bool = True) -> list[int]:
    """The SEV_FEATURES values to search. Under host checks, those KVM accepts (rule
    "sev-features"): SNPActive with any subset of DebugSwap and SecureTSC. Without them, common
    values, then every single-bit variant of 0x1 and 0x21 (patched stacks)."""
    if host_checks:
        return [SNP_ACTIVE, SNP_ACTIVE | DEBUG_SWAP, SNP_ACTIVE | SECURE_TSC,
                SNP_ACTIVE | DEBUG_SWAP | SECURE_TSC]
    out = list(dict.fromkeys(COMMON_GUEST_FEATURES))
    for base in (0x1, 0x21):
        for bit in range(1, 64):
            value = base ^ (1 << bit)
            if value not in out:
                out.append(value)
    return out


def legacy_candidates(mode: Mode, host_checks: bool, qemu_version: str) -> list[bool]:
    """The VM types to search, the host stack's default first: SEV-ES is legacy unless
    legacy-vm-type=off (QEMU 9.1+); SEV-SNP is KVM_SEV_INIT2 on upstream stacks (rules
    "seves-vm-type", "legacy-option"); without host checks both are searched."""
    if not host_checks:
        return [False, True] if mode is not Mode.SEV_ES else [True, False]
    if mode is Mode.SEV_ES:
        return [True, False] if at_least(qemu_version, "9.1") else [True]
    if mode is Mode.SNP_SVSM:
        return [True, False]
    return [False]


def default_cpu_types(host_checks: bool, qemu_version: str) -> list[str]:
    """The CPU models to search: under host checks those the QEMU release defines."""
    return [name for name in CPU_TYPES
            if not host_checks or at_least(qemu_version, MODEL_SINCE[name])]


def signature_groups(cpu_types: Sequence[str]) -> list[tuple[str, int, tuple[str, ...]]]:
    """(representative name, signature, every name with that signature), in first-seen order."""
    groups: dict[int, list[str]] = {}
    for name in cpu_types:
        groups.setdefault(cpu_signature(*CPU_MODELS[name]), []).append(name)
    return [(names[0], sig, tuple(names)) for sig, names in groups.items()]


HOST_CPU_NAMES = {sig: name for name, sig in HOST_CPUS.items()}
# GCE: the CPU only decides the VMSA address (rule "gce-vmsa-gpa"); one model per product
GCE_CPUS = (("EPYC-Milan", None), ("EPYC-Genoa", None))


@dataclass(frozen=True)
class Match:
    entry: MatrixEntry
    cpu_types: tuple[str, ...]  # every named CPU type with the matching signature
    host_cpu: str | None = None  # the real EPYC part with the matching signature (-cpu host)
    host_rule: str | None = None  # the host rule the match breaks (found with --no-host-checks)

    def to_json(self) -> dict:
        data = self.entry.to_json()
        data["vcpu_types"] = list(self.cpu_types)
        data["host_cpu"] = self.host_cpu
        data["host_rule_broken"] = self.host_rule
        return data

    def describe(self) -> str:
        e = self.entry.to_json()
        parts = [f"mode={e['mode']}"]
        if e["vmm_type"]:
            parts.append(f"vmm-type={e['vmm_type']}")
        if e["vcpus"] is not None:
            parts.append(f"vcpus={e['vcpus']}")
        if self.cpu_types:
            parts.append(f"vcpu-type={'|'.join(self.cpu_types)}")
        elif e["vcpu_sig"] and profile_named(e["vmm_type"]).needs_vcpu_signature:
            parts.append(f"vcpu-sig={e['vcpu_sig']}")
            if self.host_cpu:
                parts.append(f"(-cpu host on {self.host_cpu})")
        if e["mode"].startswith("snp"):
            parts.append(f"guest-features={e['guest_features']}")
        if e["legacy_vm_type"] is not None:
            parts.append(f"legacy-vm-type={'on' if e['legacy_vm_type'] else 'off'}")
        if self.host_rule:
            parts.append(f"(refused by host rule '{self.host_rule}')")
        return " ".join(parts)


@dataclass(frozen=True)
class FindResult:
    measurement: bytes
    matches: tuple[Match, ...]
    searched: int
    refused: tuple[tuple[str, int], ...] = ()  # (host rule, configurations left out)

    def to_json(self) -> dict:
        return {"measurement": self.measurement.hex(), "searched": self.searched,
                "refused_by_host_rules": dict(self.refused),
                "matches": [m.to_json() for m in self.matches]}


def _default_modes(base: MeasurementConfig, measurement: bytes) -> list[str]:
    if len(measurement) == 48:
        return ["snp:svsm"] if base.mode is Mode.SNP_SVSM else ["snp"]
    if len(measurement) == 32:
        return ["seves", "sev"]
    raise ConfigError(f"a measurement is 48 (SNP) or 32 (SEV, SEV-ES) bytes, "
                      f"not {len(measurement)}")


def find(base: MeasurementConfig, measurement: bytes, *, modes: Sequence[str] | None = None,
         max_vcpus: int = DEFAULT_MAX_VCPUS, vcpu_counts: Sequence[int] | None = None,
         vmm_types: Sequence[str] | None = None, cpu_types: Sequence[str] | None = None,
         vcpu_sigs: Sequence[int] = (), guest_features: Sequence[int] | None = None,
         legacy: Sequence[bool] | None = None,
         progress: Callable[[int, int], None] | None = None) -> FindResult:
    """Search the plausible run-time configurations of ``base``'s image for ``measurement``.
    ``progress(searched, total)`` is called after each configuration (``total`` counts those
    the host stack refuses too, which are never searched).

    Under host checks (``base.host_checks``) only launches the host stack accepts are searched:
    default lists hold what the selected QEMU/KVM accepts, and listed values it refuses are
    left out and counted in ``FindResult.refused``. Without host checks the lists are wider and
    a match that breaks a host rule names it.
    """
    modes = list(modes) if modes is not None else _default_modes(base, measurement)
    checks, version = base.host_checks, base.qemu_version
    counts = list(vcpu_counts) if vcpu_counts else list(range(1, max_vcpus + 1))
    vmm_list = list(vmm_types or VMM_TYPES)
    groups = signature_groups(cpu_types or default_cpu_types(checks, version))
    names_by_sig = {sig: names for _, sig, names in groups}
    extra_sigs = list(vcpu_sigs) + (list(HOST_CPUS.values()) if cpu_types is None else [])
    cpus = [(name, None) for name, _, _ in groups] + [
        (None, sig) for sig in dict.fromkeys(extra_sigs) if sig not in names_by_sig]
    features = list(guest_features or guest_feature_candidates(checks))
    plans = []
    for mode_name in modes:
        mode = Mode.parse(mode_name)
        legacy_list = list(legacy) if legacy else legacy_candidates(mode, checks, version)
        # SEV measures no VMSA: one search stands for every VMM (the match names none)
        for vmm in (["QEMU"] if mode is Mode.SNP_SVSM else
                    vmm_list[:1] if mode is Mode.SEV else vmm_list):
            profile = profile_named(vmm)
            if base.kernel and checks and vmm_types is None and not profile.is_qemu:
                continue  # EC2 and GCE boot no kernel (rule cloud-kernel): not a candidate
            vmm_cpus = cpus if profile.needs_vcpu_signature else \
                list(GCE_CPUS) if profile.vmsa_gpa_bits is not None else [(None, None)]
            plans.append((mode, vmm, vmm_cpus, legacy_list))
    estimate = sum(len(c) * len(features) * (len(leg) if profile_named(v).has_legacy_vm_type
                                             else 1) * len(counts)
                   for _, v, c, leg in plans)
    if estimate > MAX_MATRIX_ENTRIES:  # from the lists' lengths, before any is expanded
        raise ConfigError(f"the search covers {estimate} configurations, over the limit of "
                          f"{MAX_MATRIX_ENTRIES} find candidates (MAX_MATRIX_ENTRIES, "
                          "docs/security.md); narrow it (--max-vcpus, list options)")
    matches: list[Match] = []
    refused: dict[str, int] = {}
    searched = 0
    matrices: dict[Mode, Matrix] = {}
    for mode, vmm, vmm_cpus, legacy_list in plans:
        if mode not in matrices:
            matrices[mode] = Matrix(base.replace(
                mode=mode, vcpus=counts[-1] if mode.has_vmsa else None, vcpu_type=None,
                vcpu_sig=0, vcpu_family=None, vcpu_model=None, vcpu_stepping=None,
                legacy_vm_type=None, vmm_type="QEMU"))
        matrix = matrices[mode]
        profile = profile_named(vmm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SnpMeasureWarning)  # candidates, not the user's launch
            variants = expand_variants(matrix.base, [vmm], vmm_cpus, features, legacy_list,
                                       firmware=matrix.inputs.firmware,
                                       refused=refused if checks else None)
            for variant in variants:
                for entry in matrix.measure(variant, counts if mode.has_vmsa else [1]):
                    searched += 1
                    if progress is not None:
                        progress(searched, estimate)
                    if entry.measurement == measurement:
                        matches.append(_match(matrix, entry, profile, names_by_sig))
    return FindResult(measurement, tuple(matches), searched, tuple(sorted(refused.items())))


def _match(matrix: Matrix, entry: MatrixEntry, profile, names_by_sig) -> Match:
    variant = entry.variant
    if profile.vmsa_gpa_bits is not None:  # GCE: the model stands for its product
        named: tuple[str, ...] = (variant.vcpu_type,) if variant.vcpu_type else ()
    else:
        named = names_by_sig.get(variant.vcpu_sig, ()) if profile.needs_vcpu_signature else ()
    host_cpu = HOST_CPU_NAMES.get(variant.vcpu_sig) \
        if profile.needs_vcpu_signature and not named else None
    rule = None
    if not matrix.base.host_checks:
        try:
            config = variant_config(matrix.base.replace(host_checks=True), variant,
                                    entry.vcpus)
            check_firmware_size(config, matrix.inputs.firmware)
        except HostRuleError as exc:
            rule = exc.rule
    return Match(entry, named, host_cpu, rule)
