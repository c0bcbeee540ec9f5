"""``snpmeasure measure``: print the launch measurement (and write the VMSAs when asked).

Runs from typer and from the fast start-up path alike (``cli.main``); imports no typer.
"""
from __future__ import annotations

import os
import warnings

from ..errors import ConfigError
from .values import launch_config


def run_measure(values: dict) -> None:
    output_format = values["output_format"]
    if output_format not in ("hex", "base64"):
        raise ConfigError(f"--output-format {output_format!r} is not hex or base64")
    config = launch_config(values)
    vmsa_dir = values["vmsa_dir"]
    dump_dir = vmsa_dir if vmsa_dir is not None else ("." if values["dump_vmsa"] else None)
    if dump_dir is not None and not config.mode.has_vmsa:
        flag = "--vmsa-dir" if vmsa_dir is not None else "--dump-vmsa"
        if config.mode.value == "snp:ovmf-hash":  # the peer accepts it there (and writes none)
            warnings.warn(f"{flag} is ignored in mode snp:ovmf-hash (no VMSAs are measured)")
            dump_dir = None
        else:
            raise ConfigError(f"{flag} is not available in mode {config.mode.value} "
                              "(no VMSAs are measured)")
    created = False
    if dump_dir is not None and not dump_dir.strip():
        raise ConfigError("--vmsa-dir is empty")
    if dump_dir is not None and os.path.lexists(dump_dir) and not os.path.isdir(dump_dir):
        raise ConfigError(f"--vmsa-dir {dump_dir!r} is not a directory")
    force = values["force"]
    if dump_dir is not None and os.path.isdir(dump_dir):  # a new directory holds nothing
        from ..files import check_outputs
        check_outputs([os.path.join(dump_dir, f"vmsa{i}.bin") for i in range(config.vcpus or 0)],
                      force)

    from ..engine.measure import measure

    result = measure(config)
    if dump_dir is not None:
        from ..errors import OutputError
        from ..files import write_outputs
        if not os.path.isdir(dump_dir):  # --vmsa-dir out/ makes out/ (as mkdir -p would)
            try:
                os.makedirs(dump_dir)
            except OSError as exc:
                raise OutputError(dump_dir, f"cannot create: {exc.strerror or exc}") from None
            created = True
        try:
            write_outputs([(os.path.join(dump_dir, f"vmsa{index}.bin"), page)
                           for index, page in enumerate(result.vmsas)], force)
        except BaseException:
            if created:
                try:
                    os.rmdir(dump_dir)  # nothing was left in it
                except OSError:
                    pass
            raise
    if config.mode.value == "snp:ovmf-hash":
        # sev-snp-measure prints this seed for --snp-ovmf-hash in hex, whatever the format flags.
        print(result.hex)
    elif values["verbose"]:
        print(f"Calculated {config.mode.label} guest measurement: "
              f"{result.format(output_format)}")
    else:
        print(result.format(output_format))
