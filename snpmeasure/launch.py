"""Launch measurements of OVMF-based SEV, SEV-ES and SEV-SNP guests: the library entry point.

    >>> from snpmeasure import MeasurementConfig, measure
    >>> config = MeasurementConfig(mode="snp", ovmf="OVMF.fd", vcpus=4, vcpu_type="EPYC-Milan")
    >>> measure(config).hex  # doctest: +SKIP

A :class:`MeasurementConfig` is checked when it is made; :func:`measure` reads the inputs,
validates the firmware and returns a :class:`Measurement`. Nothing is printed or written.
"""
from __future__ import annotations

import enum
from collections import namedtuple
from collections.abc import Iterator

from .cpu import cpu_signature, signature_of_type
from .digest import DigestText, SnpLaunchDigest, sev_launch_digest
from .errors import ConfigError, FormatError, UnsupportedError
from .firmware import FOUR_GIB, PAGE_SIZE, Firmware, load_firmware
from .kernel_hashes import KernelHashes
from .plan import (PageRun, PageUpdate, firmware_run, metadata_updates, sev_hash_table,
                   vmsa_updates)
from .profiles import BSP_EIP, QEMU, VmmProfile, profile_named
from .vmsa import build_vmsa, reset_vmsa_values, svsm_vmsa_values

PathLike = "str | os.PathLike[str]"  # for annotations only
from .limits import MAX_VCPUS
SNP_ACTIVE = 0x1


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


_CONFIG_FIELDS = ("mode", "ovmf", "vcpus", "vcpu_type", "vcpu_sig", "vcpu_family", "vcpu_model",
                  "vcpu_stepping", "vmm_type", "kernel", "initrd", "append", "guest_features",
                  "legacy_vm_type", "snp_ovmf_hash", "svsm", "vars_size")
_CONFIG_DEFAULTS = (None, None, None, None, None, None, "QEMU", None, None, None, SNP_ACTIVE, None,
                    None, None, None)


class MeasurementConfig(namedtuple("MeasurementConfig", _CONFIG_FIELDS,
                                   defaults=_CONFIG_DEFAULTS)):
    """Everything that determines a launch measurement. Checked on creation (ConfigError).

    Fields: ``mode`` (sev, seves, snp, snp:ovmf-hash, snp:svsm), ``ovmf`` (path), ``vcpus``,
    the vCPU signature as ``vcpu_type`` (a QEMU CPU model name), ``vcpu_sig`` or
    ``vcpu_family``/``vcpu_model``/``vcpu_stepping`` (if several are given they must agree),
    ``vmm_type`` (QEMU, ec2, gce), ``kernel``, ``initrd``, ``append``, ``guest_features``
    (default 0x1), ``legacy_vm_type`` (None: the mode's default, off for seves and snp, on for
    snp:svsm), ``snp_ovmf_hash`` (48 bytes or hex), ``svsm`` and ``vars_size`` (snp:svsm).
    Immutable; ``replace(**changes)`` makes a checked copy.
    """

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        mode = Mode.parse(self.mode)
        self = self._replace(mode=mode, vmm_type=profile_named(self.vmm_type).name)
        if mode is Mode.SNP_OVMF_HASH:
            return self
        if self.vcpus is None and mode is not Mode.SEV:
            raise ConfigError(f"--vcpus is required in mode {mode.value}")
        if self.vcpus is not None and not 1 <= self.vcpus <= MAX_VCPUS:
            raise ConfigError(f"--vcpus {self.vcpus} is outside 1..{MAX_VCPUS}")
        if not 0 <= self.guest_features < 1 << 64:
            raise ConfigError(f"--guest-features {self.guest_features:#x} does not fit in 64 bits")
        if self.initrd and not self.kernel:
            raise ConfigError("--initrd needs --kernel")
        if self.append and not self.kernel:
            raise ConfigError("--append needs --kernel")
        if self.snp_ovmf_hash is not None:
            if mode is not Mode.SNP:
                raise ConfigError(f"--snp-ovmf-hash works only in mode snp, not {mode.value}")
            self = self._replace(snp_ovmf_hash=_parse_ovmf_hash(self.snp_ovmf_hash))
        if self.legacy_vm_type is not None and mode.has_vmsa \
                and not self.profile.has_legacy_vm_type:
            raise ConfigError(f"--legacy-vm-type applies to QEMU only, not --vmm-type "
                              f"{self.profile.name}")
        if mode is Mode.SNP_SVSM:
            self._check_svsm()
        elif self.svsm is not None or self.vars_size is not None:
            raise ConfigError(f"--svsm and --vars-size/--vars-file belong to mode snp:svsm, "
                              f"not {mode.value}")
        if mode.has_vmsa and self.profile.needs_vcpu_signature:
            self = self._replace(vcpu_sig=self._vcpu_signature())
        return self

    def replace(self, **changes) -> "MeasurementConfig":
        """A copy with ``changes`` applied, checked like a new configuration."""
        return type(self)(**{**self._asdict(), **changes})

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

    def _vcpu_signature(self) -> int:
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
    def effective_legacy_vm_type(self) -> bool:
        if self.legacy_vm_type is not None:
            return self.legacy_vm_type
        return self.mode is Mode.SNP_SVSM


