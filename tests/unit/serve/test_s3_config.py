"""``s9reg serve --config site-config.yaml --site s3://…``: the bucket reached as configured.

The proof of issue 15: a SeaweedFS whose endpoint is only in ``site-config.yaml`` (the
``publish:`` target with the same bucket, or a ``serve.s3:`` block) answers ``package.get``
through a real ``s9reg serve`` process. No ``AWS_*`` variable reaches that process except, in
one case, ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``; in the other the credentials
come from a profile file in a temporary ``HOME`` and no ``AWS_*`` variable is set at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_client import BuiltSite, free_port, request, result, serve_process, stop, until
from serve_client import upload_site as upload

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.s3 import S3Options

from helpers.s3server import S3Endpoint, free_ports, seaweedfs_s3

BASE = """\
registry:
  name: T
  url: https://registry.example.com/
  file_urls: [https://cdn.example.com/]
"""


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("weed")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def bucket(weed: S3Endpoint, built_site: BuiltSite) -> str:
    """A bucket holding the test site at its root."""
    name = weed.new_bucket("site")
    upload(weed.client(), built_site.path, name, "")
    return name


def _serve_and_ask(
    tmp_path: Path, built_site: BuiltSite, bucket: str, env: dict[str, str], *extra: str
) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "--config",
        "site-config.yaml",
        "--site",
        f"s3://{bucket}/",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    with serve_process(tmp_path, *args, *extra, env_extra=env) as proc:

        def up() -> bool:
            if proc.poll() is not None:
                return True
            try:
                return request(url, "GET", "/health").status == 200
            except OSError:
                return False

        until(up, "the server's first answer", timeout=30)
        assert proc.poll() is None, proc.communicate()[1].decode()
        got = result(url, "package.get", {"id": "pkg02", "otherVersions": "none"})
        expected = json.loads((built_site.path / "rpc.v0/package.get/pkg02/none.json").read_bytes())
        assert got == expected
        assert request(url, "GET", "/health").json()["source"] == "s3"
        return stop(proc)


def test_endpoint_from_the_publish_target(
    tmp_path: Path, weed: S3Endpoint, built_site: BuiltSite, bucket: str
) -> None:
    (tmp_path / "site-config.yaml").write_text(
        BASE + f"publish:\n  bucket: {bucket}\n  endpoint_url: {weed.url}\n"
        "  region: us-east-1\n  path_style: true\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    home.mkdir()
    creds = {"AWS_ACCESS_KEY_ID": weed.access_key, "AWS_SECRET_ACCESS_KEY": weed.secret_key}
    err = _serve_and_ask(tmp_path, built_site, bucket, {"HOME": str(home), **creds})
    assert f"Serving s3://{bucket}/" in err
    assert weed.secret_key not in err


def test_endpoint_from_the_serve_block_with_a_profile(
    tmp_path: Path, weed: S3Endpoint, built_site: BuiltSite, bucket: str
) -> None:
    # The publish target names another bucket (on AWS): serve.s3 alone says where this one is.
    (tmp_path / "site-config.yaml").write_text(
        BASE + "publish:\n  bucket: elsewhere\n"
        f"serve:\n  s3:\n    endpoint_url: {weed.url}\n    path_style: true\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {weed.access_key}\n"
        f"aws_secret_access_key = {weed.secret_key}\n",
        encoding="utf-8",
    )
    # Two workers: each opens the bucket itself, from the settings the supervisor passed on.
    _serve_and_ask(tmp_path, built_site, bucket, {"HOME": str(home)}, "--workers", "2")


def test_an_unreachable_endpoint_is_named(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    dead = f"http://127.0.0.1:{port}"
    (tmp_path / "site-config.yaml").write_text(
        BASE + f"publish:\n  bucket: b\n  endpoint_url: {dead}\n", encoding="utf-8"
    )
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": str(tmp_path)}
    args = [
        "--config",
        "site-config.yaml",
        "--site",
        "s3://b/p",
        "--listen",
        f"127.0.0.1:{free_port()}",
    ]
    with serve_process(tmp_path, *args, env_extra=env) as proc:
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    text = err.decode()
    assert f"cannot reach the S3 endpoint {dead}" in text
    assert "Traceback" not in text


def _load(tmp_path: Path, text: str) -> config.SiteConfig:
    return config.loads(BASE + text, path=tmp_path / "site-config.yaml")


def test_which_options_serve_uses(tmp_path: Path) -> None:
    publish = "publish:\n  bucket: reg\n  endpoint_url: http://s3.local:8333\n  path_style: true\n"
    cfg = _load(tmp_path, publish)
    from_publish = S3Options(
        endpoint_url="http://s3.local:8333", path_style=True, checksum_mode="when_required"
    )
    assert config.serve_settings(cfg, site="s3://reg/v1").s3 == from_publish
    assert config.serve_settings(cfg, site="s3://reg").s3 == from_publish
    assert config.serve_settings(cfg, site="s3://other/v1").s3 is None
    assert config.serve_settings(None, site="s3://reg/v1").s3 is None

    block = "serve:\n  s3:\n    region: eu-1\n    checksum_mode: when_supported\n"
    cfg = _load(tmp_path, publish + block)
    only_serve = S3Options(region="eu-1", checksum_mode="when_supported")
    assert cfg.serve.s3 == only_serve
    assert config.serve_settings(cfg, site="s3://reg/v1").s3 == only_serve
    cfg = _load(tmp_path, block + "  site: s3://any/where\n")
    settings = config.serve_settings(cfg)
    assert (settings.site, settings.s3) == ("s3://any/where", only_serve)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "serve:\n  s3:\n    endpoint: http://x\n",
            "serve.s3.endpoint: unknown key (expected one of endpoint_url, region, path_style, "
            "checksum_mode); did you mean 'endpoint_url'?",
            id="typo",
        ),
        pytest.param(
            "serve:\n  s3:\n    checksum_mode: never\n",
            "serve.s3.checksum_mode: expected one of when_supported, when_required",
            id="checksum mode",
        ),
        pytest.param(
            "serve:\n  s3: {bucket: b}\n", "serve.s3.bucket: unknown key", id="bucket from the site"
        ),
        pytest.param(
            "publish:\n  bucket: a/b\n", "publish.bucket: 'a/b': not a bucket name", id="bucket"
        ),
    ],
)
def test_s3_option_errors(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, text)
    assert problem in f"{e.value.message}\n{e.value.details}"
