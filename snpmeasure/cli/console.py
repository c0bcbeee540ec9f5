"""What the command line prints besides results: one-line errors and warnings, the version."""
from __future__ import annotations

import sys

PROG = "snpmeasure"


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: one line on stderr."""
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def error(message: str) -> None:
    """Print ``snpmeasure: error: ...`` on stderr, on one line."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")


def print_version() -> None:
    from .. import __version__
    print(f"{PROG} {__version__}")
