"""``s9reg pull``: restore a published registry from its storage (real SeaweedFS and a directory)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pubkit import Bucket, site_files, write_site

from s9reg.builder import BuildError
from s9reg.publish import publish_site
from s9reg.publish.errors import PublishError
from s9reg.publish.pull import pull_site
from s9reg.publish.settings import DirSettings, PublishSettings
from s9reg.publish.target import DirTarget

from helpers.s3server import S3Endpoint


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith("_s9reg/")
    }


@pytest.fixture(scope="module")
def bucket(seaweed: S3Endpoint) -> Bucket:
    return Bucket(seaweed, seaweed.new_bucket("pull"))


def _publish(bucket: Bucket, site: Path) -> None:
    settings = bucket.settings(site)
    target = bucket.target(settings)
    try:
        publish_site(settings, target)
    finally:
        target.close()


def test_pull_restores_the_live_generation_from_s3(bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    files["hello/2.0:0/hello_big.s9pk"] = bytes(range(256)) * (24 << 10)  # multipart-sized
    site = write_site(tmp_path / "site", files)
    _publish(bucket, site)
    target = bucket.target(bucket.settings(site))
    try:
        report = pull_site(target, tmp_path / "copy")
        assert _tree(tmp_path / "copy") == files
        assert (report.objects, report.downloaded, report.reused) == (len(files), len(files), 0)
        again = pull_site(target, tmp_path / "copy")  # up to date: nothing transferred
        assert (again.downloaded, again.reused, again.bytes_downloaded) == (0, len(files), 0)
        # A new generation: only the changed objects travel.
        newer = site_files("b")
        _publish(bucket, write_site(tmp_path / "site", newer))
        third = pull_site(target, tmp_path / "copy")
        assert _tree(tmp_path / "copy") == newer
        assert 0 < third.downloaded < len(newer)
    finally:
        target.close()


def test_damaged_object_fails_and_keeps_the_previous_copy(bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("c", packages=("wiki",))
    site = write_site(tmp_path / "site", files)
    _publish(bucket, site)
    target = bucket.target(bucket.settings(site))
    try:
        pull_site(target, tmp_path / "copy")
        before = _tree(tmp_path / "copy")
        key = next(k for k in files if k.endswith(".s9pk"))
        bucket.client.put_object(Bucket=bucket.name, Key=f"{bucket.prefix}/{key}", Body=b"evil")
        (tmp_path / "copy" / key).write_bytes(b"stale local")  # forces a download
        before[key] = b"stale local"
        with pytest.raises(PublishError, match="does not match its SHA-256"):
            pull_site(target, tmp_path / "copy")
        assert _tree(tmp_path / "copy") == before
    finally:
        target.close()


def test_pull_from_a_directory_and_refusals(tmp_path: Path) -> None:
    files = site_files("d")
    site = write_site(tmp_path / "site", files)
    pub = tmp_path / "published"
    publish_site(PublishSettings(site=site, target=DirSettings(path=pub)))
    pull_site(DirTarget(pub), tmp_path / "copy")
    assert _tree(tmp_path / "copy") == files
    with pytest.raises(PublishError, match="nothing is published"):
        pull_site(DirTarget(tmp_path / "empty"), tmp_path / "copy2")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(BuildError, match="not a site built by s9reg"):
        pull_site(DirTarget(pub), foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
