"""Attestation: ID blocks and guest policies a launch is signed with, and the verification of
attestation reports in three parts (authenticity: signature, chain to a pinned AMD root,
revocation; expectations: measurement, policy, TCB, IDs; the verdict)."""
