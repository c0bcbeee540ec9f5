"""Entry point. Valid ``measure`` and ``--version`` invocations take a fast path that needs
neither typer nor construct (start-up time matters in build pipelines); everything else — help,
other commands, and any argument the fast path does not recognise — goes through the typer CLI,
which owns every usage message.

Errors the library foresees print one line, ``snpmeasure: error: ...``, with the exit code of
their class (README, "Exit codes"); anything else is a bug: exit 1, traceback only with --debug.
"""
from __future__ import annotations

import os
import sys
import warnings

PROG = "snpmeasure"
EXIT_INTERNAL = 1

# measure's options, as the typer command declares them (a test compares the two).
MEASURE_VALUE_OPTIONS = {
    "--mode": "mode", "--vcpus": "vcpus", "--vcpu-type": "vcpu_type", "--vcpu-sig": "vcpu_sig",
    "--vcpu-family": "vcpu_family", "--vcpu-model": "vcpu_model",
    "--vcpu-stepping": "vcpu_stepping", "--vmm-type": "vmm_type", "--ovmf": "ovmf",
    "--kernel": "kernel", "--initrd": "initrd", "--append": "append",
    "--guest-features": "guest_features", "--output-format": "output_format",
    "--snp-ovmf-hash": "snp_ovmf_hash", "--vmsa-dir": "vmsa_dir", "--svsm": "svsm",
    "--vars-size": "vars_size", "--vars-file": "vars_file",
}
MEASURE_FLAG_OPTIONS = {
    "--dump-vmsa": ("dump_vmsa", True), "-v": ("verbose", True), "--verbose": ("verbose", True),
    "--force": ("force", True),
    "--legacy-vm-type": ("legacy_vm_type", True), "--no-legacy-vm-type": ("legacy_vm_type", False),
}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def error(message: str) -> None:
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")


def _version() -> int:
    from . import __version__
    print(f"{PROG} {__version__}")
    return 0


def parse_fast_measure(args: list[str]) -> dict | None:
    """The measure parameters of a plain, valid command line, or None to let typer parse it."""
    params: dict = {}
    index = 0
    while index < len(args):
        token = args[index]
        name, value = token, None
        if token.startswith("--") and "=" in token:
            name, value = token.split("=", 1)
        if name in MEASURE_VALUE_OPTIONS:
            if value is None:
                if index + 1 >= len(args):
                    return None
                index += 1
                value = args[index]
            params[MEASURE_VALUE_OPTIONS[name]] = value
        elif name in MEASURE_FLAG_OPTIONS and value is None:
            key, flag_value = MEASURE_FLAG_OPTIONS[name]
            params[key] = flag_value
        else:
            return None  # --help, --version, unknown options, positional arguments, "--"
        index += 1
    if "mode" not in params or "ovmf" not in params:
        return None
    if "vcpus" in params:
        try:
            params["vcpus"] = int(params["vcpus"])
        except ValueError:
            return None
    return params


def _dispatch(args: list[str]) -> int:
    rest = list(args)
    while rest and rest[0] == "--debug":
        rest = rest[1:]
    if rest == ["--version"] or rest == ["measure", "--version"]:
        return _version()
    if rest and rest[0] == "measure":
        params = parse_fast_measure(rest[1:])
        if params is not None:
            from .commands import run_measure
            run_measure(**params)
            sys.stdout.flush()
            return 0
    from .cli import run_typer
    return run_typer(args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from .errors import SnpMeasureError

    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args or bool(os.environ.get("SNPMEASURE_DEBUG"))
    warnings.showwarning = _show_warning
    try:
        return _dispatch(args)
    except SnpMeasureError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: say so in one line, traceback only with --debug
        if debug:
            import traceback
            traceback.print_exc()
        else:
            error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for a "
                  "traceback and please report it")
        return EXIT_INTERNAL


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
