"""Typed settings of ``s9reg publish`` (publishing-lessons.md §1-§6): target, safety and speed.

``s9reg.config`` builds these from ``site-config.yaml``; nothing here reads files or the
environment. S3 credentials are never settings: boto3 finds them in the AWS chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s9reg.errors import ConfigError
from s9reg.s3 import S3Location

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_JOBS",
    "DEFAULT_KEEP_GENERATIONS",
    "DEFAULT_MAX_DELETE",
    "DEFAULT_TIMEOUT",
    "DirSettings",
    "PublishSettings",
    "S3Settings",
]

DEFAULT_JOBS = 8
DEFAULT_MAX_DELETE = 256
DEFAULT_KEEP_GENERATIONS = 3
DEFAULT_GRACE_SECONDS = 48 * 3600
DEFAULT_LEASE_SECONDS = 120
# A silent endpoint fails the first request within about a minute: 5 attempts of 10 s, plus
# the backoff between them (about 1 + 2 + 4 + 8 s).
DEFAULT_TIMEOUT = 10.0
MIB = 1 << 20

# The ``publish:`` section is an S3 location (s9reg.s3): the same type serve and the image
# cache use for a bucket. The old name stays for callers of this package.
S3Settings = S3Location


@dataclass(frozen=True, slots=True, kw_only=True)
class DirSettings:
    """A local directory that receives the published site (renamed into place file by file)."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishSettings:
    """Everything :func:`s9reg.publish.publish_site` needs.

    Attributes:
        site: the built site directory (``docs/site-layout.md``).
        target: where to publish it.
        jobs: objects (and multipart parts) transferred at once.
        max_delete: most objects one publish may delete; over it, deletion is deferred.
        keep_generations: objects referenced by this many latest generations are kept.
        grace_seconds: objects referenced by a generation retired less than this long ago
            are kept too, so CDN-cached old indexes never point at missing files.
        multipart_threshold: files at least this large are uploaded in parallel parts.
        multipart_chunksize: size of one part.
        retries: attempts per request (throttling, 5xx, timeouts and connection errors are
            retried after ``retry_backoff`` seconds, doubling each time up to 10 s).
        retry_backoff: the first retry's delay, in seconds (0 in tests only).
        timeout: seconds to wait for a connection, and for an answer about the small state
            objects (pointer, manifests); transfers wait at least 60 s for an answer.
        lease_seconds: a publish lease whose heartbeat is older than this may be taken over.
        break_lock: take over a lease even if it looks alive.
        dry_run: plan only; write nothing.
        overlay: the site is a partial one (``s9reg publish FILE…``): objects of the live
            generation that the site lacks are kept and carried into the new generation's
            manifest instead of being left to deletion.
        expect_generation: publish only if this generation is still the live one (the one
            an overlay's index was read from); otherwise stop with a conflict.

    Raises:
        ConfigError: a count is out of range.
    """

    site: Path
    target: S3Settings | DirSettings
    jobs: int = DEFAULT_JOBS
    max_delete: int = DEFAULT_MAX_DELETE
    keep_generations: int = DEFAULT_KEEP_GENERATIONS
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    multipart_threshold: int = 16 * MIB
    multipart_chunksize: int = 8 * MIB
    retries: int = 5
    retry_backoff: float = 1.0
    timeout: float = DEFAULT_TIMEOUT
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    break_lock: bool = False
    dry_run: bool = False
    overlay: bool = False
    expect_generation: int | None = None

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least {low}, got {value}"
            for name, value, low in (
                ("jobs", self.jobs, 1),
                ("max_delete", self.max_delete, 0),
                ("keep_generations", self.keep_generations, 1),
                ("grace_seconds", self.grace_seconds, 0),
                ("multipart_chunksize", self.multipart_chunksize, 5 * MIB),
                ("multipart_threshold", self.multipart_threshold, 5 * MIB),
                ("retries", self.retries, 1),
                ("lease_seconds", self.lease_seconds, 0),
                ("timeout", self.timeout, 1),
                ("retry_backoff", self.retry_backoff, 0),
            )
            if value < low
        ]
        if problems:
            raise ConfigError(f"publish settings: {'; '.join(problems)}")
