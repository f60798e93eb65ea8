"""What each server of bench/serve.py does about slow and greedy clients, tried for real.

Starts the same servers as ``bench/serve.py`` (``s9reg serve``, uvicorn with httptools, granian,
nginx; default settings for each, one process) on one built site and, over raw sockets:

* **slow head**: a request line, then one header line a second, never the blank line;
* **slow body**: a complete head announcing 1,000 bytes, then one byte a second;
* **idle**: one complete request and its answer, then nothing (keep-alive);
* **body limit**: a ``POST`` announcing 100 MiB, sent as fast as the server takes it;
* **slowloris**: ``--loris`` connections that each send part of a head and a byte every few
  seconds, while a fresh client tries a normal request every second.

For each it prints what the server did and when: the status it answered (or that it closed
without answering), after how many seconds, and for the body limit how many bytes it took first.
Waits at most ``--patience`` seconds for a server to act. The ASGI shim refuses bodies over
s9reg's ``max_body`` itself; ``--no-app-limit`` turns that off to show what uvicorn and granian
do on their own. Prints a table; exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import build, start_servers, wait_port

SERVERS = ("s9reg", "uvicorn", "granian", "nginx")
HEAD = "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
ATTACKER_ADDRESS = "127.0.0.2"  # all of 127/8 is this machine (Linux)


def status_of(data: bytes) -> str:
    if not data:
        return "closed, no answer"
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return f"HTTP {parts[1]}" if len(parts) > 1 and parts[0].startswith("HTTP/") else line[:30]


async def read_some(reader: asyncio.StreamReader) -> bytes:
    with contextlib.suppress(ConnectionError):
        return await reader.read(65536)
    return b""


async def trickle(
    port: int, first: bytes, step: Callable[[int], bytes], interval: float, patience: float
) -> str:
    """Send ``first``, then ``step(i)`` every ``interval`` s until the server answers or closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(first)
    i = 0
    try:
        while time.monotonic() - started < patience:
            try:
                data = await asyncio.wait_for(read_some(reader), interval)
            except TimeoutError:
                i += 1
                try:
                    writer.write(step(i))
                    await writer.drain()
                except ConnectionError:
                    return f"reset after {time.monotonic() - started:.0f} s"
                continue
            return f"{status_of(data)} after {time.monotonic() - started:.0f} s"
        return f"still open after {patience:.0f} s"
    finally:
        writer.close()


async def slow_head(port: int, patience: float) -> str:
    first = HEAD.format(method="GET", path="/index.json").encode()
    return await trickle(port, first, lambda i: f"X-Slow-{i}: x\r\n".encode(), 1.0, patience)


async def slow_body(port: int, path: str, patience: float) -> str:
    head = HEAD.format(method="POST", path=path)
    head += "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    return await trickle(port, head.encode(), lambda _: b" ", 1.0, patience)


async def idle(port: int, patience: float) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HEAD.format(method="GET", path="/robots.txt").encode() + b"\r\n")
        got = await reader.read(65536)
        started = time.monotonic()
        if not got.startswith(b"HTTP/1.1 200"):
            return f"first request: {status_of(got)}"
        try:
            data = await asyncio.wait_for(read_some(reader), patience)
        except TimeoutError:
            return f"still open after {patience:.0f} s"
        what = "closed" if not data else status_of(data)
        return f"{what} after {time.monotonic() - started:.0f} s"
    finally:
        writer.close()


async def body_limit(port: int, path: str, patience: float) -> str:
    total = 100 * 1024 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = HEAD.format(method="POST", path=path)
    head += f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n"
    writer.write(head.encode())
    started = time.monotonic()
    answer = asyncio.ensure_future(read_some(reader))
    sent = 0
    chunk = b" " * 65536
    try:
        while sent < total and not answer.done() and time.monotonic() - started < patience:
            try:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, TimeoutError):
                break
            sent += len(chunk)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(answer), 10)
        seconds = time.monotonic() - started
        what = status_of(answer.result()) if answer.done() else "no answer"
        return f"{what} after {sent / 1048576:.1f} MiB, {seconds:.1f} s"
    finally:
        answer.cancel()
        writer.close()


