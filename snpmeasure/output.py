"""Writing output files safely.

Every file goes to a temporary file in its target directory and is renamed into place, so a
reader sees the old file or the whole new one. Several files of one command are all written
first and renamed only when every one of them was written. An existing file is not replaced
unless ``force`` is given, and a target that is a symbolic link is always refused.
"""
from __future__ import annotations

import os
import tempfile

from .errors import OutputError


def _check_target(path: str, force: bool) -> None:
    if os.path.islink(path):
        raise OutputError(path, "is a symbolic link; refusing to write through it")
    if os.path.isdir(path):
        raise OutputError(path, "is a directory")
    if os.path.lexists(path) and not force:
        raise OutputError(path, "exists; give --force to replace it")


def write_outputs(items: list[tuple[str | os.PathLike, bytes]], force: bool = False) -> None:
    """Write every ``(path, data)``: all or nothing, atomically, without following links."""
    targets = [(os.fspath(path), data) for path, data in items]
    for path, _ in targets:
        _check_target(path, force)
    written: list[tuple[str, str]] = []
    try:
        for path, data in targets:
            directory = os.path.dirname(path) or "."
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                           dir=directory)
            except OSError as exc:
                raise OutputError(directory, f"cannot write here: {exc.strerror or exc}") \
                    from None
            written.append((tmp, path))
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise OutputError(path, f"cannot write: {exc.strerror or exc}") from None
        for tmp, path in written:
            _check_target(path, force)  # nothing appeared meanwhile
            os.replace(tmp, path)
        written = []
    finally:
        for tmp, _ in written:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def check_outputs(paths, force: bool = False) -> None:
    """Fail early (before any work) if a target cannot be written without ``--force``."""
    for path in paths:
        _check_target(os.fspath(path), force)


def write_atomic(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write one file; see :func:`write_outputs`."""
    write_outputs([(path, data)], force)
