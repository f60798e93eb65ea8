"""The offline-first Docker image cache shim (``shared/spec/image-cache.md``).

It configures, runs, fills, inspects and cleans CNCF distribution 2.8 (``docker-registry``)::

    from s9reg.imagecache import Supervisor, check_image, ImageRef

    with Supervisor(settings) as sup:            # writer + proxy per upstream
        print(check_image(settings, ImageRef.parse("nginx:1.27")).complete)
"""

from __future__ import annotations

from s9reg.imagecache.cleanup import (
    CleanupResult,
    DeleteResult,
    cleanup,
    delete_image,
    garbage_collect,
)
from s9reg.imagecache.compose import daemon_json, rewrite_compose
from s9reg.imagecache.errors import (
    CacheError,
    CuratedImageError,
    EngineError,
    ImageNotFoundError,
    ImageReferenceError,
    OfflineImageUnavailableError,
    RegistryHttpError,
    UpstreamUnavailableError,
)
from s9reg.imagecache.preload import CopyResult, CopyStatus, copy_image
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import (
    DEFAULT_CURATED,
    DEFAULT_UPSTREAMS,
    CacheSettings,
    S3Storage,
    UploadPurging,
    Upstream,
)
from s9reg.imagecache.store import check_image, disk_usage, ensure_image, list_images
from s9reg.imagecache.supervisor import Supervisor

__all__ = [
    "DEFAULT_CURATED",
    "DEFAULT_UPSTREAMS",
    "CacheError",
    "CacheSettings",
    "CleanupResult",
    "CopyResult",
    "CopyStatus",
    "CuratedImageError",
    "DeleteResult",
    "EngineError",
    "ImageNotFoundError",
    "ImageRef",
    "ImageReferenceError",
    "OfflineImageUnavailableError",
    "RegistryHttpError",
    "S3Storage",
    "Supervisor",
    "UploadPurging",
    "Upstream",
    "UpstreamUnavailableError",
    "check_image",
    "cleanup",
    "copy_image",
    "daemon_json",
    "delete_image",
    "disk_usage",
    "ensure_image",
    "garbage_collect",
    "list_images",
    "rewrite_compose",
]
