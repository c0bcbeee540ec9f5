"""The SEV-SNP attestation report (AMD SEV-SNP firmware ABI, ATTESTATION_REPORT; SPEC-NOTES 8).

One declaration covers versions 2 to 5: fields a version does not define are reserved (must be
zero) in it. Integers little-endian; the signature's r and s are 72-byte little-endian.

What each version added:

* 2: ABI 1.55 (google/go-sev-guest ``proto/sevsnp.proto``, field ``version``).
* 3: ABI 1.56: CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP at 0x188..0x18A (go-sev-guest commit
  5e3e5f5 "abi: parse v3 attestation reports"; virtee/sev ``AttestationReport`` docs).
* 4: SNP firmware 1.55.31; no field of the public layout changed: go-sev-guest commit b8d75ce
  ("Account for version 4 report from FW 1.55.31") only widens the accepted range, virtee/sev
  decodes ``3 | 4`` with the version 3 layout, and AMD's maintainer on virtee/sev PR #307 calls
  the version 4 changes internal. Parsed as version 3.
* 5: ABI 1.58: LAUNCH_MIT_VECTOR (0x1F8) and CURRENT_MIT_VECTOR (0x200), policy bit 25,
  PLATFORM_INFO bit 7 TIO_EN (go-sev-guest commit d0bc3f7; virtee/sev ``AttestationReport``).
"""
from __future__ import annotations

from functools import lru_cache

from . import lazy_layouts

REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SUPPORTED_VERSIONS = (2, 3, 4, 5)


@lru_cache(maxsize=None)
def declarations() -> dict:
    """The construct declarations (imported on first use: construct is slow to import)."""
    from construct import Bytes, Int8ul, Int32ul, Int64ul, Struct

    AttestationReport = Struct(
        "version" / Int32ul,             # 0x000
        "guest_svn" / Int32ul,           # 0x004
        "policy" / Int64ul,              # 0x008
        "family_id" / Bytes(16),         # 0x010
        "image_id" / Bytes(16),          # 0x020
        "vmpl" / Int32ul,                # 0x030
        "signature_algo" / Int32ul,      # 0x034
        "current_tcb" / Int64ul,         # 0x038
        "platform_info" / Int64ul,       # 0x040
        "key_info" / Int32ul,            # 0x048 author_key_en, mask_chip_key, signing_key
        "reserved_0x04c" / Bytes(4),     # 0x04C
        "report_data" / Bytes(64),       # 0x050
        "measurement" / Bytes(48),       # 0x090
        "host_data" / Bytes(32),         # 0x0C0
        "id_key_digest" / Bytes(48),     # 0x0E0
        "author_key_digest" / Bytes(48),  # 0x110
        "report_id" / Bytes(32),         # 0x140
        "report_id_ma" / Bytes(32),      # 0x160
        "reported_tcb" / Int64ul,        # 0x180
        "cpuid_fam_id" / Int8ul,         # 0x188 (v3+)
        "cpuid_mod_id" / Int8ul,         # 0x189 (v3+)
        "cpuid_step" / Int8ul,           # 0x18A (v3+)
        "reserved_0x18b" / Bytes(21),    # 0x18B
        "chip_id" / Bytes(64),           # 0x1A0
        "committed_tcb" / Int64ul,       # 0x1E0
        "current_build" / Int8ul,        # 0x1E8
        "current_minor" / Int8ul,        # 0x1E9
        "current_major" / Int8ul,        # 0x1EA
        "reserved_0x1eb" / Bytes(1),     # 0x1EB
        "committed_build" / Int8ul,      # 0x1EC
        "committed_minor" / Int8ul,      # 0x1ED
        "committed_major" / Int8ul,      # 0x1EE
        "reserved_0x1ef" / Bytes(1),     # 0x1EF
        "launch_tcb" / Int64ul,          # 0x1F0
        "launch_mit_vector" / Int64ul,   # 0x1F8 (v5)
        "current_mit_vector" / Int64ul,  # 0x200 (v5)
        "reserved_0x208" / Bytes(152),   # 0x208
        "signature_r" / Bytes(72),       # 0x2A0
        "signature_s" / Bytes(72),       # 0x2E8
        "reserved_0x330" / Bytes(368),   # 0x330
    )
    return {"AttestationReport": AttestationReport}


__getattr__ = lazy_layouts(declarations)


# Fields a report version does not have (their bytes are reserved there): the first version
# that has each (SNP ABI, ATTESTATION_REPORT: CPUID fields from 3, mitigation vectors from 5).
FIELD_SINCE = {"cpuid_fam_id": 3, "cpuid_mod_id": 3, "cpuid_step": 3,
               "launch_mit_vector": 5, "current_mit_vector": 5}

# (offset, size, name, versions in which the range is reserved)
RESERVED_RANGES = (
    (0x04C, 4, "reserved 0x04c", (2, 3, 4, 5)),
    (0x188, 3, "cpuid fields (reserved before version 3)", (2,)),
    (0x18B, 21, "reserved 0x18b", (2, 3, 4, 5)),
    (0x1EB, 1, "reserved 0x1eb", (2, 3, 4, 5)),
    (0x1EF, 1, "reserved 0x1ef", (2, 3, 4, 5)),
    (0x1F8, 16, "mitigation vectors (reserved before version 5)", (2, 3, 4)),
    (0x208, 152, "reserved 0x208", (2, 3, 4, 5)),
    (0x330, 368, "signature reserved 0x330", (2, 3, 4, 5)),
)

KEY_INFO_RESERVED = ~0x1F & 0xFFFFFFFF
SIGNING_KEYS = {0: "VCEK", 1: "VLEK", 7: "none"}
PLATFORM_INFO_BITS = {"smt_enabled": 0, "tsme_enabled": 1, "ecc_enabled": 2,
                      "rapl_disabled": 3, "ciphertext_hiding_enabled": 4,
                      "alias_check_complete": 5, "tio_enabled": 7}
SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1
