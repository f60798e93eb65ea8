"""The issue's proof 1 with the real engine: preload, pull-through, offline restart, switch back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from registry_kit import (
    PlainRegistry,
    build_image,
    build_index,
    make_settings,
    push_image,
    push_index,
)

from s9reg.imagecache.engine import Mode, Role
from s9reg.imagecache.errors import CacheError, OfflineImageUnavailableError
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.preload import CopyStatus, copy_image
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.store import check_image, disk_usage, ensure_image
from s9reg.imagecache.supervisor import Supervisor, upstream_online


def pull(url: str, repo: str, tag: str) -> str:
    """Pull every manifest and blob like a client; returns the top digest."""
    with RegistryClient(url) as c:
        top = c.get_manifest(repo, tag)
        assert top is not None, f"{repo}:{tag} not served"
        manifests = [c.get_manifest(repo, e.digest) for e in top.children()] or [top]
        for m in manifests:
            assert m is not None
            for blob in m.blobs():
                with c.open_blob(repo, blob.digest) as chunks:
                    assert sum(len(x) for x in chunks) == blob.size
        return top.digest


def test_preload_pull_through_offline_and_back(tmp_path: Path, upstream: PlainRegistry) -> None:
    index = build_index(b"multi")
    single = build_image(b"single", docker=True)
    third = build_image(b"third")
    with upstream.client() as up:
        index_digest = push_index(up, "library/multi", "1.0", index)
        single_digest = push_image(up, "library/single", "2.0", single)
        push_image(up, "library/third", "3.0", third)
    settings = make_settings(tmp_path, upstream.url)
    u = settings.upstreams[0]
    sup = Supervisor(settings)
    sup.start()
    try:
        assert sup.mode(u) is Mode.PROXY
        with upstream.client() as src, RegistryClient(u.writer_url) as dst:
            result = copy_image(src, dst, ImageRef.parse("multi:1.0"))
            again = copy_image(src, dst, ImageRef.parse("multi:1.0"))
        assert result.status is CopyStatus.COPIED
        assert result.digest == index_digest
        assert sorted(result.platforms) == ["linux/amd64", "linux/arm64"]
        assert again.status is CopyStatus.PRESENT
        with RegistryClient(u.local_url) as proxy:
            for image in index.images:
                head = proxy.head_manifest("library/multi", image.manifest.digest)
                assert head is not None
                assert head.digest == image.manifest.digest
        # Pull-through of an image nobody preloaded caches it on first request.
        assert not check_image(settings, ImageRef.parse("single:2.0")).present
        assert pull(u.local_url, "library/single", "2.0") == single_digest
        # The proxy stores a blob just after it has sent it: wait for the store to settle.
        deadline = time.monotonic() + 10
        while not check_image(settings, ImageRef.parse("single:2.0")).complete:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        upstream.stop()
        sup.stop()
        sup = Supervisor(settings)
        sup.start()
        assert sup.mode(u) is Mode.OFFLINE
        assert pull(u.local_url, "library/multi", "1.0") == index_digest
        assert pull(u.local_url, "library/single", "2.0") == single_digest
        with pytest.raises(OfflineImageUnavailableError) as err:
            ensure_image(settings, ImageRef.parse("third:3.0"), online=upstream_online(u))
        assert err.value.code == "OFFLINE_IMAGE_UNAVAILABLE"
        assert ensure_image(settings, ImageRef.parse("multi:1.0"), online=False).source == "cache"

        upstream.start()
        deadline = time.monotonic() + 10
        while sup.mode(u) is not Mode.PROXY:
            assert time.monotonic() < deadline, "proxy did not switch back online"
            sup.poll()
            time.sleep(0.05)
        got = ensure_image(settings, ImageRef.parse("third:3.0"), online=upstream_online(u))
        assert got.source == "upstream"
        assert check_image(settings, ImageRef.parse("third:3.0")).complete
    finally:
        sup.stop()


def test_preload_checks_disk_space_first(tmp_path: Path, upstream: PlainRegistry) -> None:
    with upstream.client() as up:
        push_image(up, "library/big", "1", build_image(b"big"))
    settings = make_settings(tmp_path, upstream.url)
    with Supervisor(settings, roles=(Role.WRITER,)):
        with (
            upstream.client() as src,
            RegistryClient(settings.upstreams[0].writer_url) as dst,
            pytest.raises(CacheError, match="not enough disk space"),
        ):
            copy_image(src, dst, ImageRef.parse("big:1"), free_bytes=lambda: 10)
        assert disk_usage(settings) == 0
        assert not check_image(settings, ImageRef.parse("big:1")).present
