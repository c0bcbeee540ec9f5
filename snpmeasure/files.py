"""Files: bounded reading of inputs and safe writing of outputs.

Reading
-------
Inputs are size-checked before they are read and devices are refused (``/dev/zero`` would never
end). ``-`` is standard input: on first use it is copied, up to ``MAX_STDIN`` bytes, into an
unnamed temporary file, which every later reader of ``-`` in the run reads from the start
(:func:`open_input`), so ``-`` behaves as a regular file wherever a file is read (one option per
command may name it: ``cli.values.check_stdin_once``). A FIFO or pipe given by name (``mkfifo``,
the shell's ``<(...)``) is copied the same way on first use, since it can be read only once.

Writing: what is guaranteed
---------------------------
Every output goes through :func:`write_outputs` (one file or a set of files), :func:`write_atomic`
(one file) or :func:`write_directory` (a new directory of files).

1. **Checked before any work.** :func:`check_outputs` and :func:`check_directory_target` refuse,
   before anything is computed or written:

   - two outputs naming the same file (``os.path.realpath`` of the directory plus the name, or
     the same device and inode if it exists) with a :class:`~snpmeasure.errors.ConfigError`
     (exit 2): the command line contradicts itself, as with two options given the same value,
     whatever is on disk (``report get`` already says so for ``-o``/``--certs-out``);
   - an existing target without ``force``;
   - even with ``force``, anything but a regular file: a symbolic link (never written through
     nor replaced), a directory, a character or block device, a FIFO, a socket.

   Each refusal but the first is an :class:`~snpmeasure.errors.OutputError` (exit 7) naming the
   path and what it is. The writers check again just before each file is put in place.
2. **No file is ever seen half-written.** Each file is first written in full to a temporary file
   ``.NAME.RANDOM.tmp`` in its target directory (created exclusively, never through a link) and
   synced (``fsync``).
3. **"Does not exist" holds at the moment of creation.** Without ``force`` the file is put in
   place with ``os.link(temporary, target)``, which fails if the target exists, whoever created
   it and whenever: of two runs creating one file at once exactly one wins, the other fails
   (exit 7) and the winner's file is untouched. With ``force`` an existing regular file is
   replaced with ``os.replace`` (a rename: it never writes into nor follows what it replaces;
   the check that it is a regular file and the rename are two steps, so a process racing to put
   something else there in between has that entry replaced, never written to). On a file system
   without hard links (FAT, some network file systems) the target is instead created with
   ``O_CREAT|O_EXCL`` and written in place: still exclusive, but a reader may see it grow while
   it is written (it is removed if the write fails).
4. **A set of files appears whole, or is taken back.** Several files in an existing directory
   (the VMSAs of ``measure --vmsa-dir DIR``/``--dump-vmsa``, an ID block and its ID_AUTH) cannot
   be renamed into place in one step. So every file of the set is staged first (2: nothing is
   visible yet); then, holding an advisory lock (``flock``) on each target directory, which makes
   snpmeasure runs writing into one directory take turns, they are put in place one after the
   other (3), in the order of their normalised paths, so concurrent runs contend for the same
   first file. The set is committed when its last file is in place. If anything fails, or a
   signal arrives, before that, every file this run put in place is removed again (if it is
   still the file this run wrote) and every file it replaced (``force``) is put back from the
   hard link taken just before replacing it. What remains visible: a program listing the
   directory during those few renames may see part of the new set (never a half-written file);
   once the command has failed, the directory holds what it held before. Two runs without
   ``force`` writing the same set: exactly one set is written, the other run fails (exit 7).
   Two runs with ``force``: one set replaces the other, whole (where the directory can be
   locked; without the lock, on some network file systems, they may interleave). Without hard
   links no backup can be taken, and a replaced file is removed rather than left beside files of
   the older set.
5. **A new directory appears at once.** :func:`write_directory` writes every file into a staging
   directory ``.DIR.RANDOM.tmp`` beside the target. Then, holding the lock on the parent, it
   claims the name with ``os.mkdir`` (exclusive: of two concurrent runs exactly one gets it, the
   other fails with exit 7, and a directory someone else made meanwhile, even empty, is never
   replaced) and renames the staging directory onto its own empty placeholder, so that every file
   appears at once (the name itself exists, empty, between the two steps). With ``force`` an
   earlier run's directory (flat, regular files only, its :data:`BATCH_MARKER` an index this tool
   wrote: :func:`_not_a_batch`) is first moved aside, and put back
   if the new one cannot be put in place; for that moment the name does not exist.
6. **Signals clean up.** Inside :class:`output_guard` (the command line runs every command in
   one), SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread; the writers
   unwind through the rollback of 4 and 5, removing their temporary files, staging directories
   and backups and taking back what they put in place; the command then exits with 128 + the
   signal number (SIGHUP 129, SIGINT 130, SIGTERM 143) and one line on stderr. The short steps
   that create a file or directory and record it (and the rollback itself) hold a signal back
   until they end, so the cleanup always knows what is on disk. A signal that arrives after the
   commit leaves the complete outputs (the command still exits 128 + n). SIGKILL, a crash or a
   power cut can leave ``.NAME.RANDOM.tmp``/``.old`` files or a ``.DIR.RANDOM.tmp`` directory
   behind, never a half-written or mixed target.
7. **Modes follow the umask.** Files are created with mode 0666 and directories with 0777, less
   the umask (0644 and 0755 under umask 022), as ``open()`` and ``mkdir`` would; a replaced file
   gets the new mode, not the old file's. None of snpmeasure's outputs is secret: VMSAs, ID
   blocks and ID_AUTH structures (handed to QEMU on its command line, and signatures and public
   keys only), manifests, CoRIM and RVPS documents, attestation reports, certificates and CRLs
   are all public. ``private=True`` (0600 and 0700 whatever the umask) is for an output that
   would hold a secret; none does today.
8. **Failures are one error.** A full disk (ENOSPC), an I/O error or a refused permission is a
   :class:`WriteError`: an OutputError (exit 7, one line) that is also the ``OSError`` it comes
   from. Inside :class:`output_guard`, a closed, broken (EPIPE) or full standard output is an
   OutputError too (exit 7, one line), never a traceback.
"""
from __future__ import annotations

