"""The exception root of s9reg and the families every layer shares.

Every error s9reg raises on purpose, with its ``code`` and the module that defines it. Each
family lives next to the code that raises it; this module holds the root and the families that
more than one layer needs. A class without a module named is defined in its parent's module.
``tests/unit/test_errors.py`` checks this tree against the classes, so it cannot drift::

    S9regError                          S9REG                       s9reg.errors
    ├── ConfigError                     CONFIG
    ├── ToolMissingError                TOOL_MISSING
    ├── VersionError                    VERSION                     s9reg.exver.errors
    ├── S9pkError                       S9PK                        s9reg.s9pk.errors
    │   ├── MalformedArchiveError       S9PK_MALFORMED
    │   ├── SignatureError              S9PK_SIGNATURE
    │   ├── IntegrityError              S9PK_INTEGRITY
    │   ├── ManifestError               S9PK_MANIFEST
    │   ├── UnsupportedFormatError      S9PK_UNSUPPORTED
    │   └── KeyFormatError              KEY_FORMAT
    ├── RegistryError                   REGISTRY                    s9reg.registry.errors
    │   ├── UnauthorizedSignerError     UNAUTHORIZED_SIGNER
    │   ├── QueryError                  QUERY                       s9reg.registry.requests
    │   └── InvalidParamsError          INVALID_PARAMS              s9reg.registry.requests
    ├── CatalogueError                  CATALOGUE                   s9reg.catalogue.errors
    ├── BuildError                      BUILD                       s9reg.builder.errors
    ├── StorageError                    STORAGE                     s9reg.s3.errors
    │   ├── StorageAuthError            STORAGE_AUTH
    │   ├── StorageNotFoundError        STORAGE_NOT_FOUND
    │   └── StorageUnavailableError     STORAGE_UNAVAILABLE
    ├── PublishError                    PUBLISH                     s9reg.publish.errors
    │   ├── PublishConflictError        PUBLISH_CONFLICT
    │   └── PublishInterruptedError     PUBLISH_INTERRUPTED
    ├── ServeError                      SERVE                       s9reg.serve.errors
    │   └── SourceError                 SERVE_SOURCE
    │       └── SourceNotFoundError     SERVE_SOURCE_NOT_FOUND
    ├── CacheError                      CACHE                       s9reg.imagecache.errors
    │   ├── ApiRequestError             BAD_REQUEST
    │   ├── ImageReferenceError         CACHE_BAD_REFERENCE
    │   ├── ImageNotFoundError          CACHE_IMAGE_NOT_FOUND
    │   ├── OfflineImageUnavailableError  OFFLINE_IMAGE_UNAVAILABLE
    │   ├── RegistryHttpError           CACHE_HTTP
    │   ├── UpstreamUnavailableError    CACHE_UNREACHABLE
    │   └── EngineError                 CACHE_ENGINE
    └── AdminError                      ADMIN                       s9reg.admin.errors
        ├── AdminNotFoundError          ADMIN_NOT_FOUND
        └── AdminConflictError          ADMIN_CONFLICT

Every one exits the CLI with status 1 (``exit_code``), except where ``s9reg.cli`` maps a code
to another status (its module docstring lists them). This module imports nothing from s9reg.
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
