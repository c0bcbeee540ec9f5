"""Option values (strings, as given on the command line) turned into typed values: integers,
lists and ranges (``1-64``, ``0x1,0x21``), and the launch configuration of a command.

The one place where option text is converted, whichever parser (typer or ``spec.parse_plain``)
read the command line.
"""
from __future__ import annotations

import os
import warnings

from ..errors import ConfigError, HostRuleError, input_error
from ..launch.config import MeasurementConfig, Mode
from ..launch.cpu import CPU_TYPES, canonical_cpu_type, cpu_signature
from ..launch.profiles import VMM_TYPES, profile_named
from ..limits import MAX_LIST_VALUES


def parse_int(flag: str, text: str | None) -> int | None:
    """An integer flag value written in ASCII in any base Python accepts (0x21, 33, 0b100001);
    a decimal with leading zeros is decimal, as sev-snp-measure reads it. None stays None."""
    if text is None:
        return None
    if not text.isascii() or "_" in text:
        raise ConfigError(f"{flag} {text!r} is not an integer")
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text, 10)
        except ValueError:
            raise ConfigError(f"{flag} {text!r} is not an integer") from None


def cpu_type_choices() -> tuple[str, ...]:
    """What a CPU-type list completes to: every model, and ``all``."""
    from ..launch.cpu import CPU_TYPES

    return CPU_TYPES + ("all",)


def vmm_type_choices() -> tuple[str, ...]:
    """What a VMM-type list completes to: every VMM type, and ``all``."""
    from ..launch.profiles import VMM_TYPES

    return VMM_TYPES + ("all",)


def bounded_int(flag: str, text: str | None, low: int, high: int) -> int | None:
    """``parse_int`` of a value that must lie in ``low..high`` (None stays None)."""
    value = parse_int(flag, text)
    if value is not None and not low <= value <= high:
        shown = f"{high:#x}" if high > 0xFFFF else str(high)
        raise ConfigError(f"{flag} {text} is outside {low}..{shown}")
    return value


