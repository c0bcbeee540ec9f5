"""Parsing the list and range values of ``manifest`` and ``find`` (``1-64``, ``0x1,0x21``)."""
from __future__ import annotations

from .cpu import CPU_TYPES, canonical_cpu_type
from .errors import ConfigError
from .limits import MAX_LIST_VALUES
from .profiles import VMM_TYPES, profile_named



def _items(flag: str, text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ConfigError(f"{flag} {text!r} has an empty item")
    return items


def _int(flag: str, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text, 10)
        except ValueError:
            raise ConfigError(f"{flag}: {text!r} is not an integer") from None


def int_list(flag: str, text: str) -> list[int]:
    """``1-4,8,0x10``: integers and inclusive ranges, in the order given, without repeats."""
    out: list[int] = []
    seen: set[int] = set()
    for item in _items(flag, text):
        if "-" in item.lstrip("-"):
            low_text, high_text = item.split("-", 1)
            low, high = _int(flag, low_text), _int(flag, high_text)
            if high < low:
                raise ConfigError(f"{flag}: range {item!r} is empty")
            if high - low >= MAX_LIST_VALUES:
                raise ConfigError(f"{flag}: range {item!r} has more than {MAX_LIST_VALUES} values")
            values = range(low, high + 1)
        else:
            values = [_int(flag, item)]
        for value in values:
            if value not in seen:
                seen.add(value)
                out.append(value)
        if len(out) > MAX_LIST_VALUES:
            raise ConfigError(f"{flag} lists more than {MAX_LIST_VALUES} values")
    return out


def cpu_type_list(flag: str, text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(CPU_TYPES)
    out = []
    for item in _items(flag, text):
        name = canonical_cpu_type(item)
        if name not in out:
            out.append(name)
    return out


def vmm_type_list(flag: str, text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(VMM_TYPES)
    out = []
    for item in _items(flag, text):
        name = profile_named(item).name
        if name not in out:
            out.append(name)
    return out


_BOOLS = {"on": True, "true": True, "yes": True, "1": True,
          "off": False, "false": False, "no": False, "0": False}


def bool_list(flag: str, text: str) -> list[bool]:
    if text.strip().lower() in ("both", "all"):
        return [False, True]
    out = []
    for item in _items(flag, text):
        if item.lower() not in _BOOLS:
            raise ConfigError(f"{flag}: {item!r} is not on or off")
        if _BOOLS[item.lower()] not in out:
            out.append(_BOOLS[item.lower()])
    return out
