"""A fake AMD key hierarchy for tests: ARK -> ASK -> VCEK and ARK -> ASVK -> VLEK per product,
shaped like AMD's (names, RSASSA-PSS/SHA-384, CA constraints, AMD extensions; see
tests/data/reports for the real ones), and attestation reports of every version signed with it.

Tests use it through ``report verify --trust-root``; nothing here is trusted by default, which is
the point: the same hierarchy without ``--trust-root`` must be refused.
"""
from __future__ import annotations

import datetime
import struct
from dataclasses import dataclass, field, replace
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
AMD = "1.3.6.1.4.1.3704.1"
# CPUID family/model of each product (tests/data/reports and abi/products.py)
CPUID = {"Milan": (0x19, 0x01, 0x01), "Genoa": (0x19, 0x11, 0x01), "Turin": (0x1A, 0x02, 0x01)}


@lru_cache(maxsize=None)
def rsa_key(index: int):
    return rsa.generate_private_key(65537, 2048)


@lru_cache(maxsize=None)
def ec_key(index: int):
    return ec.generate_private_key(ec.SECP384R1())


def amd_name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Advanced Micro Devices"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def der_int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return bytes([0x02, len(raw)]) + raw


def ia5(text: str) -> bytes:
    raw = text.encode()
    return bytes([0x16, len(raw)]) + raw


