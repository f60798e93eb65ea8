"""Errors of ``s9reg publish`` (publishing-lessons.md §1, §3): storage failures and lost races."""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["PublishConflictError", "PublishError", "StorageError"]


class PublishError(S9regError):
    """A publish could not be planned or completed; the previous published site is intact."""

    code = "PUBLISH"


class StorageError(PublishError):
    """The storage target refused or failed a request (after retries)."""

    code = "STORAGE"


class PublishConflictError(PublishError):
    """Another publisher holds the registry or replaced the pointer first; nothing was changed."""

    code = "PUBLISH_CONFLICT"