def _parse_ovmf_hash(value: bytes | str) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.strip())
        except ValueError:
            raise ConfigError("--snp-ovmf-hash is not a hex string") from None
    if len(value) != 48:
        raise ConfigError(f"--snp-ovmf-hash is {len(value)} bytes; a SHA-384 digest is 48")
    return bytes(value)


class Measurement(DigestText, namedtuple("Measurement", "digest mode vmsas", defaults=((),))):
    """A finished launch measurement: the digest, the mode, and the VMSA pages measured."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Measurement(mode={self.mode.value!r}, digest={self.hex!r})"



class LaunchInputs(namedtuple("LaunchInputs", "config firmware kernel_hashes svsm",
                              defaults=(None,))):
    """The loaded, validated inputs of one configuration: the MeasurementConfig, its Firmware,
    its KernelHashes (or None) and the SVSM Firmware (snp:svsm, else None)."""

    __slots__ = ()


def load_inputs(config: MeasurementConfig) -> LaunchInputs:
    """Read and validate every input file of ``config``."""
    firmware = load_firmware(config.ovmf)
    hashes = None
    if config.kernel and config.mode is not Mode.SNP_OVMF_HASH:
        hashes = KernelHashes.from_inputs(config.kernel, config.initrd, config.append)
    svsm = None
    if config.mode is Mode.SNP_SVSM:
        end_at = firmware.gpa - config.vars_size
        if end_at <= 0:
            raise ConfigError(f"--vars-size {config.vars_size} leaves no room below the firmware "
                              f"at {firmware.gpa:#x}")
        svsm = load_firmware(config.svsm, end_at=end_at)
        if svsm.svsm_launch_offset is None:
            raise FormatError(svsm.path, "footer table", "no SVSM info entry "
                              "(a789a612-0597-4c4b-a49f-cbb1fe9d1ddd): not an SVSM binary")
        if not svsm.has_metadata:
            raise FormatError(svsm.path, "footer table", "no SEV metadata entry")
        for section in svsm.sections:
            if section.gpa < firmware.end_gpa and firmware.gpa < section.end:
                raise FormatError(svsm.path, f"SEV metadata section {section.index}",
                                  f"overlaps the OVMF image at {firmware.gpa:#x}", section.offset)
    elif config.mode is Mode.SNP and not firmware.has_metadata:
        raise UnsupportedError(f"{firmware.path}: no SEV metadata in the footer table; QEMU "
                               "cannot launch it as an SNP guest")
    return LaunchInputs(config, firmware, hashes, svsm)


def _reset_address(firmware: Firmware) -> int:
    address = firmware.reset_address
    if address is None:
        raise UnsupportedError(f"{firmware.path}: no SEV-ES reset block in the footer table; "
                               "QEMU cannot start SEV-ES or SNP vCPUs from it")
    if address == 0:
        raise UnsupportedError(f"{firmware.path}: the SEV-ES reset address is zero; QEMU refuses it")
    return address


def vmsa_pages(inputs: LaunchInputs, vcpus: int | None = None) -> tuple[bytes, ...]:
    """The initial VMSA page of each vCPU (BSP first)."""
    config = inputs.config
    count = config.vcpus if vcpus is None else vcpus
    profile = config.profile
    features = config.guest_features if config.mode.is_snp else 0
    legacy = config.effective_legacy_vm_type
    if config.mode is Mode.SNP_SVSM:
        eip = inputs.svsm.gpa + inputs.svsm.svsm_launch_offset
        page = build_vmsa(svsm_vmsa_values(profile, eip, features, config.vcpu_sig, legacy))
        return (page,) * count
    ap_eip = _reset_address(inputs.firmware)
    bsp = build_vmsa(reset_vmsa_values(profile, BSP_EIP, features, config.vcpu_sig, legacy))
    if count == 1:
        return (bsp,)
    ap = build_vmsa(reset_vmsa_values(profile, ap_eip, features, config.vcpu_sig, legacy))
    return (bsp,) + (ap,) * (count - 1)


def snp_plan_parts(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator:
    """The SNP launch after the seed, in order, as PageRuns (firmware images) and iterables of
    PageUpdates (everything else). The one definition of the plan's order."""
    config = inputs.config
    if config.mode is Mode.SNP_SVSM:
        yield firmware_run(inputs.firmware, "OVMF")
        yield firmware_run(inputs.svsm, "SVSM")
        yield metadata_updates(inputs.svsm, QEMU, None)
    else:
        if config.snp_ovmf_hash is None:
            yield firmware_run(inputs.firmware)
        yield metadata_updates(inputs.firmware, config.profile, inputs.kernel_hashes)
    yield vmsa_updates(vmsas)


