"""Files: bounded reading of inputs and safe writing of outputs.

Inputs are size-checked before they are read and devices are refused (``/dev/zero`` would never
end). Outputs go to a temporary file in the target directory and are renamed into place, so a
reader sees the old file or the whole new one. Several files of one command are all written first
and renamed only when every one of them was written. An existing file is not replaced unless
``force`` is given, and a target that is a symbolic link is always refused.
"""
from __future__ import annotations

import hashlib
import os
import stat

from .errors import FormatError, InputError, OutputError, input_error
from .limits import MAX_SMALL_FILE

CHUNK_SIZE = 1 << 20


def check_not_device(path: object, handle) -> None:
    """Refuse devices (/dev/zero would never end); regular files and FIFOs are read."""
    mode = os.fstat(handle.fileno()).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise InputError(path, "is a device, not a file")


def read_file(path: str | os.PathLike, limit: int = MAX_SMALL_FILE,
              what: str = "file") -> bytes:
    """Read a whole input file of at most ``limit`` bytes (checked before reading), turning OS
    errors into :class:`InputError`."""
    try:
        with open(path, "rb") as handle:
            check_not_device(path, handle)
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise FormatError(path, "size", f"{size} bytes is over the {limit}-byte limit "
                                  f"for a {what}")
            data = handle.read(limit + 1)
            if len(data) > limit:  # a file that grew, or a FIFO
                raise FormatError(path, "size", f"more than the {limit}-byte limit for a {what}")
            return data
    except OSError as exc:
        raise input_error(path, exc) from None


def sha256_file(path: str | os.PathLike) -> bytes:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            check_not_device(path, handle)
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
    except OSError as exc:
        raise input_error(path, exc) from None
    return digest.digest()


def _check_target(path: str, force: bool) -> None:
    if os.path.islink(path):
        raise OutputError(path, "is a symbolic link; refusing to write through it")
    if os.path.isdir(path):
        raise OutputError(path, "is a directory")
    if os.path.lexists(path) and not force:
        raise OutputError(path, "exists; give --force to replace it")


def write_outputs(items: list[tuple[str | os.PathLike, bytes]], force: bool = False) -> None:
    """Write every ``(path, data)``: all or nothing, atomically, without following links."""
    import tempfile

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


BATCH_MARKER = "index.json"  # a directory write_directory made holds this file


def check_directory_target(path: str | os.PathLike, force: bool = False) -> None:
    """Fail early unless :func:`write_directory` may create or replace ``path``."""
    path = os.fspath(path)
    if os.path.islink(path):
        raise OutputError(path, "is a symbolic link; refusing to write through it")
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise OutputError(path, "exists and is not a directory")
    if not force:
        raise OutputError(path, "exists; give --force to replace it")
    if not os.path.isfile(os.path.join(path, BATCH_MARKER)):
        raise OutputError(path, f"exists and holds no {BATCH_MARKER}: --force replaces only a "
                          "directory an earlier run wrote")


def write_directory(path: str | os.PathLike, files: list[tuple[str, bytes]],
                    force: bool = False) -> None:
    """Write ``files`` (plain names) as the directory ``path``, all or nothing: they are written
    into a new directory beside it, which is then renamed into place (with ``force`` an earlier
    run's directory is swapped out and removed)."""
    import shutil
    import tempfile

    path = os.fspath(path).rstrip(os.sep) or os.sep
    check_directory_target(path, force)
    parent = os.path.dirname(path) or "."
    try:
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=parent)
    except OSError as exc:
        raise OutputError(parent, f"cannot write here: {exc.strerror or exc}") from None
    old = None
    try:
        for name, data in files:
            if os.sep in name or name in ("", ".", ".."):
                raise ValueError(f"not a plain file name: {name!r}")
            target = os.path.join(staging, name)
            try:
                with open(target, "xb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise OutputError(target, f"cannot write: {exc.strerror or exc}") from None
        os.chmod(staging, 0o755)
        check_directory_target(path, force)  # nothing appeared meanwhile
        if os.path.lexists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".old",
                                   dir=parent)
            os.rename(path, os.path.join(old, "previous"))
        os.rename(staging, path)
        staging = None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
