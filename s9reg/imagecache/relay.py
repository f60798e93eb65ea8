"""The relay between a proxy engine and its upstream: deadlines, and the proxy/offline switch.

distribution 2.8's proxy asks its upstream about every pull by tag, and waits without a deadline:
an upstream that accepts connections and never answers (a captive portal, a dead link, a firewall
dropping packets) held a pull for ten minutes. So each proxy engine's ``proxy.remoteurl`` is a
:class:`Relay` on 127.0.0.1, which

* forwards to the upstream with deadlines (to connect, and for the answer's headers), following
  redirects (docker.io's blob CDN) and serving the token realm itself, so nothing of the engine
  waits on the internet directly;
* answers at once, without the upstream, while its :class:`Gate` is offline (upstream
  unreachable, or switched off by hand): 503 to the engine, which then serves what it has stored,
  by tag too. The engine keeps running (no restart, no refused connection);
* answers 404 for a curated tag that is stored, so the engine never re-points it to new upstream
  content (it serves the stored, pinned one);
* reports every manifest request by tag (``on_use``), online or offline, so "last used" counts
  offline pulls as well.

The relay does not decide the mode: the supervisor's probes (:func:`probe`) set the gate, and so
does the relay itself when a forward finds the upstream gone. It does not cache anything.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import json
import re
import select
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urljoin, urlsplit

from s9reg.imagecache.engine import Mode
from s9reg.imagecache.settings import Upstream

__all__ = ["Gate", "GateState", "Relay", "probe"]

# Waiting for the headers of a forwarded answer; the gate going offline ends the wait earlier.
ANSWER_TIMEOUT = 20.0
# A body that stalls this long is cut (the engine sees a short read and fails that request).
STALL_TIMEOUT = 30.0
MAX_REDIRECTS = 5
MAX_REQUEST_BODY = 1024 * 1024
CHUNK = 256 * 1024
AUTH_PREFIX = "/_s9reg/auth/"
_HOP = frozenset(
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
        "host",
        "content-length",
    }
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MANIFEST_RE = re.compile(r"/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)")
_CONTENT_RE = re.compile(r"/v2/.+/(?P<kind>manifests|blobs)/[^/]+")
_REALM_RE = re.compile(r'realm="([^"]*)"')


def probe(url: str, timeout: float) -> tuple[bool, str | None, str]:
    """``GET <url>/v2/`` with ``timeout`` to connect and ``timeout`` for the answer.

    Returns whether the registry answers (200, or 401 with a token challenge), its
    ``WWW-Authenticate`` challenge if any, and why not (``connection refused``,
    ``no answer within 3 s``…).
    """
    parts = urlsplit(url)
    try:
        conn = _connection(parts.scheme, parts.netloc, timeout)
        try:
            conn.request("GET", parts.path.rstrip("/") + "/v2/", headers={"User-Agent": "s9reg"})
            resp = conn.getresponse()
            resp.read(65536)
        finally:
            conn.close()
    except TimeoutError:
        return False, None, f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException, ValueError) as e:
        return False, None, _why(e)
    if resp.status not in (200, 401):
        return False, None, f"GET /v2/ answered {resp.status}"
    return True, resp.getheader("WWW-Authenticate"), ""


def _offline_answer(path: str) -> tuple[int, str]:
    """Status and code of the relay's answer for ``path`` while the upstream is offline.

    404 for a manifest or blob: the engine then answers a missing blob with 404 (after a 503,
    with 500); for a tag, any error makes it serve its stored copy.
    """
    m = _CONTENT_RE.fullmatch(path)
    if m is None:
        return 503, "UNAVAILABLE"
    return 404, "BLOB_UNKNOWN" if m["kind"] == "blobs" else "MANIFEST_UNKNOWN"


def _why(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError):
        return "timed out"
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())[:120]


def _connection(scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(
            netloc, timeout=timeout, context=ssl.create_default_context()
        )
    if scheme == "http":
        return http.client.HTTPConnection(netloc, timeout=timeout)
    msg = f"unsupported URL scheme {scheme!r}"
    raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class GateState:
    """A snapshot of one upstream's gate.

    Attributes:
        name: the upstream.
        mode: ``proxy`` (forwarding) or ``offline``.
        reachable: whether the last probe or forward reached the upstream.
        manual: whether it is switched offline by hand (``s9reg cache offline on``).
        reason: why it is offline (empty when in proxy mode).
        since: when the mode last changed (epoch seconds).
        checked_at: when the upstream was last probed (epoch seconds, 0 if never).
    """

    name: str
    mode: Mode
    reachable: bool
    manual: bool
    reason: str
    since: float
    checked_at: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``state.json``, the API's status)."""
        return {
            "name": self.name,
            "mode": self.mode.value,
            "reachable": self.reachable,
            "manual": self.manual,
            "reason": self.reason,
            "since": self.since,
            "checked_at": self.checked_at,
        }


