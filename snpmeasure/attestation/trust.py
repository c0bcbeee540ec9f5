"""AMD's roots of trust, pinned: the ARK and the ASK (VCEK chains) or ASVK (VLEK chains) of each
product line, shipped in ``roots/`` (see ``roots/PROVENANCE.md``) and checked against the
SHA-256 fingerprints below every time they are loaded.

A certificate is a trust anchor only if it is byte-equal to a pinned ARK or to a root the caller
names explicitly (``report verify --trust-root``); a certificate that merely calls itself
ARK-Milan is not trusted.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from ..abi.products import GENOA, MILAN, TURIN
from ..errors import SnpMeasureError
from ..formats.certificates import ASK, ASVK, der_bytes, fingerprint, load_certificates

ROOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "roots")

# (product, chain) -> (file, SHA-256 of the ASK or ASVK, SHA-256 of the ARK); the chain is
# "vcek" (ASK) or "vlek" (ASVK).
PINNED = {
    (MILAN, "vcek"): ("vcek_chain_milan.pem",
                      "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
                      "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"),
    (GENOA, "vcek"): ("vcek_chain_genoa.pem",
                      "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
                      "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"),
    (TURIN, "vcek"): ("vcek_chain_turin.pem",
                      "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
                      "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"),
    (MILAN, "vlek"): ("vlek_chain_milan.pem",
                      "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
                      "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"),
    (GENOA, "vlek"): ("vlek_chain_genoa.pem",
                      "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
                      "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"),
    (TURIN, "vlek"): ("vlek_chain_turin.pem",
                      "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c",
                      "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"),
}
INTERMEDIATE_ROLE = {"vcek": ASK, "vlek": ASVK}


@dataclass(frozen=True)
class TrustAnchor:
    """A root a chain may end in: the certificate and where its trust comes from."""

    cert: object
    source: str  # "pinned AMD root" or "--trust-root PATH"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    def describe(self) -> str:
        return f"{self.source}, sha256 {self.fingerprint[:16]}"


@lru_cache(maxsize=None)
def pinned_chain(product: str, chain: str) -> tuple:
    """(intermediate, ARK) pinned for ``product`` and ``chain`` ("vcek" or "vlek"), checked
    against their fingerprints; () for a product without pinned roots."""
    entry = PINNED.get((product, chain))
    if entry is None:
        return ()
    name, intermediate_sha, ark_sha = entry
    certs = load_certificates(os.path.join(ROOTS, name))
    found = [fingerprint(cert) for cert in certs]
    if found != [intermediate_sha, ark_sha]:
        raise SnpMeasureError(f"the pinned AMD certificates in {name} do not match their "
                              "fingerprints; the installation is damaged")
    return tuple(certs)


def pinned_anchors(product: str) -> list[TrustAnchor]:
    """The pinned ARK of ``product`` (the same for both chains)."""
    chain = pinned_chain(product, "vcek")
    return [TrustAnchor(chain[1], "pinned AMD root")] if chain else []


def pinned_intermediates(product: str, chain: str) -> list:
    pinned = pinned_chain(product, chain)
    return [pinned[0]] if pinned else []


def is_pinned_der(der: bytes) -> bool:
    """Whether ``der`` is byte-equal to one of the pinned certificates."""
    for product, chain in PINNED:
        if any(der_bytes(cert) == der for cert in pinned_chain(product, chain)):
            return True
    return False
