"""The read-only front of an upstream's pull-through engine: what clients connect to.

distribution 2.8 accepts pushes and deletes from anyone once its ``proxy:`` section is gone
(offline mode), and it cannot say *why* an image is missing. So each upstream's client-facing
address (``listen``) is served by this small HTTP relay in front of the engine, which listens on
loopback only. It passes ``GET`` and ``HEAD`` through (streamed, keep-alive), refuses every other
method with the OCI error ``UNSUPPORTED`` (405), and, while the upstream is offline, rewrites the
engine's "unknown" errors for manifests, blobs and tags into a 404 whose message starts with
``OFFLINE_IMAGE_UNAVAILABLE`` (a proxy whose upstream just vanished answers 500 for what it never
stored; that becomes the same 404). Writes go to the writer instances, on loopback.

It does not authenticate, speak TLS, cache, or count pulls; the engine logs every request.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from s9reg.imagecache.engine import Mode
from s9reg.imagecache.errors import EngineError
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.settings import Upstream

__all__ = ["OFFLINE_CODE", "Front"]

OFFLINE_CODE = "OFFLINE_IMAGE_UNAVAILABLE"
# An idle keep-alive connection, or a client that stops reading, is dropped after this long.
IDLE_TIMEOUT = 120.0
# Connections served at once; a further one is answered 503 and closed.
MAX_CONNECTIONS = 256
CHUNK = 1 << 20
# Error bodies the engine sends are small; anything larger is passed through untouched.
MAX_ERROR_BODY = 64 * 1024
# How long an "is the upstream reachable" answer is reused, and the probe's deadline.
PROBE_TTL = 5.0
# How long a pull waits for a restarting engine (a mode switch, a collection) before a 503.
RESTART_GRACE = 5.0
# A repository name or reference echoed in an answer is cut to this many characters.
MAX_ECHO = 160
PROBE_TIMEOUT = 2.0
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CLIENT_CLAIMS = frozenset({"x-forwarded-for", "x-real-ip", "forwarded"})
_OBJECT_RE = re.compile(r"/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)")
_TAGS_RE = re.compile(r"/v2/(?P<name>.+)/tags/list")
_UNKNOWN = {"manifests": "MANIFEST_UNKNOWN", "blobs": "BLOB_UNKNOWN", "tags": "NAME_UNKNOWN"}


def _echo(text: str) -> str:
    """Client-chosen text cut to :data:`MAX_ECHO` characters."""
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


def _engine_code(body: bytes) -> str | None:
    """The first OCI error code of an engine's error body, or None."""
    try:
        errors = json.loads(body).get("errors") or []
        return str(errors[0]["code"])
    except (ValueError, AttributeError, LookupError, TypeError):
        return None


def _oci_error(code: str, message: str) -> bytes:
    entry = {"code": code, "message": message}
    return json.dumps({"errors": [entry]}, separators=(",", ":")).encode()


