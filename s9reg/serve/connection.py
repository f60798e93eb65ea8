"""One client connection of :class:`~s9reg.serve.http.HttpApp`: requests read within limits.

The asyncio protocol: the request head and body read under one deadline each, keep-alive,
pipelining, back-pressure on a client that does not read. What to answer is the app's; the caps
on connections are the app's too (it admits and sheds connections).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from s9reg.serve._wire import (
    CHUNK,
    MAX_HEAD,
    BadRequestError,
    Request,
    Response,
    head_bytes,
    parse_head,
    rpc_error_response,
)
from s9reg.serve.answer_cache import (
    CACHE_KEY_MAX,
    Answer,
    answer_key,
)
from s9reg.serve.sources import (
    content_type,
)

if TYPE_CHECKING:
    from s9reg.serve.http import HttpApp

__all__ = ["SVG_CSP", "Connection", "FileSender", "client_group", "file_type_headers"]

log = logging.getLogger("s9reg.serve.http")


def client_group(address: str) -> str:
    """What the per-client connection cap counts by: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


# An SVG opened directly is a document of the registry's origin: it may draw, never run
# script, load anything or reach the origin's storage (icons are also sanitized at build).
SVG_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


def file_type_headers(path: str) -> list[tuple[str, str]]:
    """``Content-Type`` of a site file, never to be sniffed, and the CSP of an SVG."""
    ctype = content_type(path)
    headers = [("Content-Type", ctype), ("X-Content-Type-Options", "nosniff")]
    if ctype.startswith("image/svg+xml"):
        headers.append(("Content-Security-Policy", SVG_CSP))
    return headers