def _items(flag: str, text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ConfigError(f"{flag} {text!r} has an empty item")
    return items


def int_list(flag: str, text: str) -> list[int]:
    """``1-4,8,0x10``: integers and inclusive ranges, in the order given, without repeats.

    Linear in the text: the values already listed are kept as disjoint ranges, so an item costs
    its new values (and a logarithm), never a pass over a range it repeats; more than
    ``MAX_LIST_VALUES`` values are refused before they are made."""
    out: list[int] = []
    starts: list[int] = []  # the values listed so far: sorted, disjoint, non-adjacent ranges
    ends: list[int] = []    # (inclusive ends)
    for item in _items(flag, text):
        if "-" in item.lstrip("-"):
            low_text, high_text = item.split("-", 1)
            low, high = parse_int(flag, low_text), parse_int(flag, high_text)
            if high < low:
                raise ConfigError(f"{flag}: range {item!r} is empty")
            if high - low >= MAX_LIST_VALUES:
                raise ConfigError(f"{flag}: range {item!r} has more than {MAX_LIST_VALUES} values")
        else:
            low = high = parse_int(flag, item)
        new = _new_ranges(starts, ends, low, high)
        if len(out) + sum(end - start + 1 for start, end in new) > MAX_LIST_VALUES:
            raise ConfigError(f"{flag} lists more than {MAX_LIST_VALUES} values (the limit)")
        for start, end in new:
            out.extend(range(start, end + 1))
    return out


def _new_ranges(starts: list[int], ends: list[int], low: int, high: int) -> list[tuple[int, int]]:
    """The parts of ``low..high`` not yet in the ranges ``starts``/``ends`` (ascending), which
    then take ``low..high`` in, merged with the ranges it overlaps or touches."""
    from bisect import bisect_left, bisect_right  # lists only: measure's start-up skips it

    first = bisect_left(ends, low - 1)     # the first range ending at or after low - 1
    last = bisect_right(starts, high + 1)  # past the last range starting at or before high + 1
    gaps = []
    cursor = low
    for index in range(first, last):
        if starts[index] > cursor:
            gaps.append((cursor, min(starts[index] - 1, high)))
        cursor = max(cursor, ends[index] + 1)
    if cursor <= high:
        gaps.append((cursor, high))
    merged_start = min(low, starts[first]) if first < last else low
    merged_end = max(high, ends[last - 1]) if first < last else high
    starts[first:last] = [merged_start]
    ends[first:last] = [merged_end]
    return gaps


def _name_list(flag: str, text: str, every: tuple, canonical) -> list[str]:
    if text.strip().lower() == "all":
        return list(every)
    out = []
    for item in _items(flag, text):
        name = canonical(item)
        if name not in out:
            out.append(name)
    return out


def cpu_type_list(flag: str, text: str) -> list[str]:
    """QEMU CPU model names (any case), or ``all``."""
    return _name_list(flag, text, CPU_TYPES, canonical_cpu_type)


def vmm_type_list(flag: str, text: str) -> list[str]:
    """VMM types (any case), or ``all``."""
    return _name_list(flag, text, VMM_TYPES, lambda name: profile_named(name).name)


_BOOLS = {"on": True, "true": True, "yes": True, "1": True,
          "off": False, "false": False, "no": False, "0": False}


def bool_list(flag: str, text: str) -> list[bool]:
    if text.strip().lower() in ("both", "all"):
        return [False, True]
    out = []
    for item in _items(flag, text):
        if item.lower() not in _BOOLS:
            raise ConfigError(f"{flag}: {item!r} is not on or off")
        if _BOOLS[item.lower()] not in out:
            out.append(_BOOLS[item.lower()])
    return out


def cpu_choices(values: dict) -> list[tuple[str | None, int | None]]:
    """``[(type, None) ...] + [(None, signature) ...]`` from the list forms of the vCPU options
    (``--vcpu-type``, ``--vcpu-sig``, ``--vcpu-family/--vcpu-model/--vcpu-stepping``)."""
    cpus: list = []
    if values.get("vcpu_type") is not None:
        cpus += [(name, None) for name in cpu_type_list("--vcpu-type", values["vcpu_type"])]
    if values.get("vcpu_sig") is not None:
        for sig in int_list("--vcpu-sig", values["vcpu_sig"]):
            if not 0 <= sig < 1 << 32:
                raise ConfigError(f"--vcpu-sig {sig:#x} does not fit in 32 bits")
            cpus.append((None, sig))
    names = ("vcpu_family", "vcpu_model", "vcpu_stepping")
    fms = [values.get(name) for name in names]
    if any(v is not None for v in fms):
        if any(v is None for v in fms):
            raise ConfigError("--vcpu-family, --vcpu-model and --vcpu-stepping go together")
        cpus.append((None, cpu_signature(*(parse_int("--" + name.replace("_", "-"), v)
                                           for name, v in zip(names, fms)))))
    return cpus


def _vars_size(values: dict) -> int | None:
    size, file = values.get("vars_size"), values.get("vars_file")
    if size is not None and file is not None:
        raise ConfigError("--vars-size and --vars-file exclude each other")
    if file is None:
        return parse_int("--vars-size", size)
    try:
        return os.stat(file).st_size
    except OSError as exc:
        raise input_error(file, exc) from None


def named_features(values: dict) -> int:
    """The SEV_FEATURES bits of ``--debug-swap`` and ``--secure-tsc``."""
    from ..launch.hoststack import DEBUG_SWAP, SECURE_TSC

    return (DEBUG_SWAP if values.get("debug_swap") else 0) | \
        (SECURE_TSC if values.get("secure_tsc") else 0)


_INT_FIELDS = ("vcpus", "vcpu_sig", "vcpu_family", "vcpu_model", "vcpu_stepping")
_TEXT_FIELDS = ("ovmf", "vcpu_type", "kernel", "initrd", "append", "snp_ovmf_hash", "svsm")


def launch_config(values: dict, **fixed) -> MeasurementConfig:
    """The :class:`MeasurementConfig` of a command's launch options. ``values`` holds option
    text as given (missing options are None); ``fixed`` gives fields already decided by the
    command (typed values, not parsed), such as the list forms of manifest and find."""
    fields: dict = {}
    mode = Mode.parse(fixed.get("mode", values.get("mode")))
    for name in _INT_FIELDS:
        if name not in fixed:
            fields[name] = parse_int("--" + name.replace("_", "-"), values.get(name))
    for name in _TEXT_FIELDS:
        if name not in fixed:
            fields[name] = values.get(name)
    if "vmm_type" not in fixed:
        vmm_type = values.get("vmm_type")
        fields["vmm_type"] = "QEMU" if vmm_type is None else vmm_type
    if "legacy_vm_type" not in fixed:
        fields["legacy_vm_type"] = values.get("legacy_vm_type")
    if "vars_size" not in fixed:
        fields["vars_size"] = _vars_size(values)
    if "guest_features" not in fixed:
        features = parse_int("--guest-features", values.get("guest_features"))
        named = named_features(values)
        given = [flag for flag, present in (
            ("--guest-features", features is not None), ("--debug-swap", values.get("debug_swap")),
            ("--secure-tsc", values.get("secure_tsc"))) if present]
        if given and mode.value in ("sev", "seves"):
            why = "which measures no VMSA" if mode.value == "sev" else \
                "whose VMSAs carry SEV_FEATURES 0"
            warnings.warn(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply "
                          f"to mode {mode.value}, {why}")
        fields["guest_features"] = (0x1 if features is None else features) | named
    if "qemu_version" not in fixed:
        fields["qemu_version"] = values.get("qemu_version")
    if "host_checks" not in fixed:
        fields["host_checks"] = not values.get("no_host_checks")
    fields.update(fixed)
    fields["mode"] = mode
    hint = decimal_features_hint(values.get("guest_features"))
    try:
        config = MeasurementConfig(**fields)
    except HostRuleError as exc:
        if hint and exc.rule == "sev-features":
            raise HostRuleError(exc.rule, f"{exc} ({hint})") from None
        raise
    if hint:
        warnings.warn(hint)
    warn_inapplicable(values, config, fixed)
    return config


def decimal_features_hint(text: str | None) -> str | None:
    """SEV_FEATURES are bits, written in hex everywhere (0x21): a decimal spelling with more
    than one digit is almost always a missing 0x."""
    text = (text or "").strip()
    if len(text) > 1 and text.isdigit() and not text.startswith("0") and len(text) <= 20:
        return (f"--guest-features {text} is decimal ({int(text):#x}); SEV_FEATURES are bits, "
                f"usually written in hex: did you mean 0x{text}?")
    return None


def warn_inapplicable(values: dict, config: MeasurementConfig, fixed: dict) -> None:
    """Name the given options that cannot enter this launch's measurement, instead of
    ignoring them silently."""
    mode, profile = config.mode, config.profile
    given = [name for name in ("vcpus", "vcpu_type", "vcpu_sig", "vcpu_family", "vcpu_model",
                               "vcpu_stepping") if name not in fixed
             and values.get(name) is not None]
    if mode.value in ("sev", "snp:ovmf-hash") and "vmm_type" not in fixed \
            and not profile.is_qemu:  # (QEMU is the default) VMMs differ in VMSAs and metadata
        given.append("vmm_type")
    if mode.value in ("sev", "snp:ovmf-hash") and given:
        warnings.warn(f"{', '.join('--' + n.replace('_', '-') for n in given)} "
                      f"{'does' if len(given) == 1 else 'do'} not apply to mode {mode.value}, "
                      "which measures no VMSA")
    elif mode.has_vmsa and not profile.needs_vcpu_signature and profile.vmsa_gpa_bits is None:
        cpu = [n for n in given if n != "vcpus"]
        if cpu:
            warnings.warn(f"{', '.join('--' + n.replace('_', '-') for n in cpu)} "
                          f"{'does' if len(cpu) == 1 else 'do'} not enter an {profile.name} "
                          "measurement: its VMSAs carry RDX 0x600 whatever the CPU")


def igvm_options(values: dict):
    """The :class:`IgvmOptions` of the igvm and explain --igvm options."""
    from ..launch.igvm import IgvmOptions

    return IgvmOptions(
        platform=values["platform"], loader=values["loader"],
        native_zero=values["native_zero"], check_kvm=values["check_kvm"],
        vcpus=parse_int("--vcpus", values.get("vcpus")), vcpu_type=values.get("vcpu_type"),
        vcpu_sig=parse_int("--vcpu-sig", values.get("vcpu_sig")),
        qemu_version=values.get("qemu_version"), legacy_vm_type=values.get("legacy_vm_type"),
        host_checks=not values.get("no_host_checks"))


# Options whose value names a file to read ("-": standard input) and options that name outputs
INPUT_METAVARS = frozenset({"FILE", "PATH", "KEY", "CERT", "BUNDLE", "ARK", "FIRMWARE",
                            "TABLE|DIR"})
OUTPUT_DESTS = frozenset({"output", "id_block_out", "id_auth_out", "out_dir", "certs_out",
                          "vmsa_dir"})


def check_stdin_once(command, values: dict) -> None:
    """``-`` is standard input for one input option of a command (a second would read the
    same bytes: a wrong digest), and standard output only for ``-o``, which then writes there as
    if it were not given. Called on every run, whichever parser read the command line."""
    readers = []
    for opt in command.options:
        value = values.get(opt.dest)
        given = value if isinstance(value, list) else [value]
        name = opt.names[0] if opt.names else opt.metavar
        if "-" not in given:
            continue
        if opt.dest in OUTPUT_DESTS:
            if opt.dest != "output":
                raise ConfigError(f"{name} -: only -o writes to standard output; give a path")
            values[opt.dest] = None
        elif opt.metavar in INPUT_METAVARS:
            readers += [name] * given.count("-")
    if len(readers) > 1:
        raise ConfigError(f"standard input ('-') can be read by one input only; "
                          f"{' and '.join(readers)} both name it")
