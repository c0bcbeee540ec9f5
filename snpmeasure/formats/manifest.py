"""Reading manifests written by ``snpmeasure manifest`` (the schema is docs/manifest.schema.json)."""
from __future__ import annotations

import json

from ..errors import FormatError
from ..files import read_file
from ..limits import MAX_MANIFEST_FILE


def manifest_measurements(path: str) -> list[dict]:
    try:
        document = json.loads(read_file(path, MAX_MANIFEST_FILE, "manifest"))
        entries = document["measurements"]
        if not isinstance(entries, list):
            raise TypeError
        for entry in entries:
            bytes.fromhex(entry["measurement"])
    except (ValueError, KeyError, TypeError):
        raise FormatError(path, "manifest", "not a snpmeasure manifest (no measurements list)")
    return entries
