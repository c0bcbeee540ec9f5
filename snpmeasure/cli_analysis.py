"""Commands that vary, explain, search and inspect launches: manifest, explain, find, inspect."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__
from .cli import (OPT_APPEND, OPT_FORCE, OPT_GUEST_FEATURES, OPT_INITRD, OPT_KERNEL,
                  OPT_LEGACY, OPT_MODE, OPT_OVMF, OPT_OVMF_HASH, OPT_SVSM, OPT_VARS_FILE,
                  OPT_VARS_SIZE, OPT_VCPU_FAMILY, OPT_VCPU_MODEL, OPT_VCPU_SIG,
                  OPT_VCPU_STEPPING, OPT_VCPU_TYPE, OPT_VCPUS, OPT_VMM_TYPE, _state, app,
                  build_config, parse_int)
from .errors import ConfigError, VerificationError

OPT_VCPUS_LIST = typer.Option(None, "--vcpus", metavar="LIST",
                              help="vCPU counts: numbers and ranges, e.g. 1-64,128.")
OPT_VCPU_TYPE_LIST = typer.Option(None, "--vcpu-type", metavar="LIST",
                                  help="CPU types, e.g. EPYC-Milan,EPYC-Genoa, or 'all'.")
OPT_VCPU_SIG_LIST = typer.Option(None, "--vcpu-sig", metavar="LIST",
                                 help="vCPU signatures, e.g. 0xa00f11,0xa10f10.")
OPT_VMM_LIST = typer.Option(None, "--vmm-type", metavar="LIST",
                            help="VMM types, e.g. QEMU,ec2,gce, or 'all'.")
OPT_FEATURES_LIST = typer.Option(None, "--guest-features", metavar="LIST",
                                 help="Guest feature values, e.g. 0x1,0x21.")
OPT_LEGACY_LIST = typer.Option(None, "--legacy-vm-type", metavar="LIST",
                               help="on, off, or on,off (both KVM init paths).")


def _base_config(mode, ovmf, kernel, initrd, append, snp_ovmf_hash, svsm, vars_size, vars_file,
                 vmm_type="QEMU", vcpus=1, vcpu_sig="0"):
    return build_config(
        mode=mode, ovmf=ovmf, vcpus=vcpus, vcpu_type=None, vcpu_sig=vcpu_sig, vcpu_family=None,
        vcpu_model=None, vcpu_stepping=None, vmm_type=vmm_type, kernel=kernel, initrd=initrd,
        append=append, guest_features=None, legacy_vm_type=None, snp_ovmf_hash=snp_ovmf_hash,
        svsm=svsm, vars_size=vars_size, vars_file=vars_file)


def _cpu_choices(vcpu_type, vcpu_sig, family, model, stepping, default_all: bool):
    """[(type, None) ...] + [(None, sig) ...] from the list options."""
    from .cpu import CPU_TYPES, cpu_signature
    from .lists import cpu_type_list, int_list

    cpus: list = []
    if vcpu_type is not None:
        cpus += [(name, None) for name in cpu_type_list("--vcpu-type", vcpu_type)]
    if vcpu_sig is not None:
        for sig in int_list("--vcpu-sig", vcpu_sig):
            if not 0 <= sig < 1 << 32:
                raise ConfigError(f"--vcpu-sig {sig:#x} does not fit in 32 bits")
            cpus.append((None, sig))
    fms = (family, model, stepping)
    if any(v is not None for v in fms):
        if any(v is None for v in fms):
            raise ConfigError("--vcpu-family, --vcpu-model and --vcpu-stepping go together")
        cpus.append((None, cpu_signature(*(parse_int(f, v) for f, v in zip(
            ("--vcpu-family", "--vcpu-model", "--vcpu-stepping"), fms)))))
    if not cpus and default_all:
        cpus = [(name, None) for name in CPU_TYPES]
    return cpus


def _input_record(path) -> dict:
    import os

    from .kernel_hashes import sha256_file
    return {"name": os.path.basename(str(path)), "size": os.stat(path).st_size,
            "sha256": sha256_file(path).hex()}


@app.command("manifest")
def manifest_command(
    mode: str = OPT_MODE,
    ovmf: str = OPT_OVMF,
    vcpus: Optional[str] = OPT_VCPUS_LIST,
    vcpu_type: Optional[str] = OPT_VCPU_TYPE_LIST,
    vcpu_sig: Optional[str] = OPT_VCPU_SIG_LIST,
    vcpu_family: Optional[str] = OPT_VCPU_FAMILY,
    vcpu_model: Optional[str] = OPT_VCPU_MODEL,
    vcpu_stepping: Optional[str] = OPT_VCPU_STEPPING,
    vmm_type: Optional[str] = OPT_VMM_LIST,
    kernel: Optional[str] = OPT_KERNEL,
    initrd: Optional[str] = OPT_INITRD,
    append: Optional[str] = OPT_APPEND,
    guest_features: Optional[str] = OPT_FEATURES_LIST,
    legacy_vm_type: Optional[str] = OPT_LEGACY_LIST,
    snp_ovmf_hash: Optional[str] = OPT_OVMF_HASH,
    svsm: Optional[str] = OPT_SVSM,
    vars_size: Optional[str] = OPT_VARS_SIZE,
    vars_file: Optional[str] = OPT_VARS_FILE,
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE",
                                          help="Write the manifest to FILE (atomically) "
                                               "instead of stdout."),
    force: bool = OPT_FORCE,
) -> None:
    """Reference values for many configurations of one image, as one JSON manifest."""
    if output is not None:
        from .output import check_outputs
        check_outputs([output], force)
    from .kernel_hashes import cmdline_bytes
    from .lists import bool_list, int_list, vmm_type_list
    from .matrix import Matrix, expand_variants

    vmms = vmm_type_list("--vmm-type", vmm_type) if vmm_type else ["QEMU"]
    counts = int_list("--vcpus", vcpus) if vcpus else None
    base = _base_config(mode, ovmf, kernel, initrd, append, snp_ovmf_hash, svsm, vars_size,
                        vars_file, vmm_type=vmms[0],
                        vcpus=max(counts) if counts else None)
    if base.mode.value == "snp:ovmf-hash":
        raise ConfigError("manifest measures launches; mode snp:ovmf-hash is a firmware hash")
    if base.mode.has_vmsa and not counts:
        raise ConfigError(f"--vcpus is required in mode {base.mode.value}")
    for count in counts or []:
        if not 1 <= count <= 4096:
            raise ConfigError(f"--vcpus {count} is outside 1..4096")
    cpus = _cpu_choices(vcpu_type, vcpu_sig, vcpu_family, vcpu_model, vcpu_stepping, False)
    if base.mode.has_vmsa and not cpus:
        if any(profile_needs_sig(v) for v in vmms):
            raise ConfigError(f"mode {base.mode.value} needs --vcpu-type, --vcpu-sig or "
                              "--vcpu-family/--vcpu-model/--vcpu-stepping for QEMU")
        cpus = [(None, None)]
    features = int_list("--guest-features", guest_features) if guest_features else [0x1]
    for value in features:
        if not 0 <= value < 1 << 64:
            raise ConfigError(f"--guest-features {value:#x} does not fit in 64 bits")
    legacy = bool_list("--legacy-vm-type", legacy_vm_type) if legacy_vm_type else [None]
    matrix = Matrix(base)
    variants = expand_variants(base, vmms, cpus or [(None, None)], features, legacy)
    _check_matrix_size(len(variants) * len(counts or [1]))
    entries = [entry.to_json() for variant in variants
               for entry in matrix.measure(variant, counts or [1])]
    if base.mode.value == "sev":
        for entry in entries:
            entry["vcpus"] = None
    inputs = {"ovmf": _input_record(ovmf)}
    for name, path in (("kernel", kernel), ("initrd", initrd), ("svsm", svsm)):
        if path:
            inputs[name] = _input_record(path)
    import hashlib
    document = {
        "tool": "snpmeasure",
        "version": __version__,
        "manifest_version": 1,
        "mode": base.mode.value,
        "inputs": inputs,
        "append": append if kernel else None,
        "cmdline_sha256": hashlib.sha256(cmdline_bytes(append)).hexdigest() if kernel else None,
        "vars_size": base.vars_size,
        "snp_ovmf_hash": base.snp_ovmf_hash.hex() if base.snp_ovmf_hash else None,
        "measurements": entries,
    }
    text = json.dumps(document, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        from .output import write_atomic
        write_atomic(output, text.encode(), force)


def _check_matrix_size(entries: int) -> None:
    from .limits import MAX_MATRIX_ENTRIES
    if entries > MAX_MATRIX_ENTRIES:
        raise ConfigError(f"{entries} configurations exceed the limit of {MAX_MATRIX_ENTRIES}; "
                          "narrow the lists")


def profile_needs_sig(vmm: str) -> bool:
    from .profiles import profile_named
    return profile_named(vmm).needs_vcpu_signature


def _explain_config(params: dict):
    return build_config(
        mode=params["mode"], ovmf=params["ovmf"], vcpus=params["vcpus"],
        vcpu_type=params["vcpu_type"], vcpu_sig=params["vcpu_sig"],
        vcpu_family=params["vcpu_family"], vcpu_model=params["vcpu_model"],
        vcpu_stepping=params["vcpu_stepping"], vmm_type=params["vmm_type"],
        kernel=params["kernel"], initrd=params["initrd"], append=params["append"],
        guest_features=params["guest_features"], legacy_vm_type=params["legacy_vm_type"],
        snp_ovmf_hash=params["snp_ovmf_hash"], svsm=params["svsm"],
        vars_size=params["vars_size"], vars_file=params["vars_file"])


def _compare_params(compare: str) -> dict:
    """The explain options again, with the --compare flags applied on top (last one wins)."""
    args = list(_state.get("args") or [])
    if "explain" in args:
        args = args[args.index("explain") + 1:]
    cleaned, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--compare":
            skip = True
            continue
        if arg.startswith("--compare="):
            continue
        cleaned.append(arg)
    try:
        extra = shlex.split(compare)
    except ValueError as exc:
        raise ConfigError(f"--compare: {exc}") from None
    command = typer.main.get_command(app).commands["explain"]
    context = command.make_context("explain", cleaned + extra, resilient_parsing=False)
    return dict(context.params)


OPT_IGVM_PLATFORM = typer.Option("snp", "--platform", metavar="snp|sev-es|sev",
                                 help="Which platform of the IGVM file to measure.")
OPT_IGVM_LOADER = typer.Option("igvmmeasure", "--loader", metavar="igvmmeasure|microsoft",
                               help="Loader rules: coconut-svsm igvmmeasure (QEMU/KVM + SVSM) or "
                                    "the microsoft/igvm library (Hyper-V, OpenVMM).")
OPT_NATIVE_ZERO = typer.Option(False, "--native-zero",
                               help="Measure empty IGVM pages as ZERO pages, not NORMAL zero "
                                    "pages.")
OPT_CHECK_KVM = typer.Option(False, "--check-kvm",
                             help="Refuse IGVM files QEMU/KVM cannot launch as measured: one "
                                  "VMSA, at 0xFFFFFFFFF000, measured last.")


@app.command("explain")
def explain_command(
    mode: Optional[str] = typer.Option(None, "--mode", metavar="MODE",
                                       help="Guest mode (not with --igvm)."),
    ovmf: Optional[str] = typer.Option(None, "--ovmf", metavar="PATH",
                                       help="OVMF firmware image (not with --igvm)."),
    igvm: Optional[Path] = typer.Option(None, "--igvm", metavar="FILE",
                                        help="Explain an IGVM file instead of an OVMF launch."),
    platform: str = OPT_IGVM_PLATFORM,
    loader: str = OPT_IGVM_LOADER,
    native_zero: bool = OPT_NATIVE_ZERO,
    check_kvm: bool = OPT_CHECK_KVM,
    vcpus: Optional[int] = OPT_VCPUS,
    vcpu_type: Optional[str] = OPT_VCPU_TYPE,
    vcpu_sig: Optional[str] = OPT_VCPU_SIG,
    vcpu_family: Optional[str] = OPT_VCPU_FAMILY,
    vcpu_model: Optional[str] = OPT_VCPU_MODEL,
    vcpu_stepping: Optional[str] = OPT_VCPU_STEPPING,
    vmm_type: str = OPT_VMM_TYPE,
    kernel: Optional[str] = OPT_KERNEL,
    initrd: Optional[str] = OPT_INITRD,
    append: Optional[str] = OPT_APPEND,
    guest_features: Optional[str] = OPT_GUEST_FEATURES,
    legacy_vm_type: Optional[bool] = OPT_LEGACY,
    snp_ovmf_hash: Optional[str] = OPT_OVMF_HASH,
    svsm: Optional[str] = OPT_SVSM,
    vars_size: Optional[str] = OPT_VARS_SIZE,
    vars_file: Optional[str] = OPT_VARS_FILE,
    json_lines: bool = typer.Option(False, "--json", help="One JSON object per page update."),
    wide: bool = typer.Option(False, "--wide", help="Full digests in the table."),
    compare: Optional[str] = typer.Option(
        None, "--compare", metavar="FLAGS",
        help="A second configuration: these flags applied on top of the others, e.g. "
             "--compare '--vcpu-type EPYC-Milan --guest-features 0x21'. Shows the first "
             "update where the two diverge and why."),
) -> None:
    """Every page update of a launch, in order, with its running digest."""
    from .explain import compare as compare_explanations
    from .explain import explain, explain_igvm

    if igvm is not None:
        if mode is not None or ovmf is not None or compare is not None:
            raise ConfigError("--igvm excludes --mode, --ovmf and --compare")
        from .igvm import IgvmOptions
        _print_explanation(explain_igvm(igvm, IgvmOptions(platform, loader, native_zero,
                                                          check_kvm)), json_lines, wide)
        return
    if mode is None or ovmf is None:
        raise ConfigError("explain needs --mode and --ovmf (or --igvm)")
    params = dict(mode=mode, ovmf=ovmf, vcpus=vcpus, vcpu_type=vcpu_type, vcpu_sig=vcpu_sig,
                  vcpu_family=vcpu_family, vcpu_model=vcpu_model, vcpu_stepping=vcpu_stepping,
                  vmm_type=vmm_type, kernel=kernel, initrd=initrd, append=append,
                  guest_features=guest_features, legacy_vm_type=legacy_vm_type,
                  snp_ovmf_hash=snp_ovmf_hash, svsm=svsm, vars_size=vars_size,
                  vars_file=vars_file)
    first = explain(_explain_config(params))
    if compare is not None:
        second = explain(_explain_config(_compare_params(compare)))
        divergence = compare_explanations(first, second)
        if json_lines:
            print(json.dumps({
                "first": first.measurement.hex(), "second": second.measurement.hex(),
                "equal": divergence is None,
                "diverge_at": None if divergence is None else divergence.index,
                "first_update": None if divergence is None or divergence.first is None
                else divergence.first.to_json(),
                "second_update": None if divergence is None or divergence.second is None
                else divergence.second.to_json(),
                "reasons": [] if divergence is None else list(divergence.reasons)}))
        else:
            print(f"first:  {first.measurement.hex()}")
            print(f"second: {second.measurement.hex()}")
            if divergence is None:
                print("the two configurations give the same measurement")
            else:
                print(f"they diverge at update {divergence.index}:")
                for reason in divergence.reasons:
                    print(f"  {reason}")
        return
    _print_explanation(first, json_lines, wide)


def _print_explanation(first, json_lines: bool, wide: bool) -> None:
    if json_lines:
        for step in first.steps:
            print(json.dumps(step.to_json()))
        return
    width = 96 if wide else 16
    if first.seed is not None and any(first.seed):
        print(f"seed (--snp-ovmf-hash): {first.seed.hex()}")
    print(f"{'index':>6}  {'gpa':>14}  {'type':<13}  {'contents':<{width}}  "
          f"{'digest':<{width}}  source")
    for step in first.steps:
        gpa = "-" if step.gpa is None else f"{step.gpa:#x}"
        print(f"{step.index:>6}  {gpa:>14}  {step.kind:<13}  {step.contents.hex()[:width]:<{width}}"
              f"  {step.digest.hex()[:width]:<{width}}  {step.source}")
    print(f"updates: {len(first.steps)}")
    print(f"measurement: {first.measurement.hex()}")


@app.command("find")
def find_command(
    ovmf: str = OPT_OVMF,
    measurement: Optional[str] = typer.Option(None, "--measurement", metavar="VALUE",
                                              help="Observed measurement, hex or base64."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="FILE",
                                          help="Attestation report (binary, hex or base64) "
                                               "whose MEASUREMENT to explain."),
    mode: Optional[str] = typer.Option(None, "--mode", metavar="MODE",
                                       help="Guest mode to search (default: snp for a 48-byte "
                                            "measurement, seves and sev for 32 bytes)."),
    kernel: Optional[str] = OPT_KERNEL,
    initrd: Optional[str] = OPT_INITRD,
    append: Optional[str] = OPT_APPEND,
    snp_ovmf_hash: Optional[str] = OPT_OVMF_HASH,
    svsm: Optional[str] = OPT_SVSM,
    vars_size: Optional[str] = OPT_VARS_SIZE,
    vars_file: Optional[str] = OPT_VARS_FILE,
    max_vcpus: int = typer.Option(256, "--max-vcpus", metavar="N",
                                  help="Search vCPU counts 1..N."),
    vcpus: Optional[str] = OPT_VCPUS_LIST,
    vcpu_type: Optional[str] = OPT_VCPU_TYPE_LIST,
    vcpu_sig: Optional[str] = OPT_VCPU_SIG_LIST,
    vmm_type: Optional[str] = OPT_VMM_LIST,
    guest_features: Optional[str] = OPT_FEATURES_LIST,
    legacy_vm_type: Optional[str] = OPT_LEGACY_LIST,
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Find the configuration(s) of an image that produce an observed measurement."""
    from .find import find
    from .lists import bool_list, int_list, vmm_type_list
    from .report import load_report
    from .report_input import parse_measurement

    if (measurement is None) == (report is None):
        raise ConfigError("give either --measurement or --report")
    observed = parse_measurement(measurement) if measurement is not None \
        else load_report(report).measurement
    if not 1 <= max_vcpus <= 4096:
        raise ConfigError(f"--max-vcpus {max_vcpus} is outside 1..4096")
    search_mode = mode or ("snp:svsm" if svsm else "snp")
    base = _base_config(search_mode, ovmf, kernel, initrd, append, snp_ovmf_hash, svsm,
                        vars_size, vars_file)
    cpus = _cpu_choices(vcpu_type, vcpu_sig, None, None, None, False)
    result = find(
        base, observed, modes=[mode] if mode else None, max_vcpus=max_vcpus,
        vcpu_counts=int_list("--vcpus", vcpus) if vcpus else None,
        vmm_types=vmm_type_list("--vmm-type", vmm_type) if vmm_type else None,
        cpu_types=[name for name, _ in cpus if name] or None,
        vcpu_sigs=[sig for _, sig in cpus if sig is not None],
        guest_features=int_list("--guest-features", guest_features) if guest_features else None,
        legacy=bool_list("--legacy-vm-type", legacy_vm_type) if legacy_vm_type else None)
    if json_output:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for match in result.matches:
            print(match.describe())
    if not result.matches:
        raise VerificationError(
            f"none of the {result.searched} configurations searched gives "
            f"{observed.hex()}; the firmware, kernel, initrd or command line must differ (or "
            "the configuration is outside the search: see --max-vcpus and the list options)")


