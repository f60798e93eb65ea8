"""Errors of ``s9reg publish`` (publishing-lessons.md §1, §3): storage failures and lost races.

A storage failure is the shared :class:`s9reg.s3.StorageError` family (also for a directory
target), re-exported here; a publish that stops on one leaves the previous site intact too.
"""

from __future__ import annotations

from s9reg.errors import S9regError
from s9reg.s3.errors import StorageError

__all__ = ["PublishConflictError", "PublishError", "PublishInterruptedError", "StorageError"]


class PublishError(S9regError):
    """A publish could not be planned or completed; the previous published site is intact."""

    code = "PUBLISH"


class PublishConflictError(PublishError):
    """Another publisher holds the registry or replaced the pointer first; nothing was changed.

    Retryable: running the same publish again later is the fix (the CLI gives it its own exit
    status, so CI can retry).
    """

    code = "PUBLISH_CONFLICT"


class PublishInterruptedError(PublishError):
    """The publish was interrupted (Ctrl-C); the message says which generation is live."""

    code = "PUBLISH_INTERRUPTED"