class Connection(asyncio.Protocol):
    """One client connection: parses requests from the buffer and answers them in order.

    JSON-RPC and small answers are computed synchronously in ``data_received``; file answers
    run as a task while reading is paused. The app's ticker enforces :attr:`deadline`.
    """

    def __init__(self, app: HttpApp) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.client = "-"
        # "idle" (between requests), "head", "body", "busy" (a file is being sent), "write"
        # (the client is not reading our answer), "closed".
        self.phase = "idle"
        self.deadline: float | None = None
        self.continued = False
        self.task: asyncio.Task[None] | None = None
        self.started = 0.0
        self._drained: asyncio.Future[None] | None = None
        self.group = "-"  # the address (IPv6: its /64) the per-client cap counts by
        self.opened = 0.0
        self.served = 0  # requests received whole on this connection
        self.registered = False

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admitted by the app (or closed at once), then wait for the first request head."""
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - stream server only
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else "-"
        self.group = client_group(self.client)
        if not self.app.admit(self):
            transport.abort()
            self.phase = "closed"
            return
        self.opened = time.monotonic()
        # The first request's head must be complete within client_timeout of connecting.
        self.deadline = self.opened + self.app.settings.client_timeout

    def shed(self) -> None:
        """Drop the connection at once (to make room for a new client)."""
        self.app.forget(self)
        self.phase = "closed"
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002 - asyncio's signature
        """Forget the connection and wake a writer waiting for the client to read."""
        self.phase = "closed"
        self.app.forget(self)
        if self.task is not None:
            self.task.cancel()
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(ConnectionResetError("client went away"))

    def data_received(self, data: bytes) -> None:
        """Answer a repeated request from the answer cache, else buffer and parse."""
        if self.phase == "idle" and not self.buffer and len(data) <= CACHE_KEY_MAX:
            app = self.app
            answer = app.answers.get(data, app.loader.snapshot)
            if answer is not None:
                self._answer_cached(answer)
                return
        self.buffer += data
        if self.phase in {"idle", "head", "body"}:
            self._process()

    def _answer_cached(self, answer: Answer) -> None:
        """Send a cached answer: what :meth:`_answer` does, without parsing anything."""
        started = time.monotonic()
        self._received()
        self._send_answer(answer, started)
        if self.phase == "idle":  # not "write" (the client is slow to read) nor "closed"
            self.deadline = started + self.app.settings.client_timeout

    def _send_answer(self, answer: Answer, started: float) -> None:
        transport = self.transport
        assert transport is not None  # noqa: S101 - set in connection_made
        app = self.app
        inc = app.metrics.inc
        for name, labels in answer.counts:
            inc(name, *labels)
        transport.write(answer.bytes())
        ms = (time.monotonic() - started) * 1000
        app.access.add((self.client, "POST", answer.path, 200, answer.size, ms, answer.methods))

    def _received(self) -> None:
        """A whole request arrived: not a connection to shed at the cap any more.

        So a download in progress is never cut for a newcomer.
        """
        if not self.served:
            self.app.unproven.pop(self, None)
        self.served += 1

    def eof_received(self) -> bool:
        """Close our side too."""
        return False  # close our side too

    def pause_writing(self) -> None:
        """The client does not read its answers: stop reading its requests until it does."""
        # The client does not read its answers: stop reading its requests until it does.
        if self.transport is not None and self.phase != "closed":
            self.transport.pause_reading()
            if self.phase != "busy":
                self.phase = "write"
                pending = self.transport.get_write_buffer_size()
                self.deadline = (
                    time.monotonic() + self.app.settings.client_timeout * 3 + pending / 65536
                )

    def resume_writing(self) -> None:
        """The client reads again."""
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self.transport is not None and self.phase == "write":
            self.transport.resume_reading()
            self._ready()

    # --- requests -------------------------------------------------------------------------

    def _reset(self) -> None:
        self.phase = "idle"
        self.continued = False
        self.deadline = time.monotonic() + self.app.settings.client_timeout

    def _ready(self) -> None:
        """Wait for the next request (and answer any already buffered)."""
        self._reset()
        if self.buffer:
            self._process()

    def _process(self) -> None:
        transport = self.transport
        if transport is None:  # pragma: no cover - data before connection_made
            return
        while self.phase in {"idle", "head", "body"} and self.buffer:
            if self.phase == "idle":
                self.phase = "head"
                self.started = time.monotonic()
                # One deadline for the whole head (not per line): from the previous request,
                # or for a new connection from its opening.
                if self.served:
                    self.deadline = self.started + self.app.settings.client_timeout
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._fail(431, "request head too large")
                return
            if end + 4 > MAX_HEAD:
                self._fail(431, "request head too large")
                return
            try:
                request = parse_head(bytes(self.buffer[: end + 4]))
                length = self.app.body_length(request)
            except BadRequestError as e:
                self._fail(e.status, e.problem)
                return
            if len(self.buffer) < end + 4 + length:
                if self.phase == "head":
                    self.phase = "body"
                    self.deadline = time.monotonic() + self.app.settings.client_timeout
                if (
                    not self.continued
                    and request.headers.get("expect", "").lower() == "100-continue"
                ):
                    self.continued = True
                    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            size = end + 4 + length
            raw = bytes(self.buffer[:size]) if size <= CACHE_KEY_MAX else None
            body = bytes(self.buffer[end + 4 : size])
            del self.buffer[:size]
            self._answer(request, body, raw)

    def _answer(self, request: Request, body: bytes, raw: bytes | None = None) -> None:
        assert self.transport is not None  # noqa: S101 - set in connection_made
        self._received()
        keep = request.keep_alive
        app = self.app
        # Requests that differ only in headers the answer does not depend on (a device's
        # X-StartOS-Auth-Sig, with its timestamp and nonce, on every request) share an answer.
        key = answer_key(request, body) if keep and raw is not None else None
        # Signed requests carry a nonce: their exact bytes never come again.
        if "x-startos-auth-sig" in request.headers:
            raw = None
        if key is not None:
            answer = app.answers.get(key, app.loader.snapshot)
            if answer is not None:
                self._send_answer(answer, self.started)
                if raw is not None:
                    app.answers.put(raw, answer, app.loader.snapshot)
                if self.phase not in {"write", "closed"}:
                    self._reset()
                return
        task = app.respond(request, body)
        if isinstance(task, Response):
            self._write(request, task, keep)
            if key is not None and task.cacheable:
                answer = Answer(request, task)
                app.answers.put(key, answer, app.loader.snapshot)
                if raw is not None:
                    app.answers.put(raw, answer, app.loader.snapshot)
            if self.phase == "closed":
                return
            if not keep:
                self.phase = "closed"
                self.transport.close()
                return
            if self.phase != "write":
                self._reset()  # the loop in _process goes on with pipelined requests
            return
        self.phase = "busy"
        self.deadline = None
        self.transport.pause_reading()
        self.task = asyncio.get_running_loop().create_task(self._send_file(request, task, keep))

    async def _send_file(
        self, request: Request, sender: Callable[[Connection], Awaitable[Response]], keep: bool
    ) -> None:
        transport = self.transport
        assert transport is not None  # noqa: S101 - set in connection_made
        try:
            response = await sender(self)
        except (ConnectionError, OSError, asyncio.CancelledError):
            transport.abort()
            return
        self.app.log(self.client, request, response, self.started)
        if self.phase == "closed":
            return
        if not keep:
            self.phase = "closed"
            transport.close()
            return
        transport.resume_reading()
        self._ready()

    async def drain(self) -> None:
        """Wait until the client has read enough of what was written (file senders)."""
        transport = self.transport
        if transport is None or self.phase == "closed":
            raise ConnectionResetError("client went away")
        if transport.get_write_buffer_size() <= CHUNK:
            return
        self._drained = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(self.app.settings.client_timeout * 3):
            await self._drained

    def write(self, data: bytes) -> None:
        """Write raw bytes (file senders)."""
        if self.transport is not None and self.phase != "closed":
            self.transport.write(data)

    def _write(self, request: Request, response: Response, keep: bool) -> None:
        assert self.transport is not None  # noqa: S101 - set in connection_made
        self.app.metrics.inc("s9reg_http_responses_total", str(response.status))
        data = head_bytes(response, keep_alive=keep)
        head_only = request.method == "HEAD" or not response.body
        self.transport.write(data if head_only else data + response.body)
        self.app.log(self.client, request, response, self.started)

    def _fail(self, status: int, problem: str) -> None:
        """Answer a request that cannot be read, then close."""
        transport = self.transport
        if transport is None or self.phase == "closed":
            return
        self.app.metrics.inc("s9reg_http_responses_total", str(status))
        response = rpc_error_response(status, problem)
        transport.write(head_bytes(response, keep_alive=False) + response.body)
        self.phase = "closed"
        transport.close()

    def check_deadline(self, now: float) -> None:
        """Close the connection if the client took too long (called by the app's ticker)."""
        if self.deadline is None or now < self.deadline or self.transport is None:
            return
        if self.phase == "idle":
            self.phase = "closed"
            self.transport.close()
        elif self.phase in {"head", "body"}:
            what = "request head" if self.phase == "head" else "request body"
            self._fail(408, f"{what} not received in time")
        elif self.phase == "write":
            self.phase = "closed"
            self.transport.abort()


FileSender = Callable[[Connection], Awaitable[Response]]
