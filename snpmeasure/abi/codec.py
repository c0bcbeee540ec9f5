"""Fast, construct-free codecs for the layouts declared in this package.

``codec("vmsa.SevEsSaveArea")`` parses to and builds from the same (nested) dicts as the
construct declaration, using the struct format generated from it (``abi/_generated.py``).
"""
from __future__ import annotations

import struct
from functools import lru_cache

from ._generated import LAYOUTS


class CodecError(ValueError):
    """Data too short for a layout, or a constant field with another value."""


class Fields(dict):
    """A parsed record: a dict whose keys are also attributes (like construct's Container)."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Codec:
    """Parse and build one layout. ``build`` refuses missing fields, as construct does."""

    def __init__(self, key: str) -> None:
        fmt, names, consts, size = LAYOUTS[key]
        self.key = key
        self._struct = struct.Struct(fmt)
        self.names = names
        self.consts = consts
        self.size = size
        self._paths = tuple(tuple(name.split(".")) for name in names)
        self._flat = not consts and all(len(path) == 1 for path in self._paths)

    @property
    def format(self) -> str:
        """The struct format (little-endian) of the layout."""
        return self._struct.format

    def sizeof(self) -> int:
        return self.size

    def parse(self, data: bytes) -> Fields:
        """Parse the first ``size`` bytes of ``data``; constants are checked (ValueError)."""
        if len(data) < self.size:
            raise CodecError(f"{self.key} needs {self.size} bytes, got {len(data)}")
        if self._flat:
            return Fields(zip(self.names, self._struct.unpack_from(data)))
        out = Fields()
        for path, value in zip(self._paths, self._struct.unpack_from(data)):
            target = out
            for part in path[:-1]:
                target = target.setdefault(part, Fields())
            target[path[-1]] = value
        for name, value in self.consts.items():
            if _get(out, name) != value:
                raise CodecError(f"{self.key}: {name} is {_get(out, name)!r}, not {value!r}")
        return out

    def build(self, values: dict) -> bytes:
        args = []
        for name, path in zip(self.names, self._paths):
            if name in self.consts:
                args.append(self.consts[name])
                continue
            target = values
            for part in path:
                target = target[part]
            args.append(target)
        return self._struct.pack(*args)


def _get(values: dict, dotted: str):
    for part in dotted.split("."):
        values = values[part]
    return values


@lru_cache(maxsize=None)
def codec(key: str) -> Codec:
    return Codec(key)
