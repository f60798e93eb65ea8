"""A hostile HTTP server on 127.0.0.1: endless bodies, trickles, wrong magic, lying lengths.

Raw sockets, one thread per connection, so that the server misbehaves exactly as written
(``http.server`` would add headers and buffer). Paths name the behaviour; see ``_answer``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

MAGIC = b"\x3b\x3b\x02"
_CHUNK = b"\0" * 65536


class HostileServer:
    """Serves the behaviours below until closed; ``sent`` counts body bytes per path."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.sent: dict[str, int] = {}
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    def close(self) -> None:
        self._closed.set()
        self._accept.join()
        for t in self._threads:
            t.join(timeout=5)
        self._sock.close()

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                got = conn.recv(4096)
                if not got:
                    return
                data += got
            path = data.split(b" ", 2)[1].decode()
            self._answer(conn, path.rsplit("/", 1)[-1])

    def _send_body(self, conn: socket.socket, name: str, data: bytes) -> None:
        conn.sendall(data)
        self.sent[name] = self.sent.get(name, 0) + len(data)

    def _answer(self, conn: socket.socket, name: str) -> None:
        head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
        kind = name.split(".", 1)[0]
        if kind == "endless":  # the right magic, then zeros forever, no length
            conn.sendall(head + b"\r\n")
            self._send_body(conn, name, MAGIC)
            while not self._closed.is_set():
                self._send_body(conn, name, _CHUNK)
        elif kind == "junk":  # an HTML page that never ends
            conn.sendall(head + b"Content-Type: text/html\r\n\r\n")
            while not self._closed.is_set():
                self._send_body(conn, name, b"<html>" + _CHUNK)
        elif kind == "trickle":  # one byte every 0.2 s, for ever
            conn.sendall(head + b"\r\n")
            self._send_body(conn, name, MAGIC)
            while not self._closed.wait(0.2):
                self._send_body(conn, name, b"\0")
        elif kind == "slowhead":  # the response head, one header line every 0.2 s
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            n = 0
            while not self._closed.wait(0.2):
                conn.sendall(b"X-Slow-%d: y\r\n" % n)
                n += 1
        elif kind == "huge":  # announces 10 GiB, then streams
            conn.sendall(head + b"Content-Length: 10737418240\r\n\r\n")
            self._send_body(conn, name, MAGIC)
            while not self._closed.is_set():
                self._send_body(conn, name, _CHUNK)
        elif kind == "short":  # announces 100 bytes, sends endless bytes
            conn.sendall(head + b"Content-Length: 100\r\n\r\n")
            self._send_body(conn, name, MAGIC)
            while not self._closed.is_set():
                self._send_body(conn, name, _CHUNK)
        else:
            conn.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )


@contextlib.contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """A :class:`HostileServer`, closed on leaving."""
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    """Poll ``predicate()`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