import _thread
import errno
import hashlib
import os
import stat
import sys

from .errors import ConfigError, FormatError, InputError, OutputError, input_error
from .limits import MAX_BATCH_FILES, MAX_SMALL_FILE, MAX_STDIN

CHUNK_SIZE = 1 << 20


def check_not_device(path: object, handle) -> None:
    """Refuse devices (/dev/zero would never end); regular files and FIFOs are read."""
    mode = os.fstat(handle.fileno()).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise InputError(path, "is a device, not a file")


class _Spools:
    """Inputs that cannot be read twice, copied on first use to unnamed temporary files: ``-``
    (standard input) and FIFOs or pipes (``<(...)``, ``mkfifo``), keyed by the name given.
    Deleted by :func:`reset_inputs` at the end of each command-line run."""

    files: dict = {}


def _spool(stream, name: str):
    """Copy ``stream`` (up to ``MAX_STDIN`` bytes) to a new unnamed temporary file."""
    import tempfile

    try:
        spool = tempfile.TemporaryFile(prefix="snpmeasure-input-")
    except OSError as exc:
        raise InputError(name, f"cannot copy it to a temporary file "
                               f"({os.strerror(exc.errno) if exc.errno else exc})") from None
    try:
        total = 0
        while chunk := stream.read(CHUNK_SIZE):
            total += len(chunk)
            if total > MAX_STDIN:
                raise FormatError(name, "size", f"more than the {MAX_STDIN}-byte limit for "
                                  + ("standard input" if name == "-" else "a pipe"))
            spool.write(chunk)
        spool.flush()
    except OSError as exc:
        spool.close()
        raise input_error(name, exc) from None
    except BaseException:
        spool.close()
        raise
    return spool


def _spooled(key: str, stream=None):
    """A new handle, at the start, on the spool of ``key``; made from ``stream`` if given
    (the first use of that input in this run)."""
    if stream is not None:
        _Spools.files[key] = _spool(stream, key)
    handle = os.fdopen(os.dup(_Spools.files[key].fileno()), "rb")
    handle.seek(0)
    return handle


def _stdin():
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("-", "standard input is not available")
    return stream


def reset_inputs() -> None:
    """Forget (and delete) the spooled inputs: the next run reads ``-`` and pipes afresh."""
    spools, _Spools.files = _Spools.files, {}
    for spool in spools.values():
        spool.close()


