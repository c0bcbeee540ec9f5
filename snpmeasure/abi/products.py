"""AMD EPYC product lines as SEV-SNP attestation sees them.

Sources (see docs/verify.md, "Products"):

* CPUID family/model ranges: virtee/sev ``Generation::identify_cpu`` (commit 9cf2adb), Trustee
  ``get_processor_generation`` and snpguest ``get_processor_model`` agree on Milan = family 0x19
  models 0x00-0x0F, Genoa = family 0x19 models 0x10-0x1F and 0xA0-0xAF (Zen 4c Bergamo and
  Siena, which use Genoa's keys: AMD 57230 as quoted in google/go-sev-guest PR #184), Turin =
  family 0x1A models 0x00-0x11 (Turin 0x00B00F21 is model 0x02, Turin dense 0x00B10F10 model
  0x11). Anything else is "unknown": Venice's ranges exist only in an unreleased virtee/sev
  commit, and no public source gives its certificate chain.
* TCB_VERSION byte layouts: virtee/sev ``TcbVersion::from_legacy_bytes`` (Milan, Genoa) and
  ``from_turin_bytes`` (Turin: an FMC byte first).
* hwID length in the VCEK and the KDS URL: 64 bytes (the whole CHIP_ID) on Milan and Genoa, the
  first 8 bytes of CHIP_ID on Turin (the real Turin VCEK in tests/data/reports; microsoft/CCF PR
  #7499: the KDS answers 404 to the long form).
"""
from __future__ import annotations

MILAN, GENOA, TURIN = "Milan", "Genoa", "Turin"
PRODUCTS = (MILAN, GENOA, TURIN)
UNKNOWN = "unknown"

# (family, first model, last model, product)
CPUID_RANGES = (
    (0x19, 0x00, 0x0F, MILAN),
    (0x19, 0x10, 0x1F, GENOA),
    (0x19, 0xA0, 0xAF, GENOA),   # Zen 4c: Bergamo, Siena
    (0x1A, 0x00, 0x11, TURIN),   # Turin, Turin dense
)

# TCB_VERSION: byte index of each component.
TCB_LAYOUT_MILAN_GENOA = {"boot_loader": 0, "tee": 1, "snp": 6, "microcode": 7}
TCB_LAYOUT_TURIN = {"fmc": 0, "boot_loader": 1, "tee": 2, "snp": 3, "microcode": 7}
TCB_LAYOUTS = {MILAN: TCB_LAYOUT_MILAN_GENOA, GENOA: TCB_LAYOUT_MILAN_GENOA,
               TURIN: TCB_LAYOUT_TURIN}

HWID_SIZES = {MILAN: 64, GENOA: 64, TURIN: 8}


def product_from_cpuid(family: int, model: int) -> str:
    """The product line of a CPUID family and model, or ``"unknown"`` (never a guess)."""
    for fam, first, last, name in CPUID_RANGES:
        if family == fam and first <= model <= last:
            return name
    return UNKNOWN


def canonical_product(name: str) -> str | None:
    """``Milan``, ``Genoa`` or ``Turin`` for a name in any case, else None."""
    for known in PRODUCTS:
        if known.lower() == name.strip().lower():
            return known
    return None


def tcb_value(components: dict, product: str) -> int:
    """The TCB_VERSION holding ``components`` (name -> SVN; missing ones 0) in ``product``'s
    layout."""
    layout = TCB_LAYOUTS[product]
    raw = bytearray(8)
    for name, svn in components.items():
        if name not in layout:
            raise KeyError(name)
        raw[layout[name]] = svn
    return int.from_bytes(raw, "little")


def tcb_components(value: int, product: str) -> dict:
    """The components of a TCB_VERSION in ``product``'s layout (Milan's for unknown products,
    marked as such by the caller)."""
    layout = TCB_LAYOUTS.get(product, TCB_LAYOUT_MILAN_GENOA)
    raw = value.to_bytes(8, "little")
    return {name: raw[index] for name, index in layout.items()}
