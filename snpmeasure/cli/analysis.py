"""``manifest``, ``explain``, ``find`` and ``inspect``: vary, explain, search and inspect launches."""
from __future__ import annotations

import json
import shlex
import sys
import warnings

from ..errors import ConfigError, VerificationError
from ..text import printable
from ..limits import MAX_VCPUS
from .console import Progress
from .values import (bool_list, cpu_choices, int_list, launch_config, named_features,
                     parse_int, vmm_type_list)


def _list_config(values: dict, mode: str, vcpus: int | None = 1):
    """The base configuration of a command whose vCPU options are lists (manifest, find): the
    files and host-stack options from ``values``, the rest fixed until the lists are expanded
    (the VMM type too: each variant is checked against its own host rules)."""
    return launch_config(values, mode=mode, vmm_type="QEMU", vcpus=vcpus, vcpu_type=None,
                         vcpu_sig=0, vcpu_family=None, vcpu_model=None, vcpu_stepping=None,
                         guest_features=0x1, legacy_vm_type=None)


def run_manifest(values: dict) -> None:
    from ..analysis.manifest import build_igvm_manifest, build_manifest

    output, force = values["output"], values["force"]
    if output is not None:
        from ..files import check_outputs
        check_outputs([output], force)
    signers = _signing_keys(values)
    counts = int_list("--vcpus", values["vcpus"]) if values["vcpus"] else None
    legacy = [None]
    if values["legacy_vm_type"]:
        legacy = bool_list("--legacy-vm-type", values["legacy_vm_type"])
    progress = Progress("manifest: entries measured")
    if values["igvm"] is not None:
        with progress:
            document = build_igvm_manifest(
                values["igvm"], _igvm_manifest_options(values), vcpu_counts=counts,
                cpus=cpu_choices(values), legacy=legacy, progress=progress.count)
    else:
        if values["mode"] is None or values["ovmf"] is None:
            raise ConfigError("manifest needs --mode and --ovmf (or --igvm)")
        vmms = vmm_type_list("--vmm-type", values["vmm_type"]) if values["vmm_type"] \
            else ["QEMU"]
        base = _list_config(values, values["mode"], vcpus=max(counts) if counts else None)
        features = [0x1]
        if values["guest_features"]:
            features = int_list("--guest-features", values["guest_features"])
        features = list(dict.fromkeys(value | named_features(values) for value in features))
        with progress:
            document = build_manifest(base, vmm_types=vmms, vcpu_counts=counts,
                                      cpus=cpu_choices(values), guest_features=features,
                                      legacy=legacy, progress=progress.count,
                                      every_cpu=(values["vcpu_type"] or "").strip().lower()
                                      == "all")
    if signers:
        from ..formats.dsse import signed_manifest
        data = signed_manifest(document, signers)
    else:
        data = (json.dumps(document, indent=2) + "\n").encode()
    if output is None:
        sys.stdout.write(data.decode())
    else:
        from ..files import write_atomic
        write_atomic(output, data, force)


def _igvm_manifest_options(values: dict):
    """The IGVM options of manifest --igvm (the vCPU lists are expanded by the manifest)."""
    from ..launch.igvm import IgvmOptions

    ovmf_only = [flag for flag, dest in (
        ("--mode", "mode"), ("--ovmf", "ovmf"), ("--kernel", "kernel"), ("--initrd", "initrd"),
        ("--append", "append"), ("--vmm-type", "vmm_type"), ("--guest-features",
                                                            "guest_features"),
        ("--snp-ovmf-hash", "snp_ovmf_hash"), ("--svsm", "svsm")) if values.get(dest)]
    if ovmf_only:
        raise ConfigError(f"--igvm excludes {', '.join(ovmf_only)} (the IGVM file decides them)")
    return IgvmOptions(platform=values["platform"], loader=values["loader"],
                       native_zero=values["native_zero"], check_kvm=values["check_kvm"],
                       qemu_version=values.get("qemu_version"),
                       host_checks=not values.get("no_host_checks"),
                       vcpus=1 if values["loader"] == "qemu" else None)


def _signing_keys(values: dict) -> list:
    """The private keys of --sign (their passphrase from --sign-passphrase-env/-file)."""
    if not values.get("sign"):
        return []
    from ..formats.keys import SIGNING_KEYS, load_private_key, read_passphrase

    passphrase = read_passphrase(values.get("sign_passphrase_env"),
                                 values.get("sign_passphrase_file"), "signing key")
    return [load_private_key(path, passphrase, "--sign key", SIGNING_KEYS,
                             "--sign-passphrase-env or --sign-passphrase-file")
            for path in values["sign"]]


