"""Build the initial VMSA page of a vCPU from a VMM profile."""
from __future__ import annotations

from collections.abc import Mapping

from ..abi.codec import codec
from ..abi.vmsa import BYTE_FIELDS, SEGMENTS
from .profiles import BSP_EIP, FPU_INIT2, FPU_ZERO, RESET_STATE, SVSM_ENTRY_STATE, VmmProfile

_CODEC = codec("vmsa.SevEsSaveArea")
SCALAR_FIELDS = tuple(name for name in _CODEC.names if "." not in name and name not in BYTE_FIELDS)


def vmsa_fields(values: Mapping[str, object]) -> dict:
    """A complete field dict for :data:`SevEsSaveArea`: every field not in ``values`` is zero."""
    fields: dict = {name: 0 for name in SCALAR_FIELDS}
    fields.update({name: bytes(size) for name, size in BYTE_FIELDS.items()})
    fields.update({name: {"selector": 0, "attrib": 0, "limit": 0, "base": 0} for name in SEGMENTS})
    for name, value in values.items():
        if name not in fields:
            raise KeyError(f"{name} is not a VMSA field")
        fields[name] = dict(value) if isinstance(value, Mapping) else value
    return fields


def build_vmsa(values: Mapping[str, object]) -> bytes:
    return _CODEC.build(vmsa_fields(values))


def parse_vmsa(page: bytes) -> dict:
    """Decode a VMSA page into plain field values (for explanations and tests)."""
    parsed = _CODEC.parse(page)
    out = {}
    for name in SEGMENTS:
        seg = parsed[name]
        out[name] = {k: seg[k] for k in ("selector", "attrib", "limit", "base")}
    for name in SCALAR_FIELDS:
        out[name] = parsed[name]
    for name in BYTE_FIELDS:
        out[name] = bytes(parsed[name])
    return out


def fpu_state(profile: VmmProfile, legacy_vm_type: bool) -> Mapping[str, int]:
    if profile.fixed_fpu is not None:
        return profile.fixed_fpu
    return FPU_ZERO if legacy_vm_type else FPU_INIT2


def reset_vmsa_values(profile: VmmProfile, eip: int, sev_features: int, vcpu_sig: int | None,
                      legacy_vm_type: bool) -> dict:
    """Field values of a vCPU starting at the x86 reset vector (OVMF launches)."""
    values = dict(RESET_STATE)
    values.update(profile.vmsa_overrides)
    cs = dict(values["cs"])
    cs["base"] = eip & 0xFFFF0000
    if eip == BSP_EIP and profile.cs_attrib_at_reset_vector is not None:
        cs["attrib"] = profile.cs_attrib_at_reset_vector
    values["cs"] = cs
    values["rip"] = eip & 0xFFFF
    values["rdx"] = profile.fixed_rdx if profile.fixed_rdx is not None else (vcpu_sig or 0)
    values["sev_features"] = sev_features
    values.update(fpu_state(profile, legacy_vm_type))
    return values


def svsm_vmsa_values(profile: VmmProfile, eip: int, sev_features: int, vcpu_sig: int | None,
                     legacy_vm_type: bool) -> dict:
    """Field values of a vCPU entering COCONUT-SVSM at ``eip`` (snp:svsm)."""
    values = dict(RESET_STATE)
    values.update(SVSM_ENTRY_STATE)
    values["rip"] = eip
    values["rdx"] = vcpu_sig or 0
    values["sev_features"] = sev_features
    values.update(fpu_state(profile, legacy_vm_type))
    return values
