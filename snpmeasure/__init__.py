"""snpmeasure: expected launch measurements of AMD SEV, SEV-ES and SEV-SNP guests.

The public API is re-exported here lazily, so that ``import snpmeasure`` stays cheap::

    from snpmeasure import MeasurementConfig, measure
    print(measure(MeasurementConfig(mode="snp", ovmf="OVMF.fd", vcpus=1,
                                    vcpu_type="EPYC-v4")).hex)
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "Measurement": "engine.measure",
    "MeasurementConfig": "launch.config",
    "Mode": "launch.config",
    "LaunchInputs": "launch.ovmf",
    "load_inputs": "launch.ovmf",
    "measure": "engine.measure",
    "measure_inputs": "engine.measure",
    "measure_igvm": "engine.igvm",
    "IgvmOptions": "launch.igvm",
    "Firmware": "formats.firmware",
    "load_firmware": "formats.firmware",
    "parse_firmware": "formats.firmware",
    "KernelHashes": "launch.kernel_hashes",
    "PageUpdate": "launch.plan",
    "SnpLaunchDigest": "engine.snp",
    "SevLaunchDigest": "engine.sev",
    "PageType": "abi.snp",
    "SectionType": "abi.ovmf",
    "CPU_TYPES": "launch.cpu",
    "cpu_signature": "launch.cpu",
    "VMM_TYPES": "launch.profiles",
    "SnpMeasureError": "errors",
    "ConfigError": "errors",
    "InputError": "errors",
    "FormatError": "errors",
    "UnsupportedError": "errors",
    "VerificationError": "errors",
    "OutputError": "errors",
    "SnpMeasureWarning": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'snpmeasure' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
