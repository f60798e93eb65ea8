"""Issue 17, points 2 to 4, with Debian's skopeo against real docker-registry upstreams.

A black-holed upstream (a socket that accepts and never answers), expiry coming due while
offline, a curated tag moved upstream, pulls while offline and the cleanups after them, the
manual offline switch and the disk quota.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest
from modes_kit import (
    CURATED,
    SwitchableUpstream,
    fast_settings,
    settle,
    skopeo_pull,
    supervisor_log,
    wait_mode,
)
from registry_kit import (
    build_image,
    build_index,
    push_image,
    push_index,
)

from s9reg.imagecache.cleanup import cleanup
from s9reg.imagecache.engine import Mode
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.offline import ManualOffline
from s9reg.imagecache.preload import preload_images
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import check_image, list_images, tag_link
from s9reg.imagecache.supervisor import Supervisor

from helpers.cli import run_cli

DAY = 86400.0


def test_black_holed_upstream_curated_pull_by_tag_within_10_s(
    tmp_path: Path, switchable: SwitchableUpstream
) -> None:
    with switchable.registry.client() as up:
        push_index(up, "library/alpine", "3.19", build_index(b"alpine"))
        push_image(up, "library/busybox", "1.32", build_image(b"busybox"))
    settings = fast_settings(tmp_path, switchable.registry.url)
    with Supervisor(settings) as sup:
        assert sup.mode(settings.upstreams[0]) is Mode.PROXY
        (loaded,) = preload_images(settings)
        skopeo_pull(settings, "library/busybox:1.32", tmp_path / "p0")
        settle(settings, "busybox:1.32")

        switchable.black_hole()
        # Pulled at once, before any probe noticed: the relay stops waiting when it does.
        assert skopeo_pull(settings, "library/alpine:3.19", tmp_path / "p1") < 10
        assert skopeo_pull(settings, "library/busybox:1.32", tmp_path / "p2") < 10
        wait_mode(sup, settings, Mode.OFFLINE)
        (gate,) = sup.upstream_state()
        assert gate["reason"] == "no answer within 2 s"
        # Offline now: answered without waiting at all.
        assert (
            skopeo_pull(settings, "library/alpine:3.19", tmp_path / "p3") < 5
        )  # skopeo itself included, on a busy box
        index = json.loads((tmp_path / "p3" / "index.json").read_text(encoding="utf-8"))
        with RegistryClient(settings.upstreams[0].local_url) as proxy:
            served = proxy.head_manifest("library/alpine", "3.19")
        assert served is not None
        assert served.digest == loaded.digest
        assert index["manifests"][0]["digest"] == loaded.digest

        switchable.refuse()
        assert skopeo_pull(settings, "library/alpine:3.19", tmp_path / "p4") < 10
        switchable.up()
        wait_mode(sup, settings, Mode.PROXY)
    # Black-holed at start: 2.8 would panic or hang on its start-up question; the relay answers.
    switchable.black_hole()
    start = time.monotonic()
    with sup:
        assert time.monotonic() - start < 10
        assert sup.mode(settings.upstreams[0]) is Mode.OFFLINE
        assert skopeo_pull(settings, "library/alpine:3.19", tmp_path / "p5") < 5
        assert skopeo_pull(settings, "library/busybox:1.32", tmp_path / "p6") < 5
    log = supervisor_log(settings)
    assert "mode docker.io: proxy -> offline (no answer within 2 s)" in log
    assert "mode docker.io: offline -> proxy" in log
    assert "mode docker.io: offline at start (no answer within 2 s)" in log


def test_expiry_due_while_offline_loses_nothing(
    tmp_path: Path, switchable: SwitchableUpstream
) -> None:
    with switchable.registry.client() as up:
        push_index(up, "library/alpine", "3.19", build_index(b"alpine"))
        push_image(up, "library/busybox", "1.32", build_image(b"busybox"))
        push_index(up, "library/traefik", "3", build_index(b"traefik"))
    settings = fast_settings(tmp_path, switchable.registry.url)
    schedule = settings.data_dir / "storage" / "docker.io" / "scheduler-state.json"
    pulled = ["library/alpine:3.19", "library/busybox:1.32", "library/traefik:3"]
    sup = Supervisor(settings)
    with sup:
        preload_images(settings)
        for i, ref in enumerate(pulled):
            skopeo_pull(settings, ref, tmp_path / f"online{i}")
        settle(settings, "busybox:1.32", "traefik:3")
        before = {i.repository: [(t.tag, t.digest) for t in i.tags] for i in list_images(settings)}
        # The engine saves its expiry schedule every 5 s: wait for what it gathered.
        deadline = time.monotonic() + 15
        while not schedule.is_file() or len(json.loads(schedule.read_bytes())) < 5:
            assert time.monotonic() < deadline, "the engine saved no expiry schedule"
            time.sleep(0.2)
    switchable.refuse()
    # Everything overdue, as a week offline would leave it.
    state = json.loads(schedule.read_bytes())
    for entry in state.values():
        entry["ExpiryData"] = "2020-01-01T00:00:00Z"
    schedule.write_text(json.dumps(state), encoding="utf-8")
    with sup:
        assert sup.mode(settings.upstreams[0]) is Mode.OFFLINE
        time.sleep(1.0)  # 2.8 deletes overdue entries as soon as it starts
        for i, ref in enumerate(pulled):
            skopeo_pull(settings, ref, tmp_path / f"offline{i}")
        for ref in ("alpine:3.19", "busybox:1.32", "traefik:3"):
            assert check_image(settings, ImageRef.parse(ref)).complete, ref
        after = {i.repository: [(t.tag, t.digest) for t in i.tags] for i in list_images(settings)}
        assert after == before
    assert f"dropped {len(state)} engine expiry entries" in supervisor_log(settings)


def test_curated_tag_never_re_pointed_and_moved_one_re_pinned(
    tmp_path: Path, switchable: SwitchableUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = build_image(b"alpine one"), build_image(b"alpine two")
    with switchable.registry.client() as up:
        pinned = push_image(up, "library/alpine", "3.19", first)
    settings = fast_settings(tmp_path, switchable.registry.url)
    u = settings.upstreams[0]
    with Supervisor(settings) as sup:
        preload_images(settings)
        with switchable.registry.client() as up:
            moved = push_image(up, "library/alpine", "3.19", second)  # re-pointed upstream
        # Online pulls through the cache keep getting the pinned content.
        skopeo_pull(settings, "library/alpine:3.19", tmp_path / "p")
        with RegistryClient(u.local_url) as proxy:
            got = proxy.get_manifest("library/alpine", "3.19")
        assert got is not None
        assert got.digest == pinned
        assert check_image(settings, CURATED).digest == pinned
        assert not check_image(settings, CURATED).moved
        # Re-tagged behind the cache's back (here: a push to the writer): check flags it...
        with RegistryClient(u.writer_url) as writer:
            push_image(writer, "library/alpine", "3.19", second)
        result = check_image(settings, CURATED)
        assert (result.moved, result.digest, result.pinned) == (True, moved, pinned)
        # ...and the supervisor puts it back on its pin.
        sup.housekeeping()
        assert check_image(settings, CURATED).digest == pinned
    assert f"re-pinned curated {CURATED}: it pointed at {moved}, pinned {pinned}" in (
        supervisor_log(settings)
    )


def test_offline_pulls_count_as_use_and_cleanup_waits_for_the_upstream(
    tmp_path: Path, switchable: SwitchableUpstream
) -> None:
    with switchable.registry.client() as up:
        for name in ("a", "b", "c"):
            push_image(up, f"library/{name}", "1", build_image(name.encode()))
    settings = fast_settings(tmp_path, switchable.registry.url, images=())
    u = settings.upstreams[0]
    with Supervisor(settings) as sup:
        for name in ("a", "b", "c"):
            skopeo_pull(settings, f"library/{name}:1", tmp_path / f"on-{name}")
        settle(settings, "a:1", "b:1", "c:1")
        old = time.time() - 10 * DAY
        for name in ("a", "b", "c"):
            os.utime(tag_link(settings, u, f"library/{name}", "1"), (old, old))

        switchable.refuse()
        wait_mode(sup, settings, Mode.OFFLINE)
        skopeo_pull(settings, "library/a:1", tmp_path / "off-a")
        # b by digest alone: the engine serves it without the relay; its access log tells.
        b_digest = check_image(settings, ImageRef.parse("b:1")).digest
        skopeo_pull(settings, f"library/b@{b_digest}", tmp_path / "off-b")
        sup.housekeeping()
        used = {i.repository: i.last_used for i in list_images(settings)}
        assert used["library/a"] is not None
        assert used["library/a"] > time.time() - 60
        assert used["library/b"] is not None
        assert used["library/b"] > time.time() - 60
        assert used["library/c"] == pytest.approx(old, abs=1)

        def clean(**kw: bool) -> list[str]:
            result = cleanup(
                settings,
                keep_tags=None,
                older_than_days=5,
                pause=sup.paused,
                reachable=sup.reachable,
                **kw,
            )
            return [str(r).split("@")[0] for r in result.deleted]

        # Offline: nothing deleted (it could not be fetched again), unless forced.
        assert clean() == []
        assert clean(force=True, dry_run=True) == ["docker.io/library/c:1"]
        switchable.up()
        wait_mode(sup, settings, Mode.PROXY)
        assert clean() == ["docker.io/library/c:1"]
        assert check_image(settings, ImageRef.parse("a:1")).complete
        assert check_image(settings, ImageRef.parse("b:1")).complete
        assert not check_image(settings, ImageRef.parse("c:1")).present
    log = supervisor_log(settings)
    assert "skipped offline docker.io" in log
    assert "deleted 1 manifests (docker.io/library/c:1@sha256:" in log


def test_manual_offline_switch_kept_across_restarts(
    tmp_path: Path, switchable: SwitchableUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    with switchable.registry.client() as up:
        push_image(up, "library/cached", "1", build_image(b"cached"))
        fresh = build_image(b"fresh")
        push_image(up, "library/fresh", "1", fresh)
    settings = fast_settings(tmp_path, switchable.registry.url, images=())
    config = write_site_config(tmp_path, settings)
    u = settings.upstreams[0]
    sup = Supervisor(settings)
    with sup:
        skopeo_pull(settings, "library/cached:1", tmp_path / "c0")
        settle(settings, "cached:1")
        code, out, err = run_cli(
            ["cache", "offline", "on", "docker.io", "--config", config], capsys
        )
        assert (code, out) == (0, "docker.io: offline (by hand)\n"), err
        sup.poll()
        (gate,) = sup.upstream_state()
        assert (gate["mode"], gate["manual"], gate["reachable"]) == ("offline", True, True)
        skopeo_pull(settings, "library/cached:1", tmp_path / "c1")
        with RegistryClient(u.local_url) as proxy:
            assert proxy.head_manifest("library/fresh", "1") is None  # never asked upstream
            # Not cached: 404 (the engine answered 500 when the upstream was refused or down).
            r = proxy.request("GET", f"/v2/library/fresh/blobs/{next(iter(fresh.blobs))}")
            assert (r.status, r.error_text()[:13]) == (404, "BLOB_UNKNOWN:")
    with sup:  # kept across restarts
        assert sup.mode(u) is Mode.OFFLINE
        code, out, _ = run_cli(["cache", "offline", "off", "--config", config], capsys)
        assert out == "docker.io: on (used whenever it answers)\n"
        sup.poll()
        assert sup.mode(u) is Mode.PROXY
        with RegistryClient(u.local_url) as proxy:
            assert proxy.head_manifest("library/fresh", "1") is not None
    assert ManualOffline.load(settings.data_dir) == ManualOffline()
    assert "manual offline on for docker.io" in supervisor_log(settings)
    assert "mode docker.io: proxy -> offline (switched offline by hand)" in supervisor_log(settings)


def write_site_config(tmp_path: Path, settings: CacheSettings) -> str:
    u = settings.upstreams[0]
    path = tmp_path / "site-config.yaml"
    path.write_text(
        f"""\
