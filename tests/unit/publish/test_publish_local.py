"""The directory target, the header policy, the state codecs and freshness, without a server."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pubkit import site_files, write_site

from s9reg.builder import BuildSettings
from s9reg.errors import ConfigError
from s9reg.publish import (
    DirSettings,
    DirTarget,
    Phase,
    PublishConflictError,
    PublishError,
    PublishSettings,
    classify,
    publish_site,
    stale_reason,
)
from s9reg.publish.policy import (
    CACHE_DOCUMENT,
    CACHE_IMMUTABLE,
    CACHE_MUTABLE,
    ObjectHeaders,
    state_headers,
)
from s9reg.publish.state import POINTER_KEY, Lease, Manifest, ObjectEntry, Pointer
from s9reg.publish.target import PreconditionFailedError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("key", "phase", "ctype", "cache", "disposition"),
    [
        pytest.param(
            "hello/1.0:0/hello.s9pk",
            Phase.FILES,
            "application/octet-stream",
            CACHE_IMMUTABLE,
            "",
            id="s9pk",
        ),
        pytest.param(
            "_icons/0123abcd.png", Phase.FILES, "image/png", CACHE_IMMUTABLE, "", id="icon"
        ),
        pytest.param(
            "_icons/0123abcd.svg",
            Phase.FILES,
            "image/svg+xml",
            CACHE_IMMUTABLE,
            "attachment",
            id="svg-icon",
        ),
        pytest.param(
            "_assets/site.css", Phase.FILES, "text/css; charset=utf-8", CACHE_DOCUMENT, "", id="css"
        ),
        pytest.param("hello/index.json", Phase.PAGES, JSON, CACHE_DOCUMENT, "", id="package-json"),
        pytest.param("hello/index.html", Phase.PAGES, HTML, CACHE_DOCUMENT, "", id="package-page"),
        pytest.param(
            "rpc.v0/package.get/_all/full.json", Phase.API, JSON, CACHE_MUTABLE, "", id="rpc"
        ),
        pytest.param(
            "feed.atom",
            Phase.API,
            "application/atom+xml; charset=utf-8",
            CACHE_MUTABLE,
            "",
            id="feed",
        ),
        pytest.param(
            "hello/feed.xml",
            Phase.API,
            "application/xml; charset=utf-8",
            CACHE_MUTABLE,
            "",
            id="package-feed",
        ),
        pytest.param("index.json", Phase.INDEX, JSON, CACHE_MUTABLE, "", id="index"),
        pytest.param("index.html", Phase.INDEX, HTML, CACHE_MUTABLE, "", id="home"),
        pytest.param("s9reg-site.json", Phase.INDEX, JSON, CACHE_MUTABLE, "", id="marker"),
        pytest.param(
            "hello/blob", Phase.FILES, "application/octet-stream", CACHE_DOCUMENT, "", id="no-ext"
        ),
    ],
)
def test_classify(key: str, phase: Phase, ctype: str, cache: str, disposition: str) -> None:
    assert classify(key) == (phase, ObjectHeaders(ctype, cache, disposition))


def test_state_round_trip_and_errors() -> None:
    entry = ObjectEntry(sha256="ab" * 32, size=3, headers=state_headers(), first_published=T0)
    manifest = Manifest(generation=7, created=T0, objects={"a/b.json": entry})
    assert Manifest.from_json(manifest.to_json(), "m") == manifest
    lease = Lease(id="x", owner="h:1", started=T0, heartbeat=T0 + timedelta(seconds=5))
    pointer = Pointer(generation=7, history=(), lease=lease, dirty=True)
    assert Pointer.from_json(pointer.to_json(), "p") == pointer
    with pytest.raises(PublishError, match="malformed publish pointer"):
        Pointer.from_json(b'{"format":1}', "p")
    with pytest.raises(PublishError, match="malformed publish manifest"):
        Manifest.from_json(b"not json", "m")


def test_settings_limits() -> None:
    with pytest.raises(ConfigError, match="jobs must be at least 1"):
        PublishSettings(site=Path(), target=DirSettings(path=Path("x")), jobs=0)


def test_dir_target_publish_noop_retention(tmp_path: Path) -> None:
    clock = [T0]
    out = tmp_path / "public"
    settings = PublishSettings(
        site=tmp_path / "site", target=DirSettings(path=out), keep_generations=1, grace_seconds=60
    )
    a = site_files("a", ("hello", "notes"))
    write_site(tmp_path / "site", a)
    report = publish_site(settings, clock=lambda: clock[0])
    assert report.generation == 1
    for key, data in a.items():
        assert (out / key).read_bytes() == data
    assert publish_site(settings, clock=lambda: clock[0]).uploads == ()
    b = site_files("b", ("hello",))
    write_site(tmp_path / "site", b)
    clock[0] += timedelta(seconds=1)
    assert publish_site(settings, clock=lambda: clock[0]).deletions == ()
    assert (out / "notes/1.0:0/notes_a.s9pk").exists()  # in grace
    clock[0] += timedelta(minutes=5)
    report = publish_site(settings, clock=lambda: clock[0])
    assert "notes/1.0:0/notes_a.s9pk" in {d.key for d in report.deletions}
    assert not (out / "notes").exists()  # emptied directories go too
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f for f in files if not f.startswith("_s9reg/")} == set(b)
    assert not list(out.rglob("*.s9reg-tmp"))


def test_dir_target_conditional_write(tmp_path: Path) -> None:
    target = DirTarget(tmp_path / "t")
    etag = target.write(POINTER_KEY, b"1", state_headers(), if_none_match=True)
    assert etag == hashlib.sha256(b"1").hexdigest()
    with pytest.raises(PreconditionFailedError):
        target.write(POINTER_KEY, b"2", state_headers(), if_none_match=True)
    etag2 = target.write(POINTER_KEY, b"2", state_headers(), if_match=etag)
    with pytest.raises(PreconditionFailedError):
        target.write(POINTER_KEY, b"3", state_headers(), if_match=etag)
    assert target.read(POINTER_KEY) == (b"2", etag2)


def test_dir_target_live_lease_conflict(tmp_path: Path) -> None:
    out = tmp_path / "public"
    write_site(tmp_path / "site", site_files("a"))
    settings = PublishSettings(site=tmp_path / "site", target=DirSettings(path=out))
    publish_site(settings)
    target = DirTarget(out)
    raw, etag = target.read(POINTER_KEY) or (b"", "")
    now = datetime.now(UTC)
    busy = Pointer.from_json(raw, "p").with_lease(
        Lease(id="o", owner="other:1", started=now, heartbeat=now)
    )
    target.write(POINTER_KEY, busy.to_json(), state_headers(), if_match=etag)
    write_site(tmp_path / "site", site_files("b"))
    with pytest.raises(PublishConflictError, match="other:1"):
        publish_site(settings)
    assert (out / "index.json").read_bytes() == site_files("a")["index.json"]


def test_dir_target_must_not_overlap_site(tmp_path: Path) -> None:
    write_site(tmp_path / "site", site_files("a"))
    settings = PublishSettings(
        site=tmp_path / "site", target=DirSettings(path=tmp_path / "site" / "out")
    )
    with pytest.raises(PublishError, match="must not overlap"):
        publish_site(settings)


def test_stale_reason(tmp_path: Path) -> None:
    src = tmp_path / "packages"
    src.mkdir()
    pkg = src / "a.s9pk"
    pkg.write_bytes(b"x")
    settings = BuildSettings(
        api_url="https://r.example/",
        file_urls=("https://r.example/",),
        sources=(pkg,),
        output=tmp_path / "_site",
    )
    assert stale_reason(settings) == f"{tmp_path / '_site'} is not built yet"
    write_site(tmp_path / "_site", site_files("a"))
    old = pkg.stat().st_mtime - 100
    for path in (pkg, src):
        os.utime(path, (old, old))
    assert stale_reason(settings) is None
    (src / "b.s9pk").write_bytes(b"y")
    reason = stale_reason(settings)
    assert reason is not None
    assert "changed since the last build" in reason
