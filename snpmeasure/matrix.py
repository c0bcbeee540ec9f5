"""Many configurations of one image at the cost of little more than the largest one.

The SNP digest is a chain, so configurations share prefixes: the firmware pages are hashed once,
the metadata pages once per VMM rule set, and N vCPUs extend N-1 vCPUs by one VMSA update. SEV-ES
shares the SHA-256 state of the firmware and hashes table the same way.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence

from .abi.snp import VMSA_GPA, PageType
from .digest import SnpLaunchDigest
from .errors import ConfigError
from .launch import (LaunchInputs, MeasurementConfig, Mode, load_inputs, sev_blobs, snp_seed,
                     vmsa_pages)
from .plan import metadata_updates
from .profiles import QEMU, profile_named


@dataclass(frozen=True)
class Variant:
    """The run-time choices of one configuration, apart from the vCPU count."""

    vmm_type: str | None  # None in mode sev, where nothing but the inputs matters
    vcpu_type: str | None
    vcpu_sig: int | None
    guest_features: int
    legacy_vm_type: bool | None  # None where it does not apply (EC2, GCE, sev)


@dataclass(frozen=True)
class MatrixEntry:
    mode: Mode
    vcpus: int | None
    variant: Variant
    measurement: bytes

    def to_json(self) -> dict:
        v = self.variant
        return {
            "mode": self.mode.value,
            "vcpus": self.vcpus,
            "vcpu_type": v.vcpu_type,
            "vcpu_sig": None if v.vcpu_sig is None else f"{v.vcpu_sig:#x}",
            "vmm_type": v.vmm_type,
            "guest_features": f"{v.guest_features:#x}",
            "legacy_vm_type": v.legacy_vm_type,
            "measurement": self.measurement.hex(),
        }


def variant_config(base: MeasurementConfig, variant: Variant, vcpus: int | None) -> MeasurementConfig:
    """``base`` with ``variant`` applied (validated like any configuration)."""
    return base.replace(
        vmm_type=variant.vmm_type or base.vmm_type, vcpu_type=variant.vcpu_type,
        vcpu_sig=None if variant.vcpu_type else variant.vcpu_sig, vcpu_family=None,
        vcpu_model=None, vcpu_stepping=None, guest_features=variant.guest_features,
        legacy_vm_type=variant.legacy_vm_type, vcpus=vcpus)


class Matrix:
    """Measurements of many variants of one launch, sharing every common prefix."""

    def __init__(self, base: MeasurementConfig) -> None:
        if base.mode is Mode.SNP_OVMF_HASH:
            raise ConfigError("mode snp:ovmf-hash has no configurations to vary")
        self.base = base
        self.inputs: LaunchInputs = load_inputs(base)
        self._firmware_digest: SnpLaunchDigest | None = None
        self._prefixes: dict[str, object] = {}
        self._vmsa_hashes: dict[bytes, bytes] = {}

    # -- prefixes ---------------------------------------------------------------------------
    def _snp_prefix(self, vmm_type: str) -> SnpLaunchDigest:
        profile = profile_named(vmm_type)
        key = profile.name
        if key not in self._prefixes:
            inputs = self.inputs
            if self._firmware_digest is None:
                start = SnpLaunchDigest(snp_seed(self.base))
                if self.base.mode is Mode.SNP_SVSM:
                    start.extend_pages(inputs.firmware.gpa, inputs.firmware.data)
                    start.extend_pages(inputs.svsm.gpa, inputs.svsm.data)
                elif self.base.snp_ovmf_hash is None:
                    start.extend_pages(inputs.firmware.gpa, inputs.firmware.data)
                self._firmware_digest = start
            prefix = self._firmware_digest.copy()
            if self.base.mode is Mode.SNP_SVSM:
                prefix.replay(metadata_updates(inputs.svsm, QEMU, None))
            else:
                prefix.replay(metadata_updates(inputs.firmware, profile, inputs.kernel_hashes))
            self._prefixes[key] = prefix
        return self._prefixes[key]

    def _sev_prefix(self):
        if "sev" not in self._prefixes:
            state = hashlib.sha256()
            for blob in sev_blobs(self.inputs, ()):
                state.update(blob)
            self._prefixes["sev"] = state
        return self._prefixes["sev"]

    def _vmsa_hash(self, page: bytes) -> bytes:
        """SHA-384 of a VMSA page; variants share pages (EC2 and GCE ignore the CPU type)."""
        found = self._vmsa_hashes.get(page)
        if found is None:
            found = self._vmsa_hashes[page] = hashlib.sha384(page).digest()
        return found

    # -- measurements -----------------------------------------------------------------------
    def measure(self, variant: Variant, vcpu_counts: Sequence[int]) -> Iterator[MatrixEntry]:
        """The measurement of ``variant`` for each count in ``vcpu_counts`` (any order)."""
        mode = self.base.mode
        if mode is Mode.SEV:
            state = self._sev_prefix()
            yield MatrixEntry(mode, None, variant, state.copy().digest())
            return
        wanted = sorted(set(vcpu_counts))
        if not wanted:
            return
        config = variant_config(self.base, variant, wanted[-1])
        inputs = self.inputs._replace(config=config)
        pages = vmsa_pages(inputs, min(wanted[-1], 2))
        last = pages[-1]
        results: dict[int, bytes] = {}
        if mode.is_snp:
            running = self._snp_prefix(variant.vmm_type).copy()
            hashes = [self._vmsa_hash(p) for p in pages]
            for count in range(1, wanted[-1] + 1):
                running.extend(PageType.VMSA, VMSA_GPA, hashes[min(count, len(hashes)) - 1])
                if count in wanted:
                    results[count] = running.digest
        else:
            running = self._sev_prefix().copy()
            for count in range(1, wanted[-1] + 1):
                running.update(pages[0] if count == 1 else last)
                if count in wanted:
                    results[count] = running.copy().digest()
        for count in vcpu_counts:
            yield MatrixEntry(mode, count, variant, results[count])


def expand_variants(base: MeasurementConfig, vmm_types: Iterable[str],
                    cpus: Iterable[tuple[str | None, int | None]], guest_features: Iterable[int],
                    legacy: Iterable[bool | None]) -> list[Variant]:
    """Every combination, in the order given (VMM, CPU, guest features, legacy), each validated.

    Choices that do not enter the measurement collapse: ``legacy_vm_type`` to None where it does
    not apply, guest features to 0 for SEV-ES (its VMSAs carry none), and everything for SEV.
    """
    if base.mode is Mode.SEV:
        return [Variant(None, None, None, 0, None)]
    out: list[Variant] = []
    seen: set[Variant] = set()
    cpus = list(cpus)
    guest_features = list(guest_features)
    legacy = list(legacy)
    for vmm in vmm_types:
        profile = profile_named(vmm)
        for vcpu_type, vcpu_sig in cpus:
            for features in guest_features:
                for leg in legacy:
                    applies = base.mode.has_vmsa and profile.has_legacy_vm_type
                    variant = Variant(
                        vmm_type=profile.name,
                        vcpu_type=vcpu_type,
                        vcpu_sig=vcpu_sig,
                        guest_features=features if base.mode.is_snp else 0,
                        legacy_vm_type=(leg if leg is not None
                                        else base.mode is Mode.SNP_SVSM) if applies else None,
                    )
                    config = variant_config(base, variant, 1 if base.vcpus else None)
                    if config.vcpu_sig is not None and variant.vcpu_sig is None \
                            and profile.needs_vcpu_signature:
                        variant = dataclasses.replace(variant, vcpu_sig=config.vcpu_sig)
                    if variant in seen:
                        continue
                    seen.add(variant)
                    out.append(variant)
    return out
