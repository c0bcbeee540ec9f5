"""The SEV and SEV-ES launch digest: SHA-256 over the measured blobs, in order.

The one SHA-256 chain of the project: ``launch.ovmf.sev_parts`` and ``launch.igvm.sev_blobs``
say what is hashed; this says how.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable


class SevLaunchDigest:
    """A running SEV/SEV-ES launch digest. ``copy()`` shares a prefix between configurations."""

    __slots__ = ("_state", "blobs")

    def __init__(self) -> None:
        self._state = hashlib.sha256()
        self.blobs = 0

    def update(self, blob: bytes) -> "SevLaunchDigest":
        self._state.update(blob)
        self.blobs += 1
        return self

    def replay(self, blobs: Iterable[bytes]) -> "SevLaunchDigest":
        for blob in blobs:
            self.update(blob)
        return self

    @property
    def digest(self) -> bytes:
        """The digest so far (the chain can still be extended)."""
        return self._state.copy().digest()

    def copy(self) -> "SevLaunchDigest":
        other = SevLaunchDigest.__new__(SevLaunchDigest)
        other._state = self._state.copy()
        other.blobs = self.blobs
        return other
