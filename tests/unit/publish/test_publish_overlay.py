"""``publish_files``: add real packages to a registry published on S3, without its sources."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pubkit import Bucket, Recorder, race, sha

from s9reg.builder import BuildSettings, build_site
from s9reg.errors import S9regError
from s9reg.publish import (
    OverlayReport,
    PublishConflictError,
    PublishError,
    publish_files,
    publish_site,
)
from s9reg.registry.model import FullIndex
from s9reg.units import human_size

from helpers.buildkit import ADMIN, CDN, REGISTRY, STRANGER, pkg, settings
from helpers.s3server import S3Endpoint


class Killed(BaseException):
    """Stands for the process dying: no ``except Exception`` handler runs."""


class RequestFailedError(Exception):
    """A request that failed for good."""


WRITES = ("PutObject", "UploadPart", "CreateMultipartUpload", "CopyObject", "DeleteObjects")


def build_config(tmp_path: Path, sources: Sequence[Path] = ()) -> BuildSettings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return settings(tmp_path, list(sources), registry_key=REGISTRY, output=tmp_path / "site")


def full_publish(bucket: Bucket, tmp_path: Path, sources: Sequence[Path]) -> Any:
    build = build_config(tmp_path, sources)
    build_site(build)
    settings_ = bucket.settings(build.output)
    target = bucket.target(settings_)
    try:
        return publish_site(settings_, target)
    finally:
        target.close()


def add(
    bucket: Bucket,
    tmp_path: Path,
    files: Sequence[Path],
    rec: Recorder | None = None,
    **kw: Any,
) -> OverlayReport:
    settings_ = bucket.settings(tmp_path / "unused-site", **kw)
    target = bucket.target(settings_)
    if rec is not None:
        rec.attach(target)
    try:
        return publish_files(build_config(tmp_path), settings_, files, target)
    finally:
        target.close()


def live_index(bucket: Bucket) -> FullIndex:
    raw = bucket.get("index.json")
    assert raw is not None
    return FullIndex.from_dict(json.loads(raw))


def assert_every_file_resolves(bucket: Bucket) -> dict[str, str]:
    """Every package file the live index lists is in the live manifest and stored with its bytes."""
    objects = bucket.manifest().objects
    files: dict[str, str] = {}
    for info in live_index(bucket).package.packages.values():
        for pv in info.versions.values():
            for _, asset in pv.s9pks:
                key = asset.urls[0].removeprefix(CDN)
                body = bucket.get(key)
                assert body is not None, key
                assert objects[key].sha256 == sha(body), key
                files[key] = sha(body)
    return files


def versions(index: FullIndex, pid: str = "hello") -> dict[str, list[tuple[str, ...]]]:
    return {
        str(v): sorted(tuple(hw.arch or ()) for hw, _ in pv.s9pks)
        for v, pv in index.package.packages[pid].versions.items()
    }


@pytest.fixture(scope="module")
def weed_endpoint(seaweed: S3Endpoint) -> S3Endpoint:
    return seaweed


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    return path


def test_new_version_and_variant_over_published_site(
    weed_endpoint: S3Endpoint, tmp_path: Path, src: Path
) -> None:
    bucket = Bucket(weed_endpoint, weed_endpoint.new_bucket("ovl"))
    x86 = pkg(src, "hello_x86.s9pk", arches=("x86_64",))
    notes = pkg(src, "notes.s9pk", ADMIN, id_="notes")
    full_publish(bucket, tmp_path / "a", [x86, notes])
    before = bucket.manifest()
    old_files = assert_every_file_resolves(bucket)
    assert len(old_files) == 2

    new = tmp_path / "new"
    new.mkdir()
    arm = pkg(new, "hello_arm.s9pk", arches=("aarch64",))
    newer = pkg(new, "hello_2.s9pk", version="1.1.0:0")
    report = add(bucket, tmp_path / "b", [arm, newer])

    assert report.touched == ("hello",)
    index = live_index(bucket)
    assert versions(index) == {"1.0.0:0": [("aarch64",), ("x86_64",)], "1.1.0:0": [("x86_64",)]}
    assert "notes" in index.package.packages
    after = bucket.manifest()
    assert after.generation == before.generation + 1
    for key in old_files:  # the old files are untouched and still listed
        assert after.objects[key] == before.objects[key]
    uploaded = {i.key for i in report.publish.uploads}
    assert not uploaded & set(old_files)
    assert {k for k in uploaded if k.endswith(".s9pk")} == {
        "hello/1.0.0:0/hello_arm.s9pk",
        "hello/1.1.0:0/hello_2.s9pk",
    }
    assert "index.json" in uploaded
    assert "hello/index.html" in uploaded
    # The page of a package that gained nothing stays as published (with its instructions).
    assert "notes/index.html" not in uploaded
    # The re-rendered page knows the size of the file published before (from the manifest).
    page = bucket.get("hello/index.html")
    assert page is not None
    assert human_size(x86.stat().st_size).encode() in page
    assert after.objects["notes/index.html"] == before.objects["notes/index.html"]
    assert report.publish.kept > 0
    assert set(before.objects) <= set(after.objects)
    assert len(assert_every_file_resolves(bucket)) == 4

    # Again with the same files: they are already published, nothing is sent.
    rec = Recorder()
    again = add(bucket, tmp_path / "c", [arm, newer], rec)
    assert again.touched == ()
    assert again.publish.uploads == ()
    assert again.publish.generation == after.generation
    assert rec.ops(*WRITES) == []
    assert sum("same package as" in w for w in again.build.warnings) == 2

    # A later full publish from the sources converges: every object is the site's own.
    site_sources = [x86, notes, arm, newer]
    full = full_publish(bucket, tmp_path / "d", site_sources)
    assert {i.key for i in full.uploads if i.key.endswith(".s9pk")} == set()
    assert "hello/index.html" not in {i.key for i in full.uploads}  # the overlay's page was right
    assert full.kept == 0
    site = tmp_path / "d" / "site"
    local = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert set(bucket.manifest().objects) == local
    assert versions(live_index(bucket)) == versions(index)
    noop = full_publish(bucket, tmp_path / "d", site_sources)
    assert noop.uploads == ()


@pytest.mark.parametrize("problem", ["unauthorized", "corrupt", "variant-metadata"])
def test_bad_file_fails_before_any_upload(
    moto_bucket: Bucket, tmp_path: Path, src: Path, problem: str
) -> None:
    full_publish(moto_bucket, tmp_path / "a", [pkg(src, "hello.s9pk")])
    before = moto_bucket.pointer()
    new = tmp_path / "new"
    new.mkdir()
    good = pkg(new, "good.s9pk", version="1.2.0:0")
    if problem == "unauthorized":
        bad = pkg(new, "bad.s9pk", STRANGER, version="1.1.0:0")
    elif problem == "corrupt":
        bad = pkg(new, "bad.s9pk", version="1.1.0:0")
        data = bytearray(bad.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
    else:
        bad = pkg(new, "bad.s9pk", arches=("aarch64",), title="Another Title")
    rec = Recorder()
    with pytest.raises(S9regError):
        add(moto_bucket, tmp_path / "b", [good, bad], rec)
    assert rec.ops(*WRITES) == []
    assert moto_bucket.pointer() == before
    assert versions(live_index(moto_bucket)) == {"1.0.0:0": [("x86_64",)]}


def test_nothing_published_yet_is_refused(moto_bucket: Bucket, tmp_path: Path, src: Path) -> None:
    rec = Recorder()
    with pytest.raises(PublishError, match="nothing is published yet"):
        add(moto_bucket, tmp_path, [pkg(src, "hello.s9pk")], rec)
    assert rec.ops(*WRITES) == []


def test_index_changed_since_read_is_a_conflict(
    moto_bucket: Bucket, tmp_path: Path, src: Path
) -> None:
    full_publish(moto_bucket, tmp_path / "a", [pkg(src, "hello.s9pk")])
    # A publish in progress (or one that failed) has already replaced index.json.
    moto_bucket.client.put_object(
        Bucket=moto_bucket.name, Key=moto_bucket.key("index.json"), Body=b"{}"
    )
    with pytest.raises(PublishError, match="not the one generation 1 published"):
        add(moto_bucket, tmp_path / "b", [pkg(src, "two.s9pk", version="1.1.0:0")])


def test_two_overlays_at_once_lose_no_update(
    moto_bucket: Bucket, tmp_path: Path, src: Path
) -> None:
    full_publish(moto_bucket, tmp_path / "a", [pkg(src, "hello.s9pk")])
    for round_ in range(3):
        files = [pkg(src, f"r{round_}p{n}.s9pk", version=f"1.{round_ + 1}.{n}:0") for n in range(2)]

        def one(bucket: Bucket, file: Path, rec: Recorder) -> OverlayReport:
            return add(bucket, tmp_path / f"w{file.stem}", [file], rec)

        results = race(one, moto_bucket, files)  # type: ignore[arg-type]
        losers = [n for n in range(2) if isinstance(results[n], PublishConflictError)]
        assert len(losers) == 1, results
        winner = 1 - losers[0]
        assert f"1.{round_ + 1}.{winner}:0" in versions(live_index(moto_bucket))
        assert f"1.{round_ + 1}.{losers[0]}:0" not in versions(live_index(moto_bucket))
        add(moto_bucket, tmp_path / f"retry{round_}", [files[losers[0]]])
        live = versions(live_index(moto_bucket))
        assert {f"1.{round_ + 1}.0:0", f"1.{round_ + 1}.1:0"} <= set(live)
        assert len(live) == 1 + 2 * (round_ + 1)
        assert_every_file_resolves(moto_bucket)
        assert moto_bucket.pointer().lease is None


def test_published_os_index_is_kept(tmp_path: Path, src: Path) -> None:
    """Over a base index, the build keeps its OS releases when the configuration lists none."""
    build_site(build_config(tmp_path / "a", [pkg(src, "hello.s9pk")]))
    raw = json.loads((tmp_path / "a" / "site" / "index.json").read_bytes())
    raw["os"] = {
        "versions": {
            "0.4.0": {
                "headline": "StartOS 0.4.0",
                "releaseNotes": "",
                "sourceVersion": ">=0.3.6",
                "authorized": [],
                "iso": {},
                "squashfs": {},
                "img": {},
            }
        }
    }
    base = FullIndex.from_dict(raw)
    out = tmp_path / "overlay"
    build_site(replace(build_config(tmp_path / "b", [pkg(src, "two.s9pk", version="1.1.0:0")]),
                       base=base, output=out))  # fmt: skip
    built = FullIndex.from_dict(json.loads((out / "index.json").read_bytes()))
    assert built.os == base.os
    assert [str(v) for v in built.os.versions] == ["0.4.0"]


def test_overlay_refuses_a_moved_generation(moto_bucket: Bucket, tmp_path: Path, src: Path) -> None:
    full_publish(moto_bucket, tmp_path / "a", [pkg(src, "hello.s9pk")])
    full_publish(
        moto_bucket, tmp_path / "a", [pkg(src, "hello.s9pk"), pkg(src, "b.s9pk", version="1.1.0:0")]
    )
    build = build_config(tmp_path / "b", [pkg(src, "c.s9pk", version="1.2.0:0")])
    build_site(replace(build, base=live_index(moto_bucket)))
    settings_ = moto_bucket.settings(build.output, overlay=True, expect_generation=1)
    target = moto_bucket.target(settings_)
    rec = Recorder().attach(target)
    try:
        with pytest.raises(PublishConflictError, match="generation 2 is live, not generation 1"):
            publish_site(settings_, target)
    finally:
        target.close()
    assert rec.ops(*WRITES) == []
    assert moto_bucket.pointer().generation == 2


@pytest.mark.parametrize("how", [Killed, RequestFailedError], ids=["killed", "failed"])
@pytest.mark.parametrize("point", ["index.html", "_s9reg/manifests/"], ids=["index", "manifest"])
def test_interrupted_overlay_is_finished_by_running_it_again(
    moto_bucket: Bucket, tmp_path: Path, src: Path, how: type[BaseException], point: str
) -> None:
    old = pkg(src, "hello.s9pk")
    full_publish(moto_bucket, tmp_path / "a", [old, pkg(src, "notes.s9pk", ADMIN, id_="notes")])
    new = tmp_path / "new"
    new.mkdir()
    files = [pkg(new, "arm.s9pk", arches=("aarch64",)), pkg(new, "two.s9pk", version="1.1.0:0")]

    def stop(op: str, key: str, _n: int) -> None:
        if op == "PutObject" and point in key:
            raise how

    with pytest.raises(how):
        add(moto_bucket, tmp_path / "b", files, Recorder(fault=stop))
    assert moto_bucket.pointer().generation == 1
    report = add(moto_bucket, tmp_path / "c", files, lease_seconds=0)
    assert report.touched == ("hello",)
    assert moto_bucket.pointer().generation == 2
    assert moto_bucket.pointer().lease is None
    assert versions(live_index(moto_bucket)) == {
        "1.0.0:0": [("aarch64",), ("x86_64",)],
        "1.1.0:0": [("x86_64",)],
    }
    assert len(assert_every_file_resolves(moto_bucket)) == 4
    manifest = moto_bucket.manifest()
    for key, entry in manifest.objects.items():
        body = moto_bucket.get(key)
        assert body is not None, key
        assert sha(body) == entry.sha256, key
    rec = Recorder()
    assert add(moto_bucket, tmp_path / "d", files, rec).publish.uploads == ()
    assert rec.ops(*WRITES) == []
