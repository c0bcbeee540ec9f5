"""Fast parsers derived from construct declarations (no second declaration of any layout).

A Struct made only of fixed-width integer fields and ``Bytes`` is turned into one
``struct.Struct``; parsing then costs one ``unpack`` instead of construct's interpreter.
"""
from __future__ import annotations

import struct
from typing import Callable

from construct import Bytes, FormatField, Struct


class Fields(dict):
    """A parsed record: a dict whose keys are also attributes (like construct's Container)."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def fast_parser(layout: Struct) -> Callable[[bytes], dict] | None:
    """A parser equivalent to ``layout.parse`` for flat layouts, or None if not flat."""
    fmt, names = "<", []
    for sub in layout.subcons:
        inner = sub.subcon if hasattr(sub, "subcon") and sub.name else sub
        if isinstance(inner, FormatField) and inner.fmtstr[0] == "<":
            fmt += inner.fmtstr[1:]
        elif isinstance(inner, Bytes) and isinstance(inner.length, int):
            fmt += f"{inner.length}s"
        else:
            return None
        names.append(sub.name)
    compiled = struct.Struct(fmt)
    if compiled.size != layout.sizeof():
        return None

    def parse(data: bytes) -> Fields:
        return Fields(zip(names, compiled.unpack_from(data)))

    return parse
