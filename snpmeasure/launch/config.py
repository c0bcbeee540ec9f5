"""The configuration of one OVMF-based launch: a frozen, keyword-only record, checked once.

    >>> from snpmeasure import MeasurementConfig
    >>> config = MeasurementConfig(mode="snp", ovmf="OVMF.fd", vcpus=4, vcpu_type="EPYC-Milan")

Everything that determines the measurement is here; reading the files is ``launch.ovmf``'s job.
"""
from __future__ import annotations

import enum
import warnings

from ..abi.products import product_from_cpuid
from ..errors import ConfigError, SnpMeasureWarning
from ..formats.firmware import FOUR_GIB, PAGE_SIZE
from ..limits import MAX_VCPUS
from ..record import REQUIRED, Record
from .cpu import (MODEL_SINCE, canonical_cpu_type, cpu_signature, decode_signature,
                  signature_of_type, signature_problem)
from .hoststack import (DEBUG_SWAP, SECURE_TSC, SNP_ACTIVE, at_least, feature_names,
                        host_rule, parse_qemu_version)
from .profiles import VmmProfile, profile_named



class Mode(str, enum.Enum):
    """Guest modes, spelled as sev-snp-measure's ``--mode``."""

    SEV = "sev"
    SEV_ES = "seves"
    SNP = "snp"
    SNP_OVMF_HASH = "snp:ovmf-hash"
    SNP_SVSM = "snp:svsm"

    @classmethod
    def parse(cls, value: "str | Mode") -> "Mode":
        if isinstance(value, Mode):
            return value
        for mode in cls:
            if mode.value == str(value).strip().lower():
                return mode
        raise ConfigError(f"--mode {value!r} is not one of {', '.join(m.value for m in cls)}")

    @property
    def label(self) -> str:
        """The name sev-snp-measure prints with ``-v``."""
        return {"sev": "SEV", "seves": "SEV_ES", "snp": "SEV_SNP",
                "snp:ovmf-hash": "SEV_SNP_OVMF_HASH", "snp:svsm": "SEV_SNP_SVSM"}[self.value]

    @property
    def is_snp(self) -> bool:
        return self in (Mode.SNP, Mode.SNP_OVMF_HASH, Mode.SNP_SVSM)

    @property
    def has_vmsa(self) -> bool:
        return self in (Mode.SEV_ES, Mode.SNP, Mode.SNP_SVSM)


MODE_NAMES: tuple[str, ...] = tuple(mode.value for mode in Mode)


