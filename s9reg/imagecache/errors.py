"""Errors of the image cache shim (``shared/spec/image-cache.md``).

Tree::

    CacheError                          code "CACHE"
    ├── ApiRequestError                 a management API request it refuses: "BAD_REQUEST"
    ├── ImageReferenceError             a malformed or unsupported image reference
    ├── ImageNotFoundError              the image is in neither the cache nor its upstream
    ├── CuratedImageError               a delete would remove curated tags: "CACHE_CURATED"
    ├── OfflineImageUnavailableError    offline and not cached: "OFFLINE_IMAGE_UNAVAILABLE"
    ├── RegistryHttpError               an engine or upstream answered with an unexpected status
    ├── UpstreamUnavailableError        a registry could not be reached at all
    └── EngineError                     a docker-registry process failed (log tail in details)
"""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = [
    "ApiRequestError",
    "CacheError",
    "CuratedImageError",
    "EngineError",
    "ImageNotFoundError",
    "ImageReferenceError",
    "OfflineImageUnavailableError",
    "RegistryHttpError",
    "UpstreamUnavailableError",
]


class CacheError(S9regError):
    """Base of every image cache error."""

    code = "CACHE"


class ApiRequestError(CacheError):
    """A management API request body the API refuses (its fields named in the message)."""

    code = "BAD_REQUEST"


class ImageReferenceError(CacheError):
    """An image reference is malformed, or names a registry that is not configured."""

    code = "CACHE_BAD_REFERENCE"


class ImageNotFoundError(CacheError):
    """The image is not in the cache, and the upstream (online) does not have it either."""

    code = "CACHE_IMAGE_NOT_FOUND"


class CuratedImageError(CacheError):
    """A delete would remove curated tags (every tag on a digest goes with it); needs force."""

    code = "CACHE_CURATED"


class OfflineImageUnavailableError(CacheError):
    """The upstream is unreachable and the image is not (completely) cached."""

    code = "OFFLINE_IMAGE_UNAVAILABLE"


class RegistryHttpError(CacheError):
    """A registry answered with a status the operation cannot handle.

    Attributes:
        status: the HTTP status code.
    """

    code = "CACHE_HTTP"

    def __init__(
        self, message: str, *, status: int, hint: str | None = None, details: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, details=details)
        self.status = status


class UpstreamUnavailableError(CacheError):
    """A registry (upstream or a local engine instance) could not be reached."""

    code = "CACHE_UNREACHABLE"


class EngineError(CacheError):
    """A ``docker-registry`` process failed to start, crashed, or a command of it failed."""

    code = "CACHE_ENGINE"
