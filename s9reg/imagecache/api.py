"""The shim's small JSON management API (documented in ``docs/image-cache.md``).

``GET /api/v1/health``, ``GET /api/v1/registry/status``, ``GET /api/v1/registry/images``,
``POST /api/v1/registry/cleanup`` and ``POST /api/v1/registry/ensure``; every answer, errors
included, is JSON: ``{"error": {"code", "message", "hint"}}`` with the
:class:`~s9reg.errors.S9regError` code. Every route but the health check needs
``Authorization: Bearer TOKEN``.

Web pages open on the box are hostile: a ``Host`` that does not name this API (DNS rebinding) is
refused with 421, a foreign ``Origin`` or a cross-site ``Sec-Fetch-Site`` with 403, and POST
bodies are accepted only as ``application/json`` (never a form or ``text/plain``, which browsers
send without a preflight). It does not serve TLS, and does not rate-limit: it listens on
loopback, or behind a proxy that does both.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import math
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from s9reg._json import JSONObject, Reader, summary
from s9reg.errors import S9regError
from s9reg.imagecache.cleanup import cleanup
from s9reg.imagecache.errors import (
    ApiRequestError,
    ImageNotFoundError,
    ImageReferenceError,
    OfflineImageUnavailableError,
    UpstreamUnavailableError,
)
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings, Upstream
from s9reg.imagecache.store import (
    disk_usage,
    ensure_image,
    list_images,
    resolve_upstream,
)
from s9reg.imagecache.supervisor import Supervisor, upstream_online
from s9reg.units import human_size

__all__ = ["ManagementApi", "serve_api"]

MAX_BODY = 64 * 1024
# A client that has not sent its whole request (line, headers, body) this long after connecting
# is disconnected, however it trickles.
REQUEST_TIMEOUT = 30.0
# Connections served at once; a further one is answered 503 and closed at once.
MAX_CONNECTIONS = 32
MAX_KEEP_TAGS = 1_000_000
MAX_DAYS = 36_500
# Anything echoed back (a path, a field name, a value) is cut to this many characters.
MAX_ECHO = 80
_STATUS_OF = {
    ApiRequestError: HTTPStatus.BAD_REQUEST,
    ImageReferenceError: HTTPStatus.BAD_REQUEST,
    ImageNotFoundError: HTTPStatus.NOT_FOUND,
    OfflineImageUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
    UpstreamUnavailableError: HTTPStatus.BAD_GATEWAY,
}
_CLEANUP_FIELDS = ("keep_tags", "older_than_days", "dry_run", "force")
_ENSURE_FIELDS = ("image",)
_HEALTH = ("/api/v1/health", "/healthz")
# path -> the methods it answers
_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/v1/health": ("GET",),
    "/healthz": ("GET",),
    "/api/v1/registry/status": ("GET",),
    "/api/v1/registry/images": ("GET",),
    "/api/v1/registry/cleanup": ("POST",),
    "/api/v1/registry/ensure": ("POST",),
}


def _echo(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


def _fields(body: dict[str, Any], known: tuple[str, ...]) -> None:
    repeated = body.repeated if isinstance(body, JSONObject) else frozenset()
    if repeated:
        raise ApiRequestError(f"{_echo(min(repeated))}: field given twice")
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise ApiRequestError(
            f"unknown field {_echo(unknown[0])!r}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            hint=f"the body's fields are {', '.join(known)}",
        )


def cleanup_params(body: dict[str, Any]) -> tuple[int | None, float | None, bool]:
    """``keep_tags``, ``older_than_days`` and ``dry_run`` of a cleanup body, checked.

    Raises:
        ApiRequestError: an unknown or repeated field, a value of the wrong type or range, or
            neither ``keep_tags`` nor ``older_than_days``.
    """
    _fields(body, _CLEANUP_FIELDS)
    keep = body.get("keep_tags")
    if keep is not None and (
        not isinstance(keep, int) or isinstance(keep, bool) or not 0 <= keep <= MAX_KEEP_TAGS
    ):
        raise ApiRequestError(
            f"keep_tags: expected a whole number from 0 to {MAX_KEEP_TAGS}, got {_echo(keep)}"
        )
    days = body.get("older_than_days")
    if days is not None and (
        not isinstance(days, int | float)
        or isinstance(days, bool)
        or not math.isfinite(days)
        or not 0 <= days <= MAX_DAYS
    ):
        raise ApiRequestError(
            f"older_than_days: expected a number from 0 to {MAX_DAYS}, got {_echo(days)}"
        )
    if keep is None and days is None:
        raise ApiRequestError(
            "the body needs keep_tags or older_than_days (or both)",
            hint='e.g. {"keep_tags": 3} or {"older_than_days": 30}',
        )
    dry_run = body.get("dry_run")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise ApiRequestError(f"dry_run: expected true or false, got {_echo(dry_run)}")
    return keep, None if days is None else float(days), bool(dry_run)


def cleanup_force(body: dict[str, Any]) -> bool:
    """The cleanup body's ``force`` (delete even while an upstream is offline), checked.

    Raises:
        ApiRequestError: not true, false or null.
    """
    force = body.get("force")
    if force is not None and not isinstance(force, bool):
        raise ApiRequestError(f"force: expected true or false, got {_echo(force)}")
    return bool(force)


class ManagementApi:
    """The operations behind the HTTP routes (usable without HTTP, e.g. in tests).

    Args:
        settings: the cache settings.
        supervisor: the running supervisor (for health, modes and pausing during GC).
        token: the bearer token every route but the health check requires.
    """

    def __init__(self, settings: CacheSettings, supervisor: Supervisor, token: str) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.token = token
        # DNS rebinding: a page of rebind.evil.example reaches this socket with that Host.
        # IP literals and localhost cannot be rebound; other names must be configured.
        self.host_names = frozenset(
            {"localhost", settings.api_host.lower(), settings.public_host.lower()}
        )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether every instance runs, with the instance list."""
        state = self.supervisor.state()
        ok = all(i["running"] or i["paused"] for i in state)
        return ok, {"status": "ok" if ok else "degraded", "instances": state}

    def status(self) -> dict[str, Any]:
        """``online`` (every upstream reachable), ``url``, ``disk_usage``, ``image_count``.

        Raises:
            CacheError: the writers are unreachable.
        """
        upstreams = [self._upstream_status(u) for u in self.settings.upstreams]
        used = disk_usage(self.settings)
        images = list_images(self.settings)
        return {
            "online": all(u["online"] for u in upstreams),
            "url": self.settings.upstreams[0].local_url,
            "disk_usage": {"bytes": used, "human": human_size(used)},
            "image_count": len(images),
            "upstreams": upstreams,
            "quota": self._quota_status(used),
        }

    def _upstream_status(self, u: Upstream) -> dict[str, Any]:
        # The supervisor's probes know the mode at once; probing here would wait on a
        # black-holed upstream.
        gate = self.supervisor.gate_state(u)
        if gate is None:
            online = upstream_online(u, timeout=self.settings.probe_timeout)
            mode = self.supervisor.mode(u)
            return {
                "name": u.name,
                "url": u.url,
                "local_url": u.local_url,
                "online": online,
                "mode": mode.value if mode is not None else None,
            }
        return {
            "name": u.name,
            "url": u.url,
            "local_url": u.local_url,
            "online": gate.reachable,
            "mode": gate.mode.value,
            "manual_offline": gate.manual,
            "reason": gate.reason or None,
            "since": gate.since,
            "checked_at": gate.checked_at or None,
        }

    def _quota_status(self, used: int) -> dict[str, Any] | None:
        max_size = self.settings.max_size
        if max_size is None:
            return None
        return {
            "max_size": max_size,
            "used": used,
            "free": max(0, max_size - used),
            "over": used > max_size,
        }

    def images(self) -> list[dict[str, Any]]:
        """One entry per repository: ``name``, ``tags``, ``size``, ``curated``, ``last_used``.

        Raises:
            CacheError: the writers are unreachable.
        """
        return [
            {
                "name": i.name,
                "tags": [t.tag for t in i.tags],
                "size": i.size,
                "curated": i.curated,
                "last_used": i.last_used,
            }
            for i in list_images(self.settings)
        ]

    def cleanup(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run a cleanup and garbage collection; returns ``deleted_bytes``, ``deleted_count``.

        Raises:
            ApiRequestError: a bad body (:func:`cleanup_params`).
            CacheError: a failure of the cleanup.
        """
        keep, days, dry_run = cleanup_params(body)
        force = cleanup_force(body)
        with self.supervisor.maintenance_lock:
            result = cleanup(
                self.settings,
                keep_tags=keep,
                older_than_days=days,
                pause=self.supervisor.paused,
                dry_run=dry_run,
                reachable=self.supervisor.reachable,
                force=force,
            )
        return {
            "deleted_bytes": result.deleted_bytes,
            "deleted_count": result.deleted_count,
            "deleted": [str(r) for r in result.deleted],
            "dry_run": result.dry_run,
            "skipped_offline": result.skipped,
        }

    def ensure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Make ``body["image"]`` available; ``OFFLINE_IMAGE_UNAVAILABLE`` when impossible.

        Raises:
            ApiRequestError: a bad body.
            CacheError: as :func:`~s9reg.imagecache.store.ensure_image`.
        """
        _fields(body, _ENSURE_FIELDS)
        text = body.get("image")
        if not isinstance(text, str):
            raise ApiRequestError(
                f"image: expected an image reference (a string), got {_echo(text)}"
            )
        ref = ImageRef.parse(text)
        up = resolve_upstream(self.settings, ref)
        # The supervisor's mode: no wait on a black-holed upstream, and a manual switch holds.
        result = ensure_image(self.settings, ref, online=self.supervisor.reachable(up))
        return {"image": str(ref), "source": result.source, "digest": result.digest}


def serve_api(api: ManagementApi, host: str, port: int) -> ThreadingHTTPServer:
    """Start the API on ``host:port`` in a daemon thread; call ``shutdown()`` to stop it.

    Raises:
        OSError: the address cannot be bound.
    """

    class Handler(_Handler):
        backend = api

    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="s9reg-cache-api", daemon=True).start()
    return server


