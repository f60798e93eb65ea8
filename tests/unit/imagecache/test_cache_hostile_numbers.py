"""Numbers Python's int() refuses, from a registry or an API client (issue #16).

``json.loads`` raises a plain ValueError, not a JSONDecodeError, for an integer of more than 4300
digits; ``int()`` refuses ``²`` although ``isdigit()`` accepts it. Each must give the error any
other bad document gets (a ``CacheError``, or 400 from the management API), never a traceback.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from s9reg.imagecache.api import ManagementApi, serve_api
from s9reg.imagecache.errors import CacheError
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.settings import CacheSettings, Upstream

HUGE = b"1" + b"0" * 4400


class _Hostile(BaseHTTPRequestHandler):
    """A registry whose answers hold numbers int() refuses."""

    answers: ClassVar[dict[str, tuple[dict[str, str], bytes]]] = {
        "/v2/": ({}, b"{}"),
        "/v2/_catalog": ({"Content-Type": "application/json"}, b'{"n": ' + HUGE + b"}"),
        "/v2/a/tags/list": ({"Content-Type": "application/json"}, b"[" * 100_000),
        "/v2/a/manifests/b": (
            {"Docker-Content-Digest": "sha256:" + "0" * 64, "X-Length": "\u00b2"},
            b"",
        ),
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""

    def _answer(self, *, body: bool) -> None:
        headers, data = self.answers.get(self.path.split("?")[0], ({}, b""))
        self.send_response(200 if self.path.split("?")[0] in self.answers else 404)
        for name, value in headers.items():
            if name == "X-Length":
                self.send_header("Content-Length", value)
            else:
                self.send_header(name, value)
        if "X-Length" not in headers:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_registry_json_with_huge_numbers(hostile_registry: str) -> None:
    client = RegistryClient(hostile_registry)
    with pytest.raises(CacheError, match="not JSON"):
        client.catalog()
    with pytest.raises(CacheError, match="not JSON"):
        client.tags("a")


def test_registry_content_length_int_refuses(hostile_registry: str) -> None:
    with pytest.raises(CacheError, match="bad Content-Length"):
        RegistryClient(hostile_registry).head_manifest("a", "b")


TOKEN = "hostile-numbers-test-token"


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    up = Upstream(name="docker.io", url="https://registry-1.docker.io", port=5000, writer_port=5100)
    settings = CacheSettings(data_dir=tmp_path, upstreams=(up,))
    # No route reached here calls the supervisor: the body is refused first.
    api = ManagementApi(settings, None, TOKEN)  # type: ignore[arg-type]
    server = serve_api(api, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"keep_tags": ' + HUGE + b"}", id="4401-digit number"),
        pytest.param(b"[" * 60_000, id="nesting past the recursion limit"),
    ],
)
def test_api_body_with_numbers_int_refuses(api_url: str, body: bytes) -> None:
    conn = http.client.HTTPConnection(api_url, timeout=10)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        conn.request("POST", "/api/v1/registry/cleanup", body, headers)
        r = conn.getresponse()
        doc = json.loads(r.read())
    finally:
        conn.close()
    assert (r.status, doc["error"]["code"]) == (400, "BAD_REQUEST")