def compare_values(values: dict, compare: str) -> dict:
    """The launch options of ``values`` with the ``--compare`` flags applied on top (the last
    spelling of an option wins, as on the command line)."""
    from .options import EXPLAIN, LAUNCH_DESTS
    from .spec import Command, parse_plain

    try:
        words = shlex.split(compare)
    except ValueError as exc:  # shlex: an open quotation, or a trailing backslash
        why = "a quotation mark is not closed" if "quotation" in str(exc) \
            else "it ends in a backslash"
        raise ConfigError(f"--compare {printable(compare)}: {why}") from None
    launch = Command("--compare", "", [opt.but(required=False, default=None)
                                       for opt in EXPLAIN.options if opt.dest in LAUNCH_DESTS],
                     "")
    changed = parse_plain(launch, words)
    if changed is None:
        raise ConfigError(f"--compare {compare!r}: give launch options only, each with its "
                          "value (for example --compare '--vcpu-type EPYC-Milan')")
    given = {dest: value for dest, value in changed.items() if value is not None}
    # standard input is one file: both launches may read it only through the same option
    readers = sorted({f"--{dest.replace('_', '-')}" for source in (values, given)
                      for dest, value in source.items()
                      if value == "-" and dest in LAUNCH_DESTS})
    if len(readers) > 1:
        raise ConfigError(f"standard input ('-') can be read by one input only; "
                          f"{' and '.join(readers)} both name it (with --compare)")
    return {**values, **given}


def run_explain(values: dict) -> None:
    from ..analysis.explain import compare as compare_explanations
    from ..analysis.explain import explain, explain_igvm

    json_lines, wide, compare = values["json_output"], values["wide"], values["compare"]
    every = values["all"]
    if values["igvm"] is not None:
        if values["mode"] is not None or values["ovmf"] is not None or compare is not None:
            raise ConfigError("--igvm excludes --mode, --ovmf and --compare")
        from .values import igvm_options
        _print_explanation(explain_igvm(values["igvm"], igvm_options(values)), json_lines,
                           wide, every)
        return
    if values["mode"] is None or values["ovmf"] is None:
        raise ConfigError("explain needs --mode and --ovmf (or --igvm)")
    first = explain(launch_config(values))
    if compare is None:
        _print_explanation(first, json_lines, wide, every)
        return
    second = explain(launch_config(compare_values(values, compare)))
    divergence = compare_explanations(first, second)
    if json_lines:
        print(json.dumps({
            "first_measurement": first.measurement.hex(),
            "second_measurement": second.measurement.hex(),
            "equal": divergence is None,
            "diverge_at": None if divergence is None else divergence.index,
            "first_update": None if divergence is None or divergence.first is None
            else divergence.first.to_json(),
            "second_update": None if divergence is None or divergence.second is None
            else divergence.second.to_json(),
            "reasons": [] if divergence is None else list(divergence.reasons)}))
        return
    print(f"first:  {first.measurement.hex()}")
    print(f"second: {second.measurement.hex()}")
    if divergence is None:
        print("the two configurations give the same measurement")
    else:
        print(f"they diverge at update {divergence.index}:")
        for reason in divergence.reasons:
            print(f"  {printable(reason)}")


def _print_explanation(first, json_lines: bool, wide: bool, every: bool = False) -> None:
    from ..analysis.explain import runs

    if json_lines:
        for step in first.steps:
            print(json.dumps(step.to_json()))
        return
    width = 96 if wide else 16
    for what, value, rule in first.decisions:
        print(f"{what + ':':<16}{printable(value)}" + (f"  [rule {rule}]" if rule else ""))
    if first.decisions:
        print("(rules: docs/measurement.md, Host stacks)")
    if first.seed is not None and any(first.seed):
        print(f"seed (--snp-ovmf-hash): {first.seed.hex()}")
    print(f"{'index':>11}  {'gpa':>14}  {'type':<13}  {'contents':<{width}}  "
          f"{'digest':<{width}}  source")
    folded = False
    for run in (runs(first.steps) if not every else ()):
        step, last = run.first, run.last
        folded = folded or run.count > 1
        if run.count == 1:
            _print_step(step, width)
            continue
        print(f"{f'{step.index}-{last.index}':>11}  {step.gpa:>#14x}  {step.kind:<13}  "
              f"{f'{run.count} pages':<{width}}  {last.digest.hex()[:width]:<{width}}  "
              f"{printable(run.source)}"
              + ("" if "-0x" in run.source else f" ({step.gpa:#x}-{last.gpa + 0xFFF:#x})"))
    for step in (first.steps if every else ()):
        _print_step(step, width)
    print(f"updates: {len(first.steps)}" + (" (runs of pages folded; --all lists each)"
                                            if folded else ""))
    print(f"measurement: {first.measurement.hex()}")