def open_input(path: str | os.PathLike):
    """An input opened for binary reading at its start: ``-`` is standard input, and a FIFO or
    pipe is read once and kept (both spooled, see the module's "Reading"); devices are refused;
    OS errors become :class:`InputError`."""
    key = os.fspath(path)
    if key in _Spools.files:  # standard input or a pipe already read in this run
        return _spooled(key)
    if key == "-":
        return _spooled(key, _stdin())
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise input_error(path, exc) from None
    try:
        check_not_device(path, handle)
        if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return handle
        with handle:  # a FIFO or pipe: it can be read only once
            return _spooled(key, handle)
    except BaseException:
        handle.close()
        raise


def read_file(path: str | os.PathLike, limit: int = MAX_SMALL_FILE,
              what: str = "file") -> bytes:
    """Read a whole input file of at most ``limit`` bytes (checked before reading), turning OS
    errors into :class:`InputError`. ``-`` is standard input."""
    with open_input(path) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise FormatError(path, "size", f"{size} bytes is over the {limit}-byte limit "
                                  f"for a {what}")
            # its size plus one byte, to see it grow (then up to the limit); a FIFO (size 0):
            # up to the limit. Nothing larger than the file is reserved.
            data = handle.read((size or limit) + 1)
            if size and len(data) > size:
                data += handle.read(limit + 1 - len(data))
        except OSError as exc:
            raise input_error(path, exc) from None
    if len(data) > limit:  # a file that grew, or a FIFO
        raise FormatError(path, "size", f"more than the {limit}-byte limit for a {what}")
    return data


def input_size(path: str | os.PathLike) -> int:
    """The size in bytes of an input file (``-``: of standard input)."""
    with open_input(path) as handle:
        return os.fstat(handle.fileno()).st_size


def sha256_file(path: str | os.PathLike) -> bytes:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open_input(path) as handle:
        try:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
        except OSError as exc:
            raise input_error(path, exc) from None
    return digest.digest()


# -- errors and signals -------------------------------------------------------------------------

class WriteError(OutputError, OSError):
    """The system refused to write an output (no space left, an I/O error, no permission): an
    :class:`OutputError` (exit 7) that is also the ``OSError`` it stands for (same ``errno``),
    for callers that catch OS errors around a write."""

    def __init__(self, path: object, reason: str, code: int | None = None) -> None:
        super().__init__(path, reason)
        self.errno = code


def _write_error(path: object, exc: OSError, what: str = "cannot write") -> WriteError:
    return WriteError(path, f"{what}: {exc.strerror or exc}", exc.errno)


_SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 15: "SIGTERM"}


class Interrupted(BaseException):
    """A signal (SIGINT, SIGTERM, SIGHUP) asked the command to stop; raised in the main thread
    by the handlers :class:`output_guard` installs. A ``BaseException`` like
    ``KeyboardInterrupt`` (nothing catching ``Exception`` swallows it), but not one: click turns
    those into its own ``Abort``. ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        self.name = _SIGNAL_NAMES.get(signum, f"signal {signum}")
        super().__init__("interrupted" if signum == 2 else f"interrupted by {self.name}")


class _SignalState:
    owner: int | None = None   # the thread (the main one) whose handlers are installed
    depth = 0                  # nesting of _deferred() sections in that thread
    pending: int | None = None
    raised = False             # Interrupted was raised: the run is ending
    closing = False            # output_guard is restoring the handlers


_signals = _SignalState()


def _on_signal(signum: int, frame) -> None:
    if _signals.raised:
        return  # already stopping: the cleanup under way finishes
    if _signals.depth or _signals.closing:
        if _signals.pending is None:
            _signals.pending = signum
        return
    _signals.raised = True
    raise Interrupted(signum)


class _deferred:
    """A short step that must not be cut in two (create a file and record it; rename and record
    it; roll back): a signal arriving meanwhile raises :class:`Interrupted` when it ends."""

    __slots__ = ("active",)

    def __enter__(self) -> None:
        self.active = _signals.owner is not None and _thread.get_ident() == _signals.owner
        if self.active:
            _signals.depth += 1

    def __exit__(self, kind, value, traceback) -> bool:
        if self.active:
            _signals.depth -= 1
            if not _signals.depth and _signals.pending is not None:
                signum, _signals.pending = _signals.pending, None
                _signals.raised = True
                raise Interrupted(signum)
        return False


STDOUT = "standard output"


def _silence(stream) -> None:
    """After standard output failed, point its descriptor at /dev/null, so that the
    interpreter's last flush does not fail again (and print a traceback) on the way out."""
    real = sys.__stdout__
    if real is None or stream not in (real, getattr(real, "buffer", None)):
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, real.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError):
        pass


