"""Slow clients against a real ``s9reg serve`` (issue #16): others keep being answered.

An attacker opens more connections than ``max_connections`` and trickles header lines on each
(one every half second, never the blank line), reconnecting whenever the server drops one, as
slowloris does; meanwhile a legitimate client sends one request every 0.2 s on a new connection
and counts the answers it gets within 2 s. The attacker's connections come from other loopback
addresses (127.0.0.2, …: all of 127/8 is this machine), the legitimate client from 127.0.0.1.
Bounded: 600 attacking connections, 10 s of probing per case. Run with ``-s`` for the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_client import BuiltSite, free_port, request, serve_process, stop, until

from s9reg.serve import BackgroundServer, ServeSettings
from s9reg.serve.connection import client_group

ATTACKERS = 600
PROBE_SECONDS = 10.0
PROBE_INTERVAL = 0.2
HEAD = b"GET /index.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
PROBE = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.fixture
def served(built_site: BuiltSite, tmp_path: Path) -> Iterator[tuple[int, object]]:
    port = free_port()
    args = ("--site", str(built_site.path), "--listen", f"127.0.0.1:{port}", "--no-access-log")
    with serve_process(tmp_path, *args) as proc:

        def up() -> bool:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                return request(f"http://127.0.0.1:{port}", "GET", "/health").status == 200
            except OSError:
                return False

        until(up, "s9reg serve answers /health")
        yield port, proc
        log = stop(proc)
        assert "Traceback" not in log, log


async def attacker(port: int, source: str, stop_at: float, opened: list[int]) -> None:
    """One slowloris connection from ``source``, opened again whenever it is dropped."""
    while time.monotonic() < stop_at:
        writer = None
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            opened[0] += 1
            writer.write(HEAD)
            i = 0
            while time.monotonic() < stop_at and not reader.at_eof():
                await asyncio.sleep(0.5)
                i += 1
                writer.write(f"X-Slow-{i}: x\r\n".encode())
                await writer.drain()
        except (OSError, ConnectionError):
            await asyncio.sleep(0.05)
        finally:
            if writer is not None:
                writer.close()


async def probe(port: int) -> bool:
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(PROBE)
            data = await reader.read()
            writer.close()
    except (TimeoutError, OSError):
        return False
    return data.startswith(b"HTTP/1.1 200 ")


async def measure(port: int, sources: list[str]) -> tuple[int, int, int]:
    """(answered, sent, attacking connections opened) with ``ATTACKERS`` over ``sources``."""
    stop_at = time.monotonic() + PROBE_SECONDS + 3
    opened = [0]
    tasks = [
        asyncio.create_task(attacker(port, sources[i % len(sources)], stop_at, opened))
        for i in range(ATTACKERS if sources else 0)
    ]
    if tasks:
        await asyncio.sleep(3)  # let the attack fill the server first
    answered = sent = 0
    deadline = time.monotonic() + PROBE_SECONDS
    while time.monotonic() < deadline:
        started = time.monotonic()
        sent += 1
        answered += await probe(port)
        await asyncio.sleep(max(0.0, PROBE_INTERVAL - (time.monotonic() - started)))
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    return answered, sent, opened[0]


@pytest.mark.parametrize(
    "sources",
    [
        pytest.param(["127.0.0.2"], id="one address"),
        pytest.param([f"127.0.0.{i}" for i in range(2, 12)], id="ten addresses, 60 each"),
    ],
)
def test_legitimate_client_is_answered_under_slowloris(
    served: tuple[int, object], sources: list[str]
) -> None:
    port, _ = served
    # In a thread of its own: another test's library (Playwright) may run a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        base_answered, base_sent, _ = pool.submit(asyncio.run, measure(port, [])).result()
        answered, sent, opened = pool.submit(asyncio.run, measure(port, sources)).result()
    print(  # noqa: T201 - the figures the issue asks for (pytest -s)
        f"\nwithout attack: {base_answered}/{base_sent} answered; "
        f"with {ATTACKERS} slow connections from {len(sources)} address(es) "
        f"({opened} opened): {answered}/{sent} answered"
    )
    assert base_answered == base_sent
    assert answered >= 0.95 * sent, (answered, sent)


# --------------------------------------------------------------------------------------------
# The parts: one deadline per head, the per-address cap, shedding at the global cap
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(built_site: BuiltSite) -> Iterator[BackgroundServer]:
    """1 s per head, 8 connections, 3 per address."""
    settings = ServeSettings(
        site=str(built_site.path),
        port=0,
        client_timeout=1.0,
        max_connections=8,
        max_connections_per_client=3,
    )
    with BackgroundServer(settings) as s:
        yield s


def connect(server: BackgroundServer, source: str = "127.0.0.1") -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=5, source_address=(source, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\0" * 8)
    return s


def dropped(s: socket.socket) -> bool:
    """Whether the server closed ``s`` at once (well before ``client_timeout``), unanswered."""
    s.settimeout(0.5)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def answered(s: socket.socket) -> bool:
    """Whether a keep-alive ``GET /health`` on ``s`` is answered (the whole answer is read)."""
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += s.recv(65536)
    return head.startswith(b"HTTP/1.1 200 ")


def test_one_deadline_for_the_whole_head(small: BackgroundServer) -> None:
    with connect(small) as s:
        started = time.monotonic()
        time.sleep(0.7)  # silent at first, then one header line every 0.1 s
        s.sendall(HEAD)
        s.settimeout(0.1)
        reply = b""
        for i in range(40):
            try:
                reply = s.recv(100)
                break
            except TimeoutError:
                s.sendall(f"X-Slow-{i}: x\r\n".encode())
        elapsed = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 ")
    # Within client_timeout of connecting (plus the ticker's 0.25 s), not of the first byte.
    assert elapsed < 1.5, elapsed


def test_per_address_cap(small: BackgroundServer) -> None:
    held = [connect(small, "127.0.0.2") for _ in range(3)]
    try:
        time.sleep(0.1)
        with connect(small, "127.0.0.2") as fourth:
            assert dropped(fourth)
        with connect(small, "127.0.0.3") as other:
            assert answered(other)
    finally:
        for s in held:
            s.close()


def test_at_the_cap_the_oldest_unanswered_connection_makes_room(small: BackgroundServer) -> None:
    keeper = connect(small, "127.0.0.9")  # answered once: kept while unanswered ones remain
    assert answered(keeper)
    silent = []
    for i in range(7):
        silent.append(connect(small, f"127.0.0.{10 + i // 3}"))
        time.sleep(0.02)
    try:
        time.sleep(0.1)  # the server now holds 8: its cap
        with connect(small, "127.0.0.20") as newcomer:
            assert answered(newcomer)
        assert dropped(silent[0])  # the oldest that never sent a request
        assert answered(keeper)
        silent[1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            silent[1].recv(100)  # still open
    finally:
        keeper.close()
        for s in silent:
            s.close()


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("-", "-"),
    ],
)
def test_client_group(address: str, group: str) -> None:
    assert client_group(address) == group


def test_a_download_in_progress_is_not_shed(built_site: BuiltSite, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(built_site.path, site, copy_function=os.link)
    size = 64 * 1024 * 1024  # far more than the socket buffers hold: the sender must wait
    (site / "big.bin").write_bytes(b"\0" * size)
    settings = ServeSettings(site=str(site), port=0, max_connections=4, client_timeout=5)
    with BackgroundServer(settings) as server:
        download = connect(server, "127.0.0.30")
        download.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = len(download.recv(65536))
        silent = [connect(server, f"127.0.0.{31 + i}") for i in range(3)]
        try:
            time.sleep(0.2)  # the server holds 4, its cap; the download is the oldest
            with connect(server, "127.0.0.40") as newcomer:
                assert answered(newcomer)
            assert dropped(silent[0])
            download.settimeout(10)
            while chunk := download.recv(1 << 20):
                got += len(chunk)
                if got >= size:
                    break
            assert got >= size  # the whole file (and its head) arrived
        finally:
            download.close()
            for s in silent:
                s.close()