_BUSY = json.dumps(
    {"error": {"code": "BUSY", "message": "too many connections", "hint": "try again later"}}
).encode()


class _Server(ThreadingHTTPServer):
    """At most :data:`MAX_CONNECTIONS` connections at once, each in its own thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(_BUSY)}\r\nRetry-After: 1\r\n\r\n".encode()
                    + _BUSY
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


class _Refused(Exception):  # noqa: N818 - control flow inside the handler, never raised out
    def __init__(
        self, status: HTTPStatus, code: str, message: str, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint


class _Handler(BaseHTTPRequestHandler):
    backend: ManagementApi
    server_version = "s9reg-cache"
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Quiet: the engine logs requests already."""

    def setup(self) -> None:
        """Start the whole-request deadline (the socket timeout only bounds each read)."""
        super().setup()
        self._deadline = threading.Timer(REQUEST_TIMEOUT, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def _expire(self) -> None:
        # A read blocked on this socket returns end-of-file; the request is dropped.
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)

    def finish(self) -> None:
        """Stop the deadline with the connection."""
        self._deadline.cancel()
        super().finish()

    # Every method goes through one dispatcher; http.server answers a method it has no
    # ``do_`` for with send_error(501), which is turned into the same dispatch below.
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def send_error(
        self,
        code: int,
        message: str | None = None,
        explain: str | None = None,  # noqa: ARG002 - http.server's HTML page only
    ) -> None:
        """Answer errors of http.server itself (bad request line, unknown method) as JSON."""
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:
            self._dispatch()
            return
        self.close_connection = True
        status = HTTPStatus(code)
        self._error(status, status.name, _echo(message or status.phrase))

    def _dispatch(self) -> None:
        try:
            self._route()
        except _Refused as e:
            self._error(e.status, e.code, e.message, e.hint)

    def _route(self) -> None:
        self._check_host()
        self._check_origin()
        path = self.path.split("?", 1)[0].rstrip("/")
        methods = _ROUTES.get(path)
        if methods is None:
            raise _Refused(
                HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no route {self.command} {_echo(self.path)}"
            )
        if self.command not in methods:
            self.close_connection = True
            raise _Refused(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                f"{_echo(self.command)} {path}: only {', '.join(methods)}",
            )
        if path in _HEALTH:
            ok, body = self.backend.health()
            self._send(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, body)
            return
        self._check_token()
        if path == "/api/v1/registry/status":
            self._call(self.backend.status)
        elif path == "/api/v1/registry/images":
            self._call(self.backend.images)
        else:
            route = (
                self.backend.cleanup if path == "/api/v1/registry/cleanup" else self.backend.ensure
            )
            body = self._body()
            self._call(lambda: route(body))

    def _check_host(self) -> None:
        host = self.headers.get("Host")
        if host is None or not self._host_allowed(host.strip().lower()):
            raise _Refused(
                HTTPStatus.MISDIRECTED_REQUEST,
                "MISDIRECTED_REQUEST",
                "the Host header does not name this API",
                hint="use its address (e.g. 127.0.0.1:PORT) or image_cache.public_host",
            )

    def _host_allowed(self, host: str) -> bool:
        if host.startswith("["):
            name, sep, port = host[1:].partition("]")
            port = port.removeprefix(":") if sep and port.startswith(":") else port
        else:
            name, _, port = host.partition(":")
        if port and not (port.isascii() and port.isdigit()):
            return False
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name in self.backend.host_names or name.endswith(".localhost")
        return True

    def _check_origin(self) -> None:
        # A browser names the page that sent the request; no page of another origin may call.
        origin = self.headers.get("Origin")
        host = (self.headers.get("Host") or "").strip().lower()
        if origin is not None and origin.strip().lower() not in (
            f"http://{host}",
            f"https://{host}",
        ):
            raise _Refused(HTTPStatus.FORBIDDEN, "FORBIDDEN", "cross-origin requests are refused")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site.strip().lower() not in ("same-origin", "none"):
            raise _Refused(HTTPStatus.FORBIDDEN, "FORBIDDEN", "cross-site requests are refused")

    def _check_token(self) -> None:
        given = self.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, f"Bearer {self.backend.token}".encode()):
            return
        hint = (
            "send Authorization: Bearer <image_cache.api_token>"
            if self.backend.settings.api_token is not None
            else "send Authorization: Bearer <the token in DATA_DIR/run/api-token>"
        )
        raise _Refused(HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "a bearer token is required", hint)

    def _body(self) -> dict[str, Any]:
        media, _, params = (self.headers.get("Content-Type") or "").partition(";")
        charset = params.strip().lower()
        if media.strip().lower() != "application/json" or charset not in (
            "",
            "charset=utf-8",
            'charset="utf-8"',
        ):
            self.close_connection = True
            raise _Refused(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be sent as Content-Type: application/json",
            )
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise _Refused(
                HTTPStatus.LENGTH_REQUIRED, "LENGTH_REQUIRED", "send the body with Content-Length"
            )
        text = (self.headers.get("Content-Length") or "").strip()
        if not text:
            raise _Refused(
                HTTPStatus.LENGTH_REQUIRED, "LENGTH_REQUIRED", "send the body with Content-Length"
            )
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            self.close_connection = True
            raise _Refused(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "bad Content-Length")
        length = int(text)
        if length > MAX_BODY:
            self.close_connection = True
            raise _Refused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                f"a body of {length} bytes (at most {MAX_BODY})",
            )
        data = self.rfile.read(length)
        if len(data) != length:
            self.close_connection = True
            raise _Refused(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "the body ended early")
        reader = Reader()
        doc = reader.decode(data)
        if reader.problems:
            raise _Refused(
                HTTPStatus.BAD_REQUEST,
                "BAD_REQUEST",
                f"the body is not valid JSON: {_echo(str(summary(reader.problems)))}",
            )
        if not isinstance(doc, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "the body must be a JSON object")
        return doc

    def _call(self, fn: Callable[[], object]) -> None:
        # The request is read: the operation (a cleanup may take minutes) has no deadline.
        self._deadline.cancel()
        try:
            result = fn()
        except S9regError as e:
            status = next(
                (s for cls, s in _STATUS_OF.items() if isinstance(e, cls)),
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )
            self._error(status, e.code, e.message, e.hint)
            return
        except Exception as e:  # noqa: BLE001 - a bug must not kill the API thread
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL", f"{type(e).__name__}: {e}")
            return
        self._send(HTTPStatus.OK, result)

    def _error(self, status: HTTPStatus, code: str, message: str, hint: str | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message, "hint": hint}})

    def _send(self, status: HTTPStatus, body: object) -> None:
        # ASCII escapes: a lone surrogate or any other text echoed back stays valid JSON.
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            path = self.path.split("?", 1)[0].rstrip("/")
            self.send_header("Allow", ", ".join(_ROUTES.get(path, ())))
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="s9reg-cache"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
