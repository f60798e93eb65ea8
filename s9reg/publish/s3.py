"""The S3-compatible target of ``s9reg publish`` (publishing-lessons.md §3, §6).

The clients come from :func:`s9reg.s3.client.make_client`, as serve's does: credentials only
from boto3's standard chain (environment, profile, instance role), the non-AWS checksum setting
whenever the endpoint is not AWS, retries with a backoff long enough for a storage restart
(throttling, 5xx, timeouts and connection errors), each logged. The small state objects go
through a second client with short timeouts. No ACL is ever set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from s9reg.publish.errors import StorageError
from s9reg.publish.policy import ObjectHeaders
from s9reg.publish.settings import PublishSettings, S3Settings
from s9reg.publish.state import STATE_DIR
from s9reg.publish.target import PreconditionFailedError, RemoteObject, StoredObject
from s9reg.s3.client import error_code, http_status, make_client, storage_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["SHA256_METADATA", "S3Target"]

SHA256_METADATA = "s9-sha256"
# CopyObject copies at most 5 GiB in one request; bigger objects are uploaded again instead.
MAX_COPY_SIZE = 5 << 30
# Seconds a transfer waits for an answer (a large part is stored before the server answers).
TRANSFER_READ_TIMEOUT = 60.0
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_PRECONDITION = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})


class _HeaderArgs(TypedDict):
    ContentType: str
    CacheControl: str
    ContentDisposition: NotRequired[str]


def _header_args(headers: ObjectHeaders) -> _HeaderArgs:
    """The stored headers as ``PutObject``/``CopyObject`` arguments (an unset one left out)."""
    args = _HeaderArgs(ContentType=headers.content_type, CacheControl=headers.cache_control)
    if headers.content_disposition:
        args["ContentDisposition"] = headers.content_disposition
    return args


class S3Target:
    """Publishes into a bucket (under an optional key prefix) through boto3.

    Args:
        s3: bucket, endpoint and addressing.
        settings: parallelism, multipart sizes and retries.
        session: a boto3 session; by default a new one, which reads the AWS chain.
    """

    def __init__(
        self, s3: S3Settings, settings: PublishSettings, session: boto3.Session | None = None
    ) -> None:
        self.s3 = s3
        self._prefix = f"{s3.prefix}/" if s3.prefix else ""
        self.client: S3Client = make_client(
            s3,
            session=session,
            retries=settings.retries,
            max_pool_connections=max(10, settings.jobs * 2 + 2),
            connect_timeout=settings.timeout,
            read_timeout=max(settings.timeout, TRANSFER_READ_TIMEOUT),
            backoff=settings.retry_backoff,
        )
        # The pointer and manifests are small: a storage that does not answer about them in
        # ``timeout`` seconds is not going to, and the publish fails within about a minute.
        self.state_client: S3Client = make_client(
            s3,
            session=session,
            retries=settings.retries,
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            backoff=settings.retry_backoff,
        )
        self._transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold,
            multipart_chunksize=settings.multipart_chunksize,
            max_concurrency=settings.jobs,
            use_threads=True,
        )

    def __str__(self) -> str:
        return str(self.s3)

    def key(self, key: str) -> str:
        """The bucket key of a site key."""
        return self._prefix + key

    def _for(self, key: str) -> S3Client:
        return self.state_client if key.startswith(f"{STATE_DIR}/") else self.client

    def _fail(self, what: str, key: str, e: Exception) -> StorageError:
        found = storage_error(e, f"{self}: {what} {key}", self.client.meta.endpoint_url)
        if error_code(e) == "NoSuchBucket":
            found.hint = f"create the bucket {self.s3.bucket} first"
        return found

    def read(self, key: str) -> tuple[bytes, str] | None:
        """See :meth:`s9reg.publish.target.Target.read`."""
        try:
            r = self._for(key).get_object(Bucket=self.s3.bucket, Key=self.key(key))
            return r["Body"].read(), r["ETag"]
        except ClientError as e:
            if error_code(e) in _NOT_FOUND:
                return None
            raise self._fail("cannot read", key, e) from e
        except BotoCoreError as e:
            raise self._fail("cannot read", key, e) from e

    def head(self, key: str) -> RemoteObject | None:
        """See :meth:`s9reg.publish.target.Target.head`."""
        try:
            r = self.client.head_object(Bucket=self.s3.bucket, Key=self.key(key))
        except ClientError as e:
            if error_code(e) in _NOT_FOUND or http_status(e) == 404:
                return None
            raise self._fail("cannot inspect", key, e) from e
        except BotoCoreError as e:
            raise self._fail("cannot inspect", key, e) from e
        return RemoteObject(
            size=r["ContentLength"],
            sha256=r.get("Metadata", {}).get(SHA256_METADATA),
            headers=ObjectHeaders(
                r.get("ContentType", ""),
                r.get("CacheControl", ""),
                r.get("ContentDisposition", ""),
            ),
        )

    def write(
        self,
        key: str,
        data: bytes,
        headers: ObjectHeaders,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """See :meth:`s9reg.publish.target.Target.write` (``If-Match``/``If-None-Match: *``)."""
        args: dict[str, Any] = {
            "Bucket": self.s3.bucket,
            "Key": self.key(key),
            "Body": data,
            **_header_args(headers),
            "Metadata": {SHA256_METADATA: hashlib.sha256(data).hexdigest()},
        }
        if if_match is not None:
            args["IfMatch"] = if_match
        if if_none_match:
            args["IfNoneMatch"] = "*"
        try:
            return self._for(key).put_object(**args)["ETag"]
        except ClientError as e:
            conditional = if_match is not None or if_none_match
            # moto answers If-Match on a missing key with 404; AWS and SeaweedFS with 412.
            if conditional and (error_code(e) in _PRECONDITION or error_code(e) in _NOT_FOUND):
                raise PreconditionFailedError(key) from e
            raise self._fail("cannot write", key, e) from e
        except BotoCoreError as e:
            raise self._fail("cannot write", key, e) from e

    def upload(
        self,
        key: str,
        path: Path,
        headers: ObjectHeaders,
        sha256: str,
        progress: Callable[[int], None],
    ) -> None:
        """See :meth:`s9reg.publish.target.Target.upload` (multipart above the threshold)."""
        extra: dict[str, Any] = {
            **_header_args(headers),
            "Metadata": {SHA256_METADATA: sha256},
        }
        try:
            size = path.stat().st_size
        except OSError as e:
            raise StorageError(f"{path}: cannot read: {e.strerror or e}") from e
        if size < self._transfer.multipart_threshold:
            # One PUT from this thread: s3transfer would start a thread pool per file.
            try:
                with path.open("rb") as body:
                    self.client.put_object(
                        Bucket=self.s3.bucket,
                        Key=self.key(key),
                        Body=body,
                        Metadata={SHA256_METADATA: sha256},
                        **_header_args(headers),
                    )
            except (ClientError, BotoCoreError) as e:
                raise self._fail("cannot upload", key, e) from e
            except OSError as e:
                raise StorageError(f"{path}: cannot read: {e.strerror or e}") from e
            progress(size)
            return
        try:
            self.client.upload_file(
                str(path),
                self.s3.bucket,
                self.key(key),
                ExtraArgs=extra,
                Callback=progress,
                Config=self._transfer,
            )
        except (ClientError, BotoCoreError) as e:
            raise self._fail("cannot upload", key, e) from e
        except Exception as e:
            # s3transfer wraps failures of its worker threads in its own exception types.
            cause = e.__cause__ if isinstance(e.__cause__, ClientError | BotoCoreError) else e
            raise self._fail("cannot upload", key, cause) from e

    def set_headers(self, key: str, headers: ObjectHeaders, sha256: str) -> None:
        """See :meth:`s9reg.publish.target.Target.set_headers` (CopyObject onto itself)."""
        full = self.key(key)
        try:
            self.client.copy_object(
                Bucket=self.s3.bucket,
                Key=full,
                CopySource={"Bucket": self.s3.bucket, "Key": full},
                MetadataDirective="REPLACE",
                **_header_args(headers),
                Metadata={SHA256_METADATA: sha256},
            )
        except (ClientError, BotoCoreError) as e:
            raise self._fail("cannot change headers of", key, e) from e

    def delete(self, keys: Sequence[str]) -> None:
        """See :meth:`s9reg.publish.target.Target.delete` (batches of 1000)."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            try:
                r = self.client.delete_objects(
                    Bucket=self.s3.bucket,
                    Delete={"Objects": [{"Key": self.key(k)} for k in batch], "Quiet": True},
                )
            except ClientError as e:
                if error_code(e) not in ("NotImplemented", "MethodNotAllowed"):
                    raise self._fail("cannot delete", batch[0], e) from e
                # Some S3-compatible servers lack DeleteObjects (aptly's disableMultiDel).
                for k in batch:
                    self._delete_one(k)
                continue
            except BotoCoreError as e:
                raise self._fail("cannot delete", batch[0], e) from e
            errors = r.get("Errors", [])
            if errors:
                first = errors[0]
                msg = (
                    f"{self}: cannot delete {len(errors)} objects, e.g. {first.get('Key')}: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )
                raise StorageError(msg)

    def _delete_one(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.s3.bucket, Key=self.key(key))
        except (ClientError, BotoCoreError) as e:
            raise self._fail("cannot delete", key, e) from e

    def list(self) -> dict[str, StoredObject]:
        """See :meth:`s9reg.publish.target.Target.list` (ListObjectsV2 under the prefix)."""
        out: dict[str, StoredObject] = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.s3.bucket, Prefix=self._prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self._prefix) :]
                    out[key] = StoredObject(size=obj["Size"], modified=obj["LastModified"])
        except (ClientError, BotoCoreError) as e:
            raise self._fail("cannot list", self._prefix or "/", e) from e
        return out

    def abort_uploads(self, started_before: datetime) -> int:
        """See :meth:`s9reg.publish.target.Target.abort_uploads`."""
        count = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.s3.bucket, Prefix=self._prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < started_before:
                        self.client.abort_multipart_upload(
                            Bucket=self.s3.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        count += 1
        except (ClientError, BotoCoreError) as e:
            raise self._fail("cannot list unfinished uploads under", self._prefix or "/", e) from e
        return count

    def close(self) -> None:
        """See :meth:`s9reg.publish.target.Target.close`."""
        self.client.close()
        self.state_client.close()
