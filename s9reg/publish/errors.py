"""Errors of ``s9reg publish`` (publishing-lessons.md §1, §3): storage failures and lost races."""

from __future__ import annotations

from s9reg.errors import S9regError
from s9reg.s3 import errors as s3_errors

__all__ = ["PublishConflictError", "PublishError", "StorageError"]


class PublishError(S9regError):
    """A publish could not be planned or completed; the previous published site is intact."""

    code = "PUBLISH"


class StorageError(PublishError, s3_errors.StorageError):
    """The storage target refused or failed a request (after retries).

    Both a :class:`PublishError` (the publish is abandoned, the live site intact) and a
    :class:`s9reg.s3.StorageError` (the shared storage family; see ``transient``).
    """

    code = "STORAGE"


class PublishConflictError(PublishError):
    """Another publisher holds the registry or replaced the pointer first; nothing was changed."""

    code = "PUBLISH_CONFLICT"
