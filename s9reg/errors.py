"""The exception root of s9reg and the families every layer shares.

Tree (each family lives next to the code that raises it; this module holds the root and the
families that more than one layer needs)::

    S9regError                      exit_code 1, code "S9REG"
    ├── ConfigError                 site-config.yaml problems (file, line, key)
    ├── S9pkError                   .s9pk format (s9reg.s9pk.errors)
    │   ├── MalformedArchiveError
    │   ├── SignatureError
    │   ├── IntegrityError
    │   ├── ManifestError
    │   ├── UnsupportedFormatError
    │   └── KeyFormatError          key and PEM problems
    └── ToolMissingError            an external binary is not installed

This module imports nothing from s9reg.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["ConfigError", "S9regError", "ToolMissingError"]


class S9regError(Exception):
    """Base of every error s9reg raises on purpose.

    Attributes:
        exit_code: process exit status the CLI uses for this error.
        code: stable machine-readable identifier (used by ``--json`` output).
        hint: optional one-line advice on how to fix the problem.
        details: optional long text, shown only with ``--verbose``.
    """

    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "S9REG"

    def __init__(
        self, message: str, *, hint: str | None = None, details: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take other constructor arguments; rebuild from the attributes instead,
        # so errors cross process boundaries (the build verifies in worker processes).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(
    cls: type[S9regError], args: tuple[object, ...], state: dict[str, object]
) -> S9regError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ConfigError(S9regError):
    """The site configuration is invalid."""

    code = "CONFIG"


class ToolMissingError(S9regError):
    """An external program s9reg needs is not installed."""

    code = "TOOL_MISSING"
