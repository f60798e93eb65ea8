"""The management API against hostile clients and web pages (issue #16), on a real running cache.

One cache (``s9reg cache up``: real engines, the supervisor and its API on 127.0.0.1) is started
for the module with the default settings (loopback, no ``api_token``), holding one cached image.
Requests are written byte for byte on a socket, as a browser or an attacker would send them.
"""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from registry_kit import PlainRegistry, build_image, free_port, make_settings, push_image

from s9reg import config
from s9reg.imagecache import api, preload
from s9reg.imagecache.daemon import start_daemon, stop_daemon
from s9reg.imagecache.engine import Layout
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import check_image
from s9reg.imagecache.supervisor import Supervisor

from helpers.cli import run_cli

CLEANUP = "/api/v1/registry/cleanup"
CACHED = ImageRef.parse("single:2.0")


@dataclass
class Box:
    settings: CacheSettings
    config_path: Path
    token: str

    @property
    def port(self) -> int:
        return self.settings.api_port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def doc(self) -> Any:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.raw)

    @property
    def code(self) -> str:
        return str(self.doc["error"]["code"])

    @property
    def message(self) -> str:
        return str(self.doc["error"]["message"])


def send(port: int, data: bytes) -> Answer:
    """Send raw bytes, read the answer until the server closes (status 0: no answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head:
        return Answer(0, {}, b"")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body)


def request(
    box: Box,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    host: str | None = "",
    content_type: str | None = "application/json",
    token: str | None = "",
    headers: dict[str, str] | None = None,
) -> Answer:
    """A request with the right Host, JSON type and token unless told otherwise."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host or box.host}")
    if token is not None:
        lines.append(f"Authorization: Bearer {token or box.token}")
    if body is not None:
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return send(box.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("api")
    upstream = PlainRegistry(tmp / "upstream")
    upstream.start()
    path = tmp / "site-config.yaml"
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
    docker.io: {{url: "{upstream.url}", writer_port: {free_port()}}}
  images: []
""",
        encoding="utf-8",
    )
    settings = config.cache_settings(config.load(path))
    try:
        with upstream.client() as up:
            push_image(up, "library/single", "2.0", build_image(b"single"))
        start_daemon(settings, path)
        (done,) = preload.preload_images(settings, [CACHED])
        assert done.error is None, done.error
        token_file = settings.data_dir / "run/api-token"
        # (Before #16 there was no token: the revert check of the tests still runs them all.)
        token = token_file.read_text(encoding="ascii").strip() if token_file.exists() else "-"
        yield Box(settings, path, token)
    finally:
        stop_daemon(settings)
        upstream.stop()


def still_cached(box: Box) -> bool:
    return check_image(box.settings, CACHED).complete


# --- CSRF and DNS rebinding ---------------------------------------------------------------------


def test_the_issues_cross_site_request_is_refused(box: Box) -> None:
    # As the issue sent it: a "simple request" any web page can make without a preflight.
    a = request(
        box,
        "POST",
        CLEANUP,
        b'{"keep_tags":0}',
        host=f"rebind.evil.example:{box.port}",
        content_type="text/plain",
        token=None,
        headers={"Origin": "https://evil.example"},
    )
    assert 400 <= a.status < 500, (a.status, a.raw)
    assert still_cached(box)


@pytest.mark.parametrize(
    ("kw", "status", "code"),
    [
        pytest.param({"host": "rebind.evil.example:{port}"}, 421, "MISDIRECTED_REQUEST", id="host"),
        pytest.param(
            {"host": "rebind.evil.example"}, 421, "MISDIRECTED_REQUEST", id="host-no-port"
        ),
        pytest.param({"host": "localhost.evil.example"}, 421, "MISDIRECTED_REQUEST", id="host-lh"),
        pytest.param({"host": None}, 421, "MISDIRECTED_REQUEST", id="no-host"),
        pytest.param(
            {"headers": {"Origin": "https://evil.example"}}, 403, "FORBIDDEN", id="origin"
        ),
        pytest.param({"headers": {"Origin": "null"}}, 403, "FORBIDDEN", id="origin-null"),
        pytest.param(
            {"headers": {"Origin": "http://127.0.0.1:1"}}, 403, "FORBIDDEN", id="origin-port"
        ),
        pytest.param(
            {"headers": {"Sec-Fetch-Site": "cross-site"}}, 403, "FORBIDDEN", id="fetch-site"
        ),
        pytest.param(
            {"content_type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", id="text-plain"
        ),
        pytest.param(
            {"content_type": "application/x-www-form-urlencoded"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            id="form",
        ),
        pytest.param(
            {"content_type": "multipart/form-data; boundary=x"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            id="multipart",
        ),
        pytest.param({"content_type": None}, 415, "UNSUPPORTED_MEDIA_TYPE", id="no-type"),
        pytest.param(
            {"content_type": "application/json; charset=utf-16"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            id="utf-16",
        ),
        # No api_token configured: the one generated by `cache up` is required all the same.
        pytest.param({"token": None}, 401, "UNAUTHORIZED", id="no-token"),
        pytest.param({"token": "x" * 43}, 401, "UNAUTHORIZED", id="wrong-token"),
    ],
)
def test_each_defence_alone_refuses(box: Box, kw: dict[str, Any], status: int, code: str) -> None:
    # Everything else right (the token too): each check refuses on its own.
    if isinstance(kw.get("host"), str):
        kw = {**kw, "host": kw["host"].format(port=box.port)}
    a = request(box, "POST", CLEANUP, b'{"keep_tags":0}', **kw)
    assert (a.status, a.code) == (status, code), a.raw
    assert still_cached(box)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "localhost", "x.localhost"]
)
def test_own_names_and_same_origin_are_accepted(box: Box, host: str) -> None:
    host = host.format(port=box.port)
    a = request(
        box,
        "POST",
        CLEANUP,
        b'{"keep_tags": 0, "dry_run": true}',
        host=host,
        headers={"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
    )
    assert a.status == 200, a.raw
    assert a.doc["dry_run"] is True
    assert a.doc["deleted"] == [f"{CACHED}@{check_image(box.settings, CACHED).digest}"]
    assert request(box, "GET", "/api/v1/health", host=host, token=None).status == 200


def test_generated_token_is_private_and_used_by_the_cli(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = box.settings.data_dir / "run/api-token"
    assert path == Layout(box.settings.data_dir).api_token_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(box.token) >= 32
    code, out, err = run_cli(
        ["cache", "cleanup", "--config", str(box.config_path), "--keep-tags", "0", "--dry-run"],
        capsys,
    )
    assert code == 0, err
    assert f"would delete {CACHED}" in out
    assert request(box, "GET", "/api/v1/registry/images").status == 200


# --- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(b'{"keep_tags":-1}', "keep_tags: expected a whole number", id="negative"),
        pytest.param(b"{}", "keep_tags or older_than_days", id="empty"),
        pytest.param(b'{"keep_tags": null}', "keep_tags or older_than_days", id="nulls"),
        pytest.param(b'{"keep_tags": true}', "keep_tags: expected", id="bool"),
        pytest.param(b'{"keep_tags": 1.5}', "keep_tags: expected", id="fraction"),
        pytest.param(b'{"keep_tags": "3"}', "keep_tags: expected", id="string"),
        pytest.param(b'{"keep_tags": 10000000}', "keep_tags: expected", id="huge"),
        pytest.param(b'{"older_than_days": -1}', "older_than_days: expected", id="neg-days"),
        # NaN compares false with every date: the age guard would delete every tag.
        pytest.param(b'{"older_than_days": NaN}', "NaN is not valid JSON", id="nan"),
        pytest.param(b'{"older_than_days": -Infinity}', "not valid JSON", id="minus-inf"),
        pytest.param(b'{"older_than_days": 1e999}', "older_than_days: expected", id="overflow"),
        pytest.param(b'{"keep_tags": 0, "dry_run": "yes"}', "dry_run: expected", id="dry-run"),
        pytest.param(
            b'{"keep_tag": 1, "older_than_days": 0}', "unknown field 'keep_tag'", id="typo"
        ),
        pytest.param(b'{"keep_tags": 5, "keep_tags": 0}', "keep_tags: field given twice", id="dup"),
        # Python's int() refuses 4,300 digits and more; nesting beyond the recursion limit.
        pytest.param(b'{"keep_tags": ' + b"1" * 5000 + b"}", "not valid JSON", id="digits"),
        pytest.param(b"[" * 30000 + b"]" * 30000, "not valid JSON", id="nesting"),
        pytest.param(b'{"\\ud800": 1}', "not valid JSON", id="surrogate"),
        pytest.param(b'{"keep_tags": 1', "not valid JSON", id="truncated"),
        pytest.param(b"\xff\xfe{}", "not valid JSON", id="not-utf8"),
        pytest.param(b"[]", "must be a JSON object", id="array"),
    ],
)
def test_bad_cleanup_bodies_are_400_naming_the_field(box: Box, body: bytes, words: str) -> None:
    a = request(box, "POST", CLEANUP, body)
    assert (a.status, a.code) == (400, "BAD_REQUEST"), (a.status, a.raw[:300])
    assert words in a.message
    assert "--" not in a.message  # no CLI flag names
    assert len(a.message) < 300
    assert still_cached(box)


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        pytest.param(b"{}", "BAD_REQUEST", "image: expected an image reference", id="missing"),
        pytest.param(b'{"image": 5}', "BAD_REQUEST", "image: expected", id="number"),
        pytest.param(b'{"image": "x:1", "pull": 1}', "BAD_REQUEST", "unknown field", id="extra"),
        pytest.param('{"image": "nginx:é"}'.encode(), "CACHE_BAD_REFERENCE", "ASCII", id="e"),
        pytest.param(
            b'{"image": "nginx:\\u0661\\u0662"}', "CACHE_BAD_REFERENCE", "ASCII", id="digits"
        ),
        pytest.param(
            b'{"image": "x:' + b"a" * 5000 + b'"}', "CACHE_BAD_REFERENCE", "5002", id="long"
        ),
    ],
)
def test_bad_ensure_bodies_are_400(box: Box, body: bytes, code: str, words: str) -> None:
    a = request(box, "POST", "/api/v1/registry/ensure", body)
    assert (a.status, a.code) == (400, code), a.raw[:300]
    assert words in a.message
    assert len(a.message) < 300


def test_body_framing_is_bounded(box: Box) -> None:
    head = f"POST {CLEANUP} HTTP/1.1\r\nHost: {box.host}\r\nAuthorization: Bearer {box.token}\r\n"
    head += "Content-Type: application/json\r\n"
    a = send(box.port, (head + "Content-Length: 10000000\r\n\r\n{}").encode())
    assert (a.status, a.code) == (413, "PAYLOAD_TOO_LARGE")
    a = send(box.port, (head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode())
    assert (a.status, a.code) == (411, "LENGTH_REQUIRED")
    a = send(box.port, (head + "\r\n").encode())
    assert (a.status, a.code) == (411, "LENGTH_REQUIRED")
    a = send(box.port, (head + "Content-Length: ١٢\r\n\r\n").encode())
    assert (a.status, a.code) == (400, "BAD_REQUEST")


# --- methods and routes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", CLEANUP, "POST"),
        ("PUT", CLEANUP, "POST"),
        ("DELETE", "/api/v1/registry/images", "GET"),
        ("GET", CLEANUP, "POST"),
        ("POST", "/api/v1/registry/images", "GET"),
        ("PATCH", "/api/v1/health", "GET"),
        ("BREW", "/healthz", "GET"),
    ],
)
def test_other_methods_answer_json_405(box: Box, method: str, path: str, allow: str) -> None:
    a = request(box, method, path, headers={"Access-Control-Request-Method": "POST"})
    assert (a.status, a.code) == (405, "METHOD_NOT_ALLOWED"), a.raw
    assert a.headers["allow"] == allow
    assert "access-control-allow-origin" not in a.headers


def test_head_and_unknown_routes_and_bad_request_lines_answer_json(box: Box) -> None:
    a = request(box, "HEAD", "/api/v1/health")
    assert (a.status, a.raw) == (405, b"")
    assert a.headers["content-type"] == "application/json"
    a = request(box, "OPTIONS", "/nope")
    assert (a.status, a.code) == (404, "NOT_FOUND")
    a = request(box, "GET", "/" + "x" * 5000)
    assert (a.status, a.code) == (404, "NOT_FOUND")
    assert len(a.message) < 200  # the path is not echoed whole
    a = send(box.port, b"GET /a b HTTP/1.1\r\n\r\n")
    assert (a.status, a.code) == (400, "BAD_REQUEST")
    a = send(box.port, b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert a.status == 414
    assert a.code == "REQUEST_URI_TOO_LONG"
    assert a.headers["x-content-type-options"] == "nosniff"


# --- bounded connections ------------------------------------------------------------------------


@pytest.fixture
def quick_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Box]:
    """The API alone (engines not started) with a 1 s request deadline and 4 connections."""
    monkeypatch.setattr(api, "REQUEST_TIMEOUT", 1.0)
    monkeypatch.setattr(api, "MAX_CONNECTIONS", 4, raising=False)  # (absent before #16)
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    token = "t" * 43
    server = api.serve_api(
        api.ManagementApi(settings, Supervisor(settings), token), "127.0.0.1", settings.api_port
    )
    try:
        yield Box(settings, tmp_path / "unused.yaml", token)
    finally:
        server.shutdown()
        server.server_close()


def test_a_trickling_client_is_cut_at_the_request_deadline(quick_api: Box) -> None:
    data = f"GET /api/v1/health HTTP/1.1\r\nHost: {quick_api.host}\r\nX-Slow: ".encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", quick_api.port), timeout=10) as s:
        s.sendall(data)
        got = b""
        # One byte every 0.2 s: each read succeeds well within a per-read timeout.
        while time.monotonic() - started < 8:
            try:
                s.sendall(b"x")
            except OSError:
                break
            s.settimeout(0.2)
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                continue
            got += chunk
            if not chunk:
                break
    assert time.monotonic() - started < 3, "the trickle was not cut"
    assert b" 200 " not in got


def test_connections_beyond_the_cap_get_503_at_once(quick_api: Box) -> None:
    idle = [socket.create_connection(("127.0.0.1", quick_api.port)) for _ in range(4)]
    try:
        time.sleep(0.2)
        started = time.monotonic()
        a = request(quick_api, "GET", "/api/v1/health")
        assert time.monotonic() - started < 1
        assert (a.status, a.code) == (503, "BUSY")
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    # The slots come back (health answers "degraded": the engines are not started).
    while "error" in (a := request(quick_api, "GET", "/api/v1/health")).doc:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert a.doc["status"] == "degraded"
