"""Find the configuration(s) that produce an observed measurement."""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

from ..errors import ConfigError
from ..launch.config import MeasurementConfig, Mode
from ..launch.cpu import CPU_MODELS, CPU_TYPES, cpu_signature
from ..launch.profiles import VMM_TYPES, profile_named
from ..limits import MAX_MATRIX_ENTRIES
from .matrix import Matrix, MatrixEntry, expand_variants

DEFAULT_MAX_VCPUS = 256
COMMON_GUEST_FEATURES = (0x1, 0x21, 0x3, 0x5, 0x9, 0x11, 0x41, 0x81, 0x101, 0x201, 0x4001,
                         0x8001, 0x23, 0x61)


def guest_feature_candidates() -> list[int]:
    """Common SEV_FEATURES values, then every single-bit variant of 0x1 and 0x21."""
    out = list(dict.fromkeys(COMMON_GUEST_FEATURES))
    for base in (0x1, 0x21):
        for bit in range(1, 64):
            value = base ^ (1 << bit)
            if value not in out:
                out.append(value)
    return out


def signature_groups(cpu_types: Sequence[str]) -> list[tuple[str, int, tuple[str, ...]]]:
    """(representative name, signature, every name with that signature), in first-seen order."""
    groups: dict[int, list[str]] = {}
    for name in cpu_types:
        groups.setdefault(cpu_signature(*CPU_MODELS[name]), []).append(name)
    return [(names[0], sig, tuple(names)) for sig, names in groups.items()]


@dataclass(frozen=True)
class Match:
    entry: MatrixEntry
    cpu_types: tuple[str, ...]  # every named CPU type with the matching signature

    def to_json(self) -> dict:
        data = self.entry.to_json()
        data["vcpu_types"] = list(self.cpu_types)
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
        if e["mode"].startswith("snp"):
            parts.append(f"guest-features={e['guest_features']}")
        if e["legacy_vm_type"] is not None:
            parts.append(f"legacy-vm-type={'on' if e['legacy_vm_type'] else 'off'}")
        return " ".join(parts)


@dataclass(frozen=True)
class FindResult:
    measurement: bytes
    matches: tuple[Match, ...]
    searched: int

    def to_json(self) -> dict:
        return {"measurement": self.measurement.hex(), "searched": self.searched,
                "matches": [m.to_json() for m in self.matches]}


def find(base: MeasurementConfig, measurement: bytes, *, modes: Sequence[str] | None = None,
         max_vcpus: int = DEFAULT_MAX_VCPUS, vcpu_counts: Sequence[int] | None = None,
         vmm_types: Sequence[str] | None = None, cpu_types: Sequence[str] | None = None,
         vcpu_sigs: Sequence[int] = (), guest_features: Sequence[int] | None = None,
         legacy: Sequence[bool] | None = None) -> FindResult:
    """Search the plausible run-time configurations of ``base``'s image for ``measurement``."""
    if modes is None:
        if len(measurement) == 48:
            modes = ["snp:svsm"] if base.mode is Mode.SNP_SVSM else ["snp"]
        elif len(measurement) == 32:
            modes = ["seves", "sev"]
        else:
            raise ConfigError(f"a measurement is 48 (SNP) or 32 (SEV, SEV-ES) bytes, "
                              f"not {len(measurement)}")
    counts = list(vcpu_counts) if vcpu_counts else list(range(1, max_vcpus + 1))
    vmm_list = list(vmm_types or VMM_TYPES)
    groups = signature_groups(cpu_types or CPU_TYPES)
    names_by_sig = {sig: names for _, sig, names in groups}
    cpus = [(name, None) for name, _, _ in groups] + [(None, sig) for sig in vcpu_sigs
                                                      if sig not in names_by_sig]
    features = list(guest_features or guest_feature_candidates())
    legacy_list = list(legacy or [False, True])
    matches: list[Match] = []
    searched = 0
    estimate = 0
    for vmm in vmm_list:
        profile = profile_named(vmm)
        estimate += ((len(cpus) if profile.needs_vcpu_signature else 1) * len(features)
                     * (len(legacy_list) if profile.has_legacy_vm_type else 1) * len(counts))
    if estimate * len(modes) > MAX_MATRIX_ENTRIES:
        raise ConfigError(f"the search covers {estimate * len(modes)} configurations, over the "
                          f"limit of {MAX_MATRIX_ENTRIES}; narrow it (--max-vcpus, list options)")
    for mode_name in modes:
        mode = Mode.parse(mode_name)
        mode_base = base.replace(mode=mode, vcpus=counts[-1] if mode.has_vmsa
                                        else None, vcpu_type=None, vcpu_sig=0,
                                        vcpu_family=None, vcpu_model=None, vcpu_stepping=None,
                                        legacy_vm_type=None,
                                        vmm_type="QEMU" if mode is Mode.SNP_SVSM else base.vmm_type)
        if mode is Mode.SNP_SVSM:
            vmms = ["QEMU"]
        else:
            vmms = vmm_list
        matrix = Matrix(mode_base)
        for vmm in vmms:
            profile = profile_named(vmm)
            vmm_cpus = cpus if profile.needs_vcpu_signature else [(None, None)]
            for variant in expand_variants(matrix.base, [vmm], vmm_cpus, features, legacy_list):
                for entry in matrix.measure(variant, counts if mode.has_vmsa else [1]):
                    searched += 1
                    if entry.measurement == measurement:
                        sig = entry.variant.vcpu_sig
                        named = names_by_sig.get(sig, ()) if profile.needs_vcpu_signature else ()
                        matches.append(Match(entry, named))
    return FindResult(measurement, tuple(matches), searched)
