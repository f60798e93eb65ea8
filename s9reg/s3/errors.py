"""Errors of S3-compatible storage, shared by publish, serve and the image cache.

Tree (the root is :class:`s9reg.errors.S9regError`)::

    StorageError                    code "STORAGE"; ``transient`` for retry decisions
    ├── StorageAuthError            no credentials, or the storage refused them
    ├── StorageNotFoundError        no such bucket or key
    └── StorageUnavailableError     the endpoint cannot be reached (named in the message)

Only this package's client factory and error mapping raise them from boto3 failures; the
siblings turn them into their own families where their callers expect those.
"""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = [
    "StorageAuthError",
    "StorageError",
    "StorageNotFoundError",
    "StorageUnavailableError",
]


class StorageError(S9regError):
    """The storage refused or failed a request (after botocore's retries).

    Attributes:
        transient: trying again later may succeed (throttling, 5xx, connection failures).
    """

    code = "STORAGE"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message, hint=hint, details=details)
        self.transient = transient


class StorageAuthError(StorageError):
    """No credentials were found, or the storage refused them."""

    code = "STORAGE_AUTH"


class StorageNotFoundError(StorageError):
    """The bucket or the key does not exist."""

    code = "STORAGE_NOT_FOUND"


class StorageUnavailableError(StorageError):
    """The endpoint could not be reached (refused, timed out, name not resolved)."""

    code = "STORAGE_UNAVAILABLE"
