"""S3Location: parsing s3:// URLs, the canonical forms, and which endpoints are AWS."""

from __future__ import annotations

import pytest

from s9reg.errors import ConfigError
from s9reg.s3 import S3Location, S3Options, is_aws_endpoint


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        pytest.param("s3://b", "b", "", id="bucket only"),
        pytest.param("s3://b/", "b", "", id="bucket and slash"),
        pytest.param("s3://b/reg/v1", "b", "reg/v1", id="nested prefix"),
        pytest.param("s3://b//reg/v1/", "b", "reg/v1", id="extra slashes"),
    ],
)
def test_parse(url: str, bucket: str, prefix: str) -> None:
    location = S3Location.parse(url)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.options == S3Options()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("s3:///x", "no bucket name", id="no bucket"),
        pytest.param("s3://", "no bucket name", id="nothing"),
        pytest.param("https://b/x", "not an s3:// URL", id="wrong scheme"),
    ],
)
def test_parse_rejects(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        S3Location.parse(url)


def test_constructor_validates() -> None:
    with pytest.raises(ConfigError, match="not a bucket name"):
        S3Location(bucket="a/b")
    with pytest.raises(ConfigError, match="no leading or trailing"):
        S3Location(bucket="a", prefix="/p")


def test_forms_and_options() -> None:
    options = S3Options(endpoint_url="http://127.0.0.1:9000", region="eu-1", path_style=True)
    location = S3Location.parse("s3://b/reg", options)
    assert str(location) == "s3://b/reg at http://127.0.0.1:9000"
    assert location.url == "s3://b/reg/"
    assert location.key("index.json") == "reg/index.json"
    assert S3Location(bucket="b").key("index.json") == "index.json"
    assert S3Location(bucket="b").url == "s3://b/"
    assert location.options == options
    assert S3Location.at("b", "reg", location.options) == location


@pytest.mark.parametrize(
    ("url", "aws"),
    [
        pytest.param(None, True, id="boto3 default"),
        pytest.param("https://s3.amazonaws.com", True, id="global"),
        pytest.param("https://s3.eu-west-1.amazonaws.com", True, id="regional"),
        pytest.param("https://bucket.s3.cn-north-1.amazonaws.com.cn", True, id="china"),
        pytest.param("https://s3.dualstack.us-east-1.api.aws", True, id="api.aws"),
        pytest.param("http://127.0.0.1:8333", False, id="local"),
        pytest.param("https://s3.us-west-004.backblazeb2.com", False, id="b2"),
        pytest.param("https://x.r2.cloudflarestorage.com", False, id="r2"),
        pytest.param("https://amazonaws.com.evil.example", False, id="lookalike"),
    ],
)
def test_is_aws_endpoint(url: str | None, *, aws: bool) -> None:
    assert is_aws_endpoint(url) is aws
