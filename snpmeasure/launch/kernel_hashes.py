"""SHA-256 hashes of kernel, initrd and command line for measured direct boot.

Files are hashed in chunks, so memory does not grow with their size. The command line is hashed
with its terminating NUL, as QEMU passes it to the guest; an absent command line is a single NUL.
"""
from __future__ import annotations

import hashlib
import os
from collections import namedtuple

from ..abi.codec import codec
from ..abi.kernel_hashes import PADDED_HASH_TABLE_SIZE
from ..files import sha256_file

PAGE_SIZE = 4096


def cmdline_bytes(append: str | bytes | None) -> bytes:
    """The bytes QEMU hands the guest for ``-append``: the command line and its NUL.

    A ``str`` is encoded the way the operating system gave it to us (UTF-8, with any undecodable
    argv bytes restored), so non-ASCII command lines hash as the bytes QEMU receives.
    """
    if append is None:
        return b"\x00"
    raw = os.fsencode(append) if isinstance(append, str) else bytes(append)
    return raw + b"\x00"


BZIMAGE_MAGIC_OFFSET = 0x202
BZIMAGE_MAGIC = b"HdrS"  # the Linux x86 boot protocol header (Documentation/arch/x86/boot.rst)


def is_bzimage(path: str | os.PathLike) -> bool:
    """Whether the kernel file carries the boot protocol's "HdrS" magic at offset 0x202, which
    QEMU's x86_load_linux() requires to add the kernel hashes (rule "bzimage")."""
    from ..errors import input_error
    from ..files import open_input

    with open_input(path) as handle:
        try:
            head = handle.read(BZIMAGE_MAGIC_OFFSET + len(BZIMAGE_MAGIC))
        except OSError as exc:
            raise input_error(path, exc) from None
    return head[BZIMAGE_MAGIC_OFFSET:] == BZIMAGE_MAGIC


class KernelHashes(namedtuple("KernelHashes", "kernel initrd cmdline")):
    """The three SHA-256 values of the SEV kernel hashes table."""

    __slots__ = ()

    @classmethod
    def from_inputs(cls, kernel: str | os.PathLike, initrd: str | os.PathLike | None = None,
                    append: str | bytes | None = None) -> "KernelHashes":
        return cls(
            kernel=sha256_file(kernel),
            initrd=sha256_file(initrd) if initrd else hashlib.sha256(b"").digest(),
            cmdline=hashlib.sha256(cmdline_bytes(append)).digest(),
        )

    def table(self) -> bytes:
        """The padded hashes table (0xB0 bytes) as QEMU writes it."""
        return codec("kernel_hashes.PaddedSevHashTable").build({"table": {
            "cmdline": {"sha256": self.cmdline},
            "initrd": {"sha256": self.initrd},
            "kernel": {"sha256": self.kernel},
        }})

    def page(self, offset: int, size: int = PAGE_SIZE) -> bytes:
        """A zero area of ``size`` bytes with the table at ``offset``."""
        if offset < 0 or offset + PADDED_HASH_TABLE_SIZE > size:
            raise ValueError(f"hashes table at {offset:#x} does not fit in {size:#x} bytes")
        return bytes(offset) + self.table() + bytes(size - offset - PADDED_HASH_TABLE_SIZE)
