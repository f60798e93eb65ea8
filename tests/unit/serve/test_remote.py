"""Remote sites: S3 (moto, SeaweedFS) and HTTP, refresh on change, last good index on failure."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from serve_client import BuiltSite, request, result, rpc, upload_site

from s9reg.registry import dump_json
from s9reg.s3 import S3Location
from s9reg.serve import (
    BackgroundServer,
    HttpSource,
    S3Source,
    ServeSettings,
    SourceError,
    open_source,
)
from s9reg.serve.errors import SourceNotFoundError

from helpers.s3server import S3Endpoint, moto_s3, seaweedfs_s3
from helpers.tls import self_signed

BUCKET = "site-bucket"
PREFIX = "registry/v1"


@pytest.fixture(scope="module", params=["moto", "seaweedfs"])
def s3_endpoint(request: pytest.FixtureRequest) -> Iterator[S3Endpoint]:
    """moto's server mode (fast), and a real SeaweedFS (the S3 service s9reg publishes to)."""
    with moto_s3() if request.param == "moto" else seaweedfs_s3() as endpoint:
        yield endpoint


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: S3Endpoint) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint.url)
    for name, value in s3_endpoint.env().items():
        monkeypatch.setenv(name, value)
    # boto3's default session keeps the credentials it first resolved: start from a fresh one.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    client = s3_endpoint.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return client


def upload(client: Any, site: Path, prefix: str = PREFIX) -> None:
    upload_site(client, site, BUCKET, prefix)


def renamed_index(site: Path, name: str) -> bytes:
    doc = json.loads((site / "index.json").read_bytes())
    doc["name"] = name
    return dump_json(doc)


def test_s3_site(s3_env: Any, built_site: BuiltSite) -> None:
    upload(s3_env, built_site.path)
    source = open_source(f"s3://{BUCKET}/{PREFIX}")
    assert isinstance(source, S3Source)
    with BackgroundServer(ServeSettings(port=0, refresh_interval=3600), source) as s:
        assert result(s.url, "info")["name"] == "Serve Test Registry"
        got = result(s.url, "package.get", {"id": "pkg02", "otherVersions": "none"})
        expected = json.loads((built_site.path / "rpc.v0/package.get/pkg02/none.json").read_bytes())
        assert got == expected
        health = request(s.url, "GET", "/health").json()
        assert health["source"] == "s3"
        revision = health["revision"]

        # Unchanged index: a conditional request, nothing reloaded.
        assert not s.refresh()
        # A new index is picked up on refresh.
        s3_env.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}/index.json", Body=renamed_index(built_site.path, "New")
        )
        assert s.refresh()
        assert request(s.url, "GET", "/health").json()["revision"] != revision
        signed_name = json.loads(s.app.loader.snapshot.index_bytes)["name"]  # type: ignore[union-attr]
        assert signed_name == "New"

        # The source fails: the last good index keeps being served.
        s3_env.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/index.json")
        assert not s.refresh()
        health = request(s.url, "GET", "/health").json()
        assert health["status"] == "stale"
        assert "no such key" in health["lastError"]
        assert result(s.url, "package.get", {"id": "pkg02"})["best"]
        assert s.app.metrics.value("s9reg_site_refresh_failures_total") == 1

        # Files are streamed from the bucket, with ranges.
        rel = next(p for p in sorted((built_site.path / "pkg02").rglob("*.s9pk")))
        path = "/" + rel.relative_to(built_site.path).as_posix()
        data = rel.read_bytes()
        full = request(s.url, "GET", path)
        assert full.status == 200
        assert full.body == data
        assert full.headers["content-type"] == "application/octet-stream"
        part = request(s.url, "GET", path, headers={"Range": "bytes=2-9"})
        assert part.status == 206
        assert part.body == data[2:10]
        assert part.headers["content-range"] == f"bytes 2-9/{len(data)}"
        assert request(s.url, "HEAD", path).body == b""
        assert request(s.url, "GET", "/nope.json").status == 404


def test_s3_source_errors(s3_env: Any) -> None:
    source = S3Source(S3Location(bucket=BUCKET, prefix="nowhere"))
    with pytest.raises(SourceNotFoundError):
        source.fetch("index.json")
    with pytest.raises(SourceError):
        S3Source(S3Location(bucket="no-such-bucket-here")).fetch("index.json")
    with pytest.raises(SourceError, match="no bucket"):
        open_source("s3:///x")


def test_s3_client_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "::bad")
    with pytest.raises(SourceError, match="cannot create an S3 client"):
        open_source("s3://bucket/prefix")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def http_site(
    tmp_path: Path, built_site: BuiltSite
) -> Iterator[tuple[str, Path, http.server.ThreadingHTTPServer]]:
    root = tmp_path / "www"
    shutil.copytree(built_site.path, root / "site")
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/site/", root / "site", httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_site_refresh_and_fallback(
    http_site: tuple[str, Path, http.server.ThreadingHTTPServer],
) -> None:
    base, root, httpd = http_site
    source = open_source(base)
    assert isinstance(source, HttpSource)
    with BackgroundServer(ServeSettings(port=0, refresh_interval=3600), source) as s:
        assert result(s.url, "package.get", {"id": "pkg00", "otherVersions": "none"})["best"]
        revision = request(s.url, "GET", "/health").json()["revision"]
        assert not s.refresh()
        (root / "index.json").write_bytes(renamed_index(root, "Over HTTP"))
        assert s.refresh()
        assert request(s.url, "GET", "/health").json()["revision"] != revision
        # Files redirect to the remote site.
        r = request(s.url, "GET", "/pkg00/index.json")
        assert r.status == 307
        assert r.headers["location"] == base + "pkg00/index.json"
        # The remote host goes away: keep serving.
        httpd.shutdown()
        httpd.server_close()
        assert not s.refresh()
        health = request(s.url, "GET", "/health").json()
        assert health["status"] == "stale"
        assert health["lastError"]
        assert rpc(s.url, {"method": "info"}).json()["result"]["categories"]


def test_https_site(tmp_path: Path, built_site: BuiltSite, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "www"
    shutil.copytree(built_site.path, root / "site")
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"https://127.0.0.1:{httpd.server_address[1]}/site/"
    try:
        # Without trusting the certificate the site cannot be loaded ...
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            HttpSource(base).fetch("index.json")
        # ... with it, the whole site is served.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with BackgroundServer(ServeSettings(port=0), open_source(base)) as s:
            assert result(s.url, "info")["name"] == "Serve Test Registry"
            assert len(result(s.url, "package.get", {"otherVersions": "none"})) == 50
            assert request(s.url, "GET", "/health").json()["source"] == "http"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_source_errors(http_site: tuple[str, Path, http.server.ThreadingHTTPServer]) -> None:
    base, _, _ = http_site
    with pytest.raises(SourceNotFoundError):
        HttpSource(base).fetch("missing.json")
    assert HttpSource("http://user:secret@example.com/x/").description == "http://example.com/x/"


def test_startup_fails_clearly_without_a_site(tmp_path: Path) -> None:
    from s9reg.serve import ServeError  # noqa: PLC0415

    with pytest.raises(SourceError, match="not a directory"):
        open_source(str(tmp_path / "nope"))
    with pytest.raises(ServeError, match="cannot load the site"):
        BackgroundServer(ServeSettings(site=str(tmp_path), port=0)).start()
