"""snpmeasure: expected launch measurements of AMD SEV, SEV-ES and SEV-SNP guests.

The public API is re-exported here lazily, so that ``import snpmeasure`` stays cheap::

    from snpmeasure import MeasurementConfig, measure
    print(measure(MeasurementConfig(mode="snp", ovmf="OVMF.fd", vcpus=1,
                                    vcpu_type="EPYC-v4")).hex)
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "Measurement": "launch",
    "MeasurementConfig": "launch",
    "Mode": "launch",
    "LaunchInputs": "launch",
    "load_inputs": "launch",
    "measure": "launch",
    "measure_inputs": "launch",
    "Firmware": "firmware",
    "load_firmware": "firmware",
    "parse_firmware": "firmware",
    "KernelHashes": "kernel_hashes",
    "PageUpdate": "plan",
    "SnpLaunchDigest": "digest",
    "PageType": "abi.snp",
    "SectionType": "abi.ovmf",
    "CPU_TYPES": "cpu",
    "cpu_signature": "cpu",
    "VMM_TYPES": "profiles",
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
