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

from ..engine.measure import replay_parts
from ..engine.sev import SevLaunchDigest
from ..engine.snp import SnpLaunchDigest
from ..errors import ConfigError, HostRuleError
from ..formats.firmware import Firmware
from ..launch.config import MeasurementConfig, Mode
from ..launch.ovmf import (LaunchInputs, check_firmware_size, load_inputs, sev_blobs,
                           snp_plan_parts, snp_seed, vmsa_pages)
from ..launch.plan import VMSA_STEP, vmsa_updates
from ..launch.profiles import profile_named
from ..limits import MAX_MATRIX_ENTRIES


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
    """``base`` with ``variant`` applied (validated like any configuration, host rules
    included; the QEMU release applies to QEMU variants only)."""
    vmm_type = variant.vmm_type or base.vmm_type
    return base.replace(
        vmm_type=vmm_type, vcpu_type=variant.vcpu_type,
        vcpu_sig=None if variant.vcpu_type else variant.vcpu_sig, vcpu_family=None,
        vcpu_model=None, vcpu_stepping=None, guest_features=variant.guest_features,
        legacy_vm_type=variant.legacy_vm_type, vcpus=vcpus,
        qemu_version=base.qemu_version if profile_named(vmm_type).is_qemu else None)


class Matrix:
    """Measurements of many variants of one launch, sharing every common prefix."""

    def __init__(self, base: MeasurementConfig) -> None:
        if base.mode is Mode.SNP_OVMF_HASH:
            raise ConfigError("mode snp:ovmf-hash has no configurations to vary")
        self.base = base
        self.inputs: LaunchInputs = load_inputs(base)
        self._prefixes: dict = {}
        self._vmsa_hashes: dict[bytes, bytes] = {}

    # -- prefixes ---------------------------------------------------------------------------
    def _snp_prefix(self, config: MeasurementConfig) -> SnpLaunchDigest:
        """The digest of everything before the VMSAs: ``launch.ovmf.snp_plan_parts`` walked
        part by part, each prefix computed once and shared by every variant that has it (the
        firmware by all, the metadata by all variants of one VMM)."""
        inputs = self.inputs._replace(config=config)
        digest, key = None, ()
        for part in snp_plan_parts(inputs, ()):
            if part.key == VMSA_STEP:
                break
            key += (part.key,)
            if key not in self._prefixes:
                start = digest.copy() if digest is not None else SnpLaunchDigest(snp_seed(config))
                self._prefixes[key] = replay_parts(start, [part])
            digest = self._prefixes[key]
        return digest

    def _sev_prefix(self) -> SevLaunchDigest:
        if "sev" not in self._prefixes:
            self._prefixes["sev"] = SevLaunchDigest().replay(sev_blobs(self.inputs, ()))
        return self._prefixes["sev"]

    def _vmsa_hash(self, page: bytes) -> bytes:
        """SHA-384 of a VMSA page; variants share pages (EC2 and GCE ignore the CPU type)."""
        page = bytes(page)
        found = self._vmsa_hashes.get(page)
        if found is None:
            found = self._vmsa_hashes[page] = hashlib.sha384(page).digest()
        return found

    # -- measurements -----------------------------------------------------------------------
    def measure(self, variant: Variant, vcpu_counts: Sequence[int]) -> Iterator[MatrixEntry]:
        """The measurement of ``variant`` for each count in ``vcpu_counts`` (any order)."""
        mode = self.base.mode
        if mode is Mode.SEV:
            yield MatrixEntry(mode, None, variant, self._sev_prefix().digest)
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
            running = self._snp_prefix(config).copy()
            # vCPU N's update is the AP's for every N > 1: hash each distinct page once
            updates = [(u.page_type, u.gpa, self._vmsa_hash(u.data))
                       for u in vmsa_updates(pages, config.vmsa_gpa)]
            for count in range(1, wanted[-1] + 1):
                running.extend(*updates[min(count, len(updates)) - 1])
                if count in wanted:
                    results[count] = running.digest
        else:
            running = self._sev_prefix().copy()
            for count in range(1, wanted[-1] + 1):
                running.update(pages[0] if count == 1 else last)
                if count in wanted:
                    results[count] = running.digest
        for count in vcpu_counts:
            yield MatrixEntry(mode, count, variant, results[count])


