"""The certificate table a host hands its guests with an extended report (SNP_GET_EXT_REPORT
data pages, the configfs-tsm ``auxblob``), and snpguest's directory of certificate files.

Table layout (GHCB specification 56421, MSG_REPORT_REQ; Linux ``sev-guest.c``
``struct snp_msg_cert_entry``; google/go-sev-guest ``abi.ParseSnpCertTableHeader``): 24-byte
entries ``GUID[16] | u32 offset | u32 length`` (little-endian), terminated by an all-zero entry;
offsets count from the start of the table, and the certificates follow the table. GUIDs are
stored in RFC 4122 byte order (go-sev-guest copies them into ``uuid.UUID``; virtee/sev's host
writer emits ``Uuid::as_bytes``).

Everything here is untrusted input: a certificate found in a table only helps a verification if
it chains to a trusted root. The table's structure is checked strictly (``FormatError``): the
terminator must be present, every entry must lie after the table and inside the blob, entries
must not overlap, and a GUID may appear once.
"""
from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass

from ..errors import FormatError, InputError, input_error
from ..files import read_file
from ..limits import MAX_CERT_TABLE, MAX_CERT_TABLE_ENTRIES
from .certificates import parse_certificates

VCEK_GUID = "63da758d-e664-4564-adc5-f4b93be8accd"
VLEK_GUID = "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
ASK_GUID = "4ab7b379-bbac-4fe4-a02f-05aef327c782"   # also carries the ASVK (go-sev-guest)
ARK_GUID = "c0b406a4-a803-4952-9743-3fb6014cd0ae"
CRL_GUID = "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"   # virtee/sev CertType::CRL
KNOWN_GUIDS = {VCEK_GUID: "VCEK", VLEK_GUID: "VLEK", ASK_GUID: "ASK", ARK_GUID: "ARK",
               CRL_GUID: "CRL"}
ENTRY = struct.Struct("<16sII")


@dataclass(frozen=True)
class CertTableEntry:
    guid: str
    offset: int
    data: bytes

    @property
    def name(self) -> str:
        return KNOWN_GUIDS.get(self.guid, f"unknown {self.guid}")


def parse_cert_table(blob: bytes, path: str = "<certificate table>") -> list[CertTableEntry]:
    """The entries of a certificate table, checked (see the module docstring). An empty blob
    is an empty table."""
    if not blob:
        return []
    raw_entries = []
    at = 0
    while True:
        if at + ENTRY.size > len(blob):
            raise FormatError(path, "certificate table", "no all-zero terminating entry", at)
        raw_guid, offset, length = ENTRY.unpack_from(blob, at)
        if not any(raw_guid) and offset == 0 and length == 0:
            break
        raw_entries.append((at, str(uuid.UUID(bytes=raw_guid)), offset, length))
        at += ENTRY.size
        if len(raw_entries) > MAX_CERT_TABLE_ENTRIES:
            raise FormatError(path, "certificate table", f"more than {MAX_CERT_TABLE_ENTRIES} "
                              "entries", at)
    table_end = at + ENTRY.size
    entries, spans, seen = [], [], set()
    for index, (where, guid, offset, length) in enumerate(raw_entries):
        field = f"certificate table entry {index} ({KNOWN_GUIDS.get(guid, guid)})"
        if guid in seen:
            raise FormatError(path, field, "appears twice", where)
        seen.add(guid)
        if length == 0:
            raise FormatError(path, field, "has length 0", where + 20)
        if offset < table_end:
            raise FormatError(path, field, f"offset {offset:#x} points into the table "
                              f"(which ends at {table_end:#x})", where + 16)
        if offset + length > len(blob):
            raise FormatError(path, field, f"{offset:#x}+{length:#x} runs past the end of the "
                              f"data ({len(blob):#x})", where + 16)
        for other_start, other_end, other_index in spans:
            if offset < other_end and other_start < offset + length:
                raise FormatError(path, field, f"overlaps entry {other_index}", where + 16)
        spans.append((offset, offset + length, index))
        entries.append(CertTableEntry(guid, offset, bytes(blob[offset:offset + length])))
    return entries


def build_cert_table(items: list[tuple[str, bytes]]) -> bytes:
    """A certificate table holding ``(GUID, data)`` items in order (tests and fakes)."""
    header = (len(items) + 1) * ENTRY.size
    table, body = bytearray(), bytearray()
    for guid, data in items:
        table += ENTRY.pack(uuid.UUID(guid).bytes, header + len(body), len(data))
        body += data
    return bytes(table + bytes(ENTRY.size) + body)


@dataclass(frozen=True)
class HostCertificates:
    """Certificates a host supplied: endorsement (VCEK/VLEK) and chain candidates, and CRLs."""

    certificates: tuple   # cryptography certificates, untrusted
    crls: tuple           # raw CRL bytes (DER or PEM), untrusted
    source: str


def certificates_from_table(blob: bytes, path: str) -> HostCertificates:
    if not blob:  # a host without certificates supplies no table (report get writes none)
        raise FormatError(path, "table", "the file is empty: a certificate table holds at least "
                          "its terminator entry (24 zero bytes)")
    certs, crls = [], []
    for entry in parse_cert_table(blob, path):
        where = f"{path} ({entry.name} entry)"
        if entry.guid == CRL_GUID:
            crls.append(entry.data)
        elif entry.guid in KNOWN_GUIDS:
            certs.extend(parse_certificates(entry.data, where))
    return HostCertificates(tuple(certs), tuple(crls), path)


# snpguest writes vcek.der|pem, vlek.*, ask.*, asvk.*, ark.*, crl.* (virtee/snpguest
# src/certs.rs write_cert, src/fetch.rs).
DIRECTORY_NAMES = ("vcek", "vlek", "ask", "asvk", "ark")


def certificates_from_directory(directory: str | os.PathLike) -> HostCertificates:
    certs, crls = [], []
    found = False
    for stem in DIRECTORY_NAMES + ("crl",):
        for suffix in (".der", ".pem", ".crt", ".cert"):
            path = os.path.join(directory, stem + suffix)
            if not os.path.isfile(path):
                continue
            found = True
            if stem == "crl":
                crls.append(read_file(path))
            else:
                certs.extend(parse_certificates(read_file(path), path))
    if not found:
        raise InputError(directory, "holds none of vcek, vlek, ask, asvk, ark (.der or .pem)")
    return HostCertificates(tuple(certs), tuple(crls), str(directory))


def load_host_certificates(path: str | os.PathLike) -> HostCertificates:
    """``--certs``: a certificate table file, or a directory of certificate files."""
    if os.path.isdir(path):
        return certificates_from_directory(path)
    try:
        os.stat(path)
    except OSError as exc:
        raise input_error(path, exc) from None
    data = read_file(path, MAX_CERT_TABLE, "certificate table")
    if data.lstrip().startswith(b"-----BEGIN") or data[:2] == b"\x30\x82":
        # PEM, or a DER SEQUENCE: a table starts with a GUID, so this is a certificate
        raise FormatError(path, "certificate table", "is a certificate, not a table: give a "
                          "VCEK or VLEK with --vcek and intermediates with --ca")
    return certificates_from_table(data, str(path))
