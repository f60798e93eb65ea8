"""S3 storage through distribution's own driver (moto), and the expiry-schedule pruning."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from registry_kit import (
    PlainRegistry,
    build_image,
    build_index,
    make_settings,
    push_image,
    push_index,
)

from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.preload import preload_images
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import S3Storage
from s9reg.imagecache.store import check_image, disk_usage, list_images
from s9reg.imagecache.supervisor import Supervisor, load_pins, prune_schedule

CREDS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "testsecret"}


@pytest.fixture
def moto() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket="images")
    yield url
    server.stop()


def test_s3_storage_preload_and_offline_serving(
    tmp_path: Path, upstream: PlainRegistry, moto: str
) -> None:
    index = build_index(b"s3 multi")
    with upstream.client() as up:
        digest = push_index(up, "library/multi", "1", index)
    s3 = S3Storage(bucket="images", endpoint_url=moto, root="/cache")
    settings = make_settings(tmp_path, upstream.url, s3=s3)
    env = {"PATH": "/usr/bin:/bin", **CREDS, "AWS_CA_BUNDLE": "/nonexistent"}
    with Supervisor(settings, environ=env):
        (result,) = preload_images(settings, [ImageRef.parse("multi:1")])
        assert result.digest == digest
        assert check_image(settings, ImageRef.parse("multi:1")).complete
        (image,) = list_images(settings)
        assert image.tags[0].last_used is None  # unknown on S3
        assert disk_usage(settings) == sum(i.size for i in index.images)
    upstream.stop()
    with Supervisor(settings, environ=env) as sup:
        assert sup.mode(settings.upstreams[0]).value == "offline"  # type: ignore[union-attr]
        with RegistryClient(settings.upstreams[0].local_url) as proxy:
            got = proxy.get_manifest("library/multi", "1")
        assert got is not None
        assert got.digest == digest
    assert load_pins(settings)["docker.io"] >= {digest, *(i.manifest.digest for i in index.images)}


def test_prune_schedule(tmp_path: Path) -> None:
    keep = "sha256:" + "1" * 64
    pinned = "sha256:" + "2" * 64
    state = {
        f"library/a@{keep}": {
            "Key": f"library/a@{keep}",
            "ExpiryData": "2026-01-01T00:00:00Z",
            "EntryType": 0,
        },
        f"library/a@{pinned}": {
            "Key": f"library/a@{pinned}",
            "ExpiryData": "2026-01-01T00:00:00Z",
            "EntryType": 1,
        },
    }
    (tmp_path / "scheduler-state.json").write_text(json.dumps(state), encoding="utf-8")
    assert prune_schedule(tmp_path, {pinned}) == 1
    left = json.loads((tmp_path / "scheduler-state.json").read_text(encoding="utf-8"))
    assert list(left) == [f"library/a@{keep}"]
    assert prune_schedule(tmp_path, {pinned}) == 0
    assert prune_schedule(tmp_path / "absent", {pinned}) == 0


def test_engine_expiry_is_replaced_by_the_shims_retention(
    tmp_path: Path, upstream: PlainRegistry
) -> None:
    image = build_image(b"scheduled")
    with upstream.client() as up:
        digest = push_image(up, "library/s", "1", image)
    settings = make_settings(tmp_path, upstream.url)
    u = settings.upstreams[0]
    schedule = tmp_path / "cache" / "storage" / "docker.io" / "scheduler-state.json"
    # What the engine saves: an entry per downloaded blob and manifest, due 7 days later.
    entries = {
        f"library/s@{d}": {
            "Key": f"library/s@{d}",
            "ExpiryData": "2020-01-01T00:00:00.123456789Z",
            "EntryType": t,
        }
        for d, t in [(digest, 1), *((b, 0) for b in image.blobs)]
    }
    with Supervisor(settings) as sup:
        with RegistryClient(u.local_url) as proxy:
            assert proxy.get_manifest("library/s", "1") is not None
            for blob in image.blobs:
                with proxy.open_blob("library/s", blob) as chunks:
                    b"".join(chunks)
        # The proxy stores a blob just after it has sent it.
        deadline = time.monotonic() + 10
        while not check_image(settings, ImageRef.parse("s:1")).complete:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sup.stop()
        # Overdue while the cache was down: emptied before the proxy starts again.
        schedule.write_text(json.dumps(entries), encoding="utf-8")
        sup.start()
        assert json.loads(schedule.read_text(encoding="utf-8")) == {}
        assert check_image(settings, ImageRef.parse("s:1")).complete
        # Coming due while the proxy runs: it is restarted with the schedule emptied.
        before = [i["pid"] for i in sup.state() if i["role"] == "proxy"]
        schedule.write_text(json.dumps(entries), encoding="utf-8")
        sup.housekeeping()
        sup.poll()
        after = [i["pid"] for i in sup.state() if i["role"] == "proxy"]
        assert after != before
        assert json.loads(schedule.read_text(encoding="utf-8")) == {}
        assert check_image(settings, ImageRef.parse("s:1")).complete
    log = (tmp_path / "cache" / "logs" / "supervisor.log").read_text(encoding="utf-8")
    assert "proxy-docker.io: dropped 3 engine expiry entries" in log
    assert "restarting proxy-docker.io: an engine expiry comes due" in log