class _GuardedStream:
    """Standard output (text or its binary buffer) whose failures are :class:`OutputError`: a
    closed stdout (``sys.stdout is None``), a broken pipe, a full disk."""

    def __init__(self, stream) -> None:
        self._stream = stream

    # the first failure of the run, kept: a caller that swallows the exception (click probes
    # streams with writes inside try/except) cannot hide it (see take_stdout_failure)
    failure: OutputError | None = None

    def _failed(self, exc: OSError) -> OutputError:
        _silence(self._stream)
        error = OutputError(STDOUT, f"cannot write: {exc.strerror or exc}")
        if _GuardedStream.failure is None:
            _GuardedStream.failure = error
        return error

    def write(self, data):
        if self._stream is None:
            raise OutputError(STDOUT, "is closed")
        try:
            return self._stream.write(data)
        except OSError as exc:
            raise self._failed(exc) from None

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    @property
    def buffer(self):
        return _GuardedStream(None if self._stream is None else self._stream.buffer)

    def __getattr__(self, name: str):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def take_stdout_failure() -> OutputError | None:
    """The first failure to write standard output since the last call, if any."""
    failure, _GuardedStream.failure = _GuardedStream.failure, None
    return failure


def _signal_functions():
    """The signal functions and constants: CPython's ``_signal`` itself where it exists, since
    the ``signal`` module wraps them in enums whose import costs a tenth of ``measure``'s
    start-up; ``signal`` elsewhere. Handlers and numbers are plain ints either way."""
    try:
        import _signal
        return _signal
    except ImportError:
        import signal
        return signal