def _print_step(step, width: int) -> None:
    gpa = "-" if step.gpa is None else f"{step.gpa:#x}"
    source = printable(step.source)
    if step.rules and "[rule" not in source:
        source += f" [rule{'s' if len(step.rules) > 1 else ''} {', '.join(step.rules)}]"
    print(f"{step.index:>11}  {gpa:>14}  {step.kind:<13}  {step.contents.hex()[:width]:<{width}}"
          f"  {step.digest.hex()[:width]:<{width}}  {source}")


def run_find(values: dict) -> None:
    from ..analysis.find import find, guest_feature_candidates
    from ..formats.encoding import parse_measurement
    from ..formats.report import load_report

    measurement, report, mode = values["measurement"], values["report"], values["mode"]
    if (measurement is None) == (report is None):
        raise ConfigError("give either --measurement or --report")
    observed = parse_measurement(measurement) if measurement is not None \
        else load_report(report).measurement
    if mode is not None:  # SNP measurements are SHA-384, SEV and SEV-ES ones SHA-256
        size = 32 if mode.strip().lower() in ("sev", "seves") else 48
        if len(observed) != size:
            where = "--measurement" if measurement is not None \
                else f"{report}: the report's MEASUREMENT"
            raise ConfigError(f"{where} is a {len(observed)}-byte digest; mode {mode} "
                              f"measurements are {size} bytes ("
                              f"{'SHA-256' if size == 32 else 'SHA-384'})")
    max_vcpus = parse_int("--max-vcpus", values["max_vcpus"])
    if not 1 <= max_vcpus <= MAX_VCPUS:
        raise ConfigError(f"--max-vcpus {max_vcpus} is outside 1..{MAX_VCPUS}")
    from .options import FIND_MAX_VCPUS

    if values["vcpus"] and values["max_vcpus"] != FIND_MAX_VCPUS:
        raise ConfigError("give --vcpus (the counts to search) or --max-vcpus (1..N), not both")
    base = _list_config(values, mode or ("snp:svsm" if values["svsm"] else "snp"))
    cpus = cpu_choices({"vcpu_type": values["vcpu_type"], "vcpu_sig": values["vcpu_sig"]})

    def listed(parse, dest: str):
        return parse("--" + dest.replace("_", "-"), values[dest]) if values[dest] else None

    features = listed(int_list, "guest_features")
    named = named_features(values)
    if named:  # --debug-swap / --secure-tsc: every candidate has those bits
        features = list(dict.fromkeys(
            value | named for value in features or guest_feature_candidates(base.host_checks)))
    counts = listed(int_list, "vcpus")
    for count in counts or ():
        if not 1 <= count <= MAX_VCPUS:
            raise ConfigError(f"--vcpus {count} is outside 1..{MAX_VCPUS}")
    with Progress("find: configurations searched") as progress:
        result = find(
            base, observed, modes=[mode] if mode else None, max_vcpus=max_vcpus,
            vcpu_counts=counts, vmm_types=listed(vmm_type_list, "vmm_type"),
            cpu_types=[name for name, _ in cpus if name] or None,
            vcpu_sigs=[sig for _, sig in cpus if sig is not None],
            guest_features=features, legacy=listed(bool_list, "legacy_vm_type"),
            progress=progress.count)
    if values["json_output"]:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for match in result.matches:
            print(match.describe())
    refused = ", ".join(f"{count} by '{rule}'" for rule, count in result.refused)
    if refused:
        warnings.warn(f"configurations the host stack refuses were not searched ({refused}); "
                      "--no-host-checks searches them")
    if not result.matches:
        raise VerificationError(
            f"none of the {result.searched} configurations searched gives "
            f"{observed.hex()}; the firmware, kernel, initrd or command line must differ (check "
            "them with 'snpmeasure inspect' and the manifest's input hashes), or the "
            "configuration is outside the search: a '-cpu host' guest on a part not in "
            "docs/measurement.md needs its signature (--vcpu-sig 0x...), more vCPUs need "
            "--max-vcpus, an older QEMU --qemu-version, a patched host --no-host-checks")


def run_inspect(values: dict) -> None:
    from ..analysis import inspect
    from ..formats.igvm import is_igvm

    path, json_output = values["firmware"], values["json_output"]
    if is_igvm(path):
        info = inspect.inspect_igvm(path)
        print(json.dumps(info, indent=2) if json_output else inspect.describe_igvm(info))
        return
    from ..formats.firmware import load_firmware

    info = inspect.inspect_firmware(load_firmware(path))
    print(json.dumps(info, indent=2) if json_output else inspect.describe(info))
