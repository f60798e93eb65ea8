"""S3-compatible storage shared by publish, serve and the image cache: one location, one client.

:class:`S3Location` says where a bucket is and how to reach it; :func:`s9reg.s3.client.make_client`
turns it into a boto3 client and :func:`s9reg.s3.client.storage_error` turns boto3 failures into
the :class:`StorageError` family. This package sits below the three siblings so that none of them
imports another; it knows nothing of sites, publishing or registries. boto3 is imported only by
:mod:`s9reg.s3.client`, so importing this package stays cheap. Example::

    from s9reg.s3 import S3Location
    from s9reg.s3.client import make_client

    location = S3Location.parse("s3://registry/v1")
    client = make_client(location)
"""

from __future__ import annotations

from s9reg.s3.errors import (
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from s9reg.s3.location import CHECKSUM_MODES, ChecksumMode, S3Location, S3Options, is_aws_endpoint

__all__ = [
    "CHECKSUM_MODES",
    "ChecksumMode",
    "S3Location",
    "S3Options",
    "StorageAuthError",
    "StorageError",
    "StorageNotFoundError",
    "StorageUnavailableError",
    "is_aws_endpoint",
]