class MeasurementConfig(Record):
    """Everything that determines a launch measurement. Keyword-only, frozen, checked on
    creation (ConfigError).

    Fields: ``mode`` (sev, seves, snp, snp:ovmf-hash, snp:svsm), ``ovmf`` (path), ``vcpus``,
    the vCPU signature as ``vcpu_type`` (a QEMU CPU model name), ``vcpu_sig`` or
    ``vcpu_family``/``vcpu_model``/``vcpu_stepping`` (if several are given they must agree),
    ``vmm_type`` (QEMU, ec2, gce), ``kernel``, ``initrd``, ``append``, ``guest_features``
    (default 0x1), ``legacy_vm_type`` (None: the host stack's default, on for seves and
    snp:svsm, off for snp), ``snp_ovmf_hash`` (48 bytes or hex), ``svsm`` and ``vars_size``
    (snp:svsm), ``qemu_version`` (QEMU release, default the newest modelled) and
    ``host_checks`` (default True: refuse launches the host stack refuses; False only warns).
    ``replace(**changes)`` makes a checked copy.
    """

    FIELDS = {
        "mode": REQUIRED, "ovmf": REQUIRED, "vcpus": None, "vcpu_type": None, "vcpu_sig": None,
        "vcpu_family": None, "vcpu_model": None, "vcpu_stepping": None, "vmm_type": "QEMU",
        "kernel": None, "initrd": None, "append": None, "guest_features": SNP_ACTIVE,
        "legacy_vm_type": None, "snp_ovmf_hash": None, "svsm": None, "vars_size": None,
        "qemu_version": None, "host_checks": True,
    }
    __slots__ = tuple(FIELDS)

    def _check(self) -> None:
        for name in ("ovmf", "kernel", "initrd", "svsm"):
            value = getattr(self, name)
            if value is not None and not str(value):
                raise ConfigError(f"--{name} is an empty path")
        mode = Mode.parse(self.mode)
        self._set("mode", mode)
        self._set("vmm_type", profile_named(self.vmm_type).name)
        if self.profile.is_qemu:
            self._set("qemu_version", parse_qemu_version(self.qemu_version))
        elif self.qemu_version is not None:
            raise ConfigError(f"--qemu-version applies to --vmm-type QEMU, not "
                              f"{self.profile.name}")
        self._set("host_checks", bool(self.host_checks))
        if mode is Mode.SNP_OVMF_HASH:
            return
        if self.vcpus is None and mode is not Mode.SEV:
            raise ConfigError(f"--vcpus is required in mode {mode.value}")
        if self.vcpus is not None and not 1 <= self.vcpus <= MAX_VCPUS:
            raise ConfigError(f"--vcpus {self.vcpus} is outside 1..{MAX_VCPUS}")
        if not 0 <= self.guest_features < 1 << 64:
            raise ConfigError(f"--guest-features {self.guest_features:#x} does not fit in 64 bits")
        if self.initrd is not None and self.kernel is None:
            raise ConfigError("--initrd needs --kernel")
        if self.append is not None and self.kernel is None:
            raise ConfigError("--append needs --kernel")
        if self.snp_ovmf_hash is not None:
            if mode is not Mode.SNP:
                raise ConfigError(f"--snp-ovmf-hash works only in mode snp, not {mode.value}")
            self._set("snp_ovmf_hash", _parse_ovmf_hash(self.snp_ovmf_hash))
        if self.legacy_vm_type is not None and mode.has_vmsa \
                and not self.profile.has_legacy_vm_type:
            spelled = "--legacy-vm-type" if self.legacy_vm_type else "--no-legacy-vm-type"
            raise ConfigError(f"{spelled} applies to QEMU only, not --vmm-type "
                              f"{self.profile.name}")
        if mode is Mode.SNP_SVSM:
            self._check_svsm()
        elif self.svsm is not None or self.vars_size is not None:
            raise ConfigError(f"--svsm and --vars-size/--vars-file belong to mode snp:svsm, "
                              f"not {mode.value}")
        if mode.has_vmsa and self.profile.needs_vcpu_signature:
            self._set("vcpu_sig", self._vcpu_signature())
        self._check_host_stack(mode)

    def _check_host_stack(self, mode: Mode) -> None:
        """Refuse (or, without host checks, warn about) what the host stack refuses
        (``launch.hoststack.RULES``)."""
        enforce, profile, version = self.host_checks, self.profile, self.qemu_version
        if profile.is_qemu:
            if mode is Mode.SNP and not at_least(version, "9.1"):
                host_rule(enforce, "snp-qemu", f"QEMU {version} cannot launch SEV-SNP guests")
            if mode is Mode.SEV_ES and self.legacy_vm_type is False \
                    and not at_least(version, "9.1"):
                host_rule(enforce, "legacy-option", f"QEMU {version} has no "
                          "legacy-vm-type=off (KVM_SEV_INIT2) for SEV-ES")
            if mode is Mode.SNP and self.legacy_vm_type:
                host_rule(enforce, "legacy-option", "--legacy-vm-type in mode snp (a pre-"
                          "upstream SEV-SNP stack without KVM_SEV_INIT2)")
            if mode.has_vmsa and self.vcpu_type is not None:
                name = canonical_cpu_type(self.vcpu_type)
                if not at_least(version, MODEL_SINCE[name]):
                    host_rule(enforce, "cpu-model", f"QEMU {version} does not define {name} "
                              f"(added in {MODEL_SINCE[name]})")
        if mode.is_snp:
            features = self.guest_features
            if not features & SNP_ACTIVE:
                host_rule(enforce, "sev-features", f"--guest-features {features:#x} lacks "
                          "SNPActive (bit 0)")
            extra = features & ~(SNP_ACTIVE | DEBUG_SWAP | SECURE_TSC)
            if extra:
                host_rule(enforce, "sev-features", f"--guest-features {features:#x} asks for "
                          f"{feature_names(extra)} ({extra:#x})")
            elif profile.is_qemu and features & ~SNP_ACTIVE and mode is Mode.SNP:
                warnings.warn(SnpMeasureWarning(
                    f"--guest-features {features:#x}: upstream QEMU asks KVM for no SEV "
                    "feature in an OVMF launch (SEV_FEATURES is 0x1); this value comes from "
                    "another VMM or a patched QEMU (rule qemu-features)"))
        if mode.has_vmsa and profile.needs_vcpu_signature:
            problem = signature_problem(self.vcpu_sig)
            if problem:
                host_rule(enforce, "cpu-signature", f"vCPU signature {self.vcpu_sig:#x} "
                          f"{problem}")
        if self.kernel is not None and not profile.is_qemu:
            host_rule(enforce, "cloud-kernel", f"--kernel with --vmm-type {profile.name}: "
                      "the instance boots its cloud's firmware, which measures no kernel; "
                      "measure the cloud without --kernel, --initrd and --append (a manifest "
                      "of its own)")
        if mode.has_vmsa and profile.vmsa_gpa_bits is not None:
            product = self.product
            if product is None and self._vcpu_signature(required=False) is None:
                warnings.warn(SnpMeasureWarning(
                    f"--vmm-type {profile.name} measures VMSAs at an address that depends on the "
                    "product; no CPU was given, so Milan is assumed: give --vcpu-type "
                    "EPYC-Genoa (or --vcpu-sig) for Genoa hosts"))
            elif product not in profile.vmsa_gpa_bits:
                host_rule(enforce, "gce-vmsa-gpa", f"--vmm-type {profile.name} on "
                          f"{product or 'a CPU that is no known SEV-SNP product'} (Milan's "
                          "address would be assumed)")

    def _check_svsm(self) -> None:
        if not self.profile.supports_svsm:
            raise ConfigError(f"mode snp:svsm is not defined for --vmm-type {self.profile.name} "
                              "(only QEMU)")
        if self.svsm is None:
            raise ConfigError("mode snp:svsm needs --svsm")
        if self.vars_size is None:
            raise ConfigError("mode snp:svsm needs --vars-size or --vars-file")
        if self.vars_size < 0 or self.vars_size % PAGE_SIZE or self.vars_size >= FOUR_GIB:
            raise ConfigError(f"--vars-size {self.vars_size} must be a multiple of 4096 below 4 GiB")
        if self.kernel is not None:
            raise ConfigError("mode snp:svsm does not measure --kernel, --initrd or --append")

    def _vcpu_signature(self, required: bool = True) -> int | None:
        candidates: list[tuple[str, int]] = []
        fms = (self.vcpu_family, self.vcpu_model, self.vcpu_stepping)
        if any(v is not None for v in fms):
            if any(v is None for v in fms):
                raise ConfigError("--vcpu-family, --vcpu-model and --vcpu-stepping go together")
            candidates.append(("--vcpu-family/--vcpu-model/--vcpu-stepping", cpu_signature(*fms)))
        if self.vcpu_sig is not None:
            if not 0 <= self.vcpu_sig < 1 << 32:
                raise ConfigError(f"--vcpu-sig {self.vcpu_sig:#x} does not fit in 32 bits")
            candidates.append(("--vcpu-sig", self.vcpu_sig))
        if self.vcpu_type is not None:
            candidates.append(("--vcpu-type", signature_of_type(self.vcpu_type)))
        if not candidates:
            if not required:
                return None
            raise ConfigError(f"mode {self.mode.value} needs --vcpu-type, --vcpu-sig or "
                              "--vcpu-family/--vcpu-model/--vcpu-stepping")
        first = candidates[0]
        for other in candidates[1:]:
            if other[1] != first[1]:
                raise ConfigError(f"{first[0]} gives signature {first[1]:#x} but {other[0]} "
                                  f"gives {other[1]:#x}")
        return first[1]

    @property
    def profile(self) -> VmmProfile:
        return profile_named(self.vmm_type)

    @property
    def product(self) -> str | None:
        """The product line of the vCPU signature given (Milan, Genoa, Turin), None if no CPU
        was given or its family and model are no known SEV-SNP product."""
        signature = self.vcpu_sig if self.profile.needs_vcpu_signature \
            else self._vcpu_signature(required=False)
        if signature is None:
            return None
        family, model, _ = decode_signature(signature)
        product = product_from_cpuid(family, model)
        return None if product == "unknown" else product

    @property
    def vmsa_gpa(self) -> int:
        """Where the host measures VMSA pages (rules "vmsa-gpa" and "gce-vmsa-gpa")."""
        return self.profile.vmsa_gpa(self.product)

    @property
    def effective_legacy_vm_type(self) -> bool:
        """Whether KVM's legacy init builds the VMSAs (FPU state zero): the flag if given, else
        the host stack's default: QEMU's sev-guest is legacy (rule "seves-vm-type"),
        sev-snp-guest is KVM_SEV_INIT2 ("init2-fpu"), and the pre-IGVM COCONUT-SVSM stack of
        snp:svsm predates KVM_SEV_INIT2."""
        if self.legacy_vm_type is not None:
            return self.legacy_vm_type
        return self.mode in (Mode.SEV_ES, Mode.SNP_SVSM)


def _parse_ovmf_hash(value: bytes | str) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.strip())
        except ValueError:
            raise ConfigError("--snp-ovmf-hash is not a hex string") from None
    if len(value) != 48:
        raise ConfigError(f"--snp-ovmf-hash is {len(value)} bytes; a SHA-384 digest is 48")
    return bytes(value)
