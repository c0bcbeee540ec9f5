"""``snpmeasure completion SHELL``: the completion script of a shell.

The script asks ``snpmeasure`` itself for completions (typer's protocol: the environment
variable ``_SNPMEASURE_COMPLETE``), so it completes every command and option of the installed
version; nothing is written to the user's files.
"""
from __future__ import annotations

import sys

from ..errors import ConfigError

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_SNPMEASURE_COMPLETE"


def enable() -> None:
    """Register typer's completion classes (what ``add_completion=True`` would do), so a
    completion request in ``COMPLETE_VAR`` is answered."""
    try:
        from typer.completion import completion_init
    except ImportError:  # a typer without completion support: requests get no answer
        return
    completion_init()


def run_completion(values: dict) -> None:
    from .console import PROG

    shell = str(values["shell"])
    if shell not in SHELLS:
        raise ConfigError(f"shell {shell!r} is not one of {', '.join(SHELLS)}")
    try:
        from typer.completion import get_completion_script
    except ImportError:
        raise ConfigError("the installed typer has no shell completion support") from None
    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    sys.stdout.write(script + "\n")
