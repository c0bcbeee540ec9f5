"""The launch digest of an IGVM file: its plan (``launch.igvm``) replayed by the engine."""
from __future__ import annotations

import os
from collections import namedtuple

from ..abi import igvm as L
from ..formats.igvm import IgvmFile
from ..launch.igvm import PLATFORMS, IgvmOptions, sev_blobs, snp_updates
from .measure import DigestText
from .sev import SevLaunchDigest
from .snp import SnpLaunchDigest


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
