"""What the command line prints besides results: one-line errors and warnings, progress on a
terminal, the version."""
from __future__ import annotations

import sys
import time

from ..text import printable

PROG = "snpmeasure"


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: one line on stderr."""
    one_line = printable(" ".join(str(message).split()))
    Progress.clear_active()
    sys.stderr.write(f"{PROG}: warning: {one_line}\n")


def error(message: str) -> None:
    """Print ``snpmeasure: error: ...`` on stderr, on one line, with any control character
    from an input shown escaped (``text.printable``)."""
    one_line = printable(" ".join(str(message).split()))
    Progress.clear_active()
    sys.stderr.write(f"{PROG}: error: {one_line}\n")


class Progress:
    """A status line on stderr for a long run (find, manifest, kds fetch), redrawn at most every
    ``interval`` seconds and erased when the run ends or a warning or error is printed. Only when
    stderr is a terminal: a pipe, a file or a CI log gets nothing, so stderr stays the warnings and
    the error. Use as a context manager; ``count`` and ``status`` are the callbacks the library
    takes."""

    _active: "Progress | None" = None
    CLEAR = "\r\x1b[K"  # to the start of the line, erase it

    def __init__(self, label: str, stream=None, interval: float = 0.25) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.enabled = self.stream.isatty()
        except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
            self.enabled = False
        self.interval = interval
        self._last = float("-inf")
        self._shown = False

    def __enter__(self) -> "Progress":
        Progress._active = self if self.enabled else None
        return self

    def __exit__(self, *exc) -> None:
        self.clear()
        Progress._active = None

    def count(self, done: int, total: int) -> None:
        """``done`` of ``total`` configurations measured."""
        if self.enabled and (done == total or self._due()):
            share = f" ({100 * done // total}%)" if total else ""
            self._draw(f"{done:,}/{total:,}{share}")

    def status(self, text: str) -> None:
        """What the run is doing now (drawn at once: these are rare and slow)."""
        if self.enabled:
            self._draw(printable(text))

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def _draw(self, text: str) -> None:
        self.stream.write(f"{self.CLEAR}{PROG}: {self.label}: {text}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write(self.CLEAR)
            self.stream.flush()
            self._shown = False

    @classmethod
    def clear_active(cls) -> None:
        if cls._active is not None:
            cls._active.clear()


def print_version() -> None:
    from .. import __version__
    print(f"{PROG} {__version__}")
