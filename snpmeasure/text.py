"""Showing values taken from inputs (file names, certificate subjects, manifest fields) safely
in text output: every control character, escape sequence introducer and line or paragraph
separator becomes a visible escape, so an input cannot add lines to a message or drive the
terminal. Bytes that were not valid UTF-8 in a file name (surrogate escapes) show as ``\\xNN``.
"""
from __future__ import annotations


def printable(text: object) -> str:
    value = str(text)
    if value.isprintable():
        return value
    import unicodedata

    out = []
    for char in value:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:          # an undecodable byte of a file name
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable() or (char == " "):
            out.append(char)
        elif unicodedata.category(char) == "Zs":  # other spaces are harmless
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 page``, ``2 pages``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
