"""Delete, cleanup (keep-tags / older-than), safe GC and disk usage against the real engine."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_kit import (
    BuiltImage,
    BuiltIndex,
    build_image,
    build_index,
    make_settings,
    push_image,
    push_index,
)

from s9reg.imagecache.cleanup import cleanup, delete_image, garbage_collect, plan_cleanup
from s9reg.imagecache.engine import Layout, Role
from s9reg.imagecache.errors import CacheError, ImageNotFoundError, ImageReferenceError
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import check_image, disk_usage, list_images
from s9reg.imagecache.supervisor import Supervisor

DAY = 86400


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[CacheSettings, Supervisor, dict[str, object]]]:
    """A running cache (writers only, no upstream needed) holding a known set of images."""
    settings = make_settings(
        tmp_path, "http://127.0.0.1:9", images=(ImageRef.parse("docker.io/library/app:curated"),)
    )
    sup = Supervisor(settings, roles=(Role.WRITER,))
    sup.start()
    w = RegistryClient(settings.upstreams[0].writer_url)
    built: dict[str, object] = {
        "multi": build_index(b"multi"),
        "v1": build_image(b"app v1"),
        "v2": build_image(b"app v2"),
        "v3": build_image(b"app v3", docker=True),
        "cur": build_image(b"app curated"),
    }
    push_index(w, "library/multi", "1.0", built["multi"])  # type: ignore[arg-type]
    for tag in ("v1", "v2", "v3"):
        push_image(w, "library/app", tag, built[tag])  # type: ignore[arg-type]
    push_image(w, "library/app", "v1-alias", built["v1"])  # type: ignore[arg-type]
    push_image(w, "library/app", "curated", built["cur"])  # type: ignore[arg-type]
    w.close()
    yield settings, sup, built
    sup.stop()


def age(settings: CacheSettings, repo: str, tag: str, days: float) -> None:
    link = (
        Layout(settings.data_dir).storage_root(settings.upstreams[0])
        / "docker/registry/v2/repositories"
        / repo
        / "_manifests/tags"
        / tag
        / "current/link"
    )
    t = time.time() - days * DAY
    os.utime(link, (t, t))


def blob_total(*images: BuiltImage) -> int:
    seen: dict[str, int] = {}
    for i in images:
        seen.update((d, len(b)) for d, b in i.blobs.items())
    return sum(seen.values())


def stored_total(*images: BuiltImage | BuiltIndex) -> int:
    """Bytes on disk: manifests are stored as blobs too."""
    out = 0
    for i in images:
        out += len(i.manifest.data)
        if isinstance(i, BuiltIndex):
            out += stored_total(*i.images)
        else:
            out += blob_total(i)
    return out


def test_disk_usage_and_listing(
    filled: tuple[CacheSettings, Supervisor, dict[str, object]],
) -> None:
    settings, _, built = filled
    multi: BuiltIndex = built["multi"]  # type: ignore[assignment]
    apps = [built[k] for k in ("v1", "v2", "v3", "cur")]
    assert disk_usage(settings) == stored_total(multi, *apps)  # type: ignore[arg-type]
    found = {i.name: i for i in list_images(settings)}
    assert set(found) == {"docker.io/library/app", "docker.io/library/multi"}
    app = found["docker.io/library/app"]
    assert {t.tag for t in app.tags} == {"v1", "v1-alias", "v2", "v3", "curated"}
    assert app.curated
    assert [t.tag for t in app.tags if t.curated] == ["curated"]
    assert app.size == blob_total(*apps)  # type: ignore[arg-type]
    (tag,) = found["docker.io/library/multi"].tags
    assert tag.platforms == ("linux/amd64", "linux/arm64")
    assert tag.size == blob_total(*multi.images)
    assert not found["docker.io/library/multi"].curated


def test_delete_by_digest_removes_aliases(
    filled: tuple[CacheSettings, Supervisor, dict[str, object]],
) -> None:
    settings, _, built = filled
    result = delete_image(settings, ImageRef.parse("app:v1"))
    assert result.digest == built["v1"].manifest.digest  # type: ignore[attr-defined]
    assert result.tags == ("v1", "v1-alias")
    with RegistryClient(settings.upstreams[0].writer_url) as w:
        assert sorted(w.tags("library/app")) == ["curated", "v2", "v3"]
    with pytest.raises(ImageNotFoundError):
        delete_image(settings, ImageRef.parse("app:v1"))
    with pytest.raises(ImageReferenceError):
        delete_image(settings, ImageRef.parse("quay.io/x/y:1"))


def test_delete_index_removes_its_platform_manifests(
    filled: tuple[CacheSettings, Supervisor, dict[str, object]],
) -> None:
    settings, _, built = filled
    multi: BuiltIndex = built["multi"]  # type: ignore[assignment]
    result = delete_image(settings, ImageRef.parse("multi:1.0"))
    assert sorted(result.children) == sorted(i.manifest.digest for i in multi.images)
    assert not check_image(settings, ImageRef.parse("multi:1.0")).present


@pytest.mark.parametrize(
    ("keep", "older", "expected"),
    [
        pytest.param(1, None, {"v1", "v1-alias", "v2"}, id="keep-1"),
        pytest.param(None, 10, {"v2"}, id="older-10d"),
        pytest.param(2, 3, {"v2"}, id="keep-2-older-3d-alias-kept"),
        pytest.param(1, 10, {"v2"}, id="keep-1-older-10d"),
        pytest.param(5, None, set(), id="keep-5"),
    ],
)
def test_plan_cleanup(
    filled: tuple[CacheSettings, Supervisor, dict[str, object]],
    keep: int | None,
    older: float | None,
    expected: set[str],
) -> None:
    settings, _, _ = filled
    # Newest first: v3 (now), v1 and its alias (5 days), v2 (20 days); curated is oldest.
    age(settings, "library/app", "v1", 5)
    age(settings, "library/app", "v1-alias", 5)
    age(settings, "library/app", "v2", 20)
    age(settings, "library/app", "curated", 100)
    age(settings, "library/multi", "1.0", 1)
    victims = plan_cleanup(settings, keep_tags=keep, older_than_days=older)
    assert {v.tag for v in victims if v.repository == "library/app"} == expected
    assert all(v.tag != "curated" for v in victims)


def test_plan_cleanup_needs_a_condition(
    filled: tuple[CacheSettings, Supervisor, dict[str, object]],
) -> None:
    with pytest.raises(CacheError, match="keep_tags or older_than_days"):
        plan_cleanup(filled[0], keep_tags=None, older_than_days=None)
    with pytest.raises(CacheError, match="keep_tags must not be negative"):
        plan_cleanup(filled[0], keep_tags=-1, older_than_days=None)
    # NaN compares false with every date (every tag would be old enough), -1 makes every tag
    # old, -inf every tag young: the library refuses them too, not only the API (#16).
    for days in (float("nan"), -1.0, float("inf"), float("-inf")):
        with pytest.raises(CacheError, match="older_than_days must be a finite number"):
            plan_cleanup(filled[0], keep_tags=None, older_than_days=days)


def test_cleanup_and_gc_keep_multi_arch_intact(
    filled: tuple[CacheSettings, Supervisor, dict[str, object]],
) -> None:
    settings, sup, built = filled
    multi: BuiltIndex = built["multi"]  # type: ignore[assignment]
    age(settings, "library/app", "v1", 30)
    age(settings, "library/app", "v1-alias", 30)
    age(settings, "library/app", "v2", 30)
    before = disk_usage(settings)
    dry = cleanup(settings, keep_tags=None, older_than_days=7, pause=sup.paused, dry_run=True)
    assert {str(r.tag) for r in dry.deleted} == {"v1", "v1-alias", "v2"}
    assert disk_usage(settings) == before
    result = cleanup(settings, keep_tags=None, older_than_days=7, pause=sup.paused)
    assert result.deleted_count == 2  # v1 (with its alias) and v2
    freed = stored_total(built["v1"], built["v2"])  # type: ignore[arg-type]
    assert result.deleted_bytes == freed
    assert disk_usage(settings) == before - freed
    # The index, every platform manifest and every blob survive the collection.
    check = check_image(settings, ImageRef.parse("multi:1.0"))
    assert check.complete
    assert check.digest == multi.manifest.digest
    with RegistryClient(settings.upstreams[0].writer_url) as w:
        for image in multi.images:
            assert w.get_manifest("library/multi", image.manifest.digest) is not None
            for digest, data in image.blobs.items():
                with w.open_blob("library/multi", digest) as chunks:
                    assert b"".join(chunks) == data
        assert sorted(w.tags("library/app")) == ["curated", "v3"]


def test_gc_of_empty_store_and_missing_config(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    up = settings.upstreams[0]
    assert garbage_collect(settings, up, dry_run=True).eligible == 0  # nothing stored yet
    (Layout(settings.data_dir).storage_root(up) / "docker/registry/v2/repositories").mkdir(
        parents=True
    )
    with pytest.raises(CacheError, match="no engine config"):
        garbage_collect(settings, up, dry_run=True)
