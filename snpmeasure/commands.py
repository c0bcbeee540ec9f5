"""Command bodies shared by the typer CLI and the fast start-up path (no typer import here)."""
from __future__ import annotations

import os
import warnings

from .errors import ConfigError


def parse_int(flag: str, text: str | None) -> int | None:
    """An integer flag value in any base Python accepts (0x21, 33, 0b100001)."""
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text, 10)  # like sev-snp-measure's int(): leading zeros are decimal
        except ValueError:
            raise ConfigError(f"{flag} {text!r} is not an integer") from None


def build_config(*, mode, ovmf, vcpus, vcpu_type, vcpu_sig, vcpu_family, vcpu_model,
                 vcpu_stepping, vmm_type, kernel, initrd, append, guest_features, legacy_vm_type,
                 snp_ovmf_hash, svsm, vars_size, vars_file):
    """Turn the shared launch options into a MeasurementConfig (ConfigError when invalid)."""
    from .launch import MeasurementConfig, Mode

    mode = Mode.parse(mode)
    if vars_size is not None and vars_file is not None:
        raise ConfigError("--vars-size and --vars-file exclude each other")
    size = parse_int("--vars-size", vars_size)
    if vars_file is not None:
        try:
            size = os.stat(vars_file).st_size
        except OSError as exc:
            from .errors import input_error
            raise input_error(vars_file, exc) from None
    features = parse_int("--guest-features", guest_features)
    if features is not None and mode.value in ("sev", "seves"):
        warnings.warn(f"--guest-features is ignored in mode {mode.value} (the SEV-ES VMSA's "
                      "SEV_FEATURES are 0)")
    config = MeasurementConfig(
        mode=mode,
        ovmf=ovmf,
        vcpus=vcpus,
        vcpu_type=vcpu_type,
        vcpu_sig=parse_int("--vcpu-sig", vcpu_sig),
        vcpu_family=parse_int("--vcpu-family", vcpu_family),
        vcpu_model=parse_int("--vcpu-model", vcpu_model),
        vcpu_stepping=parse_int("--vcpu-stepping", vcpu_stepping),
        vmm_type=vmm_type,
        kernel=kernel,
        initrd=initrd,
        append=append,
        guest_features=0x1 if features is None else features,
        legacy_vm_type=legacy_vm_type,
        snp_ovmf_hash=snp_ovmf_hash,
        svsm=svsm,
        vars_size=size,
    )
    if config.mode.is_snp and config.mode.value != "snp:ovmf-hash" \
            and not config.guest_features & 0x1:
        warnings.warn(f"--guest-features {config.guest_features:#x} lacks SNPActive (bit 0), "
                      "which KVM always sets for SNP guests; no real launch has this measurement")
    return config


def run_measure(*, mode, ovmf, vcpus=None, vcpu_type=None, vcpu_sig=None, vcpu_family=None,
                vcpu_model=None, vcpu_stepping=None, vmm_type="QEMU", kernel=None, initrd=None,
                append=None, guest_features=None, legacy_vm_type=None, output_format="hex",
                snp_ovmf_hash=None, dump_vmsa=False, vmsa_dir=None, svsm=None, vars_size=None,
                vars_file=None, verbose=False, force=False) -> None:
    """``snpmeasure measure``: print the measurement (and write VMSAs when asked)."""
    if output_format not in ("hex", "base64"):
        raise ConfigError(f"--output-format {output_format!r} is not hex or base64")
    config = build_config(
        mode=mode, ovmf=ovmf, vcpus=vcpus, vcpu_type=vcpu_type, vcpu_sig=vcpu_sig,
        vcpu_family=vcpu_family, vcpu_model=vcpu_model, vcpu_stepping=vcpu_stepping,
        vmm_type=vmm_type, kernel=kernel, initrd=initrd, append=append,
        guest_features=guest_features, legacy_vm_type=legacy_vm_type,
        snp_ovmf_hash=snp_ovmf_hash, svsm=svsm, vars_size=vars_size, vars_file=vars_file)
    dump_dir = str(vmsa_dir) if vmsa_dir is not None else ("." if dump_vmsa else None)
    if dump_dir is not None and not config.mode.has_vmsa:
        if config.mode.value == "snp:ovmf-hash":
            warnings.warn("--dump-vmsa is ignored in mode snp:ovmf-hash (no VMSAs are measured)")
            dump_dir = None
        else:
            raise ConfigError(f"--dump-vmsa is not available in mode {config.mode.value} "
                              "(no VMSAs are measured)")
    if dump_dir is not None and not os.path.isdir(dump_dir):
        raise ConfigError(f"--vmsa-dir {str(dump_dir)!r} is not a directory")

    if dump_dir is not None:
        from .output import check_outputs
        count = config.vcpus or 0
        check_outputs([os.path.join(dump_dir, f"vmsa{i}.bin") for i in range(count)], force)

    from .launch import measure

    result = measure(config)
    if dump_dir is not None:
        from .output import write_outputs

        write_outputs([(os.path.join(dump_dir, f"vmsa{index}.bin"), page)
                       for index, page in enumerate(result.vmsas)], force)
    if config.mode.value == "snp:ovmf-hash":
        # sev-snp-measure prints this seed for --snp-ovmf-hash in hex, whatever the format flags.
        print(result.hex)
    elif verbose:
        print(f"Calculated {config.mode.label} guest measurement: "
              f"{result.format(output_format)}")
    else:
        print(result.format(output_format))