class output_guard:
    """Around one command-line run (``cli.main``): SIGINT, SIGTERM and SIGHUP raise
    :class:`Interrupted` in the main thread (the writers roll back, see the module's guarantee
    6), and standard output fails with :class:`OutputError` (guarantee 8). Handlers are installed
    only in the main thread and only over the default ones: a signal the caller ignores (``nohup``)
    or handles itself stays so. Everything is restored on exit; a signal that arrives while the
    handlers are being removed is raised as :class:`Interrupted` once they are."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __enter__(self) -> output_guard:
        self._saved: list = []
        self._wrapped = False
        self._stdout = None
        try:
            self._install()
        except BaseException:
            self._restore()
            raise
        return self

    def _install(self) -> None:
        signal = _signal_functions()
        if _signals.owner is None:
            _signals.owner = _thread.get_ident()
            _signals.depth, _signals.pending = 0, None
            _signals.raised = _signals.closing = False
            for name in self.SIGNALS:
                number = getattr(signal, name, None)
                if number is None:
                    continue
                try:
                    previous = signal.getsignal(number)
                    if (isinstance(previous, int) and previous == signal.SIG_DFL) \
                            or previous is signal.default_int_handler:
                        self._saved.append((number, previous))
                        signal.signal(number, _on_signal)
                except (ValueError, OSError):  # not the main thread
                    self._saved = [(n, p) for n, p in self._saved if n != number]
                    break
            if not self._saved:
                _signals.owner = None
        if not isinstance(sys.stdout, _GuardedStream):
            self._stdout, self._wrapped = sys.stdout, True
            sys.stdout = _GuardedStream(sys.stdout)

    def _restore(self) -> int | None:
        """Restore stdout and the handlers; the signal that arrived meanwhile, if any."""
        signal = _signal_functions()

        if self._wrapped:
            sys.stdout, self._wrapped = self._stdout, False
        if not self._saved:
            return None
        _signals.closing = True
        try:
            for number, previous in reversed(self._saved):
                signal.signal(number, previous)
        finally:
            self._saved = []
            pending = None if _signals.raised else _signals.pending
            _signals.owner = None
            _signals.depth, _signals.pending = 0, None
            _signals.raised = _signals.closing = False
        return pending

    def __exit__(self, kind, value, traceback) -> bool:
        pending = self._restore()
        if pending is not None and not isinstance(value, Interrupted):
            raise Interrupted(pending)
        return False


# -- checking targets ---------------------------------------------------------------------------

def _kind(mode: int) -> str | None:
    """What a non-regular file is (None for a regular file)."""
    for test, what in ((stat.S_ISREG, None), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise OutputError(path, "a part of the path is not a directory") from None
    except OSError as exc:
        raise _write_error(path, exc, "cannot check") from None


def _check_target(path: str, force: bool) -> os.stat_result | None:
    """The target's lstat if it is a regular file ``force`` may replace, None if it does not
    exist; otherwise an OutputError naming what it is."""
    if os.path.basename(path) in ("", ".", ".."):
        raise OutputError(path, "is a directory")
    info = _lstat(path)
    if info is None:
        return None
    kind = _kind(info.st_mode)
    if kind == "a symbolic link":
        raise OutputError(path, "is a symbolic link; refusing to write through it")
    if kind == "a directory":
        raise OutputError(path, "is a directory")
    if kind is not None:
        raise OutputError(path, f"is {kind}, not a regular file; --force replaces only "
                          "regular files")
    if not force:
        raise OutputError(path, "exists; give --force to replace it")
    return info


def _normal(path: str) -> str:
    """``realpath`` of the directory plus the name (the name itself may be a link: not followed)."""
    directory, name = os.path.split(path)
    return os.path.join(os.path.realpath(directory or os.curdir), name)


def _check_distinct(paths: list[str]) -> None:
    """Refuse two outputs naming the same file: a ConfigError, as the command line contradicts
    itself (like two options given the same value), whatever is on disk."""
    seen: dict = {}
    for path in paths:
        keys = [("path", _normal(path))]
        try:
            info = os.lstat(path)
            keys.append(("inode", info.st_dev, info.st_ino))
        except OSError:
            pass
        for key in keys:
            if key in seen:
                raise ConfigError(f"{seen[key]} and {path} name the same file; give each output "
                                  "its own path")
        seen.update((key, path) for key in keys)


def is_discarded(path) -> bool:
    """An output named exactly as the null device (``-o /dev/null``): its data is discarded,
    the device left alone (it is not a file that could be replaced)."""
    return os.fspath(path) == os.devnull


def check_outputs(paths, force: bool = False) -> None:
    """Fail early (before any work) if the outputs cannot all be written: two of them name the
    same file (ConfigError), or a target cannot be written without ``--force`` or at all
    (OutputError)."""
    paths = [os.fspath(path) for path in paths if not is_discarded(path)]
    _check_distinct(paths)
    for path in paths:
        _check_target(path, force)
        directory = os.path.dirname(path) or os.curdir
        if not os.path.isdir(directory):
            raise OutputError(path, f"cannot write: no directory {directory}")


# -- writing files ------------------------------------------------------------------------------

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0)
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
                  errno.ENOSYS, errno.EMLINK}
_LINK_KEEPS_LINKS = {"follow_symlinks": False} if os.link in os.supports_follow_symlinks else {}


def _hidden_name(path: str, suffix: str) -> str:
    """``.NAME.RANDOM.tmp`` (or ``.old``) beside ``path``; NAME is cut to fit NAME_MAX."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name[:200]}.{os.urandom(6).hex()}{suffix}")


def _write_all(fd: int, data, path: str) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view[:CHUNK_SIZE])
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _quietly(operation, *args) -> None:
    try:
        operation(*args)
    except OSError:
        pass


