"""The typer application, built from the declarations in ``cli.options``.

Each :class:`~snpmeasure.cli.spec.Command` becomes a typer command whose parameters are made
from its :class:`~snpmeasure.cli.spec.Opt` list (typer reads the generated signature); the
command function receives every value as given and calls the command's ``run`` function.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .console import PROG, error, print_version
from .options import COMMANDS, DEBUG, GROUPS, VERSION_OPT
from .spec import ARGUMENT, FLAG, MULTI, SWITCH, VALUE, VERSION, Command, Opt

EXIT_USAGE = 2
_APP_SETTINGS = dict(rich_markup_mode=None, no_args_is_help=True)


def _version_callback(value: bool) -> None:
    if value:
        print_version()
        raise typer.Exit()


def _completer(opt: Opt):
    """Shell completion of the option's values; in a comma-separated list (manifest and find
    take lists), of the item being typed."""
    def complete(incomplete: str) -> list[str]:
        head, comma, last = incomplete.rpartition(",")
        prefix = head + comma
        return [prefix + value for value in opt.choices()
                if value.lower().startswith(last.lower())]
    return complete


def _parameter(opt: Opt) -> inspect.Parameter:
    """The typer parameter (default and annotation) declaring ``opt``."""
    common = dict(metavar=opt.metavar, help=opt.help or None, hidden=opt.hidden)
    if opt.kind in (VALUE, MULTI) and (opt.complete is not None or "|" in (opt.metavar or "")):
        common["autocompletion"] = _completer(opt)
    if opt.kind == ARGUMENT:  # shown as <path> in --help; run() passes the text on
        info = typer.Argument(... if opt.required else None, **common)
        kind = str if "|" in (opt.metavar or "") else Path  # a choice, or a file
        annotation = kind if opt.required else Optional[kind]
    elif opt.kind == VALUE:
        info = typer.Option(... if opt.required else opt.default, *opt.names, **common)
        annotation = str if opt.required or opt.default is not None else Optional[str]
    elif opt.kind == MULTI:
        info = typer.Option(None, *opt.names, **common)
        annotation = Optional[List[str]]
    elif opt.kind == FLAG:
        info = typer.Option(False, *opt.names, help=opt.help, hidden=opt.hidden)
        annotation = bool
    elif opt.kind == SWITCH:
        info = typer.Option(None, "/".join(opt.names), help=opt.help, hidden=opt.hidden)
        annotation = Optional[bool]
    elif opt.kind == VERSION:
        info = typer.Option(False, *opt.names, callback=_version_callback, is_eager=True,
                            help=opt.help)
        annotation = bool
    else:
        raise ValueError(f"{opt}: unknown kind {opt.kind!r}")
    return inspect.Parameter(opt.dest, inspect.Parameter.KEYWORD_ONLY, default=info,
                             annotation=annotation)


def _runner(command: Command):
    module_name, function_name = command.run.split(":")

    arguments = [opt.dest for opt in command.options if opt.kind == ARGUMENT]

    def run(**values) -> int | None:
        values.pop("version", None)
        for dest in arguments:
            if values[dest] is not None:
                values[dest] = os.fspath(values[dest])
        from .values import check_stdin_once
        check_stdin_once(command, values)
        module = importlib.import_module(f".{module_name}", __package__)
        return getattr(module, function_name)(values)

    parameters = [_parameter(opt) for opt in command.options]
    run.__signature__ = inspect.Signature(parameters)
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    run.__name__ = command.name.replace("-", "_")
    run.__doc__ = command.help
    return run


def _register(target: typer.Typer, command: Command) -> None:
    target.command(command.name, hidden=command.hidden, help=command.help)(_runner(command))


app = typer.Typer(
    name=PROG,
    help="Expected launch measurements of AMD SEV, SEV-ES and SEV-SNP guests.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    **_APP_SETTINGS,
)


@app.callback()
def _main_options(
    version: bool = _parameter(VERSION_OPT).default,
    debug: bool = _parameter(DEBUG).default,
) -> None:
    """Global options (handled before typer runs: see ``cli.main``)."""


for _command in COMMANDS:
    _register(app, _command)
for _group, (_help, _commands) in GROUPS.items():
    _sub = typer.Typer(help=_help, **_APP_SETTINGS)
    for _command in _commands:
        _register(_sub, _command)
    app.add_typer(_sub, name=_group)


def _usage_errors() -> tuple:
    kinds = []
    try:
        from typer.exceptions import TyperException
        kinds.append(TyperException)
    except ImportError:  # older typer: click's exceptions
        pass
    try:
        import click
        kinds.append(click.ClickException)
    except ImportError:
        pass
    return tuple(kinds)


def _keep_flags_whole() -> None:
    """--help wraps lines between words only: the wrapper click uses (typer's own copy, or
    click's) breaks words at hyphens too, which cut flags such as --vcpu-type in two."""
    import importlib

    for name in ("typer._click._textwrap", "click._textwrap"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        wrapper = getattr(module, "TextWrapper", None)
        if wrapper is None or getattr(wrapper, "snpmeasure_whole_flags", False):
            continue

        class WholeFlags(wrapper):
            snpmeasure_whole_flags = True

            def __init__(self, *args, **kwargs) -> None:
                kwargs.setdefault("break_on_hyphens", False)
                super().__init__(*args, **kwargs)

        module.TextWrapper = WholeFlags


def run_typer(args: List[str]) -> int:
    """Run ``args`` through the typer app, turning usage errors into one line and exit 2."""
    command = typer.main.get_command(app)
    _keep_flags_whole()
    if os.environ.get("_SNPMEASURE_COMPLETE"):  # a completion request from the shell script
        from .completion import enable
        enable()
    try:
        result = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except _usage_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(exc.format_message().rstrip() + "\n")
            return EXIT_USAGE
        error(exc.format_message())
        return getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE
    sys.stdout.flush()
    return result if isinstance(result, int) else 0
