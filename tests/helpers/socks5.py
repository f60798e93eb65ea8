"""A tiny SOCKS5 proxy on 127.0.0.1 for the ``.onion`` tests: CONNECT by name, no auth.

Names are resolved by ``routes`` (``{"abc.onion": "127.0.0.1"}``), as Tor resolves onion
services; every CONNECT is recorded in ``requests``. Raw sockets, one thread per connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self


class Socks5Proxy:
    """Serves until closed; ``url`` is ``socks5h://127.0.0.1:PORT``."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, int]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"socks5h://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._thread.join()
        self._sock.close()

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _exact(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            got = conn.recv(n - len(data))
            if not got:
                raise OSError("closed")
            data += got
        return data

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            version, count = self._exact(conn, 2)
            methods = self._exact(conn, count)
            if version != 5 or 0 not in methods:
                conn.sendall(b"\x05\xff")
                return
            conn.sendall(b"\x05\x00")
            _, command, _, kind = self._exact(conn, 4)
            if command != 1 or kind != 3:  # CONNECT by name only, as socks5h sends
                conn.sendall(b"\x05\x08\x00\x01" + bytes(6))
                return
            name = self._exact(conn, self._exact(conn, 1)[0]).decode()
            port = int.from_bytes(self._exact(conn, 2), "big")
            self.requests.append((name, port))
            host = self.routes.get(name)
            upstream = None
            if host is not None:
                with contextlib.suppress(OSError):
                    upstream = socket.create_connection((host, port), timeout=10)
            if upstream is None:
                conn.sendall(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
                return
            conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
            with upstream:
                self._relay(conn, upstream)

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=pump, args=(b, a), daemon=True)
        other.start()
        pump(a, b)
        other.join(timeout=30)
