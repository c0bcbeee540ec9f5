"""Writing output files: always through a temporary file in the target directory, then renamed."""
from __future__ import annotations

import os
import tempfile

from .errors import OutputError


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    if os.path.islink(target):
        raise OutputError(target, "is a symbolic link; refusing to write through it")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                   dir=directory)
    except OSError as exc:
        raise OutputError(directory, f"cannot write here: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(target, f"cannot write: {exc.strerror or exc}") from None
        raise
