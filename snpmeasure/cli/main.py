"""Entry point. Valid ``measure`` and ``--version`` invocations take a fast path that needs
neither typer nor construct (start-up time matters in build pipelines): ``spec.parse_plain``
reads the same declarations (``cli.options``) typer is built from, and anything it does not
accept goes through the typer CLI, which owns every usage message.

Errors the library foresees print one line, ``snpmeasure: error: ...``, with the exit code of
their class (README, "Exit codes"); anything else is a bug: exit 1, traceback only with --debug.
"""
from __future__ import annotations

import os
import sys
import warnings

from .console import error, print_version, show_warning

EXIT_INTERNAL = 1


def _dispatch(args: list[str], fast: bool = True) -> int:
    rest = list(args)
    while rest and rest[0] == "--debug":
        rest = rest[1:]
    if rest == ["--version"] or rest == ["measure", "--version"]:
        print_version()
        return 0
    if fast and rest and rest[0] == "measure":
        from .options import MEASURE
        from .spec import parse_plain

        values = parse_plain(MEASURE, rest[1:])
        if values is not None:
            from .measure import run_measure
            from .values import check_stdin_once
            check_stdin_once(MEASURE, values)
            run_measure(values)
            sys.stdout.flush()
            return 0
    from .app import run_typer
    return run_typer(args)


def main(argv: list[str] | None = None, *, fast: bool = True) -> int:
    """Run the command line; returns the exit code. ``fast=False`` sends every command line
    through typer (tests compare the two paths)."""
    from ..files import Interrupted, output_guard, reset_inputs, take_stdout_failure

    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args or bool(os.environ.get("SNPMEASURE_DEBUG"))
    with warnings.catch_warnings():
        # a fresh filter each run: every distinct warning is shown once per command line
        # (changing the filters resets the once-per-location registry of earlier runs)
        warnings.simplefilter("default")
        warnings.showwarning = show_warning
        try:
            # SIGINT/SIGTERM/SIGHUP raise Interrupted (writers remove what they staged), and a
            # closed or broken stdout is an OutputError, for the duration of the run
            take_stdout_failure()  # an earlier run's is not this one's
            with output_guard():
                code = _run(args, fast, debug)
            failure = take_stdout_failure()
            if failure is not None and code == 0:  # written, but lost: swallowed on the way
                error(str(failure))
                return failure.exit_code
            return code
        except Interrupted as exc:
            error(str(exc))
            return exc.exit_code  # 128 + the signal number
        finally:
            reset_inputs()  # spooled standard input and pipes are this run's, deleted with it


def _run(args: list[str], fast: bool, debug: bool) -> int:
    from ..errors import SnpMeasureError

    try:
        return _dispatch(args, fast)
    except SnpMeasureError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return 130
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
