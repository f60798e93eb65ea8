"""The one boto3 S3 client factory, and the one translation of boto3 failures into errors.

Publish, serve and the image cache all create their clients here, so a bucket is reached the
same way everywhere: the location's endpoint, region and addressing, credentials from the AWS
chain, botocore's ``standard`` retries, and the non-AWS checksum setting whenever the endpoint
actually used is not AWS, wherever it came from (the location, ``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3`` or a profile). This module issues no request itself.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError,  # noqa: A004 - botocore's own, the base of its connection failures
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from s9reg.s3.errors import (
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from s9reg.s3.location import ChecksumMode, S3Location, is_aws_endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "RETRY_LOG",
    "error_code",
    "http_status",
    "make_client",
    "map_errors",
    "storage_error",
]

_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "403"}
)
_NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchKey", "NotFound", "404"})
_THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"})


def make_client(  # noqa: PLR0913 - one keyword per client knob
    location: S3Location,
    *,
    session: boto3.Session | None = None,
    retries: int = 5,
    max_pool_connections: int = 10,
    connect_timeout: float = 60.0,
    read_timeout: float = 60.0,
    chain_endpoint: bool = True,
    backoff: float | None = None,
) -> S3Client:
    """A boto3 S3 client for ``location``.

    Args:
        location: the bucket's endpoint, region, addressing and checksum mode.
        session: a boto3 session; by default a new one, which reads the AWS chain.
        retries: attempts per request (botocore ``standard`` mode: backoff on throttling,
            5xx and connection errors).
        max_pool_connections: connections kept open (at least the number of threads).
        connect_timeout: seconds to wait for a connection.
        read_timeout: seconds to wait for data on a connection.
        chain_endpoint: whether a location without an endpoint takes one from the AWS chain
            (``AWS_ENDPOINT_URL``, …); False means AWS, as for the image cache's engine, which
            does not read those.
        backoff: with a number, connection failures, timeouts, 5xx answers and throttling
            are retried after about ``backoff`` seconds, then twice as long each time (at
            most 10 s, with jitter), instead of botocore's 50 ms base (whose 5 attempts end
            within a second, too soon for a storage that restarts); each retry is logged on
            the ``s9reg.s3.retry`` logger (``retrying GET _s9reg/pointer.json (2/5): read
            timeout``).

    Returns:
        The client; its ``meta.endpoint_url`` is the endpoint actually used.

    Raises:
        StorageError: boto3 rejects the configuration (a malformed endpoint URL, for one).
    """
    session = session or boto3.Session()
    mode = location.checksum_mode
    if mode is None and not is_aws_endpoint(location.endpoint_url):
        mode = "when_required"

    def create(checksum: ChecksumMode | None) -> S3Client:
        extra: dict[str, object] = {}
        if not chain_endpoint:
            # Not in botocore-stubs' Config signature yet (botocore 1.31+).
            extra["ignore_configured_endpoint_urls"] = True
        if checksum is not None:
            extra["request_checksum_calculation"] = checksum
            extra["response_checksum_validation"] = checksum
        config = Config(
            region_name=location.region,
            s3={"addressing_style": "path" if location.path_style else "auto"},
            retries={"mode": "standard", "max_attempts": retries},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            **extra,  # type: ignore[arg-type]
        )
        try:
            return session.client("s3", endpoint_url=location.endpoint_url, config=config)
        except Exception as e:  # botocore's configuration errors share no common base
            msg = f"{location}: cannot create an S3 client: {e}"
            raise StorageError(msg, hint="check endpoint_url and region") from e

    client = create(mode)
    if mode is None and not is_aws_endpoint(client.meta.endpoint_url):
        # The endpoint came from the AWS chain (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or a
        # profile), which boto3 reads only while creating the client: create it again.
        client.close()
        client = create("when_required")
    if backoff is not None:
        # First: the first handler's answer decides (botocore's own delay is then unused).
        policy = _RetryPolicy(backoff, retries, location.bucket, location.prefix)
        # The stubs type handlers as returning None; needs-retry handlers return a delay.
        client.meta.events.register_first("needs-retry.s3", policy)  # type: ignore[arg-type]
    return client


RETRY_LOG = logging.getLogger("s9reg.s3.retry")
_MAX_DELAY = 10.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class _RetryPolicy:
    """A ``needs-retry`` handler: which failures are retried, after how long, and a log line."""

    def __init__(self, base: float, attempts: int, bucket: str, prefix: str) -> None:
        self.base = base
        self.attempts = attempts
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""

    def __call__(
        self,
        attempts: int,
        request_dict: dict[str, Any],
        response: tuple[Any, dict[str, Any]] | None = None,
        caught_exception: Exception | None = None,
        **_: object,
    ) -> float | None:
        reason = _retry_reason(response, caught_exception)
        if reason is None or attempts >= self.attempts:
            return None  # botocore decides: no retry left, or not a failure retried here
        path = unquote(str(request_dict.get("url_path", "")).split("?", 1)[0]).lstrip("/")
        # "bucket/prefix/key" with path-style addressing, "prefix/key" with virtual hosts: the
        # site key is what the user knows.
        key = path.removeprefix(f"{self.bucket}/").removeprefix(self.prefix)
        method = str(request_dict.get("method", ""))
        RETRY_LOG.warning(
            "retrying %s %s (%d/%d): %s", method, key, attempts + 1, self.attempts, reason
        )
        delay: float = min(_MAX_DELAY, self.base * 2 ** (attempts - 1))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def _retry_reason(
    response: tuple[Any, dict[str, Any]] | None, caught: Exception | None
) -> str | None:
    if isinstance(caught, ReadTimeoutError):
        return "read timeout"
    if isinstance(caught, ConnectTimeoutError):
        return "connect timeout"
    if isinstance(caught, ConnectionError | ConnectionClosedError):
        return f"connection failed ({type(caught).__name__})"
    if response is None:
        return None
    parsed = response[1]
    status = int(parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    code = str(parsed.get("Error", {}).get("Code", ""))
    if status in _RETRY_STATUS or code in _THROTTLE_CODES:
        return f"{status} {code}".strip()
    return None


def error_code(e: BaseException) -> str:
    """The S3 error code of a :class:`ClientError` (``""`` for anything else)."""
    if not isinstance(e, ClientError):
        return ""
    return str(e.response.get("Error", {}).get("Code", ""))


def http_status(e: BaseException) -> int:
    """The HTTP status of a :class:`ClientError` (0 for anything else)."""
    if not isinstance(e, ClientError):
        return 0
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def storage_error(e: Exception, where: str, endpoint: str | None) -> StorageError:
    """The most specific :class:`StorageError` for a boto3 failure ``e``.

    Args:
        e: what boto3 (or s3transfer, or urllib3 while streaming a body) raised.
        where: what was being done, for the message (``s3://b/p: cannot read index.json``).
        endpoint: the endpoint in use (the client's ``meta.endpoint_url``), named when it
            cannot be reached.
    """
    if isinstance(e, ConnectionError | ConnectionClosedError | ReadTimeoutError):
        # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError, …
        reason = getattr(e, "kwargs", {}).get("error", e)
        return StorageUnavailableError(
            f"{where}: cannot reach the S3 endpoint {endpoint or '(AWS)'}: {reason}",
            hint="check endpoint_url (or AWS_ENDPOINT_URL) and that the storage is running",
            transient=True,
        )
    if isinstance(e, NoCredentialsError | PartialCredentialsError):
        return StorageAuthError(
            f"{where}: {e}",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
        )
    if isinstance(e, ClientError):
        code = error_code(e) or str(http_status(e))
        message = e.response.get("Error", {}).get("Message", "")
        text = f"{where}: {code}: {message}".rstrip(": ")
        status = http_status(e)
        if code in _AUTH_CODES:
            hint = "check the AWS credentials (environment variables or profile)"
            return StorageAuthError(text, hint=hint)
        if code in _NOT_FOUND_CODES or status == 404:
            missing = "create the bucket first" if code == "NoSuchBucket" else None
            return StorageNotFoundError(text, hint=missing)
        return StorageError(text, transient=status >= 500 or code in _THROTTLE_CODES)
    return StorageError(f"{where}: {e}", transient=isinstance(e, BotoCoreError))


@contextmanager
def map_errors(where: str, endpoint: str | None) -> Iterator[None]:
    """Turn boto3 failures in the block into :func:`storage_error` (``s9reg`` errors pass).

    Raises:
        StorageError: the block failed.
    """
    try:
        yield
    except (ClientError, BotoCoreError) as e:
        raise storage_error(e, where, endpoint) from e
