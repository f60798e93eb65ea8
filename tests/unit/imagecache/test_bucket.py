"""The S3 bucket check before the engines start, against a real SeaweedFS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_kit import make_settings

from s9reg.imagecache.bucket import check_bucket
from s9reg.imagecache.settings import S3Storage
from s9reg.imagecache.supervisor import Supervisor
from s9reg.s3 import S3Location, StorageAuthError, StorageNotFoundError, StorageUnavailableError

from helpers.s3server import S3Endpoint, free_ports, seaweedfs_s3


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("weed")) as endpoint:
        yield endpoint


def test_location() -> None:
    storage = S3Storage(bucket="images", endpoint_url="http://127.0.0.1:8333", root="/cache/x")
    assert storage.location == S3Location(
        bucket="images",
        prefix="cache/x",
        endpoint_url="http://127.0.0.1:8333",
        region="us-east-1",
        path_style=True,
    )
    assert S3Storage(bucket="images").location.prefix == "s9reg-image-cache"


def test_credentials_of_the_engines(weed: S3Endpoint) -> None:
    bucket = weed.new_bucket("img")
    storage = S3Storage(bucket=bucket, endpoint_url=weed.url)
    # The engines' environment, not this process's (which has no AWS_* at all).
    check_bucket(storage, weed.env())
    wrong = {**weed.env(), "AWS_SECRET_ACCESS_KEY": "wrong"}
    with pytest.raises(StorageAuthError, match=f"image cache storage s3://{bucket}"):
        check_bucket(storage, wrong)


def test_missing_bucket(weed: S3Endpoint) -> None:
    storage = S3Storage(bucket="never-created", endpoint_url=weed.url)
    with pytest.raises(StorageNotFoundError, match="no bucket never-created") as e:
        check_bucket(storage, weed.env())
    assert e.value.hint == "create the bucket first"


def test_an_unreachable_endpoint_stops_the_start(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    dead = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path, "http://127.0.0.1:9", s3=S3Storage(bucket="images", endpoint_url=dead)
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    with pytest.raises(StorageUnavailableError) as e, Supervisor(settings, environ=env):
        pass
    assert f"cannot reach the S3 endpoint {dead}" in e.value.message
    # Nothing was started.
    assert not list((tmp_path / "cache").rglob("*.pid"))
