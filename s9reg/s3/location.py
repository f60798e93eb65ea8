"""Where a bucket is and how to reach it: :class:`S3Location` and :class:`S3Options`.

Pure values: nothing here imports boto3, reads the environment or opens a connection (see
:mod:`s9reg.s3.client` for that). Credentials are never part of a location; boto3 finds them
in the AWS chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self
from urllib.parse import urlsplit

from s9reg.errors import ConfigError

__all__ = ["CHECKSUM_MODES", "ChecksumMode", "S3Location", "S3Options", "is_aws_endpoint"]

ChecksumMode = Literal["when_supported", "when_required"]
CHECKSUM_MODES: tuple[ChecksumMode, ...] = ("when_supported", "when_required")

# Host names of AWS's own S3 endpoints (commercial, China and the dual-stack api.aws ones).
_AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def is_aws_endpoint(url: str | None) -> bool:
    """Whether ``url`` is AWS's own S3 (None, boto3's default, counts as AWS)."""
    if url is None:
        return True
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.endswith(_AWS_SUFFIXES)


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Options:
    """How to reach an S3 service, apart from the bucket and the credentials.

    Attributes:
        endpoint_url: S3-compatible endpoint, or None for the AWS chain's (``AWS_ENDPOINT_URL``,
            ``AWS_ENDPOINT_URL_S3``, a profile's ``endpoint_url``, else AWS).
        region: region name, or None for the AWS chain's default.
        path_style: path-style addressing (``http://host/bucket/key``).
        checksum_mode: boto3's request and response checksum mode, or None to choose by the
            endpoint actually used: ``when_required`` for any non-AWS endpoint (boto3 1.36+
            sends CRC headers that many S3-compatible servers reject), boto3's default for AWS.
    """

    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    checksum_mode: ChecksumMode | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Location:
    """A bucket, a key prefix in it, and how to reach it.

    Attributes:
        bucket: bucket name.
        prefix: key prefix without surrounding ``/`` (``""`` for the bucket root).
        endpoint_url: see :class:`S3Options`.
        region: see :class:`S3Options`.
        path_style: see :class:`S3Options`.
        checksum_mode: see :class:`S3Options`.

    Raises:
        ConfigError: the bucket is empty or contains ``/``, or the prefix starts or ends
            with ``/``.
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    checksum_mode: ChecksumMode | None = None

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            msg = f"{self.bucket!r}: not a bucket name (expected s3://bucket/prefix)"
            raise ConfigError(msg)
        if self.prefix != self.prefix.strip("/"):
            raise ConfigError(f"{self.prefix!r}: an S3 key prefix has no leading or trailing /")

    @classmethod
    def parse(cls, url: str, options: S3Options | None = None) -> Self:
        """``s3://bucket/prefix`` (the prefix optional), reached with ``options``.

        Raises:
            ConfigError: not an ``s3://`` URL, or no bucket name.
        """
        if not url.startswith("s3://"):
            raise ConfigError(f"{url}: not an s3:// URL (expected s3://bucket/prefix)")
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise ConfigError(f"{url}: no bucket name (expected s3://bucket/prefix)")
        return cls.at(bucket, prefix.strip("/"), options or S3Options())

    @classmethod
    def at(cls, bucket: str, prefix: str, options: S3Options) -> Self:
        """The location of ``bucket``/``prefix`` reached with ``options``.

        Raises:
            ConfigError: as the constructor.
        """
        return cls(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=options.endpoint_url,
            region=options.region,
            path_style=options.path_style,
            checksum_mode=options.checksum_mode,
        )

    @property
    def options(self) -> S3Options:
        """How this bucket is reached (to reach it again under another prefix)."""
        return S3Options(
            endpoint_url=self.endpoint_url,
            region=self.region,
            path_style=self.path_style,
            checksum_mode=self.checksum_mode,
        )

    @property
    def url(self) -> str:
        """``s3://bucket/prefix/`` (``s3://bucket/`` at the root), without the endpoint."""
        return f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"

    def key(self, rel: str) -> str:
        """The object key of ``rel`` (a key relative to the prefix)."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def __str__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        prefix = f"/{self.prefix}" if self.prefix else ""
        return f"s3://{self.bucket}{prefix}{where}"