def certificate(subject: str, issuer: str, public_key, signer, serial: int, *, ca: bool,
                not_before=EPOCH, days: int = 3650, extensions=(), hash_algorithm=None,
                padding_=PSS):
    builder = (x509.CertificateBuilder().subject_name(amd_name(subject))
               .issuer_name(amd_name(issuer)).public_key(public_key).serial_number(serial)
               .not_valid_before(not_before)
               .not_valid_after(not_before + datetime.timedelta(days=days)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                        critical=True)
    for oid, value in extensions:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
    if isinstance(signer, rsa.RSAPrivateKey):
        return builder.sign(signer, hash_algorithm or hashes.SHA384(), rsa_padding=padding_)
    return builder.sign(signer, hash_algorithm or hashes.SHA384())


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def tcb_value(product: str, bl=3, tee=0, snp=8, ucode=115, fmc=0) -> int:
    raw = bytearray(8)
    if product == "Turin":
        raw[0], raw[1], raw[2], raw[3], raw[7] = fmc, bl, tee, snp, ucode
    else:
        raw[0], raw[1], raw[6], raw[7] = bl, tee, snp, ucode
    return int.from_bytes(raw, "little")


def endorsement_extensions(product: str, tcb: dict, hwid: bytes | None, *, vlek=False,
                           product_name=None, drop=(), extra=()):
    values = [(f"{AMD}.1", der_int(1 if product == "Turin" else 0)),
              (f"{AMD}.2", ia5(product_name or (product if vlek or product != "Milan"
                                                else "Milan-B0")))]
    numbers = {"3.1": tcb["bl"], "3.2": tcb["tee"], "3.3": tcb["snp"], "3.8": tcb["ucode"]}
    if product == "Turin":
        numbers["3.9"] = tcb["fmc"]
    else:
        numbers.update({"3.4": 0, "3.5": 0, "3.6": 0, "3.7": 0})
    values += [(f"{AMD}.{arc}", der_int(value)) for arc, value in numbers.items()]
    if hwid is not None:
        values.append((f"{AMD}.4", hwid))
    if vlek:
        values.append((f"{AMD}.5", ia5("CN=cloud.example")))
    return [(oid, value) for oid, value in values if oid.rsplit(f"{AMD}.", 1)[1] not in drop] \
        + list(extra)


@dataclass
class Hierarchy:
    """One product's ARK, ASK, ASVK, VCEK and VLEK (and their keys)."""

    product: str
    ark: object
    ask: object
    asvk: object
    vcek: object
    vlek: object
    ark_key: object
    ask_key: object
    vcek_key: object
    vlek_key: object
    chip_id: bytes
    tcb: dict = field(default_factory=dict)

    def write(self, directory, name="chain"):
        """root.pem (the ARK), ca.pem (ASK + ASVK), vcek.der, vlek.der: their paths."""
        paths = {"root": directory / f"{name}-ark.pem", "ca": directory / f"{name}-ca.pem",
                 "vcek": directory / f"{name}-vcek.der", "vlek": directory / f"{name}-vlek.der"}
        paths["root"].write_bytes(pem(self.ark))
        paths["ca"].write_bytes(pem(self.ask, self.asvk))
        paths["vcek"].write_bytes(der(self.vcek))
        paths["vlek"].write_bytes(der(self.vlek))
        return paths


def hierarchy(product: str = "Milan", *, seed: int = 0, chip_id: bytes | None = None,
              tcb: dict | None = None, vcek_extensions=None, vcek_not_before=EPOCH,
              vcek_days: int = 2555, ask_not_before=EPOCH, ark_not_before=EPOCH,
              ark_days: int = 9000, vcek_issuer=None, ask_issuer=None) -> Hierarchy:
    tcb = tcb or {"bl": 3, "tee": 0, "snp": 8, "ucode": 115, "fmc": 2}
    if chip_id is None:
        chip_id = bytes((seed * 7 + i) % 256 or 1 for i in range(8)) + \
            (bytes(56) if product == "Turin" else bytes(range(56)))
    hwid = chip_id[:8] if product == "Turin" else chip_id
    ark_key, ask_key, asvk_key = rsa_key(3 * seed), rsa_key(3 * seed + 1), rsa_key(3 * seed + 2)
    vcek_key, vlek_key = ec_key(2 * seed), ec_key(2 * seed + 1)
    ark = certificate(f"ARK-{product}", f"ARK-{product}", ark_key.public_key(), ark_key, 0x10000,
                      ca=True, not_before=ark_not_before, days=ark_days)
    ask = certificate(f"SEV-{product}", ask_issuer or f"ARK-{product}", ask_key.public_key(),
                      ark_key, 0x10001, ca=True, not_before=ask_not_before)
    asvk = certificate(f"SEV-VLEK-{product}", f"ARK-{product}", asvk_key.public_key(), ark_key,
                       0x10101, ca=True)
    vcek = certificate("SEV-VCEK", vcek_issuer or f"SEV-{product}", vcek_key.public_key(),
                       ask_key, 1, ca=False, not_before=vcek_not_before, days=vcek_days,
                       extensions=vcek_extensions if vcek_extensions is not None
                       else endorsement_extensions(product, tcb, hwid))
    # AMD's VCEKs and VLEKs have serial 0, which cryptography refuses to issue: 1 here.
    vlek = certificate("SEV-VLEK", f"SEV-VLEK-{product}", vlek_key.public_key(), asvk_key, 1,
                       ca=False, days=365 * 3,
                       extensions=endorsement_extensions(product, tcb, None, vlek=True))
    return Hierarchy(product, ark, ask, asvk, vcek, vlek, ark_key, ask_key, vcek_key, vlek_key,
                     chip_id, tcb)


@dataclass(frozen=True)
class ReportSpec:
    """The fields of a test report; ``build()`` lays it out (AMD SEV-SNP ABI, SPEC-NOTES 8)."""

    version: int = 3
    product: str = "Milan"
    signing_key: int = 0          # 0 VCEK, 1 VLEK, 7 none
    signature_algo: int = 1
    policy: int = 0x30000
    measurement: bytes = bytes(range(48))
    report_data: bytes = bytes(64)
    chip_id: bytes = bytes(64)
    tcb: dict = field(default_factory=lambda: {"bl": 3, "tee": 0, "snp": 8, "ucode": 115,
                                               "fmc": 2})
    cpuid: tuple | None = None    # (family, model, stepping); default: the product's
    vmpl: int = 0
    guest_svn: int = 1

    def body(self) -> bytearray:
        raw = bytearray(0x4A0)
        struct.pack_into("<IIQ", raw, 0, self.version, self.guest_svn, self.policy)
        struct.pack_into("<II", raw, 0x30, self.vmpl, self.signature_algo)
        tcb = tcb_value(self.product, **self.tcb)
        struct.pack_into("<QQ", raw, 0x38, tcb, 1)
        struct.pack_into("<I", raw, 0x48, self.signing_key << 2)
        raw[0x50:0x90] = self.report_data
        raw[0x90:0xC0] = self.measurement
        struct.pack_into("<Q", raw, 0x180, tcb)
        if self.version >= 3:
            raw[0x188:0x18B] = bytes(self.cpuid or CPUID[self.product])
        raw[0x1A0:0x1E0] = self.chip_id
        struct.pack_into("<Q", raw, 0x1E0, tcb)
        struct.pack_into("<Q", raw, 0x1F0, tcb)
        return raw

    def build(self, key) -> bytes:
        raw = self.body()
        if key is not None:
            r, s = decode_dss_signature(key.sign(bytes(raw[:0x2A0]), ec.ECDSA(hashes.SHA384())))
            raw[0x2A0:0x2A0 + 72] = r.to_bytes(72, "little")
            raw[0x2E8:0x2E8 + 72] = s.to_bytes(72, "little")
        return bytes(raw)


def report_for(h: Hierarchy, **changes) -> bytes:
    """A report of ``h``'s chip and TCB, signed by its VCEK (or VLEK with signing_key=1)."""
    spec = ReportSpec(product=h.product, chip_id=h.chip_id, tcb=h.tcb)
    spec = replace(spec, **changes)
    key = {0: h.vcek_key, 1: h.vlek_key}.get(spec.signing_key)
    if spec.signing_key == 1 and "chip_id" not in changes:
        spec = replace(spec, chip_id=bytes(64))
    return spec.build(key)


def crl(h: Hierarchy, *, revoked=(), last_update=EPOCH, days: int = 4000, signer=None,
        issuer=None, padding_=PSS):
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(amd_name(issuer or f"ARK-{h.product}"))
               .last_update(last_update)
               .next_update(last_update + datetime.timedelta(days=days)))
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(last_update).build())
    return builder.sign(signer or h.ark_key, hashes.SHA384(), rsa_padding=padding_)
