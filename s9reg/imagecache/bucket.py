"""The image cache's S3 bucket, checked once before the engines start.

distribution's S3 driver reports an unreachable endpoint or a missing bucket only in its log,
after the child has started; this check names them in one line first. It goes through the
client factory publish and serve use (:mod:`s9reg.s3.client`), with the credentials the
engines will get. It does not create the bucket and is not repeated on restarts.
"""

from __future__ import annotations

from collections.abc import Mapping

from s9reg.imagecache.settings import S3Storage
from s9reg.s3 import StorageNotFoundError

__all__ = ["check_bucket"]


def check_bucket(storage: S3Storage, environ: Mapping[str, str]) -> None:
    """HEAD the bucket as the engines will reach it.

    Args:
        storage: the cache's S3 storage.
        environ: the engines' environment (their credentials); the rest of the AWS chain
            (profile files, instance roles) is read as boto3 reads it.

    Raises:
        StorageUnavailableError: the endpoint cannot be reached (it is named).
        StorageAuthError: no credentials, or refused ones.
        StorageNotFoundError: the bucket does not exist.
        StorageError: any other failure.
    """
    # boto3 only when the cache stores in S3.
    import boto3  # noqa: PLC0415

    from s9reg.s3.client import make_client, map_errors  # noqa: PLC0415

    location = storage.location
    session = boto3.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
    )
    # The engine reads no AWS_ENDPOINT_URL: without endpoint_url it goes to AWS, and so does this.
    client = make_client(
        location, session=session, retries=2, connect_timeout=5.0, chain_endpoint=False
    )
    where = f"image cache storage {location}"
    try:
        with map_errors(where, client.meta.endpoint_url):
            client.head_bucket(Bucket=location.bucket)
    except StorageNotFoundError as e:
        # HeadBucket has no body: the error code is only "404".
        msg = f"{where}: no bucket {location.bucket}"
        raise StorageNotFoundError(msg, hint="create the bucket first") from e
    finally:
        client.close()
