"""Errors of registry administration: a refused edit of ``site-config.yaml``.

Every one leaves the file byte-identical (the edit is never committed) and reads as one line
naming the object and the problem. Bad input that a lower layer parses (a version range, a
key PEM) is reported through these too, with the option it came from.
"""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["AdminConflictError", "AdminError", "AdminNotFoundError"]


class AdminError(S9regError):
    """An administration command was refused: its input does not parse or makes no sense."""

    code = "ADMIN"


class AdminNotFoundError(AdminError):
    """It names a signer, package, version, category, asset or mirror that does not exist."""

    code = "ADMIN_NOT_FOUND"


class AdminConflictError(AdminError):
    """It contradicts the registry as it is (a key already registered, a last URL, …)."""

    code = "ADMIN_CONFLICT"
