"""Issue 17, points 1 and 6, with Debian's skopeo against real docker-registry upstreams.

The client-facing port is read-only in proxy and offline mode (pushes and deletes refused, the
store unchanged), and an image the cache cannot have while offline is answered with a 404
whose message, printed by skopeo, says ``OFFLINE_IMAGE_UNAVAILABLE``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from registry_kit import (
    PlainRegistry,
    build_image,
    build_index,
    free_port,
    make_settings,
    push_image,
    push_index,
)
from skopeo_kit import skopeo, write_oci_layout

from s9reg.imagecache import front
from s9reg.imagecache.engine import Mode
from s9reg.imagecache.front import Front
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.preload import copy_image
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings, Upstream
from s9reg.imagecache.store import check_image
from s9reg.imagecache.supervisor import Supervisor

OFFLINE = "OFFLINE_IMAGE_UNAVAILABLE"


def request(
    url: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.fixture
def filled(tmp_path: Path, upstream: PlainRegistry) -> tuple[CacheSettings, dict[str, str]]:
    """alpine:3.20 (curated) and alpine:3.19 preloaded; multi:1.0 on the upstream only."""
    digests = {}
    with upstream.client() as up:
        digests["3.20"] = push_image(up, "library/alpine", "3.20", build_image(b"alpine 3.20"))
        digests["3.19"] = push_image(up, "library/alpine", "3.19", build_image(b"alpine 3.19"))
        digests["multi"] = push_index(up, "library/multi", "1.0", build_index(b"multi"))
        push_image(up, "library/third", "3.0", build_image(b"third"))
    settings = make_settings(
        tmp_path,
        upstream.url,
        images=(ImageRef.parse("alpine:3.20"), ImageRef.parse("alpine:3.19")),
    )
    with Supervisor(settings) as sup:
        u = settings.upstreams[0]
        with upstream.client() as src, RegistryClient(u.writer_url) as dst:
            for tag in ("3.20", "3.19"):
                copy_image(src, dst, ImageRef.parse(f"alpine:{tag}"))
        # Only the amd64 half of multi:1.0 is pulled through: a partly cached index.
        got = skopeo(
            tmp_path,
            "--override-arch", "amd64",
            "copy", "--src-tls-verify=false",
            f"docker://{u.local_url[7:]}/library/multi:1.0",
            f"dir:{tmp_path / 'multi-amd64'}",
        )  # fmt: skip
        assert got.code == 0, got.err
        assert sup.mode(u) is Mode.PROXY
    return settings, digests


def start(settings: CacheSettings, upstream: PlainRegistry, mode: Mode) -> Supervisor:
    if mode is Mode.OFFLINE:
        upstream.stop()
    sup = Supervisor(settings)
    sup.start()
    assert sup.mode(settings.upstreams[0]) is mode
    return sup


@pytest.mark.parametrize("mode", [Mode.OFFLINE, Mode.PROXY])
def test_push_and_delete_refused_on_the_client_port(
    tmp_path: Path,
    upstream: PlainRegistry,
    filled: tuple[CacheSettings, dict[str, str]],
    mode: Mode,
) -> None:
    settings, digests = filled
    u = settings.upstreams[0]
    layout = write_oci_layout(tmp_path / "other", build_image(b"not alpine"), "x")
    sup = start(settings, upstream, mode)
    try:
        pushed = skopeo(
            tmp_path, "copy", "--dest-tls-verify=false",
            f"oci:{layout}:x", f"docker://{u.local_url[7:]}/library/alpine:3.20",
        )  # fmt: skip
        assert pushed.code != 0
        assert "read-only" in pushed.err or "405" in pushed.err, pushed.err
        status, body = request(
            u.local_url, "DELETE", f"/v2/library/alpine/manifests/{digests['3.19']}"
        )
        assert status == 405
        assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
        deleted = skopeo(
            tmp_path, "delete", "--tls-verify=false", f"docker://{u.local_url[7:]}/library/alpine:3.19"
        )  # fmt: skip
        assert deleted.code != 0
        if mode is Mode.OFFLINE:
            # The engine behind the front refuses writes too (a local process reaching it).
            engine = f"http://127.0.0.1:{u.proxy_engine_port}"
            status, _ = request(engine, "DELETE", f"/v2/library/alpine/manifests/{digests['3.19']}")
            assert status == 405
        for tag in ("3.20", "3.19"):
            found = check_image(settings, ImageRef.parse(f"alpine:{tag}"))
            assert found.complete
            assert found.digest == digests[tag]
        inspected = skopeo(
            tmp_path, "inspect", "--tls-verify=false", f"docker://{u.local_url[7:]}/library/alpine:3.20"
        )  # fmt: skip
        assert inspected.code == 0, inspected.err
        assert json.loads(inspected.out)["Digest"] == digests["3.20"]
    finally:
        sup.stop()


@pytest.mark.parametrize("mode", [Mode.OFFLINE, Mode.PROXY])
def test_offline_answer_reaches_the_client(
    tmp_path: Path,
    upstream: PlainRegistry,
    filled: tuple[CacheSettings, dict[str, str]],
    mode: Mode,
) -> None:
    settings, digests = filled
    u = settings.upstreams[0]
    sup = start(settings, upstream, mode)
    try:
        if mode is Mode.PROXY:
            upstream.stop()  # gone while the proxy runs: the engine answers 500
        host = u.local_url[7:]
        never = skopeo(
            tmp_path, "inspect", "--tls-verify=false", f"docker://{host}/library/third:3.0"
        )
        assert never.code != 0
        assert f"manifest unknown: {OFFLINE}: docker.io/library/third:3.0 is not in" in never.err
        half = skopeo(
            tmp_path, "--override-arch", "arm64",
            "inspect", "--tls-verify=false", f"docker://{host}/library/multi:1.0",
        )  # fmt: skip
        assert half.code != 0
        assert f"manifest unknown: {OFFLINE}" in half.err, half.err
        # The same over plain HTTP: 404 (not 500), the OCI code kept, the message explaining.
        with RegistryClient(u.local_url) as c:
            index = c.get_manifest("library/multi", "1.0")
        assert index is not None
        assert index.digest == digests["multi"]
        arm = next(e.digest for e in index.children() if e.platform == "linux/arm64")
        status, body = request(
            u.local_url,
            "GET",
            f"/v2/library/multi/manifests/{arm}",
            {"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert status == 404
        (error,) = json.loads(body)["errors"]
        assert error["code"] == "MANIFEST_UNKNOWN"
        assert error["message"].startswith(f"{OFFLINE}: docker.io/library/multi@{arm}")
        # HEAD has no body to tell: the status says it. Other errors stay the engine's.
        assert request(u.local_url, "HEAD", "/v2/library/third/manifests/3.0")[0] == 404
        status, body = request(u.local_url, "GET", "/v2/Not_A_Name/manifests/1")
        assert status == 404
        assert OFFLINE not in body.decode()
        long = "a/" * 100 + "b"  # 201 characters: distribution allows 255
        status, body = request(u.local_url, "GET", f"/v2/{long}/manifests/1")
        assert status == 404
        message = json.loads(body)["errors"][0]["message"]
        assert message.startswith(f"{OFFLINE}: docker.io/a/a/")
        assert "/a… is not in the image cache" in message  # cut, not echoed whole
        assert len(message) < 300
        # What is cached is still served, by tag and by digest.
        amd = skopeo(
            tmp_path, "--override-arch", "amd64",
            "inspect", "--tls-verify=false", f"docker://{host}/library/multi:1.0",
        )  # fmt: skip
        assert amd.code == 0, amd.err
    finally:
        sup.stop()


def test_answers_are_passed_on_unchanged_online(
    tmp_path: Path,
    upstream: PlainRegistry,
    filled: tuple[CacheSettings, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, _ = filled
    u = settings.upstreams[0]
    sup = start(settings, upstream, Mode.PROXY)
    try:
        # Missing upstream as well: the engine's own answer, no offline message.
        status, body = request(u.local_url, "GET", "/v2/library/nothere/manifests/1")
        assert status == 404
        assert OFFLINE not in body.decode()
        third = skopeo(
            tmp_path, "copy", "--src-tls-verify=false",
            f"docker://{u.local_url[7:]}/library/third:3.0", f"dir:{tmp_path / 'third'}",
        )  # fmt: skip
        assert third.code == 0, third.err
        # A pull during a short restart waits for the engine instead of failing.
        paused, resume = threading.Event(), threading.Event()

        def pause() -> None:
            with sup.paused():
                paused.set()
                resume.wait(10)

        pauser = threading.Thread(target=pause)
        pauser.start()
        assert paused.wait(10)
        threading.Timer(0.5, resume.set).start()
        oci = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        assert request(u.local_url, "GET", "/v2/library/third/manifests/3.0", oci)[0] == 200
        pauser.join()
        # A longer one: a 503 the client may retry, not a dropped connection.
        monkeypatch.setattr(front, "RESTART_GRACE", 0.3)
        with sup.paused():
            status, body = request(u.local_url, "GET", "/v2/")
        assert status == 503
        assert json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
        assert request(u.local_url, "GET", "/v2/")[0] == 200
    finally:
        sup.stop()


class _Echo(BaseHTTPRequestHandler):
    """A stand-in engine that answers with the request it got (as JSON)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        body = json.dumps(
            {"path": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path.endswith("/chunked"):
            # No length: the front passes it on and closes the connection after it.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815


@pytest.fixture
def echo_front() -> Iterator[Front]:
    engine = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=lambda: engine.serve_forever(0.05), daemon=True).start()
    up = Upstream(
        name="docker.io",
        url="http://127.0.0.1:1",
        port=free_port(),
        writer_port=free_port(),
        engine_port=engine.server_address[1],
    )
    front = Front(up, lambda: Mode.PROXY)
    front.start()
    yield front
    front.stop()
    engine.shutdown()
    engine.server_close()


def raw(front: Front, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", front.upstream.port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_front_passes_requests_on_faithfully(echo_front: Front) -> None:
    answer = raw(
        echo_front,
        b"GET /v2/library/a/manifests/1 HTTP/1.1\r\nHost: box.lan:5000\r\n"
        b"Accept: application/vnd.oci.image.index.v1+json\r\n"
        b"Accept: application/vnd.docker.distribution.manifest.v2+json\r\n"
        b"X-Forwarded-For: 10.9.9.9\r\nConnection: keep-alive, X-Secret\r\nTE: trailers\r\n\r\n"
        b"GET /v2/x/chunked HTTP/1.1\r\nHost: box.lan:5000\r\n\r\n",
    )
    first, _, second = answer.partition(b"HTTP/1.1 200 OK\r\n")[2].partition(b"HTTP/1.1 ")
    seen = json.loads(first.split(b"\r\n\r\n", 1)[1])
    headers = seen["headers"]
    # Repeated headers kept in order, Host kept, hop-by-hop and the client's claims dropped.
    assert [v for k, v in headers if k == "accept"] == [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
    assert ["host", "box.lan:5000"] in headers
    assert [v for k, v in headers if k == "x-forwarded-for"] == ["127.0.0.1"]
    assert not [k for k, _ in headers if k in ("connection", "te")]
    # The second request went over the same connection; its unsized body closes it.
    assert second.startswith(b"200 OK\r\n")
    assert b"Connection: close" in second
    assert json.loads(second.split(b"\r\n\r\n", 1)[1])["path"] == "/v2/x/chunked"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"OPTIONS /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
        (b"PUT /v2/a/manifests/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", b"405"),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", b"400"),
        (b"BREW /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
    ],
)
def test_front_refuses_with_oci_errors(
    echo_front: Front, request_bytes: bytes, status: bytes
) -> None:
    answer = raw(echo_front, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
