"""``s9reg cache`` end to end: the daemon, its API, crash restart, offline start, cleanup."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_kit import (
    PlainRegistry,
    build_image,
    build_index,
    free_port,
    push_image,
    push_index,
)

from s9reg import config
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import disk_usage

from helpers.cli import run_cli as run


def write_config(tmp_path: Path, upstream_url: str) -> Path:
    path = tmp_path / "site-config.yaml"
    path.write_text(
        f"""\
registry:
  name: Test
  url: https://r.example.org/
image_cache:
  data_dir: cache
  listen: 127.0.0.1:{free_port()}
  api_listen: 127.0.0.1:{free_port()}
  upstreams:
    docker.io: {{url: "{upstream_url}", writer_port: {free_port()}}}
  images:
    - docker.io/library/multi:1.0
  recheck_seconds: 1
  api_token: env:S9REG_TEST_CACHE_TOKEN
""",
        encoding="utf-8",
    )
    return path


API_TOKEN = "Zt8-wq4LrN2vKd6_pXe1"  # a test token for the management API


class Cache:
    """Runs ``s9reg cache`` commands against one config."""

    def __init__(self, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.path = path
        self.capsys = capsys
        self.settings: CacheSettings = config.cache_settings(config.load(path))

    def __call__(self, *args: str) -> tuple[int, str, str]:
        return run(["cache", args[0], "--config", str(self.path), *args[1:]], self.capsys)

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        # status and online report "not running", "degraded" and "offline" in their exit status
        assert code in ((0, 3, 4) if args[0] in ("status", "online") else (0,)), err
        return json.loads(out)

    def api(
        self, method: str, path: str, body: object = None, token: str | None = API_TOKEN
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        with RegistryClient(self.settings.api_url) as c:
            data = json.dumps(body).encode() if body is not None else None
            r = c.request(method, path, headers=headers, body=data)
        return r.status, json.loads(r.body)

    def wait_for(self, predicate: Any, what: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            state = self.json("status")
            if predicate(state):
                return state
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {state}"
            time.sleep(0.1)


@pytest.fixture(autouse=True)
def _api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # write_config's management API takes its token from here (the daemon inherits it).
    monkeypatch.setenv("S9REG_TEST_CACHE_TOKEN", API_TOKEN)


@pytest.fixture
def cache(
    tmp_path: Path, upstream: PlainRegistry, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cache]:
    c = Cache(write_config(tmp_path, upstream.url), capsys)
    yield c
    c("down")


def proxy_of(state: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in state["instances"] if i["role"] == "proxy")


def pull(url: str, repo: str, tag: str) -> str:
    with RegistryClient(url) as c:
        top = c.get_manifest(repo, tag)
        assert top is not None, f"{repo}:{tag} is not served"
        for m in [c.get_manifest(repo, e.digest) for e in top.children()] or [top]:
            assert m is not None
            for blob in m.blobs():
                with c.open_blob(repo, blob.digest) as chunks:
                    assert sum(len(x) for x in chunks) == blob.size
        return top.digest


def test_daemon_end_to_end(cache: Cache, upstream: PlainRegistry) -> None:
    with upstream.client() as up:
        multi = push_index(up, "library/multi", "1.0", build_index(b"multi"))
        single = push_image(up, "library/single", "2.0", build_image(b"single", docker=True))
        push_image(up, "library/third", "3.0", build_image(b"third"))
    proxy_url = cache.settings.upstreams[0].local_url

    code, out, err = cache("up")
    assert code == 0, err
    assert "proxy-docker.io" in out
    assert "already runs" in cache("up")[1]
    state = cache.json("status")
    assert state["running"]
    assert proxy_of(state)["mode"] == "proxy"

    # Preload the curated list: the multi-arch index keeps its digest; a second run skips it.
    code, out, _ = cache("preload")
    assert code == 0
    assert "1 copied" in out
    (again,) = cache.json("preload")
    assert again["status"] == "present"
    assert again["digest"] == multi
    assert sorted(again["platforms"]) == ["linux/amd64", "linux/arm64"]

    # Pull-through on first request.
    assert pull(proxy_url, "library/single", "2.0") == single
    # The proxy stores a blob just after it has sent it: wait for the store to settle.
    deadline = time.monotonic() + 10
    while not (checked := json.loads(cache("check", "single:2.0", "--json")[1]))["complete"]:
        assert time.monotonic() < deadline, checked
        time.sleep(0.05)
    assert not checked["curated"]
    assert cache("check", "nothere:1")[0] == 1

    listed = {i["name"]: i for i in cache.json("images")["images"]}
    assert listed["docker.io/library/multi"]["curated"]
    assert not listed["docker.io/library/single"]["curated"]

    # The management API.
    status, doc = cache.api("GET", "/api/v1/registry/status")
    assert status == 200
    assert doc["online"] is True
    assert doc["url"] == proxy_url
    assert doc["image_count"] == 2
    assert doc["disk_usage"]["bytes"] == disk_usage(cache.settings) > 0
    status, doc = cache.api("GET", "/api/v1/registry/images")
    assert status == 200
    assert {(i["name"], i["curated"]) for i in doc} == {
        ("docker.io/library/multi", True),
        ("docker.io/library/single", False),
    }
    assert cache.api("GET", "/api/v1/health", token=None)[0] == 200  # health needs no token
    assert cache.api("GET", "/api/v1/nope")[0] == 404
    for token in (None, API_TOKEN + "x", API_TOKEN[:-1]):  # every other route needs it
        status, doc = cache.api("GET", "/api/v1/registry/images", token=token)
        assert (status, doc["error"]["code"]) == (401, "UNAUTHORIZED")
        status, doc = cache.api("POST", "/api/v1/registry/cleanup", {"keep_tags": 0}, token)
        assert (status, doc["error"]["code"]) == (401, "UNAUTHORIZED")
    assert cache.json("check", "single:2.0")["complete"]  # nothing was deleted
    doc = cache.json("cleanup", "--keep-tags", "5", "--dry-run")  # through the API, with the token
    assert (doc["dry_run"], doc["deleted_count"]) == (True, 0)
    status, doc = cache.api("POST", "/api/v1/registry/cleanup", {"keep_tags": "x"})
    assert status == 400
    assert doc["error"]["code"] == "BAD_REQUEST"
    assert doc["error"]["message"].startswith("keep_tags: ")

    # A crashed instance is restarted.
    old = proxy_of(cache.json("status"))["pid"]
    os.kill(old, signal.SIGKILL)
    state = cache.wait_for(
        lambda s: proxy_of(s)["pid"] not in (None, old) and proxy_of(s)["running"], "restart"
    )
    assert proxy_of(state)["restarts"] >= 1
    assert pull(proxy_url, "library/multi", "1.0") == multi

    # Offline start: everything cached is still served; an uncached image is unavailable.
    assert cache("down")[0] == 0
    assert not cache.json("status")["running"]
    upstream.stop()
    assert cache("up")[0] == 0
    assert proxy_of(cache.json("status"))["mode"] == "offline"
    assert "OFFLINE" in cache("online")[1]
    assert pull(proxy_url, "library/multi", "1.0") == multi
    assert pull(proxy_url, "library/single", "2.0") == single
    code, _, err = cache("ensure", "third:3.0")
    assert code == 1
    assert "OFFLINE_IMAGE_UNAVAILABLE" in err
    code, out, _ = cache("ensure", "third:3.0", "--json")
    assert code == 1
    assert json.loads(out)["code"] == "OFFLINE_IMAGE_UNAVAILABLE"
    status, doc = cache.api("POST", "/api/v1/registry/ensure", {"image": "third:3.0"})
    assert status == 503
    assert doc["error"]["code"] == "OFFLINE_IMAGE_UNAVAILABLE"
    assert cache("ensure", "multi:1.0")[0] == 0

    # The upstream returns: the proxy is switched back, and pull-through works again.
    upstream.start()
    cache.wait_for(lambda s: proxy_of(s)["mode"] == "proxy", "switch back online")
    code, out, err = cache("ensure", "third:3.0")
    assert code == 0, err
    assert "(upstream)" in out

    # Cleanup through the API keeps curated images; GC keeps the multi-arch one whole.
    status, doc = cache.api("POST", "/api/v1/registry/cleanup", {"keep_tags": 0})
    assert status == 200, doc
    assert doc["deleted_count"] == 2
    assert doc["deleted_bytes"] > 0
    assert sorted(doc["deleted"]) == [
        f"docker.io/library/single:2.0@{single}",
        doc["deleted"][1],
    ]
    assert cache.json("check", "multi:1.0")["complete"]
    assert cache.api("GET", "/api/v1/health")[0] == 200

    assert cache("delete", "multi:1.0")[0] == 1  # curated: only with --force
    code, out, _ = cache("delete", "multi:1.0", "--force")
    assert code == 0
    assert "2 platform manifests" in out
    assert cache("delete", "multi:1.0", "--force")[0] == 1


def test_cleanup_and_gc_without_daemon(cache: Cache, upstream: PlainRegistry) -> None:
    with upstream.client() as up:
        push_image(up, "library/a", "1", build_image(b"a1"))
        push_image(up, "library/a", "2", build_image(b"a2"))
    code, out, err = cache("preload", "a:1", "a:2")
    assert code == 0, err
    assert "2 copied" in out
    assert not cache.json("status")["running"]
    before = disk_usage(cache.settings)
    assert cache("cleanup")[0] == 1  # neither --keep-tags nor --older-than
    doc = cache.json("cleanup", "--keep-tags", "1", "--dry-run")
    assert len(doc["deleted"]) == 1
    assert disk_usage(cache.settings) == before
    doc = cache.json("cleanup", "--keep-tags", "1")
    assert doc["deleted_count"] == 1
    assert disk_usage(cache.settings) == before - doc["deleted_bytes"]
    code, out, _ = cache("gc", "--dry-run")
    assert code == 0
    assert "docker.io: 3 blobs in use, 0 eligible for deletion" in out
    assert cache("up")[0] == 0
    code, _, err = cache("gc")
    assert code == 1
    assert "stopped" in err


def test_preload_reports_failures(cache: Cache) -> None:
    code, out, err = cache("preload", "missing:1")
    assert code == 1
    assert "1 failed" in out
    assert "missing:1" in err
    code, _, err = cache("preload", "quay.io/x/y:1")
    assert code == 1
    assert "not a configured upstream" in err
    code, _, err = cache("check", "UPPER:1")
    assert code == 1
    assert "not a valid repository name" in err


def test_up_fails_cleanly_when_the_port_is_taken(
    cache: Cache, upstream: PlainRegistry, tmp_path: Path
) -> None:
    blocker = PlainRegistry(tmp_path / "blocker", port=cache.settings.upstreams[0].port)
    blocker.start()
    try:
        code, _, err = cache("up")
    finally:
        blocker.stop()
    assert code == 1
    assert "did not start" in err
    assert not cache.json("status")["running"]


def test_rewrite_compose_and_daemon_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = Cache(write_config(tmp_path, "http://127.0.0.1:9"), capsys)
    port = c.settings.upstreams[0].port
    compose = tmp_path / "compose.yaml"
    # (a service with build: keeps its image: test_compose.py)
    original = "services:\n  web:\n    image: nginx:1.27  # web\n    restart: always\n  x:\n    image: quay.io/a/b:1\n"
    compose.write_text(original, encoding="utf-8")
    code, out, err = c("rewrite-compose", str(compose), "--stdout")
    assert code == 0
    assert out == original.replace("nginx:1.27", f"localhost:{port}/library/nginx:1.27")
    assert compose.read_text(encoding="utf-8") == original
    assert f"compose.yaml:3: web: nginx:1.27 -> localhost:{port}/library/nginx:1.27" in err
    assert "kept: no upstream for quay.io" in err
    assert c("rewrite-compose", str(compose), "--host", "box")[0] == 0
    assert compose.read_text(encoding="utf-8") == original.replace(
        "nginx:1.27", f"box:{port}/library/nginx:1.27"
    )
    code, out, _ = c("daemon-json")
    assert code == 0
    assert json.loads(out) == {
        "registry-mirrors": [f"http://localhost:{port}"],
        "insecure-registries": [f"localhost:{port}"],
    }
