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
