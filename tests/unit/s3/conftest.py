"""Fixtures of the shared S3 layer's tests: one real SeaweedFS for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.s3server import S3Endpoint, seaweedfs_s3


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("weed")) as endpoint:
        yield endpoint
