"""The pieces of the modes without an engine: quota setting, manual switch, schedule, gate, relay."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from registry_kit import free_port

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.imagecache.engine import Mode
from s9reg.imagecache.errors import CacheError
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.offline import ManualOffline, offline_file
from s9reg.imagecache.pins import clear_schedule, earliest_expiry
from s9reg.imagecache.relay import Gate, GateState, Relay, probe
from s9reg.imagecache.settings import CacheSettings, Upstream

SITE = "registry:\n  name: Tiny\n  url: https://r.example.org/\n"


def _settings(tmp_path: Path, section: str) -> CacheSettings:
    path = tmp_path / "site-config.yaml"
    path.write_text(SITE + section, encoding="utf-8")
    return config.cache_settings(config.load(path))


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("20GiB", 20 * 1024**3),
        ("500MB", 500 * 1000**2),
        ("1.5 TiB", int(1.5 * 1024**4)),
        ("'4096'", 4096),
        ("123456789", 123456789),
        ("2g", 2 * 1000**3),
    ],
)
def test_max_size_units(tmp_path: Path, text: str, size: int) -> None:
    assert _settings(tmp_path, f"image_cache:\n  max_size: {text}\n").max_size == size


@pytest.mark.parametrize("text", ["lots", "0", "-5GiB", "5 XB", "'\u0665GB'", "[1]"])
def test_max_size_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"image_cache\.max_size: expected a size"):
        _settings(tmp_path, f"image_cache:\n  max_size: {text}\n")


def test_probe_settings(tmp_path: Path) -> None:
    section = "image_cache:\n  probe_interval: 2\n  probe_timeout: 10\n"
    settings = _settings(tmp_path, section)
    assert (settings.probe_interval, settings.probe_timeout) == (2.0, 10.0)
    with pytest.raises(ConfigError, match=r"probe_timeout: expected a whole number from 1 to 60"):
        _settings(tmp_path, "image_cache:\n  probe_timeout: 0\n")


def test_no_quota_by_default(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "image_cache:\n  max_size: null\n")
    assert settings.max_size is None
    assert (settings.probe_interval, settings.probe_timeout) == (5.0, 3.0)


def test_manual_switch_per_upstream_and_for_all(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "image_cache: {}\n")
    data = settings.data_dir
    assert not ManualOffline.load(data).covers("docker.io")  # no file: nothing switched off
    one = ManualOffline.load(data).switched(settings, offline=True, name="ghcr.io")
    one.save(data)
    again = ManualOffline.load(data)
    assert (again.covers("ghcr.io"), again.covers("docker.io")) == (True, False)
    every = again.switched(settings, offline=True, name=None)
    assert every.covers("docker.io")
    assert every.covers("quay.io")  # configured later: still off
    # Back on for one while all were off: the others stay off, by name.
    back = every.switched(settings, offline=False, name="docker.io")
    assert (back.covers("docker.io"), back.covers("ghcr.io")) == (False, True)
    assert not back.switched(settings, offline=False, name=None).covers("ghcr.io")
    with pytest.raises(CacheError, match=r"quay\.io: not a configured upstream"):
        back.switched(settings, offline=True, name="quay.io")
    offline_file(data).write_text("{not json", encoding="utf-8")
    assert ManualOffline.load(data) == ManualOffline()


def test_schedule_cleared_and_earliest_expiry(tmp_path: Path) -> None:
    path = tmp_path / "scheduler-state.json"
    assert earliest_expiry(tmp_path) is None
    assert clear_schedule(tmp_path) == 0
    path.write_text(
        json.dumps(
            {
                "a@sha256:1": {"Key": "a", "ExpiryData": "2030-01-02T03:04:05.123456789Z"},
                "b@sha256:2": {"Key": "b", "ExpiryData": "2029-06-01T00:00:00+02:00"},
                "c@sha256:3": {"Key": "c", "ExpiryData": "not a time"},
                "d@sha256:4": "junk",
            }
        ),
        encoding="utf-8",
    )
    assert earliest_expiry(tmp_path) == 1874959200.0  # 2029-05-31T22:00:00Z
    assert clear_schedule(tmp_path) == 4
    assert json.loads(path.read_text(encoding="utf-8")) == {}
    assert earliest_expiry(tmp_path) is None


def _upstream(url: str) -> Upstream:
    return Upstream(name="docker.io", url=url, port=free_port(), writer_port=free_port())


def test_gate_switches_and_reports(tmp_path: Path) -> None:
    seen: list[tuple[GateState, GateState]] = []
    gate = Gate(_upstream("http://127.0.0.1:9"), on_switch=lambda a, b: seen.append((a, b)))
    assert gate.mode is Mode.OFFLINE  # not probed yet
    gate.observe(reachable=True, challenge='Bearer realm="https://auth.example/token",service="x"')
    assert gate.mode is Mode.PROXY
    gate.observe(reachable=True)  # no change, no callback
    gate.set_manual(True)
    assert gate.state().reason == "switched offline by hand"
    gate.set_manual(False)
    gate.observe(reachable=False, why="connection refused")
    assert [(a.mode.value, b.mode.value) for a, b in seen] == [
        ("offline", "proxy"),
        ("proxy", "offline"),
        ("offline", "proxy"),
        ("proxy", "offline"),
    ]
    assert seen[-1][1].reason == "connection refused"
    assert gate.state().to_dict()["reachable"] is False


def _black_hole() -> tuple[socket.socket, str]:
    """A socket that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_probe_deadlines() -> None:
    hole, url = _black_hole()
    try:
        start = time.monotonic()
        assert probe(url, 0.5) == (False, None, "no answer within 0.5 s")
        assert time.monotonic() - start < 2
    finally:
        hole.close()
    port = free_port()
    assert probe(f"http://127.0.0.1:{port}", 0.5) == (False, None, "connection refused")


