"""What the command line prints besides results: one-line errors and warnings, the version."""
from __future__ import annotations

import sys

from ..text import printable

PROG = "snpmeasure"


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: one line on stderr."""
    one_line = printable(" ".join(str(message).split()))
    sys.stderr.write(f"{PROG}: warning: {one_line}\n")


def error(message: str) -> None:
    """Print ``snpmeasure: error: ...`` on stderr, on one line, with any control character
    from an input shown escaped (``text.printable``)."""
    one_line = printable(" ".join(str(message).split()))
    sys.stderr.write(f"{PROG}: error: {one_line}\n")


def print_version() -> None:
    from .. import __version__
    print(f"{PROG} {__version__}")
