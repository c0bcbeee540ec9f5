"""The SNP launch digest: every page update replaces it with SHA-384(PAGE_INFO).

PAGE_INFO is ``abi.snp.PageInfo`` (AMD SEV-SNP firmware ABI, SNP_LAUNCH_UPDATE); the engine only
replays plans (``launch.plan.PageUpdate``), it knows nothing of where they come from.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

from ..abi.snp import DIGEST_SIZE, HASHED_PAGE_TYPES, PAGE_INFO_LENGTH, PageType
from ..launch.plan import PageUpdate

ZERO_DIGEST = bytes(DIGEST_SIZE)
PAGE_SIZE_4K = 4096
PARALLEL_MIN_PAGES = 4096  # shorter plans are hashed in-process (16 MiB)


def _parallel():
    """``engine.parallel``, imported only for long plans (it costs start-up time)."""
    from . import parallel
    return parallel

# The fixed tail of PAGE_INFO (length, page type, IMI, reserved/VMPL permissions, GPA), packed
# with struct on the hot path; tests check it builds the same bytes as ``abi.snp.PageInfo``.
_PAGE_INFO_TAIL = struct.Struct("<HBB4xQ")


def page_contents_digest(update: PageUpdate) -> bytes:
    """The PAGE_INFO contents field of an update."""
    if update.page_type in HASHED_PAGE_TYPES:
        return hashlib.sha384(update.data).digest()
    return ZERO_DIGEST


class SnpLaunchDigest:
    """A running SNP launch digest. ``copy()`` shares a prefix between configurations."""

    __slots__ = ("_digest", "pages")

    def __init__(self, seed: bytes = ZERO_DIGEST) -> None:
        if len(seed) != DIGEST_SIZE:
            raise ValueError(f"an SNP launch digest is {DIGEST_SIZE} bytes, not {len(seed)}")
        self._digest = bytes(seed)
        self.pages = 0

    @property
    def digest(self) -> bytes:
        return self._digest

    def extend(self, page_type: PageType, gpa: int, contents: bytes) -> bytes:
        """Fold one PAGE_INFO into the digest and return the new value."""
        self._digest = hashlib.sha384(
            self._digest + contents + _PAGE_INFO_TAIL.pack(PAGE_INFO_LENGTH, page_type, 0, gpa)
        ).digest()
        self.pages += 1
        return self._digest

    def update(self, update: PageUpdate) -> bytes:
        return self.extend(update.page_type, update.gpa, page_contents_digest(update))

    def replay(self, updates: Iterable[PageUpdate], expected_pages: int = 0) -> "SnpLaunchDigest":
        """Fold every update in. With ``expected_pages`` of at least ``PARALLEL_MIN_PAGES``,
        page contents are hashed on a second core where that is possible (same result)."""
        parallel = _parallel() if expected_pages >= PARALLEL_MIN_PAGES else None
        if parallel is not None and parallel.available():
            pairs = parallel.contents_in_parallel(updates)
        else:
            pairs = ((item, hashlib.sha384(item.data).digest() if item.data is not None
                      else ZERO_DIGEST) for item in updates)
        # the chain, inlined: this loop runs once per page
        digest, pack, sha384, count = self._digest, _PAGE_INFO_TAIL.pack, hashlib.sha384, 0
        for item, contents in pairs:
            digest = sha384(digest + contents + pack(PAGE_INFO_LENGTH, item.page_type, 0,
                                                     item.gpa)).digest()
            count += 1
        self._digest = digest
        self.pages += count
        return self

    def extend_pages(self, gpa: int, data: bytes | memoryview,
                     page_type: PageType = PageType.NORMAL) -> "SnpLaunchDigest":
        """Fold in the pages of ``data`` (NORMAL or VMSA) loaded from ``gpa`` upwards: the same
        as replaying ``plan.data_pages(gpa, data)``, faster, and on two cores for long data."""
        view = memoryview(data)
        count = len(view) // PAGE_SIZE_4K
        head, tail = count, None
        parallel = _parallel() if count >= PARALLEL_MIN_PAGES else None
        if parallel is not None and parallel.available():
            head = int(count * parallel.HEAD_SHARE)
            tail = parallel.TailHasher(view, head, count)
        try:
            digest, pack, sha384 = self._digest, _PAGE_INFO_TAIL.pack, hashlib.sha384
            size, length = PAGE_SIZE_4K, PAGE_INFO_LENGTH
            # a page equal to the one before it has its digest: firmware images are mostly
            # runs of padding (the sample OVMF: 839 of 1024 pages). Pages are compared as
            # bytes (a 4 KiB copy and a memcmp), not as memoryviews (compared per element).
            copied = isinstance(data, bytes)  # slicing bytes copies; a view needs tobytes()
            previous, contents = None, b""
            for index in range(head):
                at = index * size
                page = data[at:at + size] if copied else view[at:at + size].tobytes()
                if page != previous:
                    previous, contents = page, sha384(page).digest()
                digest = sha384(digest + contents + pack(length, page_type, 0, gpa + at)).digest()
            if tail is not None:
                for index, contents in enumerate(tail.join(), head):
                    digest = sha384(digest + contents
                                    + pack(length, page_type, 0, gpa + index * size)).digest()
        finally:
            if tail is not None:
                tail.close()
        self._digest = digest
        self.pages += count
        return self

    def copy(self) -> "SnpLaunchDigest":
        other = SnpLaunchDigest(self._digest)
        other.pages = self.pages
        return other