def test_relay_answers_offline_at_once_and_keeps_the_challenge() -> None:
    hole, url = _black_hole()
    gate = Gate(_upstream(url))
    gate.observe(
        reachable=True, challenge='Bearer realm="https://auth.example/token",service="reg"'
    )
    relay = Relay(gate, timeout=0.5)
    client = RegistryClient(relay.url, timeout=10)
    try:
        # Forwarded to a black hole: the relay gives up when the gate goes offline.
        threading.Timer(
            0.5, gate.observe, kwargs={"reachable": False, "why": "probe: no answer"}
        ).start()
        start = time.monotonic()
        r = client.request("GET", "/v2/library/a/manifests/1")
        assert r.status == 404
        assert time.monotonic() - start < 3
        # Offline: at once, with the text the engine may pass on.
        start = time.monotonic()
        r = client.request("GET", "/v2/library/a/blobs/sha256:" + "0" * 64)
        assert r.status == 404
        assert (
            "BLOB_UNKNOWN: OFFLINE_IMAGE_UNAVAILABLE: docker.io is offline (probe: no answer)"
            in (r.error_text())
        )
        assert time.monotonic() - start < 1.5
        assert client.request("GET", "/v2/_catalog").status == 503
        # The engine's start-up question gets the remembered challenge, its realm relayed.
        r = client._send("GET", "/v2/", auth=False)
        assert r.status == 401
        challenge = r.header("WWW-Authenticate") or ""
        assert challenge.startswith(f'Bearer realm="{relay.url}/_s9reg/auth/')
        assert challenge.endswith(',service="reg"')
        # Only announced realms are relayed (no open forwarder on loopback).
        r = client.request("GET", "/_s9reg/auth/aHR0cHM6Ly9ldmlsLmV4YW1wbGUv")
        assert r.status == 404
        r = client.request("GET", "/elsewhere")
        assert r.status == 404
    finally:
        client.close()
        relay.close()
        hole.close()


class _Fake(BaseHTTPRequestHandler):
    """A registry needing a bearer token whose blobs redirect to a CDN (as docker.io's do)."""

    seen: ClassVar[list[tuple[str, str | None]]] = []
    cdn = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        port = self.server.server_address[1]
        if self.path.startswith("/token?"):
            self._send(200, b'{"token": "T0K"}')
        elif self.path.startswith("/cdn/"):
            self._send(200, b"blob bytes", length=False)
        elif self.headers.get("Authorization") != "Bearer T0K":
            realm = f"http://127.0.0.1:{port}/token"
            self._send(401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'})
        else:
            self._send(307, b"", {"Location": f"{self.cdn}/cdn/blob"})

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        length: bool = True,
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_relay_serves_the_token_realm_and_follows_the_cdn_redirect() -> None:
    registry = HTTPServer(("127.0.0.1", 0), _Fake)
    cdn = HTTPServer(("127.0.0.1", 0), _Fake)
    _Fake.cdn = f"http://127.0.0.1:{cdn.server_address[1]}"
    _Fake.seen = []
    for server in (registry, cdn):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{registry.server_address[1]}"
    gate = Gate(_upstream(url))
    ok, challenge, _ = probe(url, 2.0)
    assert ok
    gate.observe(reachable=ok, challenge=challenge)
    relay = Relay(gate, timeout=2.0)
    digest = "sha256:" + "ab" * 32
    try:
        with RegistryClient(relay.url) as client:
            r = client.request("GET", f"/v2/lib/x/blobs/{digest}")
        assert (r.status, r.body) == (200, b"blob bytes")
    finally:
        relay.close()
        for server in (registry, cdn):
            server.shutdown()
            server.server_close()
    paths = [(p.split("?")[0], auth) for p, auth in _Fake.seen]
    assert paths == [
        ("/v2/", None),  # the probe
        (f"/v2/lib/x/blobs/{digest}", None),  # 401: the client asks the relayed realm
        ("/token", None),
        (f"/v2/lib/x/blobs/{digest}", "Bearer T0K"),  # 307 to the CDN, followed by the relay
        ("/cdn/blob", None),  # no credentials to another host
    ]
