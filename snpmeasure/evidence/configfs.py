"""Getting an attestation report inside an SEV-SNP guest through Linux configfs-tsm.

The protocol (Linux ``Documentation/ABI/testing/configfs-tsm-report``, formerly
``configfs-tsm``; ``drivers/virt/coco/guest/report.c``; ``drivers/virt/coco/sev-guest``):

1. ``mkdir /sys/kernel/config/tsm/report/<entry>`` creates a report instance (ENXIO when no
   provider is registered, i.e. not in a confidential guest);
2. ``provider`` names the provider: ``sev_guest`` for SEV-SNP;
3. ``generation`` counts the writes to the instance; every write of ``inblob`` or an option
   increments it;
4. write ``inblob`` (the REPORT_DATA: exactly 64 bytes for sev_guest) and ``privlevel`` (the
   VMPL, at least ``privlevel_floor``, else EINVAL);
5. read ``outblob`` (the report) and ``auxblob`` (the host's certificate table, possibly
   empty), then ``generation`` again: if it moved by more than our writes, another process
   wrote to the instance in between and the result cannot be trusted to be ours: start over;
6. ``rmdir`` the entry.

Filesystem access goes through :class:`TsmFilesystem`, so tests can drive the client against a
directory tree that behaves like configfs-tsm.
"""
from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass

from ..errors import ConfigError, FormatError, InputError, UnsupportedError
from ..formats.report import AttestationReport, parse_report

DEFAULT_ROOT = "/sys/kernel/config/tsm/report"
SEV_PROVIDER = "sev_guest"
REPORT_DATA_SIZE = 64
MAX_BLOB = 1 << 20       # outblob and auxblob, read with this bound
ATTEMPTS = 3             # restarts after a concurrent write


class TsmFilesystem:
    """The file operations the client needs (the real configfs by default)."""

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def mkdir(self, path: str) -> None:
        os.mkdir(path)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def read(self, path: str, limit: int = MAX_BLOB) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)

    def write(self, path: str, data: bytes) -> None:
        with open(path, "wb", buffering=0) as handle:
            handle.write(data)


@dataclass(frozen=True)
class Evidence:
    """A report from the guest, the host's certificate table (b"" if none) and the provider."""

    report: AttestationReport
    raw: bytes
    certificates: bytes
    provider: str
    attempts: int


def _os_error(path: str, exc: OSError, doing: str):
    if isinstance(exc, PermissionError):
        return InputError(path, f"permission denied {doing} (configfs-tsm needs root)")
    if exc.errno == errno.ENXIO:
        return UnsupportedError(f"{path}: no TSM provider is registered ({doing}): this is not "
                                "a confidential guest, or its driver (sev-guest) is not loaded")
    return InputError(path, f"{doing}: {exc.strerror or exc}")


def get_report(report_data: bytes, *, vmpl: int | None = None, root: str = DEFAULT_ROOT,
               fs: TsmFilesystem | None = None, attempts: int = ATTEMPTS) -> Evidence:
    """Request an attestation report binding ``report_data`` (64 bytes) at ``vmpl``."""
    fs = fs or TsmFilesystem()
    if len(report_data) != REPORT_DATA_SIZE:
        raise ConfigError(f"REPORT_DATA is {len(report_data)} bytes; sev_guest takes exactly "
                          f"{REPORT_DATA_SIZE}")
    if vmpl is not None and not 0 <= vmpl <= 3:
        raise ConfigError(f"--vmpl {vmpl} is outside 0..3")
    if not fs.isdir(root):
        reason = "is not a directory" if fs.exists(root) else "does not exist"
        raise UnsupportedError(f"{root} {reason}: configfs-tsm is not available (it needs "
                               "Linux 6.7 or later in a confidential guest, and configfs mounted "
                               "at /sys/kernel/config)")
    entry = os.path.join(root, f"snpmeasure-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fs.mkdir(entry)
    except OSError as exc:
        raise _os_error(root, exc, "creating a report entry") from None
    try:
        return _request(fs, entry, report_data, vmpl, attempts)
    finally:
        try:
            fs.rmdir(entry)
        except OSError:
            pass  # the kernel removes nothing else; a leftover entry is harmless


def _read_text(fs, path: str) -> str:
    try:
        return fs.read(path, 4096).decode("ascii", "replace").strip()
    except OSError as exc:
        raise _os_error(path, exc, "reading") from None


def _generation(fs, entry: str) -> int:
    text = _read_text(fs, os.path.join(entry, "generation"))
    if not text.isdigit():
        raise FormatError(os.path.join(entry, "generation"), "generation",
                          f"{text!r} is not a number")
    return int(text)


def _request(fs, entry, report_data, vmpl, attempts) -> Evidence:
    if not fs.exists(os.path.join(entry, "provider")):  # configfs makes the attributes
        raise UnsupportedError(f"{os.path.dirname(entry)}: not a configfs-tsm report directory "
                               "(an entry made in it has no 'provider' attribute)")
    provider = _read_text(fs, os.path.join(entry, "provider"))
    if provider != SEV_PROVIDER:
        raise UnsupportedError(f"{entry}: the TSM provider is {provider!r}, not {SEV_PROVIDER}: "
                               "this is not an SEV-SNP guest")
    for attempt in range(1, attempts + 1):
        before = _generation(fs, entry)
        writes = 0
        try:
            fs.write(os.path.join(entry, "inblob"), report_data)
            writes += 1
            if vmpl is not None:
                fs.write(os.path.join(entry, "privlevel"), str(vmpl).encode())
                writes += 1
            out = fs.read(os.path.join(entry, "outblob"))
            aux = b""
            if fs.exists(os.path.join(entry, "auxblob")):
                aux = fs.read(os.path.join(entry, "auxblob"))
        except OSError as exc:
            if exc.errno == errno.EBUSY:  # the generation counter wrapped: start over
                continue
            if exc.errno == errno.EINVAL and vmpl is not None:
                floor = _read_text(fs, os.path.join(entry, "privlevel_floor"))
                raise ConfigError(f"--vmpl {vmpl} is refused by the guest (its lowest allowed "
                                  f"privilege level, privlevel_floor, is {floor})") from None
            raise _os_error(entry, exc, "requesting the report") from None
        if _generation(fs, entry) != before + writes:
            continue  # another writer changed the request under us
        for name, blob in (("outblob", out), ("auxblob", aux)):
            if len(blob) > MAX_BLOB:
                raise FormatError(os.path.join(entry, name), "size",
                                  f"more than {MAX_BLOB} bytes")
        report = parse_report(out, os.path.join(entry, "outblob"))
        if report.fields["report_data"] != report_data:
            raise FormatError(os.path.join(entry, "outblob"), "report_data",
                              "is not the REPORT_DATA that was requested")
        return Evidence(report, out, aux, provider, attempt)
    raise InputError(entry, f"another process kept writing to the report entry ({attempts} "
                            "attempts); try again")
