"""The one client factory against a real SeaweedFS: endpoint, checksums, and error mapping."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from s9reg.s3 import (
    S3Location,
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from s9reg.s3.client import make_client, map_errors

from helpers.s3server import S3Endpoint, free_ports

CHECKSUM_HEADERS = ("x-amz-checksum-", "x-amz-sdk-checksum-algorithm")


def _credentials(monkeypatch: pytest.MonkeyPatch, endpoint: S3Endpoint) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", endpoint.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", endpoint.secret_key)


def _sent_headers(client: Any, bucket: str) -> dict[str, str]:
    """PUT an object and read it back; the headers of the PUT as sent on the wire."""
    sent: dict[str, str] = {}

    def record(request: Any, **_: Any) -> None:
        sent.update({k.lower(): str(v) for k, v in request.headers.items()})

    client.meta.events.register("before-send.s3.PutObject", record)
    client.put_object(Bucket=bucket, Key="k", Body=b"payload")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"
    return sent


def _has_checksum(headers: dict[str, str]) -> bool:
    return any(name.startswith(CHECKSUM_HEADERS) for name in headers)


@pytest.mark.parametrize(
    "source", ["location", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "profile", "profile services"]
)
def test_non_aws_checksums_wherever_the_endpoint_comes_from(
    monkeypatch: pytest.MonkeyPatch, weed: S3Endpoint, source: str
) -> None:
    bucket = weed.new_bucket("ck")
    _credentials(monkeypatch, weed)
    location = S3Location(bucket=bucket, path_style=True)
    if source == "location":
        location = S3Location(bucket=bucket, endpoint_url=weed.url, path_style=True)
    elif source.startswith("AWS_"):
        monkeypatch.setenv(source, weed.url)
    else:
        aws = Path(os.environ["HOME"]) / ".aws"
        aws.mkdir()
        if source == "profile":
            text = f"[default]\nendpoint_url = {weed.url}\n"
        else:
            text = (
                "[default]\nservices = local\n\n"
                f"[services local]\ns3 =\n  endpoint_url = {weed.url}\n"
            )
        (aws / "config").write_text(text, encoding="utf-8")
    client = make_client(location)
    assert client.meta.endpoint_url == weed.url
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert not _has_checksum(_sent_headers(client, bucket))


def test_an_explicit_checksum_mode_wins(monkeypatch: pytest.MonkeyPatch, weed: S3Endpoint) -> None:
    bucket = weed.new_bucket("ck")
    _credentials(monkeypatch, weed)
    location = S3Location(
        bucket=bucket, endpoint_url=weed.url, path_style=True, checksum_mode="when_supported"
    )
    # The control of the test above: boto3 does send CRC headers when allowed to.
    assert _has_checksum(_sent_headers(make_client(location), bucket))


def test_aws_keeps_boto3s_default() -> None:
    client = make_client(S3Location(bucket="b", region="eu-west-1"))
    assert client.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert client.meta.config.request_checksum_calculation == "when_supported"


def test_an_unreachable_endpoint_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    (port,) = free_ports(1)
    dead = f"http://127.0.0.1:{port}"
    location = S3Location(bucket="b", endpoint_url=dead)
    client = make_client(location, retries=1, connect_timeout=2)
    with pytest.raises(StorageUnavailableError) as e, map_errors(f"{location}: check", dead):
        client.head_bucket(Bucket="b")
    assert f"cannot reach the S3 endpoint {dead}" in e.value.message
    assert e.value.transient
    assert e.value.code == "STORAGE_UNAVAILABLE"


def test_refused_credentials(monkeypatch: pytest.MonkeyPatch, weed: S3Endpoint) -> None:
    bucket = weed.new_bucket("auth")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", weed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    client = make_client(S3Location(bucket=bucket, endpoint_url=weed.url), retries=1)
    with pytest.raises(StorageAuthError, match="SignatureDoesNotMatch") as e, map_errors("x", None):
        client.get_object(Bucket=bucket, Key="k")
    assert e.value.hint is not None
    assert "credentials" in e.value.hint


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, weed: S3Endpoint) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = make_client(S3Location(bucket="b", endpoint_url=weed.url), retries=1)
    with (
        pytest.raises(StorageAuthError, match="Unable to locate credentials"),
        map_errors("x", None),
    ):
        client.get_object(Bucket="b", Key="k")


def test_missing_bucket_and_key(monkeypatch: pytest.MonkeyPatch, weed: S3Endpoint) -> None:
    bucket = weed.new_bucket("nf")
    _credentials(monkeypatch, weed)
    client = make_client(S3Location(bucket=bucket, endpoint_url=weed.url, path_style=True))
    with pytest.raises(StorageNotFoundError, match="NoSuchKey"), map_errors("x", None):
        client.get_object(Bucket=bucket, Key="absent")
    with pytest.raises(StorageNotFoundError, match="NoSuchBucket") as e, map_errors("x", None):
        client.get_object(Bucket=bucket + "-absent", Key="k")
    assert e.value.hint == "create the bucket first"


def test_a_malformed_endpoint() -> None:
    with pytest.raises(StorageError, match="cannot create an S3 client"):
        make_client(S3Location(bucket="b", endpoint_url="::bad"))


def test_without_the_chains_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # For the image cache's engine, which reads no AWS_ENDPOINT_URL: no endpoint means AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    location = S3Location(bucket="b", region="eu-west-1")
    assert make_client(location).meta.endpoint_url == "http://127.0.0.1:9"
    client = make_client(location, chain_endpoint=False)
    assert client.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert client.meta.config.request_checksum_calculation == "when_supported"