class Gate:
    """The mode of one upstream: its relay forwards (``proxy``) or answers at once (``offline``).

    Args:
        upstream: the upstream.
        on_switch: called (outside the gate's lock) with the old and new state on every mode
            change.
    """

    def __init__(
        self,
        upstream: Upstream,
        *,
        on_switch: Callable[[GateState, GateState], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self._on_switch = on_switch
        self._lock = threading.Lock()
        self._reachable = False
        self._manual = False
        self._why = "not probed yet"
        self._since = time.time()
        self._checked_at = 0.0
        self._challenge: str | None = None
        self._realms: dict[str, str] = {}

    def watch(self, on_switch: Callable[[GateState, GateState], None]) -> None:
        """Call ``on_switch`` on every mode change from now on."""
        self._on_switch = on_switch

    @property
    def offline(self) -> bool:
        """Whether the relay answers without the upstream."""
        return self._manual or not self._reachable

    @property
    def mode(self) -> Mode:
        """``proxy`` or ``offline``."""
        return Mode.OFFLINE if self.offline else Mode.PROXY

    def state(self) -> GateState:
        """A consistent snapshot."""
        with self._lock:
            return self._state()

    def _state(self) -> GateState:
        offline = self._manual or not self._reachable
        if self._manual:
            reason = "switched offline by hand"
        elif not self._reachable:
            reason = self._why
        else:
            reason = ""
        return GateState(
            name=self.upstream.name,
            mode=Mode.OFFLINE if offline else Mode.PROXY,
            reachable=self._reachable,
            manual=self._manual,
            reason=reason,
            since=self._since,
            checked_at=self._checked_at,
        )

    def observe(self, reachable: bool, why: str = "", challenge: str | None = None) -> None:
        """Record a probe's or a forward's finding (a challenge is remembered for offline)."""
        with self._lock:
            before = self._state()
            self._reachable = reachable
            self._why = why or ("unreachable" if not reachable else "")
            self._checked_at = time.time()
            if reachable and challenge:
                self._challenge = challenge
                for realm in _REALM_RE.findall(challenge):
                    self._realms[_realm_key(realm)] = realm
            after = self._finish(before)
        self._notify(before, after)

    def set_manual(self, offline: bool) -> None:
        """Switch offline by hand, or back (then the last probe decides)."""
        with self._lock:
            before = self._state()
            self._manual = offline
            after = self._finish(before)
        self._notify(before, after)

    @property
    def challenge(self) -> str | None:
        """The upstream's last ``WWW-Authenticate`` challenge for ``/v2/``, if any."""
        return self._challenge

    def realm(self, key: str) -> str | None:
        """The token realm a relay path names, if the upstream announced it."""
        return self._realms.get(key)

    def _finish(self, before: GateState) -> GateState:
        after = self._state()
        if after.mode is not before.mode:
            self._since = time.time()
            after = self._state()
        return after

    def _notify(self, before: GateState, after: GateState) -> None:
        if after.mode is not before.mode and self._on_switch is not None:
            self._on_switch(before, after)


def _realm_key(realm: str) -> str:
    return base64.urlsafe_b64encode(realm.encode()).decode().rstrip("=")


def _realm_from_key(key: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class Relay:
    """An HTTP relay on ``127.0.0.1:<free port>`` in front of one upstream (see the module).

    Args:
        gate: the upstream's mode.
        timeout: deadline to connect to the upstream (seconds).
        curated: the curated ``(repository, tag)`` pairs of this upstream.
        stored: whether a tag is stored locally (for curated tags only).
        on_use: called with ``(repository, tag)`` for every manifest request by tag.
    """

    def __init__(
        self,
        gate: Gate,
        *,
        timeout: float,
        curated: frozenset[tuple[str, str]] = frozenset(),
        stored: Callable[[str, str], bool] | None = None,
        on_use: Callable[[str, str], None] | None = None,
    ) -> None:
        self.gate = gate
        self.timeout = timeout
        self.curated = curated
        self.stored = stored or (lambda _repo, _tag: False)
        self.on_use = on_use

        class Handler(_RelayHandler):
            relay = self

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"s9reg-relay-{gate.upstream.name}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """What the engine's ``proxy.remoteurl`` is set to."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop serving (open forwards end with their connections)."""
        self._server.shutdown()
        self._server.server_close()

    def rewrite_challenge(self, challenge: str) -> str:
        """The challenge with each token realm pointed at this relay."""
        return _REALM_RE.sub(
            lambda m: f'realm="{self.url}{AUTH_PREFIX}{_realm_key(m.group(1))}"', challenge
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        # The engine drops connections (its client gave up, or an idle one): nothing to report.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle kept-alive connection from the engine is closed after this long.
    timeout = 120
    relay: Relay

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Quiet: the engine logs its requests already."""

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    # --- one request -------------------------------------------------------------------------

    def _handle(self) -> None:
        relay = self.relay
        gate = relay.gate
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BODY or "Transfer-Encoding" in self.headers:
            self.close_connection = True
            self._error(400, "UNSUPPORTED", "request body not supported by the relay")
            return
        body = self.rfile.read(length) if length else None
        path, _, query = self.path.partition("?")
        registry_call = True
        if path.startswith(AUTH_PREFIX):
            key = path[len(AUTH_PREFIX) :]
            realm = gate.realm(key)
            if realm is None or _realm_from_key(key) != realm:
                self._error(404, "NAME_UNKNOWN", "not a token realm of this upstream")
                return
            target = realm + (("&" if "?" in realm else "?") + query if query else "")
            registry_call = False
        elif path == "/v2" or path.startswith("/v2/"):
            target = gate.upstream.url.rstrip("/") + self.path
        else:
            self._error(404, "NAME_UNKNOWN", "not a registry path")
            return
        tag = self._tag_use(path)
        if gate.offline:
            self._offline(path)
            return
        if tag is not None and tag in relay.curated and relay.stored(*tag):
            # The engine would re-point the stored (pinned) tag to new upstream content.
            self._error(404, "MANIFEST_UNKNOWN", "curated tag: the cache serves its pinned copy")
            return
        self._forward(target, body, registry_call=registry_call)

    def _tag_use(self, path: str) -> tuple[str, str] | None:
        m = _MANIFEST_RE.fullmatch(path)
        if m is None or self.command not in ("GET", "HEAD") or ":" in m["ref"]:
            return None
        tag = (m["repo"], m["ref"])
        if self.relay.on_use is not None:
            with contextlib.suppress(OSError):
                self.relay.on_use(*tag)
        return tag

    def _offline(self, path: str) -> None:
        gate = self.relay.gate
        if path in ("/v2", "/v2/"):
            # What the engine asks at start (2.8 panics if it cannot ask) and before a pull.
            challenge = gate.challenge
            if challenge:
                self._reply(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                    {"WWW-Authenticate": self.relay.rewrite_challenge(challenge)},
                )
            else:
                self._reply(200, {})
            return
        state = gate.state()
        status, code = _offline_answer(path)
        self._error(
            status,
            code,
            f"OFFLINE_IMAGE_UNAVAILABLE: {state.name} is offline ({state.reason}); "
            "only cached content can be pulled",
        )

    def _forward(self, target: str, body: bytes | None, *, registry_call: bool) -> None:
        relay = self.relay
        gate = relay.gate
        upstream_netloc = urlsplit(gate.upstream.url).netloc
        # A list: the engine sends one Accept header per media type.
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
        for _ in range(MAX_REDIRECTS):
            parts = urlsplit(target)
            ours = registry_call and parts.netloc == upstream_netloc
            try:
                conn = _connection(parts.scheme, parts.netloc, relay.timeout)
                conn.connect()
            except (OSError, ValueError) as e:
                if ours:
                    gate.observe(reachable=False, why=_why(e))
                self._error(503, "UNAVAILABLE", f"upstream unreachable: {_why(e)}")
                return
            try:
                resp = self._exchange(conn, parts, headers, body, ours=ours)
            except _Abort as e:
                conn.close()
                self._error(e.status, "UNAVAILABLE", e.message)
                return
            location = resp.getheader("Location")
            if resp.status in _REDIRECTS and location and self.command in ("GET", "HEAD"):
                with contextlib.suppress(OSError, http.client.HTTPException):
                    resp.read(65536)
                conn.close()
                nxt = urljoin(target, location)
                if urlsplit(nxt).netloc != parts.netloc:
                    headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
                target, registry_call = nxt, False
                continue
            try:
                self._pass_back(resp)
            finally:
                conn.close()
            return
        self._error(502, "UNAVAILABLE", "too many redirects upstream")

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        parts: Any,  # noqa: ANN401 - urllib's SplitResult
        headers: list[tuple[str, str]],
        body: bytes | None,
        *,
        ours: bool,
    ) -> http.client.HTTPResponse:
        gate = self.relay.gate
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", parts.netloc)
            for k, v in headers:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
        except (OSError, http.client.HTTPException) as e:
            raise _Abort(503, f"upstream unreachable: {_why(e)}") from e
        sock = conn.sock
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            ready, _, _ = select.select([sock], [], [], 0.25)
            if ready:
                break
            if ours and gate.offline:
                raise _Abort(
                    _offline_answer(parts.path)[0],
                    f"OFFLINE_IMAGE_UNAVAILABLE: {gate.upstream.name} went offline",
                )
            if time.monotonic() > deadline:
                if ours:
                    gate.observe(reachable=False, why=f"no answer within {ANSWER_TIMEOUT:g} s")
                raise _Abort(504, f"no answer from upstream within {ANSWER_TIMEOUT:g} s")
        sock.settimeout(STALL_TIMEOUT)
        try:
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            if ours:
                gate.observe(reachable=False, why=_why(e))
            raise _Abort(502, f"upstream answer broken: {_why(e)}") from e

    def _pass_back(self, resp: http.client.HTTPResponse) -> None:
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            lower = k.lower()
            if lower in _HOP:
                continue
            self.send_header(
                k, self.relay.rewrite_challenge(v) if lower == "www-authenticate" else v
            )
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        chunked = not no_body and length is None
        if length is not None:
            self.send_header("Content-Length", length)
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            return
        try:
            while True:
                data = resp.read1(CHUNK)
                if not data:
                    break
                if chunked:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            # Upstream stalled or the engine went away: cut this connection, the engine sees a
            # short body and fails the request.
            self.close_connection = True

    # --- answers of the relay itself ---------------------------------------------------------

    def _error(self, status: int, code: str, message: str) -> None:
        self._reply(status, {"errors": [{"code": code, "message": message}]})

    def _reply(self, status: int, doc: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        try:
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True


class _Abort(Exception):  # noqa: N818 - internal control flow, never escapes the handler
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
