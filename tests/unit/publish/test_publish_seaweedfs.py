"""publish_site against a real SeaweedFS: headers, HEAD and Range, no-op cost, conflicts."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pubkit import Bucket, Recorder, race, sha, site_files, write_site

from s9reg.publish import PublishConflictError, publish_site
from s9reg.publish.state import manifest_key

from helpers.s3server import S3Endpoint

IMMUTABLE = "public, max-age=31536000, immutable, no-transform"


@pytest.fixture(scope="module")
def bucket(seaweed: S3Endpoint) -> Bucket:
    return Bucket(seaweed, seaweed.new_bucket("pub"))


def publish(bucket: Bucket, site: Path, rec: Recorder | None = None, **kw: Any) -> Any:
    settings = bucket.settings(site, **kw)
    target = bucket.target(settings)
    if rec is not None:
        rec.attach(target)
    try:
        return publish_site(settings, target)
    finally:
        target.close()


def test_publish_noop_headers_head_range(bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    big = bytes(range(256)) * (24 << 10)  # 6 MiB: multipart
    files["hello/2.0:0/hello_big.s9pk"] = big
    site = write_site(tmp_path / "site", files)
    report = publish(bucket, site, multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    assert len(report.uploads) == len(files)
    bucket.assert_matches(files)
    bucket.assert_live_index_complete()

    rec = Recorder()
    report = publish(bucket, write_site(tmp_path / "fresh", files), rec)
    assert report.uploads == ()
    assert len(rec.ops()) == 2
    assert [op for op, _ in rec.ops()] == ["GetObject", "GetObject"]

    # What a StartOS device sees, over plain HTTP once the bucket is public.
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket.name}/*"],
                }
            ],
        }
    )
    bucket.client.put_bucket_policy(Bucket=bucket.name, Policy=policy)
    url = f"{bucket.endpoint.url}/{bucket.name}/{bucket.key('hello/2.0:0/hello_big.s9pk')}"
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as r:
        assert r.status == 200
        assert int(r.headers["Content-Length"]) == len(big)
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["Cache-Control"] == IMMUTABLE
        assert r.headers["Accept-Ranges"] == "bytes"
    ranged = urllib.request.Request(url, headers={"Range": "bytes=1000-1999"})
    with urllib.request.urlopen(ranged) as r:
        assert r.status == 206
        assert r.read() == big[1000:2000]
    with urllib.request.urlopen(
        f"{bucket.endpoint.url}/{bucket.name}/{bucket.key('index.json')}"
    ) as r:
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        assert r.headers["Cache-Control"] == "public, max-age=60, must-revalidate"
        assert sha(r.read()) == sha(files["index.json"])


def test_concurrent_publishers_on_seaweedfs(seaweed: S3Endpoint, tmp_path: Path) -> None:
    bucket = Bucket(seaweed, seaweed.new_bucket("race"))
    publish(bucket, write_site(tmp_path / "base", site_files("base")))
    for round_ in range(5):
        sites = [write_site(tmp_path / f"p{n}", site_files(f"r{round_}p{n}")) for n in range(2)]
        results = race(publish, bucket, sites)
        losers = [n for n in range(2) if isinstance(results[n], PublishConflictError)]
        assert len(losers) == 1, results
        bucket.assert_matches(site_files(f"r{round_}p{1 - losers[0]}"))
        publish(bucket, sites[losers[0]])
        bucket.assert_matches(site_files(f"r{round_}p{losers[0]}"))
    assert manifest_key(bucket.pointer().generation) in bucket.stored()


def test_svg_stored_as_attachment_and_older_publishes_upgraded(
    seaweed: S3Endpoint, tmp_path: Path
) -> None:
    """An SVG opened from the bucket downloads instead of rendering (scripts never run)."""
    bucket = Bucket(seaweed, seaweed.new_bucket("svg"))
    files = site_files("a")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    files[f"_icons/{sha(svg)[:16]}.svg"] = svg
    svg_key = f"_icons/{sha(svg)[:16]}.svg"
    png_key = next(k for k in files if k.endswith(".png"))
    site = write_site(tmp_path / "site", files)
    publish(bucket, site)
    bucket.client.put_bucket_policy(Bucket=bucket.name, Policy=_public_read(bucket.name))

    def served(key: str) -> tuple[str | None, str | None]:
        with urllib.request.urlopen(f"{bucket.endpoint.url}/{bucket.name}/{bucket.key(key)}") as r:
            return r.headers["Content-Type"], r.headers["Content-Disposition"]

    assert served(svg_key) == ("image/svg+xml", "attachment")
    assert served(png_key) == ("image/png", None)
    assert bucket.manifest().objects[svg_key].headers.content_disposition == "attachment"

    # A bucket published before the header existed: object and manifest without it. The next
    # publish sets it with one in-place copy (no upload), then has nothing left to do.
    full = bucket.key(svg_key)
    bucket.client.copy_object(
        Bucket=bucket.name, Key=full, CopySource={"Bucket": bucket.name, "Key": full},
        MetadataDirective="REPLACE", ContentType="image/svg+xml",
        CacheControl=IMMUTABLE, Metadata=bucket.client.head_object(Bucket=bucket.name, Key=full)["Metadata"],
    )  # fmt: skip
    manifest = bucket.manifest()
    old = manifest.to_json().replace(b',"contentDisposition":"attachment"', b"", 1)
    assert old != manifest.to_json()
    key = bucket.key(manifest_key(manifest.generation))
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=old)
    assert served(svg_key) == ("image/svg+xml", None)
    rec = Recorder()
    report = publish(bucket, write_site(tmp_path / "fresh", files), rec)
    assert report.uploads == ()
    assert [i.key for i in report.header_updates] == [svg_key]
    assert [op for op, _ in rec.ops("CopyObject")] == ["CopyObject"]
    assert served(svg_key) == ("image/svg+xml", "attachment")
    assert publish(bucket, site).header_updates == ()


def _public_read(name: str) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{name}/*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
