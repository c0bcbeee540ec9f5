"""The one exception hierarchy of snpmeasure.

Every failure the library can foresee is a :class:`SnpMeasureError`; the CLI turns each subclass
into a one-line message and the exit code named by ``exit_code`` (the table in README.md).
Anything else that escapes is a bug.
"""
from __future__ import annotations


class SnpMeasureError(Exception):
    """Root of every error snpmeasure raises on purpose."""

    exit_code = 1


class ConfigError(SnpMeasureError):
    """The requested configuration is invalid (a flag value or a combination of flags)."""

    exit_code = 2


def shown_path(path: object) -> str:
    """A path as messages name it: ``-`` (an input read from standard input) in words."""
    return "standard input" if str(path) == "-" else str(path)


class InputError(SnpMeasureError):
    """An input file is missing or cannot be read."""

    exit_code = 3

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{shown_path(path)}: {reason}")


def input_error(path: object, exc: OSError) -> InputError:
    """The InputError for an OSError raised while reading ``path``."""
    if isinstance(exc, IsADirectoryError):
        return InputError(path, "is a directory, not a file")
    if isinstance(exc, FileNotFoundError):
        return InputError(path, "no such file")
    if isinstance(exc, PermissionError):
        return InputError(path, "permission denied")
    return InputError(path, exc.strerror or str(exc))


class FormatError(SnpMeasureError):
    """An input file is malformed: names the file, the field and, where known, the offset."""

    exit_code = 4

    def __init__(self, path: object, field: str, reason: str, offset: int | None = None) -> None:
        self.path = str(path)
        self.field = field
        self.reason = reason
        self.offset = offset
        where = f" at offset {offset:#x}" if offset is not None else ""
        super().__init__(f"{shown_path(path)}: {field}{where}: {reason}")


class UnsupportedError(SnpMeasureError):
    """The input is well formed, but no real launch (or no supported one) could use it as asked."""

    exit_code = 5


class HostRuleError(UnsupportedError):
    """The host stack (QEMU, KVM, the cloud) refuses the launch; ``rule`` names the rule in
    ``launch.hoststack.RULES``."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)


class VerificationError(SnpMeasureError):
    """A signature, digest or expectation did not verify."""

    exit_code = 6


class SignatureError(VerificationError):
    """A report signature or its certificate chain does not verify."""

    exit_code = 8


class OutputError(SnpMeasureError):
    """An output file cannot be written (or would be written through a symbolic link)."""

    exit_code = 7

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SnpMeasureWarning(UserWarning):
    """Something a real launch accepts but the user should know about (shown on stderr by the CLI)."""


class HostRuleWarning(SnpMeasureWarning):
    """A host rule was skipped (``--no-host-checks``): the launch measured is one the modelled
    host stack refuses."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)