class Front:
    """The client-facing relay of one upstream (see the module docstring).

    Args:
        upstream: the upstream; the front listens on its ``host:port``.
        mode: the current mode of the upstream's engine (``offline`` turns on the offline
            answers), or None when it is not running.
    """

    def __init__(self, upstream: Upstream, mode: Callable[[], Mode | None]) -> None:
        self.upstream = upstream
        self.mode = mode
        self.backend = ("127.0.0.1", upstream.proxy_engine_port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._probe_lock = threading.Lock()
        self._probed: tuple[float, bool] | None = None

    def bind(self) -> None:
        """Take the client-facing address (before the engines start, so a clash stops early).

        Raises:
            EngineError: the address cannot be bound.
        """
        u = self.upstream
        try:
            self._server = _Server((u.host, u.port), self)
        except OSError as e:
            raise EngineError(
                f"front-{u.name}: cannot listen on {u.host}:{u.port}: {e.strerror or e}",
                hint="another program uses it (instances of a killed cache: s9reg cache down), "
                "or change image_cache.listen",
            ) from e

    def start(self) -> None:
        """Serve in a daemon thread (binding first if :meth:`bind` was not called)."""
        if self._server is None:
            self.bind()
        assert self._server is not None  # noqa: S101 - bound above
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.1),
            name=f"s9reg-cache-front-{self.upstream.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the address."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._thread is not None:
            server.shutdown()
            self._thread.join()
            self._thread = None
        server.server_close()

    def upstream_online(self) -> bool:
        """Whether the upstream answers (probed at most every :data:`PROBE_TTL` seconds)."""
        with self._probe_lock:
            now = time.monotonic()
            if self._probed is not None and now - self._probed[0] < PROBE_TTL:
                return self._probed[1]
            ok = RegistryClient(self.upstream.url, timeout=PROBE_TIMEOUT).ping(PROBE_TIMEOUT)
            self._probed = (time.monotonic(), ok)
            return ok

    def offline_answer(self, path: str, status: int, body: bytes = b"") -> tuple[str, str] | None:
        """The OCI code and message replacing the engine's answer, or None to pass it on.

        Offline, a 404 ``MANIFEST_UNKNOWN``, ``BLOB_UNKNOWN`` or ``NAME_UNKNOWN`` (``body``, empty
        for a HEAD) for a manifest, blob or tag list, or a 5xx for a manifest or blob (the engine
        asked the relay, which answers for the offline upstream), means "not cached, and the
        upstream cannot be asked". In proxy mode, such a 404 or 5xx means the same once a probe
        confirms that the upstream is unreachable.
        """
        path = path.partition("?")[0]
        obj = _OBJECT_RE.fullmatch(path)
        tags = _TAGS_RE.fullmatch(path) if obj is None else None
        if obj is None and tags is None:
            return None
        kind = obj["kind"] if obj is not None else "tags"
        code = _UNKNOWN[kind]
        missing = status == HTTPStatus.NOT_FOUND
        if missing and body:
            said = _engine_code(body)
            if said is None or said not in _UNKNOWN.values():
                return None  # another 404 (a bad name, say): the engine's own answer
            code = said
        mode = self.mode()
        failed = status >= HTTPStatus.INTERNAL_SERVER_ERROR and obj is not None
        if mode is Mode.OFFLINE:
            # The engine asks the relay for what it does not hold; the relay answers for the
            # offline upstream, and 2.8 turns some of those answers into a 500.
            if not (missing or failed):
                return None
        elif mode is not Mode.PROXY or not (missing or failed) or self.upstream_online():
            return None
        u = self.upstream.name
        if obj is None:
            assert tags is not None  # noqa: S101 - one of the two matched
            what = _echo(f"{u}/{tags['name']}")
        elif kind == "blobs":
            what = _echo(f"blob {obj['ref']} of {u}/{obj['name']}")
        else:
            ref = obj["ref"]
            what = _echo(f"{u}/{obj['name']}{'@' if ':' in ref else ':'}{ref}")
        return code, (
            f"{OFFLINE_CODE}: {what} is not in the image cache, and {u} is offline "
            "(preload it while online: s9reg cache preload)"
        )


