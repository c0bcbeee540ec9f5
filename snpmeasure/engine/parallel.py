"""Page hashing on a second core for long launch plans.

CPython's hashlib releases the GIL while hashing, but for a 4 KiB page the hand-off of the GIL
costs about as much as the hash, so threads do not help. Instead a helper process, forked once
per long plan, hashes pages from anonymous shared memory: the main process copies the pages of
batch k into a shared buffer and goes on producing batch k+1 and chaining batch k-1 (and hashes a
share of the pages itself) while the helper hashes batch k. Memory stays bounded: two batches.

Used only where it is safe and useful: POSIX fork, at least two usable CPUs, no other threads in
the process, and a plan of at least ``snp.PARALLEL_MIN_PAGES`` pages. ``SNPMEASURE_SEQUENTIAL=1`` turns it off.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import struct
import threading
from collections.abc import Iterable, Iterator

PAGE = 4096
DIGEST = 48
BATCH = 1024          # pages per batch (4 MiB)
HELPER_SHARE = 0.7    # fraction of a batch's hashed pages the helper takes
_COMMAND = struct.Struct("<II")  # buffer index, page count
ZERO = bytes(DIGEST)


def available() -> bool:
    if os.environ.get("SNPMEASURE_SEQUENTIAL") or not hasattr(os, "fork"):
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return cpus >= 2 and threading.active_count() == 1


class _Helper:
    def __init__(self) -> None:
        self.pages = mmap.mmap(-1, 2 * BATCH * PAGE)
        self.digests = mmap.mmap(-1, 2 * BATCH * DIGEST)
        command_r, command_w = os.pipe()
        ack_r, ack_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper: hash, answer, and leave without running any cleanup
            status = 0
            try:
                os.close(command_w)
                os.close(ack_r)
                self._serve(command_r, ack_w)
            except BaseException:
                status = 1
            os._exit(status)
        os.close(command_r)
        os.close(ack_w)
        self.pid, self.command, self.ack = pid, command_w, ack_r

    def _serve(self, command: int, ack: int) -> None:
        pages, digests = memoryview(self.pages), self.digests
        sha384 = hashlib.sha384
        while True:
            message = os.read(command, _COMMAND.size)
            if len(message) < _COMMAND.size:
                return
            buffer, count = _COMMAND.unpack(message)
            first = buffer * BATCH
            for slot in range(first, first + count):
                at = slot * PAGE
                digests[slot * DIGEST:(slot + 1) * DIGEST] = sha384(pages[at:at + PAGE]).digest()
            os.write(ack, b"k")

    def submit(self, buffer: int, datas: list) -> None:
        base = buffer * BATCH * PAGE
        for index, data in enumerate(datas):
            self.pages[base + index * PAGE:base + (index + 1) * PAGE] = data
        os.write(self.command, _COMMAND.pack(buffer, len(datas)))

    def collect(self, buffer: int, count: int) -> list[bytes]:
        if os.read(self.ack, 1) != b"k":
            raise RuntimeError("the page-hashing helper process died")
        base = buffer * BATCH * DIGEST
        return [self.digests[base + i * DIGEST:base + (i + 1) * DIGEST] for i in range(count)]

    def close(self) -> None:
        os.close(self.command)
        try:
            os.waitpid(self.pid, 0)
        finally:
            os.close(self.ack)
            self.pages.close()
            self.digests.close()


def _batches(updates: Iterable) -> Iterator[list]:
    batch: list = []
    for update in updates:
        batch.append(update)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def contents_in_parallel(updates: Iterable) -> Iterator[tuple]:
    """Yield ``(update, contents digest)`` in order, hashing pages on two processes."""
    helper = _Helper()
    sha384 = hashlib.sha384
    try:
        pending = None  # (buffer, batch, helper indices, own digests)
        buffer = 0
        for batch in _batches(updates):
            # NORMAL and VMSA updates, and only they, carry their page (PageUpdate checks it)
            hashed = [i for i, u in enumerate(batch) if u.data is not None]
            split = int(len(hashed) * HELPER_SHARE)
            helped = hashed[:split]
            helper.submit(buffer, [batch[i].data for i in helped])
            contents = [ZERO] * len(batch)
            for i in hashed[split:]:
                contents[i] = sha384(batch[i].data).digest()
            if pending is not None:
                yield from _finish(helper, pending)
            pending = (buffer, batch, helped, contents)
            buffer ^= 1
        if pending is not None:
            yield from _finish(helper, pending)
    finally:
        helper.close()


def _finish(helper: _Helper, pending) -> Iterator[tuple]:
    buffer, batch, helped, contents = pending
    for index, digest in zip(helped, helper.collect(buffer, len(helped))):
        contents[index] = digest
    return zip(batch, contents)


HEAD_SHARE = 0.5  # of a buffer's pages, hashed (and chained) by the main process


class TailHasher:
    """A helper process hashing pages ``[head, count)`` of ``view`` (already in memory when it
    is forked, so it reads them from its copy-on-write view) into shared memory, while the main
    process hashes and chains the head pages itself. ``join()`` returns the tail's digests."""

    def __init__(self, view: memoryview, head: int, count: int) -> None:
        self.count = count - head
        self.shared = mmap.mmap(-1, max(1, self.count * DIGEST))
        self.pid = os.fork()
        if self.pid == 0:
            status = 0
            try:
                sha384 = hashlib.sha384
                digests = [sha384(view[index * PAGE:(index + 1) * PAGE]).digest()
                           for index in range(head, count)]
                self.shared[:self.count * DIGEST] = b"".join(digests)
            except BaseException:
                status = 1
            os._exit(status)

    def join(self) -> list[bytes]:
        try:
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError("the page-hashing helper process failed")
            data = self.shared[:self.count * DIGEST]
            return [data[at:at + DIGEST] for at in range(0, len(data), DIGEST)]
        finally:
            self.close()

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            self.pid = 0
        if not self.shared.closed:
            self.shared.close()
