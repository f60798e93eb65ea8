"""The shim's small JSON management API (documented in ``docs/image-cache.md``).

``GET /api/v1/health``, ``GET /api/v1/registry/status``, ``GET /api/v1/registry/images``,
``POST /api/v1/registry/cleanup`` and ``POST /api/v1/registry/ensure``; errors are
``{"error": {"code", "message", "hint"}}`` with the :class:`~s9reg.errors.S9regError` code.
With ``api_token`` set, every route but the health check needs ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hmac
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from s9reg.errors import S9regError
from s9reg.imagecache.cleanup import cleanup
from s9reg.imagecache.errors import (
    ImageNotFoundError,
    ImageReferenceError,
    OfflineImageUnavailableError,
    UpstreamUnavailableError,
)
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
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
_STATUS_OF = {
    ImageReferenceError: HTTPStatus.BAD_REQUEST,
    ImageNotFoundError: HTTPStatus.NOT_FOUND,
    OfflineImageUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
    UpstreamUnavailableError: HTTPStatus.BAD_GATEWAY,
}


class ManagementApi:
    """The operations behind the HTTP routes (usable without HTTP, e.g. in tests).

    Args:
        settings: the cache settings.
        supervisor: the running supervisor (for health, modes and pausing during GC).
    """

    def __init__(self, settings: CacheSettings, supervisor: Supervisor) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self._cleanup_lock = threading.Lock()

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
        upstreams = []
        for u in self.settings.upstreams:
            mode = self.supervisor.mode(u)
            upstreams.append(
                {
                    "name": u.name,
                    "url": u.url,
                    "local_url": u.local_url,
                    "online": upstream_online(u, timeout=2.0),
                    "mode": mode.value if mode is not None else None,
                }
            )
        used = disk_usage(self.settings)
        images = list_images(self.settings)
        return {
            "online": all(u["online"] for u in upstreams),
            "url": self.settings.upstreams[0].local_url,
            "disk_usage": {"bytes": used, "human": human_size(used)},
            "image_count": len(images),
            "upstreams": upstreams,
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
            CacheError: bad parameters, or a failure of the cleanup.
        """
        keep = body.get("keep_tags")
        days = body.get("older_than_days")
        if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool)):
            raise ImageReferenceError("keep_tags must be a whole number")
        if days is not None and (not isinstance(days, int | float) or isinstance(days, bool)):
            raise ImageReferenceError("older_than_days must be a number")
        dry_run = bool(body.get("dry_run", False))
        with self._cleanup_lock:
            result = cleanup(
                self.settings,
                keep_tags=keep,
                older_than_days=days,
                pause=self.supervisor.paused,
                dry_run=dry_run,
            )
        return {
            "deleted_bytes": result.deleted_bytes,
            "deleted_count": result.deleted_count,
            "deleted": [str(r) for r in result.deleted],
            "dry_run": result.dry_run,
        }

    def ensure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Make ``body["image"]`` available; ``OFFLINE_IMAGE_UNAVAILABLE`` when impossible.

        Raises:
            CacheError: as :func:`~s9reg.imagecache.store.ensure_image`.
        """
        text = body.get("image")
        if not isinstance(text, str):
            raise ImageReferenceError("body needs 'image': an image reference")
        ref = ImageRef.parse(text)
        up = resolve_upstream(self.settings, ref)
        result = ensure_image(self.settings, ref, online=upstream_online(up))
        return {"image": str(ref), "source": result.source, "digest": result.digest}


def serve_api(api: ManagementApi, host: str, port: int) -> ThreadingHTTPServer:
    """Start the API on ``host:port`` in a daemon thread; call ``shutdown()`` to stop it.

    Raises:
        OSError: the address cannot be bound.
    """

    class Handler(_Handler):
        backend = api

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="s9reg-cache-api", daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    backend: ManagementApi
    server_version = "s9reg-cache"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Quiet: the engine logs requests already."""

    def _authorized(self) -> bool:
        """Whether the request carries the token (always, when none is configured)."""
        token = self.backend.settings.api_token
        if token is None:
            return True
        given = self.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, f"Bearer {token}".encode()):
            return True
        data = json.dumps(
            {"error": {"code": "UNAUTHORIZED", "message": "a bearer token is required",
                       "hint": "send Authorization: Bearer <image_cache.api_token>"}}
        ).encode()  # fmt: skip
        self.send_response(HTTPStatus.UNAUTHORIZED)
        self.send_header("WWW-Authenticate", 'Bearer realm="s9reg-cache"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)
        return False

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/api/v1/health", "/healthz"):
            ok, body = self.backend.health()
            self._send(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, body)
        elif not self._authorized():
            return
        elif path == "/api/v1/registry/status":
            self._call(self.backend.status)
        elif path == "/api/v1/registry/images":
            self._call(self.backend.images)
        else:
            self._not_found()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        routes = {
            "/api/v1/registry/cleanup": self.backend.cleanup,
            "/api/v1/registry/ensure": self.backend.ensure,
        }
        if not self._authorized():
            return
        route = routes.get(path)
        if route is None:
            self._not_found()
            return
        body = self._body()
        if body is not None:
            self._call(lambda: route(body))

    def _body(self) -> dict[str, Any] | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "bad Content-Length")
            return None
        try:
            doc = json.loads(self.rfile.read(length) or b"{}")
        # ValueError: also int()'s 4300-digit limit on a number in the body, not only bad JSON.
        except (ValueError, RecursionError):
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "the body is not JSON")
            return None
        if not isinstance(doc, dict):
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "the body must be a JSON object")
            return None
        return doc

    def _call(self, fn: Any) -> None:  # noqa: ANN401 - any zero-argument route
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

    def _not_found(self) -> None:
        self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no route {self.command} {self.path}")

    def _error(self, status: HTTPStatus, code: str, message: str, hint: str | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message, "hint": hint}})

    def _send(self, status: HTTPStatus, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)