class _Server(ThreadingHTTPServer):
    """At most :data:`MAX_CONNECTIONS` connections at once, each in its own thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], front: Front) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.front = front
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        if not self._slots.acquire(blocking=False):
            body = _oci_error("UNAVAILABLE", "too many connections to the image cache")
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nRetry-After: 1\r\n".encode()
                    + b"Connection: close\r\n\r\n"
                    + body
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "s9reg-cache"
    timeout = IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self._conn: http.client.HTTPConnection | None = None
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        self._drop_backend()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Quiet: the engine logs every request."""

    def do_GET(self) -> None:
        self._relay()

    def do_HEAD(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._refuse_write()

    def do_PUT(self) -> None:
        self._refuse_write()

    def do_PATCH(self) -> None:
        self._refuse_write()

    def do_DELETE(self) -> None:
        self._refuse_write()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method) as OCI JSON."""
        del explain
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code = HTTPStatus.METHOD_NOT_ALLOWED
            message = "the image cache serves pulls only (GET and HEAD)"
        self.close_connection = True
        self._answer(code, "UNSUPPORTED", message or HTTPStatus(code).phrase)

    # --- answers -------------------------------------------------------------------------

    def _refuse_write(self) -> None:
        # The body (a layer, perhaps) is not read: the connection closes after the answer.
        self.close_connection = True
        self._answer(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the image cache is read-only for clients: it serves pulls (GET and HEAD) only; "
            "curated images are loaded with s9reg cache preload",
            (("Allow", "GET, HEAD"),),
        )

    def _answer(
        self,
        status: int,
        code: str,
        message: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        body = _oci_error(code, message)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for key, value in headers:
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    # --- relaying ------------------------------------------------------------------------

    def _backend(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self.server.front.backend
            self._conn = http.client.HTTPConnection(host, port, timeout=IDLE_TIMEOUT)
        return self._conn

    def _drop_backend(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _relay(self) -> None:
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True
            self._answer(HTTPStatus.BAD_REQUEST, "UNSUPPORTED", "a pull carries no body")
            return
        try:
            resp = self._forward()
        except (OSError, http.client.HTTPException):
            self._drop_backend()
            self._answer(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                f"the image cache of {self.server.front.upstream.name} is restarting or under "
                "maintenance; try again in a moment",
                (("Retry-After", "1"),),
            )
            return
        try:
            error = resp.status == HTTPStatus.NOT_FOUND or resp.status >= 500
            small = resp.length is not None and resp.length <= MAX_ERROR_BODY
            if not (error and (small or self.command == "HEAD")):
                self._pass_on(resp)
                return
            body = resp.read()
            replaced = self.server.front.offline_answer(self.path, resp.status, body)
            if replaced is None:
                self._pass_on(resp, body)
                return
            code, message = replaced
            self._answer(HTTPStatus.NOT_FOUND, code, message)
        except (OSError, http.client.HTTPException):
            # The client went away, or the engine broke off: neither connection is reusable.
            self._drop_backend()
            self.close_connection = True

    def _forward(self) -> http.client.HTTPResponse:
        """Send the request to the engine and read its answer's head.

        Pulls are idempotent, so a request is sent again when the engine restarted under it
        (a kept-alive connection closed: at most twice) or is restarting (connection refused:
        until :data:`RESTART_GRACE` seconds have passed), so that a mode switch or a short
        collection delays a pull instead of failing it.
        """
        conn = self._backend()
        deadline = time.monotonic() + RESTART_GRACE
        resets = 0
        while True:
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():
                    if key.lower() not in _HOP_BY_HOP and key.lower() not in _CLIENT_CLAIMS:
                        conn.putheader(key, value)
                # The engine logs this as the client's address (a client's own claim is dropped).
                conn.putheader("X-Forwarded-For", str(self.client_address[0]))
                conn.endheaders()
                return conn.getresponse()
            except ConnectionRefusedError:
                conn.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                resets += 1
                if resets > 2:
                    raise

    def _pass_on(self, resp: http.client.HTTPResponse, body: bytes | None = None) -> None:
        """Send the engine's answer on; ``body`` when it has been read already."""
        self.send_response_only(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        bodiless = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        if resp.length is None and not bodiless:
            # A body of unknown length (chunked): it ends when the connection closes.
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if bodiless:
            resp.read()
            return
        if body is not None:
            self.connection.sendall(body)
            return
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while resp.length is None or resp.length > 0:
            n = resp.readinto(view)
            if not n:
                break
            self.connection.sendall(view[:n])
        # read1 does not release the engine connection at the exact end of a body; read does.
        resp.read()
