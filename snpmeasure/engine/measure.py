"""Measurements: a launch configuration's plan replayed into its digest.

    >>> from snpmeasure import MeasurementConfig, measure
    >>> measure(MeasurementConfig(mode="snp", ovmf="OVMF.fd", vcpus=4,
    ...                           vcpu_type="EPYC-Milan")).hex  # doctest: +SKIP

:func:`measure` reads the inputs, validates the firmware and returns a :class:`Measurement`.
Nothing is printed or written.
"""
from __future__ import annotations

from collections import namedtuple

from ..launch.config import MeasurementConfig, Mode
from ..launch.ovmf import LaunchInputs, load_inputs, sev_blobs, snp_plan_parts, snp_seed, \
    vmsa_pages
from ..launch.plan import PageRun, firmware_run
from .sev import SevLaunchDigest
from .snp import SnpLaunchDigest


class DigestText:
    """hex, base64 and ``format()`` of a result's ``digest`` (shared by every result type)."""

    __slots__ = ()

    @property
    def hex(self) -> str:
        return self.digest.hex()

    @property
    def base64(self) -> str:
        import base64
        return base64.b64encode(self.digest).decode("ascii")

    def format(self, output_format: str) -> str:
        if output_format == "hex":
            return self.hex
        if output_format == "base64":
            return self.base64
        from ..errors import ConfigError
        raise ConfigError(f"--output-format {output_format!r} is not hex or base64")


class Measurement(DigestText, namedtuple("Measurement", "digest mode vmsas", defaults=((),))):
    """A finished launch measurement: the digest, the mode, and the VMSA pages measured."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Measurement(mode={self.mode.value!r}, digest={self.hex!r})"


def replay_parts(engine: SnpLaunchDigest, parts) -> SnpLaunchDigest:
    """Fold plan parts into ``engine``: runs through ``extend_pages``, the rest page by page."""
    for part in parts:
        if isinstance(part, PageRun):
            engine.extend_pages(part.gpa, part.data)
        else:
            engine.replay(part.updates)
    return engine


def measure(config: MeasurementConfig) -> Measurement:
    """Compute the launch measurement of ``config``."""
    return measure_inputs(load_inputs(config))


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
    return Measurement(SevLaunchDigest().replay(sev_blobs(inputs, vmsas)).digest, mode, vmsas)
