"""Frozen, keyword-only records: what a frozen ``dataclass(kw_only=True)`` gives, without the
cost of importing dataclasses (about 15 ms, a third of ``measure``'s whole run).

A subclass lists its fields with their defaults in ``FIELDS`` (``REQUIRED`` for none) and may
normalise and validate in ``_check()``, setting fields with ``self._set(name, value)``. Instances
cannot be changed; ``replace(**changes)`` makes a new, checked one.
"""
from __future__ import annotations

REQUIRED = object()


class Record:
    __slots__ = ()
    FIELDS: dict = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "__slots__" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must declare __slots__ = tuple(FIELDS)")

    def __init__(self, **values) -> None:
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected fields: "
                            f"{', '.join(sorted(unknown))}")
        for name, default in self.FIELDS.items():
            value = values.get(name, default)
            if value is REQUIRED:
                raise TypeError(f"{type(self).__name__}() missing required field: {name}")
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        """Normalise and validate the fields (subclasses)."""

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def replace(self, **changes) -> "Record":
        """A copy with ``changes`` applied, checked like a new record."""
        return type(self)(**{**self.as_dict(), **changes})

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.as_dict().values())))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"{type(self).__name__}({inner})"
