"""The HTTP layer: envelope, batches, protocol errors, limits, slow clients, CORS, files, health."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_client import BuiltSite, request, rpc

from s9reg.registry import FullIndex, dump_json
from s9reg.registry.queries import PackageGetParams, package_get_json
from s9reg.serve import BackgroundServer, ServeSettings

RPC_HEADERS = {"Content-Type": "application/json"}


def raw_exchange(url: str, data: bytes, *, wait: float = 0.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        if wait:
            time.sleep(wait)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def strict(built_site: BuiltSite) -> Iterator[BackgroundServer]:
    """A server with small limits: 0.5 s per client read, 4 KiB bodies, batches of 3."""
    settings = ServeSettings(
        site=str(built_site.path), port=0, client_timeout=0.5, max_body=4096, max_batch=3
    )
    with BackgroundServer(settings) as s:
        yield s


# --------------------------------------------------------------------------------------------
# Envelope and JSON-RPC errors
# --------------------------------------------------------------------------------------------


def test_precomputed_bytes_in_the_envelope(server: BackgroundServer, built_site: BuiltSite) -> None:
    r = rpc(server.url, b'{"jsonrpc":"2.0","id":"abc","method":"info","params":{}}')
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.body)
    info = (built_site.path / "rpc.v0" / "info.json").read_bytes().rstrip(b"\n")
    assert r.body == b'{"jsonrpc":"2.0","result":' + info + b',"id":"abc"}'


@pytest.mark.parametrize(
    ("body", "expected_id"),
    [
        pytest.param(b'{"method":"info"}', None, id="no id, no jsonrpc, no params"),
        pytest.param(b'{"method":"info","params":null,"id":7}', 7, id="null params"),
        pytest.param(b'{"method":"info","id":1.5,"jsonrpc":"1.0"}', 1.5, id="other jsonrpc value"),
    ],
)
def test_tolerated_requests(server: BackgroundServer, body: bytes, expected_id: object) -> None:
    doc = rpc(server.url, body).json()
    assert list(doc) == ["jsonrpc", "result", "id"]
    assert doc["id"] == expected_id
    assert doc["result"]["name"] == "Serve Test Registry"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"", -32700, id="empty body"),
        pytest.param(b'{"method":', -32700, id="truncated JSON"),
        pytest.param(b"\xff\xfe\x00", -32700, id="not UTF-8"),
        pytest.param(b"[" * 100_000, -32700, id="deep nesting"),
        pytest.param(b'{"method":"info","id":NaN}', -32700, id="NaN id"),
        pytest.param(b"42", -32600, id="a number"),
        pytest.param(b'{"params":{}}', -32600, id="no method"),
        pytest.param(b'{"method":5}', -32600, id="method is a number"),
        pytest.param(b'{"method":"info","id":true}', -32600, id="id is a boolean"),
        pytest.param(b'{"method":"info","id":[1]}', -32600, id="id is an array"),
        pytest.param(b"[]", -32600, id="empty batch"),
        pytest.param(b'{"method":"nope.nothing"}', -32601, id="unknown method"),
        pytest.param(b'{"method":"package.download","params":{}}', -32601, id="CLI-only method"),
        pytest.param(b'{"method":"info","params":[]}', -32602, id="params is an array"),
        pytest.param(b'{"method":"package.get","params":{"id":7}}', -32602, id="id is a number"),
        pytest.param(
            b'{"method":"package.get","params":{"targetVersion":">>>"}}', -32602, id="bad range"
        ),
        pytest.param(
            b'{"method":"package.get","params":{"otherVersions":"most"}}', -32602, id="bad level"
        ),
        pytest.param(
            b'{"method":"os.version.get","params":{"sourceVersion":1}}', -32602, id="bad source"
        ),
        pytest.param(b'{"method":"os.asset.get.iso","params":{}}', -32602, id="missing version"),
    ],
)
def test_protocol_errors(server: BackgroundServer, body: bytes, code: int) -> None:
    r = rpc(server.url, body)
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["jsonrpc"] == "2.0"
    assert "id" in doc
    assert doc["error"]["code"] == code
    assert isinstance(doc["error"]["message"], str)


@pytest.mark.parametrize(
    "method",
    [
        "package.add",
        "package.remove",
        "admin.signer.add",
        "os.version.add",
        "os.asset.add.iso",
        "info.set-name",
        "db.apply",
    ],
)
def test_write_methods_say_the_registry_is_static(server: BackgroundServer, method: str) -> None:
    doc = rpc(server.url, {"id": 3, "method": method, "params": {"id": "x"}}).json()
    assert doc["id"] == 3
    assert doc["error"]["code"] == 38
    assert "s9reg publish" in doc["error"]["data"]["details"]


def test_device_header_errors(server: BackgroundServer) -> None:
    headers = {"X-StartOS-Device-Info": "os.version=0.4.0&os.platform=x86_64"}
    doc = rpc(server.url, {"id": 0, "method": "package.get", "params": {}}, headers).json()
    assert doc["error"]["code"] == 6
    headers = {"X-StartOS-Device-Info": "os.version=zz&os.compat=*&os.platform=x86_64"}
    doc = rpc(server.url, {"id": 0, "method": "os.version.get", "params": {}}, headers).json()
    assert doc["error"]["code"] == 14
    # Methods that do not read the header ignore it, as upstream.
    assert "result" in rpc(server.url, {"id": 0, "method": "info"}, headers).json()


def test_malformed_host_header(server: BackgroundServer) -> None:
    for host in ("[::1", "", "a b:c"):
        r = rpc(server.url, {"method": "index", "id": 5}, {"Host": host})
        assert r.status == 200
        assert r.json()["error"]["code"] == 34


def test_batch(server: BackgroundServer) -> None:
    body = [
        {"id": 1, "method": "info"},
        {"id": "two", "method": "package.get", "params": {"id": "pkg02", "otherVersions": "none"}},
        {"id": 3, "method": "nope"},
        17,
        {"method": "index", "params": {}},
    ]
    r = rpc(server.url, body)
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    docs = r.json()
    assert [d.get("id") for d in docs] == [1, "two", 3, None, None]
    assert "result" in docs[0]
    assert list(docs[1]["result"]["best"]) == ["1.1.0:0"]
    assert [d["error"]["code"] for d in docs[2:]] == [-32601, -32600, 34]


def test_batch_limit(strict: BackgroundServer) -> None:
    doc = rpc(strict.url, [{"method": "info"}] * 4).json()
    assert doc["error"]["code"] == -32600
    assert len(rpc(strict.url, [{"method": "info"}] * 3).json()) == 3


def test_any_path_under_rpc(server: BackgroundServer) -> None:
    for path in ("/rpc/v0", "/rpc", "/rpc/anything/else?x=1"):
        r = request(server.url, "POST", path, b'{"method":"info"}', RPC_HEADERS)
        assert r.status == 200
        assert "result" in r.json()
    r = request(server.url, "GET", "/rpc/v0")
    assert r.json()["error"]["code"] == -32700


# --------------------------------------------------------------------------------------------
# Limits and slow clients
# --------------------------------------------------------------------------------------------


def test_oversized_body_is_refused_before_reading(strict: BackgroundServer) -> None:
    r = request(strict.url, "POST", "/rpc/v0", b" " * 5000, RPC_HEADERS)
    assert r.status == 413
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == -32600
    assert r.headers["connection"] == "close"
    ok = request(strict.url, "POST", "/rpc/v0", b'{"method":"info"}' + b" " * 4000, RPC_HEADERS)
    assert ok.status == 200


def test_default_body_limit_is_one_mib(server: BackgroundServer) -> None:
    assert server.app.settings.max_body == 1024 * 1024
    head = b"POST /rpc/v0 HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"
    assert raw_exchange(server.url, head).startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        pytest.param(b"GARBAGE\r\n\r\n", 400, id="no request line"),
        pytest.param(b"GET /x HTTP/2.0\r\n\r\n", 400, id="unsupported version"),
        pytest.param(b"GET http://evil/x HTTP/1.1\r\n\r\n", 400, id="absolute-form target"),
        pytest.param(
            b"POST /rpc/v0 HTTP/1.1\r\nbad header\r\n\r\n", 400, id="header without colon"
        ),
        pytest.param(
            b"POST /rpc/v0 HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, id="negative length"
        ),
        pytest.param(
            b"POST /rpc/v0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            411,
            id="chunked",
        ),
        pytest.param(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 431, id="huge head"),
    ],
)
def test_malformed_http(server: BackgroundServer, data: bytes, status: int) -> None:
    reply = raw_exchange(server.url, data)
    assert reply.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Connection: close" in reply


def test_slow_head_is_cut_off(strict: BackgroundServer) -> None:
    started = time.monotonic()
    reply = raw_exchange(strict.url, b"POST /rpc/v0 HTTP/1.1\r\nHost: x\r\n")
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3


def test_idle_connection_is_closed_quietly(strict: BackgroundServer) -> None:
    started = time.monotonic()
    assert raw_exchange(strict.url, b"") == b""
    assert time.monotonic() - started < 3


def test_slow_body_is_cut_off(strict: BackgroundServer) -> None:
    reply = raw_exchange(strict.url, b"POST /rpc/v0 HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_slowloris_does_not_block_others(strict: BackgroundServer) -> None:
    host, port = strict.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(20)]
    try:
        for s in idle:
            s.sendall(b"POST /rpc/v0 HTTP/1.1\r\n")
        assert "result" in rpc(strict.url, {"method": "info"}).json()
        time.sleep(1.0)
        for s in idle:
            s.settimeout(5)
            assert s.recv(100).startswith(b"HTTP/1.1 408 ")
    finally:
        for s in idle:
            s.close()


def test_keep_alive_and_expect_continue(server: BackgroundServer) -> None:
    body = b'{"method":"info"}'
    head = (
        b"POST /rpc/v0 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body + b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert reply.count(b"HTTP/1.1 200 OK") == 2
    # Pipelined requests whose bodies came with the head: no 100 Continue, answers in order.
    reply = raw_exchange(
        server.url,
        head
        + body
        + head.replace(b"Content-Length: 17", b"Content-Length: 21")
        + b'{"method":"os.index"}'
        + b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    assert b"100 Continue" not in reply
    assert reply.count(b"HTTP/1.1 200 OK") == 3
    assert reply.index(b'"name"') < reply.index(b'"versions"') < reply.index(b'"revision"')


# --------------------------------------------------------------------------------------------
# CORS (§1.5)
# --------------------------------------------------------------------------------------------


def test_cors_preflight_echoes(server: BackgroundServer) -> None:
    r = request(
        server.url,
        "OPTIONS",
        "/rpc/v0",
        headers={
            "Origin": "https://marketplace.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status == 200
    assert r.body == b""
    assert r.headers["access-control-allow-origin"] == "https://marketplace.example.com"
    assert r.headers["access-control-allow-methods"] == "POST"
    assert r.headers["access-control-allow-headers"] == "content-type"
    assert r.headers["access-control-allow-credentials"] == "true"


def test_cors_on_answers(server: BackgroundServer) -> None:
    r = rpc(server.url, {"method": "info"}, {"Origin": "https://a.example"})
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    bare = rpc(server.url, {"method": "info"})
    assert bare.headers["access-control-allow-origin"] == "*"
    assert bare.headers["access-control-allow-methods"] == "*"
    assert bare.headers["access-control-allow-headers"] == "*"


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def some_s9pk(site: Path) -> tuple[str, bytes]:
    path = next(iter(sorted((site / "pkg02").rglob("*.s9pk"))))
    rel = "/" + "/".join(path.relative_to(site).parts)
    return rel, path.read_bytes()


def test_file_get_head_and_etag(server: BackgroundServer, built_site: BuiltSite) -> None:
    rel, data = some_s9pk(built_site.path)
    r = request(server.url, "GET", rel)
    assert r.status == 200
    assert r.body == data
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["accept-ranges"] == "bytes"
    etag = r.headers["etag"]
    head = request(server.url, "HEAD", rel)
    assert head.status == 200
    assert head.body == b""
    assert int(head.headers["content-length"]) == len(data)
    assert head.headers["etag"] == etag
    cached = request(server.url, "GET", rel, headers={"If-None-Match": f'"other", {etag}'})
    assert cached.status == 304
    assert cached.body == b""
    stale = request(server.url, "GET", rel, headers={"If-None-Match": '"other"'})
    assert stale.status == 200


@pytest.mark.parametrize(
    ("range_", "status", "part"),
    [
        pytest.param("bytes=0-9", 206, slice(0, 10), id="first ten"),
        pytest.param("bytes=100-", 206, slice(100, None), id="open end"),
        pytest.param("bytes=-7", 206, slice(-7, None), id="suffix"),
        pytest.param("bytes=5-999999999", 206, slice(5, None), id="end beyond size"),
        pytest.param("bytes=0-1,4-5", 200, slice(None), id="several ranges: whole file"),
        pytest.param("items=0-1", 200, slice(None), id="other unit: whole file"),
    ],
)
def test_ranges(
    server: BackgroundServer, built_site: BuiltSite, range_: str, status: int, part: slice
) -> None:
    rel, data = some_s9pk(built_site.path)
    r = request(server.url, "GET", rel, headers={"Range": range_})
    assert r.status == status
    assert r.body == data[part]
    if status == 206:
        start = (
            len(data[: part.start])
            if part.start is not None and part.start >= 0
            else len(data) - len(data[part])
        )
        assert r.headers["content-range"] == f"bytes {start}-{start + len(r.body) - 1}/{len(data)}"


def test_unsatisfiable_range_and_if_range(server: BackgroundServer, built_site: BuiltSite) -> None:
    rel, data = some_s9pk(built_site.path)
    r = request(server.url, "GET", rel, headers={"Range": f"bytes={len(data)}-"})
    assert r.status == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    etag = request(server.url, "HEAD", rel).headers["etag"]
    assert (
        request(server.url, "GET", rel, headers={"Range": "bytes=0-1", "If-Range": etag}).status
        == 206
    )
    changed = request(server.url, "GET", rel, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert changed.status == 200
    assert changed.body == data


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        pytest.param("/index.json", 200, "application/json", id="index"),
        pytest.param("/rpc.v0/info.json", 200, "application/json", id="precomputed result"),
        pytest.param("/pkg02/index.json", 200, "application/json", id="package index"),
        pytest.param("/s9reg-site.json", 200, "application/json", id="site marker"),
        pytest.param("/nope.json", 404, None, id="missing"),
        pytest.param("/rpc.v0", 301, None, id="directory without slash"),
        pytest.param("/rpc.v0/", 404, None, id="directory without index.html"),
        pytest.param("/../etc/passwd", 404, None, id="dot-dot"),
        pytest.param("/%2e%2e/%2e%2e/etc/passwd", 404, None, id="encoded dot-dot"),
        pytest.param("/pkg02/%2e%2e/index.json", 404, None, id="inner encoded dot-dot"),
        pytest.param("/.hidden", 404, None, id="hidden name"),
        pytest.param("/%ff", 404, None, id="not UTF-8"),
        pytest.param("/a%00b", 404, None, id="NUL"),
        pytest.param("/" + "n" * 300 + ".json", 404, None, id="name too long"),
    ],
)
def test_file_routes(
    server: BackgroundServer, path: str, status: int, content_type: str | None
) -> None:
    r = request(server.url, "GET", path)
    assert r.status == status
    if content_type is not None:
        assert r.headers["content-type"] == content_type


def test_directory_index_html(tmp_path: Path, built_site: BuiltSite) -> None:
    site = tmp_path / "site"
    shutil.copytree(built_site.path, site)
    (site / "index.html").write_bytes(b"<!doctype html><title>top</title>")
    (site / "pkg02" / "index.html").write_bytes(b"<!doctype html><title>pkg02</title>")
    with BackgroundServer(ServeSettings(site=str(site), port=0)) as s:
        for path, title in [("/", b"top"), ("/pkg02/", b"pkg02")]:
            r = request(s.url, "GET", path)
            assert r.status == 200
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert title in r.body
        moved = request(s.url, "GET", "/pkg02")
        assert moved.status == 301
        assert moved.headers["location"] == "/pkg02/"


def test_other_http_methods_on_files(server: BackgroundServer) -> None:
    r = request(server.url, "DELETE", "/index.json")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"


# --------------------------------------------------------------------------------------------
# Health, metrics, precomputed results, refresh
# --------------------------------------------------------------------------------------------


def test_health(server: BackgroundServer, built_site: BuiltSite) -> None:
    r = request(server.url, "GET", "/health")
    assert r.status == 200
    doc = r.json()
    assert doc["status"] == "ok"
    assert len(doc["revision"]) == 16
    assert doc["source"] == "local"
    assert str(built_site.path) not in r.body.decode()


def test_metrics_text_format(server: BackgroundServer) -> None:
    rpc(server.url, {"method": "info"})
    r = request(server.url, "GET", "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.body.decode().splitlines()
    assert any(line.startswith('s9reg_rpc_requests_total{method="info"} ') for line in lines)
    assert all(line.startswith("#") or " " in line for line in lines)


def test_computed_results_equal_the_precomputed_files(built_site: BuiltSite) -> None:
    index = FullIndex.from_dict(json.loads((built_site.path / "index.json").read_bytes()))
    rpc_dir = built_site.path / "rpc.v0" / "package.get"
    checked = 0
    for pid in ["_all", *index.package.packages]:
        for level in ("none", "short", "full"):
            params: dict[str, Any] = {"otherVersions": level}
            if pid != "_all":
                params["id"] = pid
            value = package_get_json(index, PackageGetParams.from_json(params))
            assert dump_json(value) == (rpc_dir / pid / f"{level}.json").read_bytes()
            checked += 1
    assert checked == 3 * (len(index.package.packages) + 1)


def test_local_site_refresh(tmp_path: Path, built_site: BuiltSite) -> None:
    site = tmp_path / "site"
    shutil.copytree(built_site.path, site)
    with BackgroundServer(ServeSettings(site=str(site), port=0, refresh_interval=3600)) as s:
        before = request(s.url, "GET", "/health").json()["revision"]
        assert not s.refresh()
        doc = json.loads((site / "index.json").read_bytes())
        doc["name"] = "Renamed"
        (site / "index.json").write_bytes(dump_json(doc))
        assert s.refresh()
        after = request(s.url, "GET", "/health").json()["revision"]
        assert after != before
        # The precomputed info.json is unchanged, so info still answers from it; index changed.
        assert "result" in rpc(s.url, {"method": "os.index"}).json()
        (site / "index.json").write_bytes(b"{broken")
        assert not s.refresh()
        health = request(s.url, "GET", "/health").json()
        assert health["status"] == "stale"
        assert health["revision"] == after
        assert "not JSON" in health["lastError"]
        assert health["lastError"].startswith("<site>/index.json: ")
        assert str(tmp_path) not in json.dumps(health)
        assert rpc(s.url, {"method": "package.get", "params": {"id": "pkg00"}}).json()["result"][
            "best"
        ]


def test_client_that_does_not_read_is_dropped(strict: BackgroundServer) -> None:
    body = b'{"method":"package.get","params":{"id":"pkg00","otherVersions":"full"}}'
    one = f"POST /rpc/v0 HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    answer = len(rpc(strict.url, body).body)
    count = 2000
    host, port = strict.url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, int(port)))
        s.settimeout(10)
        s.sendall(one * count)
        time.sleep(3.5)  # longer than the write deadline (3 x 0.5 s + what is pending)
        received = 0
        try:
            while chunk := s.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
    # The server stopped answering (and buffering) long before all answers were written.
    assert received < count * answer // 2