def snp_plan(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator[PageUpdate]:
    """Every page update of an SNP launch after the seed (see :func:`snp_seed`), one by one."""
    for part in snp_plan_parts(inputs, vmsas):
        yield from part.pages() if isinstance(part, PageRun) else part


def replay_parts(engine: SnpLaunchDigest, parts) -> SnpLaunchDigest:
    """Fold plan parts into ``engine``: runs through ``extend_pages``, the rest page by page."""
    for part in parts:
        if isinstance(part, PageRun):
            engine.extend_pages(part.gpa, part.data)
        else:
            engine.replay(part)
    return engine


def snp_seed(config: MeasurementConfig) -> bytes:
    return config.snp_ovmf_hash if config.snp_ovmf_hash is not None else bytes(48)


def sev_parts(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator[tuple]:
    """What SEV and SEV-ES hash, in order, as (kind, GPA, what it is, bytes): the firmware, the
    kernel hashes table, the VMSAs."""
    firmware = inputs.firmware
    yield "FIRMWARE", firmware.gpa, f"firmware {firmware.path}", firmware.data
    if inputs.kernel_hashes is not None:
        table = sev_hash_table(firmware, inputs.kernel_hashes)  # refuses unusable firmware
        yield "KERNEL_HASHES", firmware.hash_table_block[0], "kernel hashes table", table
    for index, page in enumerate(vmsas):
        yield "VMSA", None, f"VMSA of vCPU {index}", page


def sev_blobs(inputs: LaunchInputs, vmsas: tuple[bytes, ...]) -> Iterator[bytes]:
    """The bytes SEV and SEV-ES hash, in order (see :func:`sev_parts`)."""
    return (blob for _, _, _, blob in sev_parts(inputs, vmsas))


def measure(config: MeasurementConfig) -> Measurement:
    """Compute the launch measurement of ``config``."""
    inputs = load_inputs(config)
    return measure_inputs(inputs)


def measure_inputs(inputs: LaunchInputs) -> Measurement:
    config = inputs.config
    mode = config.mode
    if mode is Mode.SNP_OVMF_HASH:
        digest = replay_parts(SnpLaunchDigest(), [firmware_run(inputs.firmware)]).digest
        return Measurement(digest, mode)
    vmsas = vmsa_pages(inputs) if mode.has_vmsa else ()
    if mode.is_snp:
        engine = replay_parts(SnpLaunchDigest(snp_seed(config)), snp_plan_parts(inputs, vmsas))
        return Measurement(engine.digest, mode, vmsas)
    return Measurement(sev_launch_digest(sev_blobs(inputs, vmsas)), mode, vmsas)
