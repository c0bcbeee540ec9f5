"""Reading manifests written by ``snpmeasure manifest`` (schema: docs/manifest.schema.json),
plain or signed (a DSSE envelope, ``formats.dsse``).

Trust follows the keys the caller gives: a signed manifest is read only when one of its
signatures verifies with one of them, and with keys given an unsigned manifest is refused. A
signed manifest without keys is refused too: nothing would make its signature mean anything.
"""
from __future__ import annotations

import json
import re

from ..errors import FormatError, SignatureError
from ..files import read_file
from ..text import printable
from ..limits import MAX_MANIFEST_FILE, MAX_VCPUS
from .dsse import is_envelope, open_envelope

MANIFEST_VERSIONS = (1, 2)


def load_manifest(path: str, public_keys: tuple | list = ()) -> dict:
    """The manifest document at ``path``; with ``public_keys`` it must be signed by one of
    them (SignatureError, exit 8, otherwise)."""
    return parse_manifest(read_manifest_bytes(path), path, public_keys)


def read_manifest_bytes(path: str) -> bytes:
    return read_file(path, MAX_MANIFEST_FILE, "manifest")


def parse_manifest(data: bytes, path: str, public_keys: tuple | list = ()) -> dict:
    """:func:`load_manifest` of bytes already read."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise FormatError(path, "manifest", "is not JSON") from None
    except RecursionError:  # the C decoder counts its nesting against the recursion limit
        raise FormatError(path, "manifest", "nests too deeply to be a manifest") from None
    if is_envelope(document):
        if not public_keys:
            raise SignatureError(f"{path}: a signed manifest is trusted only with the key that "
                                 "signed it: give --manifest-key")
        document, _ = open_envelope(document, list(public_keys), path)
    elif public_keys:
        raise SignatureError(f"{path}: the manifest is not signed, but --manifest-key asks for "
                             "one signed by that key")
    check_manifest(document, path)
    return document


def check_manifest(document: object, path: str) -> None:
    """The parts of a manifest a verifier relies on: version, and a measurement per entry."""
    try:
        if not isinstance(document, dict):
            raise TypeError
        version = document.get("manifest_version")
        known = " or ".join(map(str, MANIFEST_VERSIONS))
        if "manifest_version" not in document:
            raise FormatError(path, "manifest_version", "missing: not a snpmeasure manifest")
        if type(version) is not int or version not in MANIFEST_VERSIONS:
            shown = printable(json.dumps(version))[:40]
            raise FormatError(path, "manifest_version", f"{shown} is not a version this "
                              f"release reads ({known})")
        entries = document["measurements"]
        if not isinstance(entries, list):
            raise TypeError
        for index, entry in enumerate(entries):
            if len(bytes.fromhex(entry["measurement"])) not in (32, 48):
                raise ValueError
            _check_entry(entry, index, path)
    except FormatError:
        raise
    except (ValueError, KeyError, TypeError):
        raise FormatError(path, "manifest", "not a snpmeasure manifest (no list of "
                          "measurements)") from None


_HEX = re.compile(r"0x[0-9a-f]{1,16}")
# key: (check, what it must be); every key may also be null (docs/manifest.schema.json)
_ENTRY_VALUES = {
    "mode": (lambda v: v in ("sev", "seves", "snp", "snp:svsm"), "sev, seves, snp or snp:svsm"),
    "vcpus": (lambda v: type(v) is int and 1 <= v <= MAX_VCPUS, f"an integer 1..{MAX_VCPUS}"),
    "vcpu_type": (lambda v: isinstance(v, str) and 0 < len(v) <= 64 and v.isprintable(),
                  "a CPU model name"),
    "vcpu_sig": (lambda v: isinstance(v, str) and bool(_HEX.fullmatch(v)) and int(v, 16) < 1 << 32,
                 "a 32-bit hex signature such as 0xa00f11"),
    "vmm_type": (lambda v: v in ("QEMU", "ec2", "gce"), "QEMU, ec2 or gce"),
    "guest_features": (lambda v: isinstance(v, str) and bool(_HEX.fullmatch(v)),
                       "a 64-bit hex value such as 0x1"),
    "legacy_vm_type": (lambda v: type(v) is bool, "true or false"),
}


def _check_entry(entry: dict, index: int, path: str) -> None:
    """The configuration keys of an entry: their types and ranges, as the schema gives them
    (readers such as the CoRIM export decode them)."""
    for key, (valid, what) in _ENTRY_VALUES.items():
        value = entry.get(key)
        if value is not None and not valid(value):
            shown = printable(json.dumps(value))[:40]
            raise FormatError(path, f"measurements[{index}].{key}", f"{shown} is not {what}")


def manifest_measurements(path: str, public_keys: tuple | list = ()) -> list[dict]:
    """The entries of the manifest at ``path`` (see :func:`load_manifest` for keys)."""
    return load_manifest(path, public_keys)["measurements"]
