"""The answer cache of the HTTP layer and the buffered access log: same answers, same counts."""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_client import BuiltSite, free_port, rpc, serve_process, stop, until

from s9reg.registry import dump_json
from s9reg.serve import BackgroundServer, ServeSettings
from s9reg.serve.accesslog import MAX_PENDING, AccessLog


@pytest.fixture(scope="module")
def own(built_site: BuiltSite) -> Iterator[BackgroundServer]:
    """A server of its own, so that counters and the cache see only this module's requests."""
    with BackgroundServer(ServeSettings(site=str(built_site.path), port=0)) as s:
        yield s


def raw_request(body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"POST /rpc/v0 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
        + body
    )


def read_answer(s: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """One response (head, body) from a keep-alive connection."""
    while b"\r\n\r\n" not in buffer:
        chunk = s.recv(65536)
        assert chunk, "connection closed"
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(buffer) < end + length:
        chunk = s.recv(65536)
        assert chunk, "connection closed"
        buffer += chunk
    body = bytes(buffer[end : end + length])
    del buffer[: end + length]
    return head, body


def exchange(url: str, sends: list[bytes], answers: int, pause: float = 0.0) -> list[bytes]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        for data in sends:
            s.sendall(data)
            if pause:
                time.sleep(pause)
        buffer = bytearray()
        return [read_answer(s, buffer)[1] for _ in range(answers)]


def test_repeated_requests_are_answered_and_counted_every_time(own: BackgroundServer) -> None:
    metrics = own.app.metrics
    body = b'{"id":0,"method":"package.get","params":{"id":"pkg10","targetVersion":"=1.0.0:0"}}'
    one = raw_request(body)
    installs = ("s9reg_package_install_requests_total", "pkg10", "1.0.0:0")
    before = (
        metrics.value(*installs),
        metrics.value("s9reg_rpc_requests_total", "package.get"),
        metrics.value("s9reg_http_responses_total", "200"),
    )
    host, port = own.url.removeprefix("http://").split(":")
    bodies = []
    with socket.create_connection((host, int(port)), timeout=10) as s:
        buffer = bytearray()
        for _ in range(5):  # one request per packet: after the first, from the cache
            s.sendall(one)
            bodies.append(read_answer(s, buffer)[1])
    assert len(set(bodies)) == 1
    assert "1.0.0:0" in json.loads(bodies[0])["result"]["best"]
    assert metrics.value(*installs) == before[0] + 5
    assert metrics.value("s9reg_rpc_requests_total", "package.get") == before[1] + 5
    assert metrics.value("s9reg_http_responses_total", "200") == before[2] + 5
    assert len(own.app.answers) >= 1


def test_split_and_pipelined_copies_of_a_cached_request(own: BackgroundServer) -> None:
    body = b'{"id":"s","method":"package.get","params":{"id":"pkg01"}}'
    one = raw_request(body)
    expected = rpc(own.url, body).body
    assert exchange(own.url, [one], 1) == [expected]  # now cached by its exact bytes
    assert exchange(own.url, [one[:20], one[20:]], 1, pause=0.05) == [expected]
    assert exchange(own.url, [one * 3], 3) == [expected] * 3


def test_signed_requests_share_an_answer_but_index_is_never_cached(
    own: BackgroundServer,
) -> None:
    body = b'{"id":0,"method":"package.get","params":{"id":"pkg02"}}'
    sigs = [f"timestamp={1700000000 + i}&nonce={i}&size=1&signature=x" for i in range(4)]
    first = rpc(own.url, body, {"X-StartOS-Auth-Sig": sigs[0]}).body
    # The server caches after answering: once the next answer is here, that is done.
    assert rpc(own.url, body, {"X-StartOS-Auth-Sig": sigs[1]}).body == first
    size = len(own.app.answers)
    for sig in sigs[2:]:
        assert rpc(own.url, body, {"X-StartOS-Auth-Sig": sig}).body == first
    assert len(own.app.answers) == size  # one entry: a signed request's own bytes are not kept
    index = b'{"id":0,"method":"index","params":{}}'
    for sig in sigs:
        answer = rpc(own.url, index, {"X-StartOS-Auth-Sig": sig}).json()
        assert answer["error"]["code"] in {6, 31, 34}
    answer = rpc(own.url, index).json()
    assert answer["error"]["code"] == 34
    assert rpc(own.url, body, {"X-StartOS-Auth-Sig": sigs[0]}).body == first
    assert len(own.app.answers) == size


@pytest.mark.parametrize(
    ("headers", "echoed"),
    [
        pytest.param({}, "*", id="no origin"),
        pytest.param({"Origin": "https://a.example"}, "https://a.example", id="origin a"),
        pytest.param({"Origin": "https://b.example"}, "https://b.example", id="origin b"),
    ],
)
def test_cached_answers_keep_their_cors_headers(
    own: BackgroundServer, headers: dict[str, str], echoed: str
) -> None:
    body = b'{"id":0,"method":"info","params":{}}'
    for _ in range(2):
        r = rpc(own.url, body, headers)
        assert r.headers["access-control-allow-origin"] == echoed
        assert r.headers["content-type"] == "application/json"


def test_connection_close_is_honoured_for_cacheable_requests(own: BackgroundServer) -> None:
    one = raw_request(b'{"id":0,"method":"info","params":{}}', {"Connection": "close"})
    host, port = own.url.removeprefix("http://").split(":")
    for _ in range(2):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(one)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert b"Connection: close\r\n" in data
        assert data.count(b"HTTP/1.1 200") == 1


def test_cached_answers_follow_a_new_snapshot(tmp_path: Path, built_site: BuiltSite) -> None:
    site = tmp_path / "site"
    shutil.copytree(built_site.path, site)
    body = b'{"id":0,"method":"package.get","params":{"id":"pkg03"}}'
    one = raw_request(body)
    with BackgroundServer(ServeSettings(site=str(site), port=0, refresh_interval=3600)) as s:
        old = exchange(s.url, [one], 1)[0]
        assert exchange(s.url, [one], 1)[0] == old
        (site / "rpc.v0/package.get/pkg03/short.json").write_bytes(b'{"marker":1}\n')
        doc = json.loads((site / "index.json").read_bytes())
        doc["name"] = "Renamed"
        (site / "index.json").write_bytes(dump_json(doc))
        assert s.refresh()
        assert json.loads(exchange(s.url, [one], 1)[0])["result"] == {"marker": 1}
        assert json.loads(rpc(s.url, body).body)["result"] == {"marker": 1}


# --------------------------------------------------------------------------------------------
# Access log
# --------------------------------------------------------------------------------------------


def test_access_log_lines_on_a_stream() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.add(("10.0.0.1", "POST", "/rpc/v0", 200, 5629, 0.123, ("package.get",)))
    log.add(("10.0.0.2", "GET", "/x" * 300, 404, 10, 1.0, ()))
    assert stream.getvalue() == ""  # buffered until flushed
    log.flush()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(' INFO 10.0.0.1 "POST /rpc/v0" 200 5629 0.1ms rpc=package.get')
    assert lines[1].endswith(f' INFO 10.0.0.2 "GET {("/x" * 100)}" 404 10 1.0ms')
    for _ in range(MAX_PENDING):
        log.add(("c", "GET", "/", 200, 1, 0.0, ()))
    assert len(stream.getvalue().splitlines()) == 2 + MAX_PENDING


def test_access_log_through_logging_and_a_broken_stream(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    stream.close()
    log = AccessLog(stream)
    log.add(("c", "GET", "/a", 200, 1, 0.0, ()))
    log.flush()  # a closed stream: from now on, through logging
    assert log.stream is None
    with caplog.at_level(logging.INFO, logger="s9reg.serve.access"):
        log.add(("c", "GET", "/b", 200, 1, 0.0, ("info",)))
        log.flush()
    assert [r.getMessage() for r in caplog.records] == ['c "GET /b" 200 1 0.0ms rpc=info']


def test_no_access_log_option(built_site: BuiltSite, tmp_path: Path) -> None:
    port = free_port()
    args = ["--site", str(built_site.path), "--listen", f"127.0.0.1:{port}", "--no-access-log"]
    url = f"http://127.0.0.1:{port}"
    with serve_process(tmp_path, *args) as proc:

        def answered() -> bool:
            assert proc.poll() is None
            try:
                return rpc(url, b'{"method":"info"}').status == 200
            except OSError:
                return False

        until(answered, "the first answer")
        err = stop(proc)
    assert proc.returncode == 0
    assert f"at {url}/" in err
    assert "/rpc/v0" not in err
