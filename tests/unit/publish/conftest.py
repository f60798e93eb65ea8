"""Fixtures of the publish tests: S3 servers started once per session, a fresh bucket per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pubkit import Bucket

from helpers.s3server import S3Endpoint, moto_s3, seaweedfs_s3


@pytest.fixture(scope="session")
def moto() -> Iterator[S3Endpoint]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("weed")) as endpoint:
        yield endpoint


@pytest.fixture
def moto_bucket(moto: S3Endpoint) -> Bucket:
    return Bucket(moto, moto.new_bucket())
