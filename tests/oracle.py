"""sev-snp-measure 0.0.13 (PyPI), used only as a test oracle through its library API."""
from __future__ import annotations

import os
import tempfile
import warnings

from sevsnpmeasure import guest as peer_guest
from sevsnpmeasure import vcpu_types as peer_vcpu_types
from sevsnpmeasure.sev_mode import SevMode
from sevsnpmeasure.vmm_types import VMMType

PEER_MODES = {"sev": SevMode.SEV, "seves": SevMode.SEV_ES, "snp": SevMode.SEV_SNP,
              "snp:svsm": SevMode.SEV_SNP_SVSM}
PEER_CPU_TYPES = tuple(peer_vcpu_types.CPU_SIGS)


def peer_measure(mode: str, ovmf: str, *, vcpus=None, vcpu_sig=None, vmm_type="QEMU",
                 kernel=None, initrd=None, append=None, guest_features=0x1,
                 snp_ovmf_hash=None, svsm=None, vars_size=0) -> bytes:
    """The peer's digest; it writes nothing (dump_vmsa is off)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "snp:ovmf-hash":
            return peer_guest.calc_snp_ovmf_hash(ovmf)
        return peer_guest.calc_launch_digest(
            PEER_MODES[mode], vcpus, vcpu_sig, ovmf, kernel, initrd, append, guest_features,
            snp_ovmf_hash or "", VMMType[vmm_type], False, svsm or "", vars_size)


def write_temp(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def tempdir():
    return tempfile.TemporaryDirectory(prefix="snpmeasure-oracle-")