class _Output:
    """One file of a set: where it goes, its temporary file, and what this run did on disk."""

    __slots__ = ("path", "data", "tmp", "fd", "ident", "state", "backup")

    def __init__(self, path: str, data) -> None:
        self.path, self.data = path, data
        self.tmp: str | None = None
        self.fd: int | None = None
        self.ident: tuple | None = None    # (st_dev, st_ino) of the file this run wrote
        self.state: str | None = None      # "created" or "replaced" once put in place
        self.backup: str | None = None     # hard link to the file it replaced

    def is_ours(self) -> bool:
        try:
            info = os.lstat(self.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self.ident


def _stage(output: _Output, mode: int) -> None:
    """Write ``output`` in full to a new temporary file beside its target."""
    directory = os.path.dirname(output.path) or os.curdir
    while output.tmp is None:
        tmp = _hidden_name(output.path, ".tmp")
        with _deferred():
            try:
                output.fd = os.open(tmp, _NEW, mode)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _write_error(directory, exc, "cannot write here") from None
            output.tmp = tmp
    info = _fill(output)
    output.ident = (info.st_dev, info.st_ino)


def _fill(output: _Output) -> os.stat_result:
    """Write the data to the open ``output.fd``, sync it and close it; the file's status."""
    try:
        _write_all(output.fd, output.data, output.path)
        os.fsync(output.fd)
        return os.fstat(output.fd)
    except OSError as exc:
        raise _write_error(output.path, exc) from None
    finally:
        with _deferred():
            fd, output.fd = output.fd, None
            _quietly(os.close, fd)


def _drop_temp(output: _Output) -> None:
    with _deferred():
        if output.tmp is not None:
            _quietly(os.unlink, output.tmp)
            output.tmp = None


def _create(output: _Output, mode: int) -> bool:
    """Put ``output`` in place if its target does not exist (False if it does)."""
    with _deferred():
        try:
            os.link(output.tmp, output.path)
            output.state = "created"
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise _write_error(output.path, exc, "cannot create") from None
    if output.state == "created":
        _drop_temp(output)
        return True
    # no hard links here: create the target itself, exclusively, and write it in place
    with _deferred():
        try:
            output.fd = os.open(output.path, _NEW, mode)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _write_error(output.path, exc, "cannot create") from None
        output.state = "created"
        info = os.fstat(output.fd)
        output.ident = (info.st_dev, info.st_ino)
    _fill(output)
    _drop_temp(output)
    return True


def _replace(output: _Output) -> bool:
    """Replace the existing regular file at the target (``force``), keeping a hard link to it
    until the whole set is in place (False if the target vanished meanwhile)."""
    while output.backup is None:
        backup = _hidden_name(output.path, ".old")
        with _deferred():
            try:
                os.link(output.path, backup, **_LINK_KEEPS_LINKS)
                output.backup = backup
            except FileExistsError:
                continue
            except FileNotFoundError:
                return False
            except OSError:
                break  # no hard links: no backup
    with _deferred():
        try:
            os.replace(output.tmp, output.path)
        except OSError as exc:
            raise _write_error(output.path, exc, "cannot replace") from None
        output.state, output.tmp = "replaced", None
    return True


def _publish(output: _Output, force: bool, mode: int) -> None:
    for _ in range(3):
        if _check_target(output.path, force) is None:  # again: what is there now
            if _create(output, mode):
                return
            if not force:
                raise OutputError(output.path, "exists: another process created it meanwhile; "
                                  "give --force to replace it")
        elif _replace(output):
            return
    raise OutputError(output.path, "keeps changing while it is being written")


def _rollback(outputs: list[_Output]) -> None:
    """Undo what this run did (run deferred: a signal waits until it is done)."""
    for output in reversed(outputs):
        if output.fd is not None:
            _quietly(os.close, output.fd)
            output.fd = None
        if output.state is not None and output.is_ours():
            if output.state == "replaced" and output.backup is not None:
                _quietly(os.replace, output.backup, output.path)
                output.backup = None
            else:
                _quietly(os.unlink, output.path)
        output.state = None
    for output in outputs:
        for leftover in (output.tmp, output.backup):
            if leftover is not None:
                _quietly(os.unlink, leftover)
        output.tmp = output.backup = None


class _DirectoryLocks:
    """Advisory locks (``flock``) on the target directories while a set is put in place: two
    snpmeasure runs writing into one directory put their sets in place one after the other.
    Best effort: where directories cannot be locked (no ``fcntl``, some network file systems)
    the exclusive creation of each file still holds. On release the directories are synced."""

    def __init__(self, directories) -> None:
        self.directories = sorted({os.path.realpath(d or os.curdir) for d in directories})
        self.fds: list[int] = []

    def __enter__(self) -> _DirectoryLocks:
        try:
            import fcntl
        except ImportError:
            return self
        try:
            for directory in self.directories:  # always in the same order: no deadlock
                with _deferred():
                    try:
                        self.fds.append(os.open(directory, os.O_RDONLY
                                                | getattr(os, "O_DIRECTORY", 0)))
                    except OSError:
                        continue
                try:
                    fcntl.flock(self.fds[-1], fcntl.LOCK_EX)  # a signal interrupts the wait
                except OSError:
                    pass
        except BaseException:
            self.__exit__()
            raise
        return self

    def sync(self) -> None:
        for fd in self.fds:
            _quietly(os.fsync, fd)

    def __exit__(self, *exc) -> bool:
        fds, self.fds = self.fds, []
        for fd in fds:
            _quietly(os.close, fd)  # releases the lock
        return False


def write_outputs(items: list[tuple[str | os.PathLike, bytes]], force: bool = False, *,
                  private: bool = False) -> None:
    """Write every ``(path, data)``: all or nothing, exclusively (``force`` replaces regular
    files only), never through a link; see the module's guarantees 1-4 and 6-8. ``private``
    creates the files with mode 0600 instead of following the umask."""
    outputs = [_Output(os.fspath(path), data) for path, data in items
               if not is_discarded(path)]
    check_outputs([output.path for output in outputs], force)
    if not outputs:
        return
    outputs.sort(key=lambda output: _normal(output.path))
    mode = 0o600 if private else 0o666
    try:
        for output in outputs:
            _stage(output, mode)
        with _DirectoryLocks(os.path.dirname(output.path) for output in outputs) as locks:
            try:
                for output in outputs:
                    _publish(output, force, mode)
            except BaseException:
                with _deferred():
                    _rollback(outputs)  # still holding the locks
                raise
            with _deferred():  # the commit: from here on the set stays
                for output in outputs:
                    output.state = None
            locks.sync()
    finally:
        with _deferred():
            _rollback(outputs)  # temporary files and backups (and before the commit, the set)


def write_atomic(path: str | os.PathLike, data: bytes, force: bool = False, *,
                 private: bool = False) -> None:
    """Write one file; see :func:`write_outputs`."""
    write_outputs([(path, data)], force, private=private)


# -- writing a directory ------------------------------------------------------------------------

BATCH_MARKER = "index.json"  # a directory write_directory made holds this file


def _not_a_batch(path: str) -> str | None:
    """Why the directory ``path`` is not one a batch run wrote (None if it is one): such a
    directory is flat, holds only regular files, and its BATCH_MARKER is a regular file whose
    JSON names snpmeasure as its tool. Anything else (a project with an index.json, a
    subdirectory, a link) is left alone even with --force."""
    marker = os.path.join(path, BATCH_MARKER)
    info = _lstat(marker)
    if info is None or not stat.S_ISREG(info.st_mode):
        return f"holds no {BATCH_MARKER} file" if info is None else \
            f"its {BATCH_MARKER} is {_kind(info.st_mode) or 'not a regular file'}"
    try:
        with os.scandir(path) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_BATCH_FILES:
                    return f"holds more than {MAX_BATCH_FILES} files"
                if not entry.is_file(follow_symlinks=False):
                    from .text import printable
                    return f"holds {printable(entry.name)}, which is not a regular file"
        if info.st_size > MAX_SMALL_FILE:
            return f"its {BATCH_MARKER} is larger than an index"
        import json  # here: the measure path never needs it (start-up time)

        with open(marker, "rb") as handle:
            document = json.loads(handle.read(MAX_SMALL_FILE + 1))
    except (OSError, ValueError, RecursionError):
        return f"its {BATCH_MARKER} is not an index this tool wrote"
    if not isinstance(document, dict) or document.get("tool") != "snpmeasure":
        return f"its {BATCH_MARKER} is not an index this tool wrote"
    return None


def check_directory_target(path: str | os.PathLike, force: bool = False) -> None:
    """Fail early unless :func:`write_directory` may create or replace ``path``."""
    path = os.fspath(path)
    info = _lstat(path.rstrip(os.sep) or os.sep)
    if info is None:
        parent = os.path.dirname(path.rstrip(os.sep)) or os.curdir
        if not os.path.isdir(parent):
            raise OutputError(path, f"cannot write: no directory {parent}")
        return
    kind = _kind(info.st_mode)
    if kind == "a symbolic link":
        raise OutputError(path, "is a symbolic link; refusing to write through it")
    if kind != "a directory":
        raise OutputError(path, f"exists and is {kind or 'a regular file'}, not a directory")
    if not force:
        raise OutputError(path, "exists; give --force to replace it")
    problem = _not_a_batch(path)
    if problem:
        raise OutputError(path, f"exists and {problem}: --force replaces only a directory an "
                          "earlier run wrote")


class _Batch:
    """What :func:`write_directory` did on disk, for its rollback."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.staging: str | None = None      # the staging directory while it exists
        self.placeholder = False             # this run's empty directory at ``path``
        self.aside: str | None = None        # holds the earlier directory as ``previous``
        self.moved = False                   # the earlier directory is in ``aside``
        self.ident: tuple | None = None      # (st_dev, st_ino) of the staging directory
        self.installed = False               # renamed to ``path``, not yet committed

    def rollback(self) -> None:
        """Undo what is not committed and remove what is left over (run deferred)."""
        import shutil

        if self.installed:
            try:
                info = os.lstat(self.path)
                if (info.st_dev, info.st_ino) == self.ident:
                    doomed = _hidden_name(self.path, ".tmp")
                    os.rename(self.path, doomed)
                    self.staging = doomed
            except OSError:
                pass
            self.installed = False
        if self.placeholder:
            _quietly(os.rmdir, self.path)  # only if still empty
            self.placeholder = False
        if self.moved and not os.path.lexists(self.path):
            try:
                os.rename(os.path.join(self.aside, "previous"), self.path)
                self.moved = False
            except OSError:
                pass
        if self.moved:  # the earlier directory could not be put back: keep it where it is
            self.aside, self.moved = None, False
        for leftover in (self.staging, self.aside):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)
        self.staging = self.aside = None


def write_directory(path: str | os.PathLike, files: list[tuple[str, bytes]],
                    force: bool = False, *, private: bool = False) -> None:
    """Write ``files`` (plain, distinct names) as the new directory ``path``, all or nothing;
    with ``force`` an earlier run's directory is replaced. See the module's guarantee 5."""
    path = os.fspath(path).rstrip(os.sep) or os.sep
    names = [name for name, _ in files]
    for name in names:
        if os.sep in name or (os.altsep and os.altsep in name) or name in ("", ".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
    if len(set(names)) != len(names):
        raise ValueError("the same file name twice in one directory")
    check_directory_target(path, force)
    parent = os.path.dirname(path) or os.curdir
    file_mode, directory_mode = (0o600, 0o700) if private else (0o666, 0o777)
    batch = _Batch(path)
    try:
        while batch.staging is None:
            staging = _hidden_name(path, ".tmp")
            with _deferred():
                try:
                    os.mkdir(staging, directory_mode)
                    batch.staging = staging
                    info = os.lstat(staging)
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise _write_error(parent, exc, "cannot write here") from None
                batch.ident = (info.st_dev, info.st_ino)
        for name, data in files:
            target, fd = os.path.join(batch.staging, name), None
            try:
                with _deferred():
                    fd = os.open(target, _NEW, file_mode)
                _write_all(fd, data, target)
                os.fsync(fd)
            except OSError as exc:
                raise _write_error(os.path.join(path, name), exc) from None
            finally:
                if fd is not None:
                    _quietly(os.close, fd)
        with _DirectoryLocks([parent]) as locks:
            try:
                _put_directory_in_place(batch, force)
            except BaseException:
                with _deferred():
                    batch.rollback()  # still holding the lock
                raise
            with _deferred():  # the commit: from here on the directory stays
                batch.installed = batch.moved = False
            locks.sync()
    finally:
        with _deferred():
            batch.rollback()  # the staging directory or the earlier directory, if left


def _put_directory_in_place(batch: _Batch, force: bool) -> None:
    path = batch.path
    check_directory_target(path, force)  # again: what is there now
    if os.path.lexists(path):  # force, and an earlier run's directory
        while batch.aside is None:
            aside = _hidden_name(path, ".old")
            with _deferred():
                try:
                    os.mkdir(aside, 0o700)
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise _write_error(path, exc, "cannot replace") from None
                batch.aside = aside
        with _deferred():
            try:
                os.rename(path, os.path.join(batch.aside, "previous"))
                batch.moved = True
            except FileNotFoundError:
                pass  # gone meanwhile: create it
            except OSError as exc:
                raise _write_error(path, exc, "cannot replace") from None
    with _deferred():
        try:
            os.mkdir(path, 0o700)  # claims the name: exclusive
            batch.placeholder = True
        except FileExistsError:
            raise OutputError(path, "exists: another process created it meanwhile") from None
        except OSError as exc:
            raise _write_error(path, exc, "cannot create") from None
    with _deferred():
        try:
            os.rename(batch.staging, path)  # onto the empty placeholder
        except OSError as exc:
            raise _write_error(path, exc, "cannot create") from None
        batch.staging, batch.placeholder, batch.installed = None, False, True
