"""Errors of ``s9reg serve``: the site cannot be read or the server cannot start."""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["ServeError", "SourceError", "SourceNotFoundError"]


class ServeError(S9regError):
    """The responder cannot start or run (address in use, no site)."""

    code = "SERVE"


class SourceError(ServeError):
    """The site's storage (directory, S3 or HTTP) could not be read."""

    code = "SERVE_SOURCE"


class SourceNotFoundError(SourceError):
    """The site has no such file."""

    code = "SERVE_SOURCE_NOT_FOUND"