@app.command("inspect")
def inspect_command(
    firmware: Path = typer.Argument(..., metavar="FIRMWARE", help="OVMF or SVSM image."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What a firmware or IGVM file declares: layout, tables, metadata or directives."""
    from .igvm import is_igvm

    if is_igvm(firmware):
        from .inspect_fw import describe_igvm, inspect_igvm
        info = inspect_igvm(firmware)
        print(json.dumps(info, indent=2) if json_output else describe_igvm(info))
        return
    from .firmware import load_firmware
    from .inspect_fw import describe, inspect_firmware

    info = inspect_firmware(load_firmware(firmware))
    print(json.dumps(info, indent=2) if json_output else describe(info))


@app.command("igvm")
def igvm_command(
    file: Path = typer.Argument(..., metavar="FILE", help="IGVM file."),
    platform: str = OPT_IGVM_PLATFORM,
    loader: str = OPT_IGVM_LOADER,
    native_zero: bool = OPT_NATIVE_ZERO,
    check_kvm: bool = OPT_CHECK_KVM,
    ignore_id_block: bool = typer.Option(False, "--ignore-id-block",
                                         help="Print the digest even when the file's ID block "
                                              "differs from it or does not verify (a warning)."),
    output_format: str = typer.Option("hex", "--output-format", metavar="hex|base64|json",
                                      help="Measurement output format."),
    verbose: bool = typer.Option(False, "-v", "--verbose",
                                 help="Print 'Calculated <PLATFORM> IGVM measurement: ...'."),
) -> None:
    """The launch digest of an IGVM file (SNP by default), checked against its ID block."""
    import warnings

    from .igvm import IgvmOptions, measure_igvm

    if output_format not in ("hex", "base64", "json"):
        raise ConfigError(f"--output-format {output_format!r} is not hex, base64 or json")
    options = IgvmOptions(platform, loader, native_zero, check_kvm)
    result = measure_igvm(file, options)
    block = result.id_block
    if block is not None:
        problems = []
        if not block.matches:
            problems.append(f"the ID block's launch digest {block.ld.hex()} differs from the "
                            f"computed {result.hex}")
        if not block.signature_ok:
            problems.append(f"the ID block does not verify: {block.signature_error}")
        if problems:
            if not ignore_id_block:
                raise VerificationError(f"{file}: " + "; ".join(problems)
                                        + " (--ignore-id-block to print the digest anyway)")
            for problem in problems:
                warnings.warn(f"{file}: {problem}")
    if output_format == "json":
        print(json.dumps({"measurement": result.hex, "platform": platform, "loader": loader,
                          "native_zero": native_zero, "page_updates": result.pages,
                          "id_block": None if block is None else block.to_json()}, indent=2))
        return
    value = result.hex if output_format == "hex" else result.base64
    print(f"Calculated {platform.upper()} IGVM measurement: {value}" if verbose else value)
