"""Publishing to a SeaweedFS named only by AWS_ENDPOINT_URL, and to an endpoint that is down."""

from __future__ import annotations

from pathlib import Path

import pytest
from pubkit import Bucket, site_files, write_site

from s9reg.publish import PublishError, PublishSettings, S3Settings, publish_site
from s9reg.publish.s3 import S3Target
from s9reg.s3 import StorageError

from helpers.s3server import S3Endpoint, free_ports


def test_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, seaweed: S3Endpoint, tmp_path: Path
) -> None:
    bucket = Bucket(seaweed, seaweed.new_bucket("env"))
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.url)
    files = site_files("a")
    # As a publish: section without endpoint_url reads (the GitHub workflow's setup).
    s3 = S3Settings(bucket=bucket.name, prefix=bucket.prefix, path_style=True)
    settings = PublishSettings(site=write_site(tmp_path / "site", files), target=s3, retries=2)
    target = S3Target(s3, settings)
    try:
        # The non-AWS setting although the configuration names no endpoint.
        assert target.client.meta.config.request_checksum_calculation == "when_required"
        report = publish_site(settings, target)
    finally:
        target.close()
    assert len(report.uploads) == len(files)
    bucket.assert_matches(files)


def test_an_unreachable_endpoint_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    (port,) = free_ports(1)
    dead = f"http://127.0.0.1:{port}"
    s3 = S3Settings(bucket="b", endpoint_url=dead)
    site = write_site(tmp_path / "site", site_files("a"))
    with pytest.raises(PublishError) as e:
        publish_site(PublishSettings(site=site, target=s3, retries=1))
    assert isinstance(e.value, StorageError)  # the shared family as well
    assert e.value.transient
    assert f"cannot reach the S3 endpoint {dead}" in e.value.message
