"""The local store of AMD certificates and CRLs: filled by ``snpmeasure kds fetch``, read offline
by ``snpmeasure report verify --cache``.

Layout (docs/node-admission.md, "The cache"):

    DIR/vcek/<hwid>/<tcb>_vcek.der    a chip's VCEK for one TCB: Trustee's offline store layout
                                      (confidential-containers/trustee ``fetch_vcek_from_offline
                                      _store``: hwid lowercase hex, 64 bytes or Turin's 8;
                                      tcb ``bl03_tee00_snp08_ucode115``, plus ``_fmc02`` on Turin)
    DIR/vcek/v1/<Product>/cert_chain  ASK then ARK, PEM, as KDS serves /vcek/v1/<Product>/cert_chain
    DIR/vcek/v1/<Product>/crl         the CRL, DER, as KDS serves /vcek/v1/<Product>/crl
    DIR/vlek/v1/<Product>/cert_chain  ASVK then ARK
    DIR/vlek/v1/<Product>/crl

Everything in the cache was verified against a trusted root before it was written, and is
verified again whenever it is used: the cache is a convenience, never a source of trust.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InputError, OutputError
from ..files import read_file
from ..formats.certificates import parse_certificates, parse_crl
from ..formats.report import AttestationReport
from .kds import endorser, hwid, report_product, tcb_name


@dataclass(frozen=True)
class CachePaths:
    endorsement: str | None   # the VCEK's file (None for VLEK reports)
    cert_chain: str
    crl: str


def cache_paths(root: str | os.PathLike, report: AttestationReport,
                product: str | None = None) -> CachePaths:
    product = report_product(report, product)
    kind = endorser(report)
    root = os.fspath(root)
    vcek = None
    if kind == "vcek" and any(report.fields["chip_id"]):  # a masked CHIP_ID names no VCEK
        vcek = os.path.join(root, "vcek", hwid(report, product),
                            f"{tcb_name(report, product)}_vcek.der")
    base = os.path.join(root, kind, "v1", product)
    return CachePaths(vcek, os.path.join(base, "cert_chain"), os.path.join(base, "crl"))


def lookup(root: str | os.PathLike, report: AttestationReport, product: str | None = None):
    """What the cache holds for ``report``: ``(certificates, crls, source)``; missing files are
    simply absent (verification then says what is missing)."""
    if not os.path.isdir(root):
        raise InputError(root, "is not a cache directory (snpmeasure kds fetch --cache DIR "
                               "fills one)")
    paths = cache_paths(root, report, product)
    certs, crls = [], []
    for path in (paths.endorsement, paths.cert_chain):
        if path and os.path.isfile(path):
            certs += parse_certificates(read_file(path), path)
    if os.path.isfile(paths.crl):
        crls.append(parse_crl(read_file(paths.crl), paths.crl))
    return certs, crls, f"--cache {os.fspath(root)}"


def store(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` in the cache atomically, creating its directories."""
    from ..files import write_atomic

    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise OutputError(directory, f"cannot create: {exc.strerror or exc}") from None
    write_atomic(path, data, force=True)