async def probe(port: int) -> float | None:
    """Seconds a normal GET takes, or None when it gets no answer within 2 s."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HEAD.format(method="GET", path="/robots.txt").encode() + b"\r\n")
            data = await reader.read(65536)
            writer.close()
    except (TimeoutError, OSError):
        return None
    return time.monotonic() - started if data.startswith(b"HTTP/1.1 200") else None


async def slowloris(port: int, connections: int, seconds: float) -> str:
    """Hold ``connections`` half-sent heads, refreshing them; probe once a second."""
    held: list[asyncio.StreamWriter] = []

    async def attacker(i: int) -> None:
        # Like slowloris: when the server drops a connection, open a new one.
        while True:
            try:
                # From another loopback address than the probe's: s9reg caps connections per
                # client address, and the attacker is not the client being measured.
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(ATTACKER_ADDRESS, 0)
                )
            except OSError:
                await asyncio.sleep(0.5)
                continue
            held.append(writer)
            try:
                writer.write(HEAD.format(method="GET", path=f"/?{i}").encode())
                while True:
                    await asyncio.sleep(5)
                    writer.write(b"X-a: b\r\n")
                    await writer.drain()
            except (ConnectionError, OSError):
                writer.close()
                await asyncio.sleep(0.2)

    tasks = [asyncio.create_task(attacker(i)) for i in range(connections)]
    await asyncio.sleep(3)
    results: list[float | None] = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            results.append(await probe(port))
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - started)))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in held:
            writer.close()
    ok = [r for r in results if r is not None]
    slowest = f", slowest {max(ok) * 1000:.0f} ms" if ok else ""
    return f"{len(ok)}/{len(results)} probes answered{slowest}"


async def run_all(
    ports: dict[str, int], patience: float, loris: int, loris_seconds: float, only: str
) -> dict[str, dict[str, str]]:
    rpc = dict.fromkeys(ports, "/rpc/v0")
    rpc["nginx"] = "/index.json"  # static files only: a POST is answered 405
    tests: dict[str, Callable[[str], Awaitable[str]]] = {
        "slow head": lambda n: slow_head(ports[n], patience),
        "slow body": lambda n: slow_body(ports[n], rpc[n], patience),
        "idle keep-alive": lambda n: idle(ports[n], patience),
        "100 MiB body": lambda n: body_limit(ports[n], rpc[n], patience),
    }
    tests = {t: f for t, f in tests.items() if only in t}
    jobs = {(t, n): asyncio.create_task(f(n)) for t, f in tests.items() for n in ports}
    results: dict[str, dict[str, str]] = {t: {} for t in tests}
    if only in "slowloris":
        results["slowloris"] = {}
    for (t, n), job in jobs.items():
        try:
            results[t][n] = await job
        except OSError as e:
            results[t][n] = f"error: {e}"
    for n, port in ports.items():  # one at a time: each opens many connections
        if "slowloris" in results:
            results["slowloris"][n] = await slowloris(port, loris, loris_seconds)
            await asyncio.sleep(2)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--patience", type=float, default=90, help="seconds to wait for a server")
    ap.add_argument("--loris", type=int, default=1000, help="slowloris connections")
    ap.add_argument("--loris-seconds", type=float, default=20)
    ap.add_argument("--tests", default="", help="only the tests whose name contains this text")
    ap.add_argument(
        "--no-app-limit",
        action="store_true",
        help="the ASGI shim takes bodies of any size: shows the ASGI servers' own limits",
    )
    args = ap.parse_args()
    if args.no_app_limit:
        os.environ["S9REG_BENCH_MAX_BODY"] = "0"
    names = [n for n in args.servers.split(",") if n in SERVERS]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8 * args.loris)), hard))
    with tempfile.TemporaryDirectory(prefix="s9reg-bench-slow-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        site = build(root, 5)
        (root / "www").mkdir()
        (root / "tmp").mkdir()
        servers = start_servers(root, site, names, 1, None)
        try:
            for port, _ in servers.values():
                wait_port(port, timeout=30)
            time.sleep(1)
            ports = {n: port for n, (port, _) in servers.items()}
            results = asyncio.run(
                run_all(ports, args.patience, args.loris, args.loris_seconds, args.tests)
            )
        finally:
            for _, proc in servers.values():
                proc.terminate()
            for _, proc in servers.values():
                try:
                    proc.wait(10)
                except Exception:  # noqa: BLE001 - best effort
                    proc.kill()
    width = max(len(v) for r in results.values() for v in r.values()) + 2
    print(f"\n{'':<16}" + "".join(f"{n:<{width}}" for n in names))
    for test, row in results.items():
        print(f"{test:<16}" + "".join(f"{row.get(n, '-'):<{width}}" for n in names))
    if "slowloris" in results:
        print(f"\nslowloris: {args.loris} connections; a probe counts if answered within 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
