"""Issue 17, points 5 and 8, through ``s9reg cache`` with an ``image_cache:``-only config.

Curated tags survive ``delete`` of a sibling tag; ``status`` and ``online`` exit non-zero when
the cache is not running, degraded or offline; repositories holding only a manifest are listed
and cleaned; engine logs are bounded.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_kit import PlainRegistry, build_image, free_port, make_settings, push_image
from skopeo_kit import skopeo

from s9reg import config
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.supervisor import Supervisor

from helpers.cli import run_cli as run


class Cli:
    """``s9reg cache …`` against one cache-only config."""

    def __init__(self, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.path = path
        self.capsys = capsys
        self.settings: CacheSettings = config.cache_settings(config.load_cache(path))

    def __call__(self, *args: str) -> tuple[int, str, str]:
        return run(["cache", args[0], "--config", str(self.path), *args[1:]], self.capsys)


@pytest.fixture
def cli(
    tmp_path: Path, upstream: PlainRegistry, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    path = tmp_path / "site-config.yaml"
    path.write_text(
        f"""\
image_cache:
  data_dir: cache
  listen: 127.0.0.1:{free_port()}
  api_listen: 127.0.0.1:{free_port()}
  upstreams:
    docker.io: {{url: "{upstream.url}", writer_port: {free_port()}, engine_port: {free_port()}}}
  images: [docker.io/library/alpine:3.20]
  recheck_seconds: 1
""",
        encoding="utf-8",
    )
    c = Cli(path, capsys)
    yield c
    c("down")


def test_delete_keeps_curated_siblings(cli: Cli, upstream: PlainRegistry) -> None:
    alpine = build_image(b"alpine 3.20")
    with upstream.client() as up:
        digest = push_image(up, "library/alpine", "3.20", alpine)
        push_image(up, "library/alpine", "latest", alpine)  # the same digest
        push_image(up, "library/busybox", "1", build_image(b"busybox"))
    assert cli("preload")[0] == 0
    assert cli("preload", "alpine:latest", "busybox:1")[0] == 0

    code, out, err = cli("delete", "alpine:latest")
    assert code == 1
    assert "docker.io/library/alpine:3.20" in err
    assert "--force" in err
    assert "Deleted" not in out
    code, out, _ = cli("check", "alpine:3.20")
    assert code == 0
    assert "complete, curated" in out
    assert digest in out
    assert cli("check", "alpine:latest")[0] == 0
    # The curated tag itself is refused the same way.
    code, _, err = cli("delete", "alpine:3.20")
    assert code == 1
    assert "curated" in err
    # Nothing curated on busybox's digest: deleted at once.
    code, out, err = cli("delete", "busybox:1")
    assert (code, err) == (0, "")
    assert "tags: 1" in out
    # Forced: both go, and the curated one is named.
    code, out, err = cli("delete", "alpine:latest", "--force")
    assert code == 0
    assert "tags: 3.20, latest" in out
    assert "curated tags deleted: 3.20" in err
    assert cli("check", "alpine:3.20")[0] == 1


def test_status_and_online_exit_statuses(cli: Cli, upstream: PlainRegistry) -> None:
    code, out, _ = cli("status")
    assert (code, out.strip()) == (3, "The image cache is not running.")
    assert cli("status", "--json")[0] == 3
    assert cli("online")[0] == 0
    assert cli("up")[0] == 0
    assert cli("status")[0] == 0
    state = json.loads(cli("status", "--json")[1])
    assert state["degraded"] is False
    # An instance gone while the supervisor cannot restart it (stopped): degraded.
    writer = next(i for i in state["instances"] if i["role"] == "writer")
    os.kill(state["pid"], signal.SIGSTOP)
    try:
        os.kill(writer["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (code := cli("status")[0]) != 4:
            assert time.monotonic() < deadline, code
            time.sleep(0.05)
        assert f"Degraded: {writer['name']} not running." in cli("status")[1]
    finally:
        os.kill(state["pid"], signal.SIGCONT)
    deadline = time.monotonic() + 15
    while cli("status")[0] != 0:
        assert time.monotonic() < deadline, "the writer was not restarted"
        time.sleep(0.1)
    upstream.stop()
    code, out, _ = cli("online")
    assert code == 3
    assert "OFFLINE" in out
    assert json.loads(cli("online", "--json")[1])[0]["online"] is False


def test_manifest_only_repositories_are_listed_and_cleaned(
    tmp_path: Path, cli: Cli, upstream: PlainRegistry
) -> None:
    with upstream.client() as up:
        digest = push_image(up, "library/peek", "1", build_image(b"peek"))
    assert cli("up")[0] == 0
    local = cli.settings.upstreams[0].local_url.removeprefix("http://")
    got = skopeo(
        tmp_path, "inspect", "--raw", "--tls-verify=false", f"docker://{local}/library/peek:1"
    )
    assert got.code == 0, got.err
    with RegistryClient(cli.settings.upstreams[0].writer_url) as writer:
        assert "library/peek" not in writer.catalog()  # what 2.8 misses
    doc = json.loads(cli("images", "--json")[1])
    (peek,) = [i for i in doc["images"] if i["name"] == "docker.io/library/peek"]
    assert [(t["tag"], t["digest"]) for t in peek["tags"]] == [("1", digest)]
    code, out, err = cli("cleanup", "--older-than", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["deleted"] == [f"docker.io/library/peek:1@{digest}"]
    assert json.loads(cli("images", "--json")[1])["images"] == []


def test_engine_logs_are_bounded(tmp_path: Path, upstream: PlainRegistry) -> None:
    settings = make_settings(tmp_path, upstream.url)
    sup = Supervisor(settings)
    sup.log_max_bytes = 4096
    sup.log_backups = 2
    sup.start()
    try:
        proxy = next(s for s in sup.state() if s["role"] == "proxy")
        log = settings.data_dir / "logs" / f"{proxy['name']}.log"
        engine = f"http://127.0.0.1:{settings.upstreams[0].proxy_engine_port}"
        for round_ in range(4):
            with RegistryClient(engine) as c:
                for _ in range(60):
                    c.ping()  # one access log line each
            time.sleep(0.3)
            assert log in sup.bound_logs(now=1e9 + round_ * 100)
            assert log.stat().st_size < 4096
        sizes = [p.stat().st_size for p in sorted(log.parent.glob(f"{log.name}*"))]
        assert len(sizes) == 3  # the log, .1 and .2: nothing older is kept
        assert all(s < 64 * 1024 for s in sizes)
        # The engine writes on at the start of the truncated file (no hole of zero bytes).
        with RegistryClient(engine) as c:
            c.ping()
        time.sleep(0.3)
        text = log.read_bytes()
        assert text
        assert b"\0" not in text
        assert b"GET /v2/" in text
    finally:
        sup.stop()