def expand_variants(base: MeasurementConfig, vmm_types: Iterable[str],
                    cpus: Iterable[tuple[str | None, int | None]], guest_features: Iterable[int],
                    legacy: Iterable[bool | None], *, firmware: Firmware | None = None,
                    refused: dict[str, int] | None = None,
                    skip_rules: frozenset[str] = frozenset(),
                    skipped: list | None = None) -> list[Variant]:
    """Every combination, in the order given (VMM, CPU, guest features, legacy), each validated.

    Choices that do not enter the measurement collapse: ``legacy_vm_type`` to the value the
    host stack uses (None where it does not apply), guest features to 0 for SEV-ES (its VMSAs
    carry none), the CPU for EC2 (its VMSAs do not depend on it) and to one model per product
    for GCE (the first given: the product decides the VMSA address), and everything for SEV.
    With ``firmware``, the firmware-size rule is applied to each variant too (it depends on the
    VM type). With ``refused`` (a dict), combinations the host stack refuses are left out and
    counted there by rule instead of raising; combinations refused by a rule in ``skip_rules``
    are left out (``--vcpu-type all``: every model that applies), each recorded in ``skipped``
    (when given) as ``(vmm_type, cpu, rule)``.
    """
    if base.mode is Mode.SEV:
        return [Variant(None, None, None, 0, None)]
    out: list[Variant] = []
    seen: set[Variant] = set()
    vmm_types, cpus = list(vmm_types), list(cpus)
    guest_features, legacy = list(guest_features), list(legacy)
    combinations = len(vmm_types) * len(cpus) * len(guest_features) * len(legacy)
    if combinations > MAX_MATRIX_ENTRIES:  # bounded before any is validated
        raise ConfigError(f"{combinations} combinations exceed the limit of "
                          f"{MAX_MATRIX_ENTRIES}; narrow the lists")
    for vmm in vmm_types:
        profile = profile_named(vmm)
        applies = base.mode.has_vmsa and profile.has_legacy_vm_type
        for vcpu_type, vcpu_sig in cpus:
            for features in guest_features:
                for leg in legacy:
                    variant = Variant(
                        vmm_type=profile.name,
                        vcpu_type=vcpu_type,
                        vcpu_sig=vcpu_sig,
                        guest_features=features if base.mode.is_snp else 0,
                        legacy_vm_type=leg if applies else None,
                    )
                    try:
                        config = variant_config(base, variant, 1 if base.vcpus else None)
                        if firmware is not None:
                            check_firmware_size(config, firmware)
                    except HostRuleError as exc:
                        if exc.rule in skip_rules:
                            if skipped is not None:
                                skipped.append((profile.name, vcpu_type or (
                                    f"{vcpu_sig:#x}" if vcpu_sig is not None else None),
                                    exc.rule))
                            continue
                        if refused is None:
                            raise
                        refused[exc.rule] = refused.get(exc.rule, 0) + 1
                        continue
                    if applies:
                        variant = dataclasses.replace(
                            variant, legacy_vm_type=config.effective_legacy_vm_type)
                    if config.vcpu_sig is not None and variant.vcpu_sig is None \
                            and profile.needs_vcpu_signature:
                        variant = dataclasses.replace(variant, vcpu_sig=config.vcpu_sig)
                    key = variant
                    if base.mode.has_vmsa and not profile.needs_vcpu_signature:
                        if profile.vmsa_gpa_bits is None:  # EC2: the CPU enters nothing
                            variant = key = dataclasses.replace(variant, vcpu_type=None,
                                                                vcpu_sig=None)
                        else:  # GCE: only the product does (the VMSA address)
                            variant = dataclasses.replace(variant, vcpu_sig=None)
                            key = (variant.vmm_type, config.vmsa_gpa,
                                   variant.guest_features, variant.legacy_vm_type)
                    if key in seen:
                        continue
                    seen.add(key)
                    out.append(variant)
    return out
