"""The launch digest of an IGVM file: its plan (``launch.igvm``) replayed by the engine."""
from __future__ import annotations

import hashlib
import os
from collections import namedtuple

from ..abi import igvm as L
from ..abi.snp import PageType
from ..formats.igvm import IgvmFile
from ..launch.plan import PageUpdate
from ..launch.igvm import PLATFORMS, IgvmOptions, sev_blobs, snp_updates
from .measure import DigestText
from .sev import SevLaunchDigest
from .snp import SnpLaunchDigest, page_contents_digest


class IgvmMeasurement(DigestText, namedtuple("IgvmMeasurement", "digest platform pages")):
    """The launch digest of an IGVM file for one platform, and how many pages (SNP) or blobs
    (SEV, SEV-ES) it folds in."""

    __slots__ = ()


def measure_igvm_file(igvm: IgvmFile, options: IgvmOptions = IgvmOptions()) -> IgvmMeasurement:
    """The launch digest of an open IGVM file for ``options.platform``."""
    platform = PLATFORMS[options.platform]
    if platform is L.Platform.SEV_SNP:
        engine = SnpLaunchDigest().replay(snp_updates(igvm, options), igvm.claimed_pages)
        return IgvmMeasurement(engine.digest, options.platform, engine.pages)
    state = SevLaunchDigest().replay(blob for _, _, _, blob in sev_blobs(igvm, options))
    return IgvmMeasurement(state.digest, options.platform, state.blobs)


def measure_igvm(path: str | os.PathLike, options: IgvmOptions = IgvmOptions()) -> IgvmMeasurement:
    """The launch digest of the IGVM file at ``path`` for ``options.platform``."""
    with IgvmFile(path) as igvm:
        return measure_igvm_file(igvm, options)


def measure_igvm_counts(igvm: IgvmFile, options: IgvmOptions,
                        counts: list[int]) -> dict[int, bytes]:
    """QEMU loader: the digest for each vCPU count, sharing everything before the VMSAs (vCPU
    i's VMSA is the same whatever the count; each count is checked against the file's
    VP_CONTEXT indexes)."""
    from ..launch.igvm_qemu import QemuIgvm

    launch = QemuIgvm(igvm, options.replace(vcpus=max(counts)))
    snp = options.platform == "snp"
    running = SnpLaunchDigest() if snp else SevLaunchDigest()
    vmsa_digests: list[bytes] = []
    wanted, results = set(counts), {}
    for kind, gpa, page_type, data, label in launch.launch():
        if kind == "vmsa":
            if snp:
                running.extend(page_type, gpa, hashlib.sha384(data).digest())
            else:
                running.update(data)
            vmsa_digests.append(running.digest)
        elif snp:
            running.extend(page_type, gpa, page_contents_digest(
                PageUpdate(gpa, page_type, data, label)))
        elif page_type is PageType.NORMAL:
            running.update(data)
    if options.platform == "sev":
        return {count: running.digest for count in counts}
    for count in sorted(wanted):
        launch.check_vcpu_count(count)
        results[count] = vmsa_digests[count - 1]
    return results
