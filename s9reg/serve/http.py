"""A small HTTP/1.1 server on an asyncio protocol: JSON-RPC, CORS, site files, health and metrics.

Bounded by design: the request head is capped at :data:`MAX_HEAD` bytes, bodies at
``max_body``, a whole head and a whole body each have one deadline (slow clients are cut off),
connections are capped per client address and in all (at the cap the oldest connection not
yet answered makes room for a new client), and batches are capped. ``/rpc/*`` always answers
HTTP 200 with ``Content-Type: application/json`` exactly (registry-protocol.md §1.2, §1.5, §4.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import TextIO

from s9reg.serve._wire import (
    INTERNAL_ERROR,
    MAX_HEAD,
    BadRequestError,
    Request,
    Response,
    byte_range,
    cors_headers,
    etag_matches,
    head_bytes,
    host_name,
    json_response,
    not_found,
    range_header,
    safe_rel,
)
from s9reg.serve.accesslog import AccessLog
from s9reg.serve.answer_cache import (
    ANSWER_CACHE_BYTES,
    ANSWER_CACHE_ENTRIES,
    AnswerCache,
)
from s9reg.serve.connection import Connection, FileSender, client_group, file_type_headers
from s9reg.serve.errors import SourceError, SourceNotFoundError
from s9reg.serve.metrics import Metrics, SharedMetrics
from s9reg.serve.rpc import RequestInfo, RpcHandler
from s9reg.serve.settings import ServeSettings
from s9reg.serve.site import SiteLoader
from s9reg.serve.sources import (
    HttpSource,
    LocalSource,
    RemoteFile,
    S3Source,
    Source,
)
from s9reg.serve.tls import TlsFiles
from s9reg.site_layout import STATE_DIR

__all__ = ["ANSWER_CACHE_BYTES", "ANSWER_CACHE_ENTRIES", "MAX_HEAD", "HttpApp", "client_group"]

log = logging.getLogger(__name__)


class HttpApp:
    """The responder: routes requests, serves files, and runs the refresh loop.

    Args:
        settings: the serve settings.
        source: where the site is read from.
        access_stream: where access-log lines are written (see :class:`AccessLog`); None
            sends them to the ``s9reg.serve.access`` logger.
        metrics_dir: the directory worker processes share their counters in (``/metrics``
            then shows the sums of all workers), or None.
    """

    def __init__(
        self,
        settings: ServeSettings,
        source: Source,
        access_stream: TextIO | None = None,
        metrics_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.loader = SiteLoader(source)
        self.metrics = Metrics()
        self.shared = None if metrics_dir is None else SharedMetrics(metrics_dir, self.metrics)
        self.access = AccessLog(access_stream)
        self.answers = AnswerCache()
        self.rpc = RpcHandler(lambda: self.loader.snapshot, settings, self.metrics)
        self.connections: set[Connection] = set()
        # Connections that have not sent a whole request yet, oldest first: shed at the cap.
        self.unproven: dict[Connection, None] = {}
        self.per_client: dict[str, int] = {}
        self.address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self.tls: TlsFiles | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_traceback = 0.0

    # --- connections ----------------------------------------------------------------------

    def admit(self, conn: Connection) -> bool:
        """Count a new connection in, or say it must be refused.

        One client address (an IPv6 /64) holds at most ``max_connections_per_client``. At
        ``max_connections`` the oldest connection that has not sent a whole request yet (a slow
        or silent client) is dropped to make room, else the oldest idle one; only when every
        connection is busy with a request is the new one refused.
        """
        s = self.settings
        if self.per_client.get(conn.group, 0) >= s.max_connections_per_client:
            self.metrics.inc("s9reg_connections_dropped_total", "per_client_cap")
            return False
        if len(self.connections) >= s.max_connections:
            victim = next(iter(self.unproven), None)
            if victim is None:
                idle = [c for c in self.connections if c.phase == "idle"]
                victim = min(idle, key=lambda c: c.opened) if idle else None
            if victim is None:
                self.metrics.inc("s9reg_connections_dropped_total", "cap_refused")
                return False
            self.metrics.inc("s9reg_connections_dropped_total", "cap_shed")
            victim.shed()
        self.connections.add(conn)
        self.unproven[conn] = None
        self.per_client[conn.group] = self.per_client.get(conn.group, 0) + 1
        conn.registered = True
        return True

    def forget(self, conn: Connection) -> None:
        """Count a connection out (once)."""
        if not conn.registered:
            return
        conn.registered = False
        self.connections.discard(conn)
        self.unproven.pop(conn, None)
        left = self.per_client.get(conn.group, 1) - 1
        if left > 0:
            self.per_client[conn.group] = left
        else:
            self.per_client.pop(conn.group, None)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, listener: socket.socket | None = None) -> tuple[str, int]:
        """Load the site, listen, and start refreshing.

        Returns:
            The bound host and port.

        Raises:
            SourceError: the site cannot be loaded.
            OSError: the address cannot be bound.
        """
        await asyncio.to_thread(self.loader.refresh)
        loop = asyncio.get_running_loop()
        s = self.settings
        if s.tls_cert is not None and s.tls_key is not None:
            self.tls = TlsFiles(s.tls_cert, s.tls_key)
        context = self.tls.context if self.tls is not None else None
        handshake = s.client_timeout if context is not None else None
        if listener is not None:  # a socket shared by worker processes
            self._server = await loop.create_server(
                lambda: Connection(self),
                sock=listener,
                ssl=context,
                ssl_handshake_timeout=handshake,
            )
        else:
            self._server = await loop.create_server(
                lambda: Connection(self),
                s.host,
                s.port,
                reuse_address=True,
                ssl=context,
                ssl_handshake_timeout=handshake,
            )
        sock = self._server.sockets[0].getsockname()
        self.address = (str(sock[0]), int(sock[1]))
        self._tasks = [
            asyncio.create_task(self._refresh_loop()),
            asyncio.create_task(self._ticker()),
        ]
        return self.address

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening, let requests in flight finish for ``grace`` seconds, then close."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while (  # noqa: ASYNC110 - polls a set
            any(c.phase in {"busy", "head", "body", "write"} for c in self.connections)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(0)
        self.access.flush()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._server.wait_closed()

    async def refresh_now(self) -> bool:
        """Check the site for changes at once (also what the refresh loop does).

        Returns:
            True when a new snapshot was loaded; False when unchanged or on failure.
        """
        if self.tls is not None:
            self.tls.reload_if_changed()
        try:
            return await asyncio.to_thread(self.loader.refresh)
        except SourceError as e:
            self.metrics.inc("s9reg_site_refresh_failures_total")
            log.warning("site refresh failed, serving the last good index: %s", e.message)
            return False

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_interval)
            await self.refresh_now()

    async def _ticker(self) -> None:
        # One timer for all connections instead of one per read keeps requests cheap.
        step = min(1.0, self.settings.client_timeout / 4)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            for conn in list(self.connections):
                conn.check_deadline(now)
            self.access.flush()
            if self.shared is not None:
                self.shared.publish()

    # --- routing --------------------------------------------------------------------------

    def body_length(self, request: Request) -> int:
        """The request's body length, checked against the limits.

        Raises:
            BadRequestError: chunked, an invalid length, or a body over ``max_body``.
        """
        if "transfer-encoding" in request.headers:
            raise BadRequestError(
                411, "chunked request bodies are not accepted; send Content-Length"
            )
        text = request.headers.get("content-length", "0")
        # isdigit() alone accepts "²" and other scripts' digits, which int() refuses or reads.
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise BadRequestError(400, "invalid Content-Length")
        length = int(text)
        if length > self.settings.max_body:
            raise BadRequestError(413, f"request body larger than {self.settings.max_body} bytes")
        return length

    def respond(self, request: Request, body: bytes) -> Response | FileSender:
        """The answer to a request, or a coroutine function that sends a file."""
        path = request.path
        if path == "/rpc" or path.startswith("/rpc/"):
            return self._rpc(request, body)
        if request.method not in {"GET", "HEAD"}:
            return Response(
                405,
                [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")],
                b"method not allowed\n",
            )
        if path == "/health":
            return self._health()
        if path == "/metrics":
            snap = self.loader.snapshot
            others = self.shared.others() if self.shared is not None else []
            text = self.metrics.render(snap.revision if snap else None, others)
            return Response(200, [("Content-Type", "text/plain; version=0.0.4")], text)
        return self._file(request)

    def _rpc(self, request: Request, body: bytes) -> Response:
        cors = cors_headers(request.headers)
        if request.method == "OPTIONS":
            return Response(200, cors)
        info = RequestInfo(
            device_info=request.headers.get("x-startos-device-info"),
            auth_sig=request.headers.get("x-startos-auth-sig"),
            host=host_name(request.headers.get("host")),
        )
        try:
            answer = self.rpc.answer(body, info)
        except Exception as e:
            # A bug must not cost the client its connection: answer as upstream's fallback does.
            # One traceback a minute at most: a request repeated thousands of times a second
            # must not flood the log.
            now = time.monotonic()
            if now >= self._next_traceback:
                self._next_traceback = now + 60
                log.exception("internal error answering %r", body[:200])
            else:
                log.error("internal error answering a request: %s", type(e).__name__)  # noqa: TRY400 - once a minute with the traceback
            return Response(200, [("Content-Type", "application/json"), *cors], INTERNAL_ERROR)
        return Response(
            200,
            [("Content-Type", "application/json"), *cors],
            answer.body,
            answer.methods,
            counts=answer.counts,
            cacheable=answer.cacheable,
        )

    def _health(self) -> Response:
        snap = self.loader.snapshot
        if snap is None:
            status = "unavailable"
        else:
            status = "ok" if self.loader.last_error is None else "stale"
        doc = {
            "status": status,
            "revision": snap.revision if snap else None,
            "loadedAt": int(snap.loaded_at) if snap else None,
            "lastCheck": int(self.loader.last_check),
            "lastError": self._public(self.loader.last_error),
            "source": self.source.kind,
            "pid": os.getpid(),
        }
        return json_response(200 if snap is not None else 503, doc, [("Cache-Control", "no-store")])

    def _public(self, error: str | None) -> str | None:
        """An error as /health shows it: where the site is (a local path, a bucket) left out."""
        where = self.source.description.rstrip("/")
        if error is None or not where:
            return error
        return re.sub(re.escape(where) + "/?", "<site>/", error)

    def log(self, client: str, request: Request, response: Response, started: float) -> None:
        """One access-log line: no headers, bodies or query strings."""
        ms = (time.monotonic() - started) * 1000
        size = len(response.body) if response.length is None else response.length
        self.access.add(
            (client, request.method, request.path, response.status, size, ms, response.rpc_methods)
        )

    # --- files ----------------------------------------------------------------------------

    def _file(self, request: Request) -> Response | FileSender:
        try:
            rel = safe_rel(request.path)
        except UnicodeDecodeError:
            rel = None
        source = self.source
        if rel is None or rel.split("/", 1)[0] == STATE_DIR:
            return not_found()  # the publisher's state (lease, manifests) is not the site's
        if isinstance(source, HttpSource):
            return Response(307, [("Location", source.url(rel))])
        if isinstance(source, LocalSource):
            return self._local_file(request, source, rel)
        if isinstance(source, S3Source):
            return functools.partial(self._s3_file, request, source, rel)
        return not_found()  # pragma: no cover - every source kind is handled above

    def _local_file(  # noqa: PLR0911 - one return per outcome
        self, request: Request, source: LocalSource, rel: str
    ) -> Response | FileSender:
        path = source.path(rel)
        if path is None:  # a link to outside the site
            return not_found()
        try:
            if path.is_dir():
                return Response(301, [("Location", request.path + "/")])
            f = path.open("rb")
        except OSError:  # missing, a name too long, a permission problem: all look absent
            return not_found()
        try:
            st = os.fstat(f.fileno())
        except OSError:  # pragma: no cover - fstat of an open file
            f.close()
            return not_found()
        size = st.st_size
        etag = f'"{st.st_ino:x}-{size:x}-{st.st_mtime_ns:x}"'
        headers = [
            ("ETag", etag),
            ("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True)),
            ("Accept-Ranges", "bytes"),
        ]
        inm = request.headers.get("if-none-match")
        if inm is not None and etag_matches(inm, etag):
            f.close()
            return Response(304, headers)
        rng = byte_range(range_header(request, etag), size)
        if rng is False:
            f.close()
            headers.append(("Content-Range", f"bytes */{size}"))
            return Response(416, headers)
        start, end = rng if isinstance(rng, tuple) else (0, size - 1)
        status = 206 if isinstance(rng, tuple) else 200
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        count = end - start + 1 if size else 0
        headers += [*file_type_headers(rel), ("Content-Length", str(count))]
        response = Response(status, headers, length=count)
        if request.method == "HEAD" or not count:
            f.close()
            return response

        async def send(conn: Connection) -> Response:
            with f:
                self.metrics.inc("s9reg_http_responses_total", str(status))
                conn.write(head_bytes(response, keep_alive=request.keep_alive, length=count))
                transport = conn.transport
                assert transport is not None  # noqa: S101 - set in connection_made
                loop = asyncio.get_running_loop()
                await loop.sendfile(transport, f, start, count)
            return response

        return send

    async def _s3_file(
        self, request: Request, source: S3Source, rel: str, conn: Connection
    ) -> Response:
        rng = request.headers.get("range") if request.method == "GET" else None
        try:
            remote = await asyncio.to_thread(source.open, rel, rng)
        except SourceNotFoundError:
            response = not_found()
        except SourceError as e:
            status = 416 if "InvalidRange" in e.message else 502
            response = Response(status, [("Content-Type", "text/plain")], f"{e.message}\n".encode())
        else:
            return await self._stream(request, remote, conn)
        self.metrics.inc("s9reg_http_responses_total", str(response.status))
        conn.write(head_bytes(response, keep_alive=request.keep_alive) + response.body)
        return response

    async def _stream(self, request: Request, remote: RemoteFile, conn: Connection) -> Response:
        headers = [("Accept-Ranges", "bytes")]
        try:
            if remote.etag:
                headers.append(("ETag", remote.etag))
                inm = request.headers.get("if-none-match")
                if inm is not None and etag_matches(inm, remote.etag):
                    response = Response(304, headers)
                    conn.write(head_bytes(response, keep_alive=request.keep_alive))
                    return response
            headers += [*file_type_headers(request.path), ("Content-Length", str(remote.size))]
            if remote.content_range:
                headers.append(("Content-Range", remote.content_range))
            response = Response(remote.status, headers, length=remote.size)
            self.metrics.inc("s9reg_http_responses_total", str(remote.status))
            conn.write(head_bytes(response, keep_alive=request.keep_alive, length=remote.size))
            if request.method != "HEAD":
                while chunk := await asyncio.to_thread(next, remote.chunks, b""):
                    conn.write(chunk)
                    await conn.drain()
            return response
        finally:
            remote.close()
