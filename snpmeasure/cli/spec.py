"""Command-line options, declared once as data.

Every option of every command is an :class:`Opt`; a command is a :class:`Command` naming its
options and the function that runs it. Two readers use the same declarations:

* ``cli.app`` turns them into typer commands (help, usage errors, completion);
* :func:`parse_plain` parses a plain command line without importing typer or click, so that
  ``measure`` starts fast. It accepts only what click would parse to the same values (long
  options with a value as the next word or after ``=``, the declared flags and short flags) and
  returns None for anything else, which then goes through typer.

Values reach the command functions as strings, exactly as given: conversion and checking happen
in one place (``cli.values``), whichever reader parsed them. This module imports nothing when it loads.
"""
from __future__ import annotations

VALUE = "value"        # --name VALUE (a string)
MULTI = "multi"        # --name VALUE, repeatable: a list of strings (None if never given)
FLAG = "flag"          # --name: True when given, else False
SWITCH = "switch"      # --name/--no-name: True, False, or None when neither is given
ARGUMENT = "argument"  # a positional argument (a string)
VERSION = "version"    # --version: print the version and exit (eager)


class Opt:
    """One option or argument: its destination name, spellings, kind, default and help."""

    __slots__ = ("dest", "names", "kind", "default", "metavar", "help", "required", "hidden",
                 "complete")

    def __init__(self, dest: str, *names: str, kind: str = VALUE, default=None,
                 metavar: str | None = None, help: str = "", required: bool = False,
                 hidden: bool = False, complete: str | tuple | None = None) -> None:
        self.dest = dest
        self.names = names
        self.kind = kind
        self.default = False if kind == FLAG and default is None else default
        self.metavar = metavar
        self.help = help
        self.required = required
        self.hidden = hidden
        # The values a shell completes: a tuple, or "module:name" of a tuple (or a function
        # returning one) in snpmeasure, read only when completing; None takes a metavar
        # spelled "a|b|c".
        self.complete = complete

    def choices(self) -> tuple[str, ...]:
        """The values a shell completes for this option (empty: none are known)."""
        if isinstance(self.complete, tuple):
            return self.complete
        if isinstance(self.complete, str):
            import importlib

            module, _, name = self.complete.partition(":")
            found = getattr(importlib.import_module(module, "snpmeasure"), name)
            return tuple(found() if callable(found) else found)
        metavar = self.metavar or ""
        parts = metavar.split("|")
        if len(parts) > 1 and all(part and part.replace("-", "").replace(":", "").isalnum()
                                  for part in parts):
            return tuple(parts)
        return ()

    def but(self, **changes) -> "Opt":
        """The same option with some attributes changed (another help text, not required)."""
        names = changes.pop("names", self.names)
        values = {name: getattr(self, name)
                  for name in ("kind", "default", "metavar", "help", "required", "hidden",
                               "complete")}
        values.update(changes)
        return Opt(self.dest, *names, **values)

    @property
    def negative(self) -> str | None:
        """The ``--no-...`` spelling of a switch."""
        return self.names[1] if self.kind == SWITCH else None

    def __repr__(self) -> str:
        return f"Opt({self.dest!r}, {', '.join(self.names)})"


class Command:
    """A command: its name, help, options in the order ``--help`` lists them, and the function
    that runs it (``"module:function"`` inside ``snpmeasure.cli``, imported when it runs)."""

    __slots__ = ("name", "help", "options", "run", "hidden", "epilog")

    def __init__(self, name: str, help: str, options, run: str, hidden: bool = False,
                 epilog: str | None = None) -> None:
        self.name = name
        self.help = help
        self.options = tuple(options)
        self.run = run
        self.hidden = hidden
        self.epilog = epilog
        dests = [opt.dest for opt in self.options]
        if len(set(dests)) != len(dests):
            raise ValueError(f"{name}: an option is declared twice")

    def defaults(self) -> dict:
        return {opt.dest: opt.default for opt in self.options if opt.kind != VERSION}


def parse_plain(command: Command, args: list[str]) -> dict | None:
    """The option values of a plain command line for ``command``, or None to let typer parse
    it (help, version, unknown or misspelt options, positional words, ``--``, missing values or
    missing required options: typer owns every usage message)."""
    by_name: dict[str, Opt] = {}
    for opt in command.options:
        if opt.kind in (ARGUMENT, VERSION, MULTI):
            if opt.kind == ARGUMENT:
                return None  # commands with positional arguments always go through typer
            continue
        for name in opt.names:
            by_name[name] = opt
    values = command.defaults()
    given: set[str] = set()
    index = 0
    while index < len(args):
        token = args[index]
        name, value = token, None
        if token.startswith("--") and "=" in token:
            name, value = token.split("=", 1)
        opt = by_name.get(name)
        if opt is None:
            return None
        if opt.kind == VALUE:
            if value is None:
                if index + 1 >= len(args):
                    return None
                index += 1
                value = args[index]
            values[opt.dest] = value
        elif value is not None:
            return None  # a flag given a value: click's usage error
        elif opt.kind == FLAG:
            values[opt.dest] = True
        else:  # SWITCH
            values[opt.dest] = name != opt.negative
        given.add(opt.dest)
        index += 1
    if any(opt.required and opt.dest not in given for opt in command.options):
        return None
    return values
