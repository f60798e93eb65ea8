"""Numbers from clients that Python's int() refuses: over 4300 digits, or digits int() rejects.

Found by fuzzing (issue #16): ``"0" * 4300 + "1"`` passed the length checks that strip leading
zeros, then reached ``int()``; ``str.isdigit()`` accepts ``²``, which ``int()`` does not read.
Each must get the answer any other bad number gets, never an internal error.
"""

from __future__ import annotations

import socket
import time

import pytest
from serve_client import BuiltSite, rpc

from s9reg.registry.queries import ErrorKind, QueryError
from s9reg.serve import BackgroundServer
from s9reg.serve.auth import parse_header

ZEROS = "0" * 4300


def raw_exchange(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def device(query: str) -> dict[str, str]:
    return {"X-StartOS-Device-Info": query}


@pytest.mark.parametrize(
    ("params", "header"),
    [
        pytest.param({"id": "hello", "sourceVersion": ZEROS + "1"}, None, id="sourceVersion"),
        pytest.param(
            {"id": "hello", "targetVersion": "!(" * 24}, None, id="exponential targetVersion"
        ),
        pytest.param(
            {},
            f"os.version={ZEROS}0.4.0&os.compat=*&os.platform=x86_64",
            id="os.version",
        ),
        pytest.param(
            {},
            "os.version=0.4.0&os.compat=" + "!(" * 24 + "&os.platform=x86_64",
            id="exponential os.compat",
        ),
    ],
)
def test_versions_from_devices(
    server: BackgroundServer, params: dict[str, object], header: str | None
) -> None:
    start = time.monotonic()
    doc = rpc(
        server.url,
        {"id": 0, "method": "package.get", "params": params},
        device(header) if header else None,
    ).json()
    assert "result" in doc or doc["error"]["code"] != -32603, doc
    # 24 unclosed `!(` took hours on the event loop before the range parser became linear.
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(f"hardware.arch=x86_64&hardware.ram={ZEROS}1", id="hardware.ram"),
        pytest.param(f"hardware.arch=x86_64&hardware.ram=1{'0' * 4400}", id="huge hardware.ram"),
    ],
)
def test_hardware_numbers_from_devices(server: BackgroundServer, query: str) -> None:
    header = device("os.version=0.4.0&os.compat=*&os.platform=x86_64&" + query)
    doc = rpc(server.url, {"id": 0, "method": "package.index", "params": {}}, header).json()
    assert "result" in doc or doc["error"]["code"] != -32603, doc


@pytest.mark.parametrize(
    ("header", "status"),
    [
        pytest.param(b"Range: bytes=0-" + b"9" * 5000, 206, id="huge range end"),
        pytest.param(b"Range: bytes=" + b"0" * 5000 + b"1-", 206, id="leading zeros"),
        pytest.param(b"Range: bytes=-" + b"9" * 5000, 206, id="huge suffix"),
        pytest.param(b"Range: bytes=" + b"9" * 5000 + b"-", 416, id="huge start"),
        pytest.param(b"Range: bytes=\xd9\xa1-", 200, id="non-ASCII digit"),
    ],
)
def test_hostile_ranges(
    server: BackgroundServer, built_site: BuiltSite, header: bytes, status: int
) -> None:
    rel = next(p for p in sorted(built_site.path.rglob("*.s9pk"))).relative_to(built_site.path)
    reply = raw_exchange(
        server.url,
        b"GET /"
        + str(rel).encode()
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + header
        + b"\r\n\r\n",
    )
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]


@pytest.mark.parametrize(
    "length",
    [
        pytest.param(b"\xb2", id="superscript two"),
        pytest.param(b"\xd9\xa1", id="arabic one"),
        pytest.param(b"0" * 5000, id="5000 zeros"),
    ],
)
def test_hostile_content_length(server: BackgroundServer, length: bytes) -> None:
    reply = raw_exchange(
        server.url,
        b"POST /rpc/v0 HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]


SIGNATURE = "&blake3=AA&signer=x&signature=AA"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"timestamp=-{ZEROS}5&nonce=1&size=0", id="timestamp"),
        pytest.param(f"timestamp=1&nonce=%2B{ZEROS}7&size={ZEROS}", id="nonce and size"),
    ],
)
def test_auth_header_numbers_with_leading_zeros(header: str) -> None:
    # Rust reads the numbers; the (short) blake3 that follows is what fails.
    with pytest.raises(QueryError) as caught:
        parse_header(header + SIGNATURE)
    assert caught.value.kind == ErrorKind.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "number", [f"1{'0' * 4400}", f"-{'9' * 5000}", f"{ZEROS}18446744073709551616"]
)
def test_auth_header_huge_numbers(number: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_header(f"timestamp=1&nonce={number}&size=0" + SIGNATURE)
    assert caught.value.kind == ErrorKind.PARSE_NUMBER
