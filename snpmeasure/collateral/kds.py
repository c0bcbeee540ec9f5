"""AMD Key Distribution Service (KDS) addresses for a report's certificates.

AMD 57230 ("VCEK certificate and KDS interface"), as implemented by virtee/snpguest
``request_vcek_kds``, virtee/snphost ``vek_url`` and Trustee ``fetch_vcek_from_kds``:

* VCEK: ``/vcek/v1/{product}/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..``; on Turin the
  query starts with ``fmcSPL`` and the hwID is the first 8 bytes of CHIP_ID (microsoft/CCF PR
  #7499: the full ID gets a 404). The SPLs are REPORTED_TCB's components (go-sev-guest
  ``fillInAttestation``), written as two-digit decimals (``blSPL=03``, ``ucodeSPL=115``) as
  snpguest, snphost and Trustee write them.
* ASK and ARK: ``/vcek/v1/{product}/cert_chain`` (PEM, ASK then ARK); ASVK and ARK:
  ``/vlek/v1/{product}/cert_chain``; CRLs: ``/vcek/v1/{product}/crl`` and
  ``/vlek/v1/{product}/crl`` (DER), as the ARK, ASK and ASVK name them in their CRL distribution
  points.
* VLEKs are issued to cloud providers only (KDS port 444 with a client certificate); a verifier
  takes them from the host's certificate table.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..abi.products import HWID_SIZES, PRODUCTS, TURIN, tcb_components
from ..errors import ConfigError, UnsupportedError
from ..formats.report import AttestationReport

KDS_URL = "https://kdsintf.amd.com"


def hwid(report: AttestationReport, product: str) -> str:
    """The hwID of the report's chip as KDS and the cache spell it: lowercase hex."""
    chip = report.fields["chip_id"]
    if not any(chip):
        raise UnsupportedError(f"{report.path}: CHIP_ID is masked (all zero), so the chip's VCEK "
                               "cannot be looked up; take it from the host's certificate table")
    return chip[:HWID_SIZES[product]].hex()


def tcb_parameters(report: AttestationReport, product: str) -> list[tuple[str, int]]:
    """The KDS query parameters of REPORTED_TCB, in KDS's order."""
    tcb = tcb_components(report.fields["reported_tcb"], product)
    names = [("blSPL", "boot_loader"), ("teeSPL", "tee"), ("snpSPL", "snp"),
             ("ucodeSPL", "microcode")]
    if product == TURIN:
        names.insert(0, ("fmcSPL", "fmc"))
    return [(query, tcb[component]) for query, component in names]


def tcb_name(report: AttestationReport, product: str) -> str:
    """Trustee's name for a TCB in its offline store: ``bl03_tee00_snp08_ucode115`` (and
    ``_fmc02`` on Turin): confidential-containers/trustee ``format_tcb_prefix``."""
    values = dict(tcb_parameters(report, product))
    name = (f"bl{values['blSPL']:02}_tee{values['teeSPL']:02}_snp{values['snpSPL']:02}"
            f"_ucode{values['ucodeSPL']:02}")
    if product == TURIN:
        name += f"_fmc{values['fmcSPL']:02}"
    return name


def endorser(report: AttestationReport) -> str:
    """``vcek`` or ``vlek``: the key kind the report names (KEY_INFO)."""
    kind = report.signing_key
    if kind not in ("VCEK", "VLEK"):
        raise UnsupportedError(f"{report.path}: the report is not signed (SIGNING_KEY none); "
                               "it has no certificates")
    return kind.lower()


def report_product(report: AttestationReport, product: str | None = None) -> str:
    """The product line whose KDS paths serve the report: the report's CPUID (version 3+) or
    ``product`` (required for version 2 reports, which carry no CPUID)."""
    if product is not None and product not in PRODUCTS:
        raise ConfigError(f"--product {product!r} is not one of {', '.join(PRODUCTS)}")
    named = report.product
    if report.version >= 3 and named in PRODUCTS:
        if product is not None and product != named:
            raise ConfigError(f"--product {product} contradicts the report's CPUID "
                              f"({report.cpuid}: {named})")
        return named
    if product is None:
        reason = "a version 2 report carries no CPUID" if report.version < 3 else \
            f"the report's CPUID ({report.cpuid}) is no known product"
        raise ConfigError(f"{report.path}: {reason}; give --product Milan, Genoa or Turin")
    return product


@dataclass(frozen=True)
class KdsUrls:
    """Where a report's certificates live on KDS (``vcek`` is None for VLEK reports)."""

    product: str
    endorser: str               # vcek or vlek
    vcek: str | None
    cert_chain: str
    crl: str

    def to_json(self) -> dict:
        return {"product": self.product, "endorser": self.endorser, "vcek": self.vcek,
                "cert_chain": self.cert_chain, "crl": self.crl}


def kds_urls(report: AttestationReport, product: str | None = None,
             base: str = KDS_URL) -> KdsUrls:
    product = report_product(report, product)
    kind = endorser(report)
    base = base.rstrip("/")
    vcek = None
    if kind == "vcek":
        query = "&".join(f"{name}={value:02}" for name, value in tcb_parameters(report, product))
        vcek = f"{base}/vcek/v1/{product}/{hwid(report, product)}?{query}"
    return KdsUrls(product, kind, vcek, f"{base}/{kind}/v1/{product}/cert_chain",
                   f"{base}/{kind}/v1/{product}/crl")