registry:
  name: Test
  url: https://r.example.org/
image_cache:
  data_dir: {settings.data_dir}
  listen: 127.0.0.1:{u.port}
  api_listen: 127.0.0.1:{settings.api_port}
  upstreams:
    docker.io: {{url: "{u.url}", writer_port: {u.writer_port}}}
  images: []
""",
        encoding="utf-8",
    )
    return str(path)


def test_quota_evicts_least_recently_used_never_curated(
    tmp_path: Path, switchable: SwitchableUpstream
) -> None:
    # Random content: gzip does not shrink it, so sizes are what they seem.
    images = {n: build_image(random.Random(n).randbytes(100_000)) for n in ("old", "mid", "new")}
    with switchable.registry.client() as up:
        push_index(up, "library/alpine", "3.19", build_index(random.Random(0).randbytes(100_000)))
        for name, image in images.items():
            push_image(up, f"library/{name}", "1", image)
    settings = fast_settings(tmp_path, switchable.registry.url)
    u = settings.upstreams[0]
    with Supervisor(settings) as sup:
        preload_images(settings)
        for name in images:
            skopeo_pull(settings, f"library/{name}:1", tmp_path / name)
        settle(settings, "old:1", "mid:1", "new:1")
        for age, name in enumerate(("new", "mid", "old")):
            when = time.time() - (age + 1) * DAY
            os.utime(tag_link(settings, u, f"library/{name}", "1"), (when, when))
        sizes = {i.repository: i.size for i in list_images(settings)}
    # Room for the curated image and one more: the two least recently used go.
    quota = sizes["library/alpine"] + sizes["library/new"] + sizes["library/mid"] // 2
    limited = dataclasses.replace(settings, max_size=quota)
    with Supervisor(limited) as sup:
        sup.housekeeping()
        assert check_image(limited, CURATED).complete
        assert check_image(limited, ImageRef.parse("new:1")).complete
        assert not check_image(limited, ImageRef.parse("mid:1")).present
        assert not check_image(limited, ImageRef.parse("old:1")).present
        assert sup.quota_state()["used"] <= quota
    assert "quota:" in supervisor_log(limited)


def test_status_shows_modes_and_quota(
    tmp_path: Path, switchable: SwitchableUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = fast_settings(tmp_path, switchable.registry.url, images=())
    config = write_site_config(tmp_path, settings)
    with Path(config).open("a", encoding="utf-8") as f:
        f.write("  max_size: 1GiB\n")

    def cache(*args: str) -> str:
        code, out, err = run_cli(["cache", *args, "--config", config], capsys)
        assert code == 0, err
        return out

    cache("up")
    try:
        out = cache("status")
        assert "UPSTREAM   MODE   SINCE" in out
        assert "docker.io  proxy" in out
        assert "Disk quota: 0 B of 1.0 GiB used." in out
        doc = json.loads(cache("status", "--json"))
        assert doc["upstreams"][0]["mode"] == "proxy"
        assert (doc["quota"]["max_size"], doc["quota"]["used"]) == (1024**3, 0)
        cache("offline", "on")
        out = cache("status")
        assert "docker.io  offline" in out
        assert "switched offline by hand\n" in out
        switchable.refuse()
        cache("offline", "off")
        deadline = time.monotonic() + 10
        while "connection refused" not in (out := cache("status")):
            assert time.monotonic() < deadline, out
            time.sleep(0.1)
    finally:
        cache("down")
    log = supervisor_log(settings).splitlines()
    events = [line.split(" ", 1)[1] for line in log]
    assert events[:2] == ["mode docker.io: proxy at start", events[1]]
    assert events[1].startswith("image cache up (supervisor pid")
    assert "mode docker.io: proxy -> offline (connection refused)" in events
    assert events[-1] == "image cache down"


def test_restarts_are_logged(tmp_path: Path, switchable: SwitchableUpstream) -> None:
    settings = fast_settings(tmp_path, switchable.registry.url, images=())
    with Supervisor(settings) as sup:
        (proxy,) = [i for i in sup.state() if i["role"] == "proxy"]
        os.kill(proxy["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            sup.poll()
            (again,) = [i for i in sup.state() if i["role"] == "proxy"]
            if again["running"] and again["pid"] != proxy["pid"]:
                break
            assert time.monotonic() < deadline, again
            time.sleep(0.05)
    log = supervisor_log(settings)
    assert re.search(
        r"proxy-docker\.io exited with status -9 after \d+ s; restart 1 in 0\.5 s", log
    )
    assert f"proxy-docker.io started again (pid {again['pid']})" in log
