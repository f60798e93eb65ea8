"""Downloads for the build: remote ``.s9pk`` sources, StartOS image URLs, ``--previous`` indexes.

Each download streams to a file beside its final name and is renamed into place only when it
is complete; the partial file is removed on any failure, interrupt included. A later build asks
again with ``If-None-Match``/``If-Modified-Since``, so an unchanged remote file costs one request
and no transfer. Only ``http`` and ``https`` URLs are fetched; redirects are followed (at most
10, to ``http(s)`` only). Every download is bounded (:class:`DownloadLimits`): a size cap, a
deadline for the response head and a minimum rate for the body, enforced by a watchdog that
closes the connection, so a server that streams without end or trickles a byte a second fails
the build with one line instead of filling the disk or hanging it. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol, Self
from urllib.parse import unquote, urlsplit

from s9reg import __version__
from s9reg.builder.errors import BuildError
from s9reg.s9pk.tree import new_hasher
from s9reg.units import human_size

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "Document",
    "Download",
    "DownloadLimits",
    "download",
    "download_resumable",
    "fetch_bytes",
    "fetch_document",
    "fetch_prefix",
    "file_name_of",
    "is_onion",
    "socks5_connect",
    "url_key",
]

TIMEOUT_S = 60.0
CHUNK = 1 << 20
USER_AGENT = f"s9reg/{__version__}"
#: Largest download by default: above any StartOS package or OS image we know of, far below
#: a disk (``--max-download-mb`` changes it).
DEFAULT_MAX_DOWNLOAD_BYTES = 4 << 30
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadLimits:
    """Bounds of one download.

    Attributes:
        max_bytes: the largest body accepted; a ``Content-Length`` above it is refused before
            the body is read, and a body without one is cut off past it.
        head_timeout_s: connect, request and the whole response head must take less.
        min_rate: bytes per second the body must average over every ``window_s``.
        window_s: the window of ``min_rate``.
        tor_proxy: ``(host, port)`` of the SOCKS5 proxy every ``.onion`` host is reached
            through (the name is resolved by the proxy, as ``socks5h``); other hosts never
            use it. None: a ``.onion`` URL fails with one line.
    """

    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    head_timeout_s: float = TIMEOUT_S
    min_rate: int = 16 << 10
    window_s: float = 30.0
    tor_proxy: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        if (
            self.max_bytes < 1
            or self.head_timeout_s <= 0
            or self.min_rate < 0
            or self.window_s <= 0
        ):
            raise ValueError("download limits must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """A downloaded (or only hashed) file and what identifies its remote version.

    Attributes:
        url: the URL asked for.
        path: the local copy, or None when the body was only hashed.
        etag: the response's ``ETag``, or None.
        last_modified: the response's ``Last-Modified``, or None.
        blake3: BLAKE3 (hex) of the whole file.
        size: its length in bytes.
        fresh: True when the bytes were transferred by this call (not a 304 reply).
    """

    url: str
    path: Path | None
    etag: str | None
    last_modified: str | None
    blake3: str
    size: int
    fresh: bool

    def to_dict(self) -> dict[str, object]:
        """JSON form (without the path)."""
        return {
            "url": self.url,
            "etag": self.etag,
            "lastModified": self.last_modified,
            "blake3": self.blake3,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, meta: dict[str, object], path: Path | None) -> Download:
        """Parse :meth:`to_dict`'s form.

        Raises:
            KeyError: a field is missing.
            ValueError: a field has the wrong type or range.
        """
        etag, modified, size = meta["etag"], meta["lastModified"], meta["size"]
        if not isinstance(size, int) or size < 0:
            raise ValueError("size")
        return cls(
            url=str(meta["url"]),
            path=path,
            etag=None if etag is None else str(etag),
            last_modified=None if modified is None else str(modified),
            blake3=str(meta["blake3"]),
            size=size,
            fresh=False,
        )


def file_name_of(url: str) -> str:
    """The last path segment of ``url``, percent-decoded.

    Raises:
        BuildError: the URL has no usable file name.
    """
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if name in {"", ".", ".."} or "/" in name or "\0" in name:
        raise BuildError(f"{url}: no file name at the end of the URL")
    return name


def url_key(url: str) -> str:
    """A file-name-safe key for ``url`` (SHA-256 hex, first 32 characters)."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------------------------
# The watchdog: a deadline for the head, a minimum rate for the body
# --------------------------------------------------------------------------------------------


class _Watchdog:
    """Closes the download's connections when the head is late or the body too slow.

    A socket timeout bounds each ``recv`` only: one byte every 59 seconds never trips it.
    The watchdog measures the whole head and the body's rate per window from a thread, and
    shuts the sockets down so that the blocked read returns; ``reason`` then says why.
    """

    def __init__(self, limits: DownloadLimits) -> None:
        self._limits = limits
        self.tor_proxy = limits.tor_proxy
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._head_done = False
        self._received = 0
        self.reason: str | None = None
        self._thread = threading.Thread(
            target=self._run, name="s9reg-download-watchdog", daemon=True
        )

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.reason is not None:
                self._shutdown(sock)

    def head_received(self) -> None:
        self._head_done = True

    def received(self, n: int) -> None:
        self._received += n

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _trip(self, reason: str) -> None:
        with self._lock:
            self.reason = reason
            for sock in self._sockets:
                self._shutdown(sock)

    def _run(self) -> None:
        limits = self._limits
        tick = min(1.0, limits.window_s / 4, limits.head_timeout_s / 4)
        start = window_start = time.monotonic()
        window_bytes = 0
        while not self._stop.wait(tick):
            if not self._head_done:
                if time.monotonic() - start > limits.head_timeout_s:
                    self._trip(f"no response within {limits.head_timeout_s:g} s")
                    return
                window_start, window_bytes = time.monotonic(), self._received
                continue
            if time.monotonic() - window_start >= limits.window_s:
                got = self._received - window_bytes
                if got < limits.min_rate * limits.window_s:
                    self._trip(
                        f"too slow: {human_size(got)} in {limits.window_s:g} s (at least "
                        f"{human_size(limits.min_rate)}/s is needed)"
                    )
                    return
                window_start, window_bytes = time.monotonic(), self._received


def is_onion(host: str | None) -> bool:
    """Whether ``host`` is a Tor onion service name."""
    return bool(host) and str(host).rstrip(".").lower().endswith(".onion")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        got = sock.recv(n - len(data))
        if not got:
            raise OSError("the SOCKS5 proxy closed the connection")
        data += got
    return data


# SOCKS5 (RFC 1928) replies, for the message.
_SOCKS_REPLIES = {
    1: "general failure",
    2: "not allowed by the proxy's rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


def _socks5_handshake(sock: socket.socket, name: bytes, port: int) -> None:
    sock.sendall(b"\x05\x01\x00")  # version 5, one method: no authentication
    if _recv_exact(sock, 2) != b"\x05\x00":
        raise OSError("the proxy does not speak SOCKS5 without authentication")
    # CONNECT to a domain name (ATYP 3): the proxy resolves it (socks5h).
    sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
    version, reply, _, kind = _recv_exact(sock, 4)
    if version != 5 or reply != 0:
        why = _SOCKS_REPLIES.get(reply, f"reply {reply}")
        raise OSError(f"the SOCKS5 proxy could not connect: {why}")
    skip = {1: 4, 4: 16}.get(kind)
    _recv_exact(sock, (skip if skip is not None else _recv_exact(sock, 1)[0]) + 2)


def socks5_connect(
    proxy: tuple[str, int], host: str, port: int, timeout: float | None
) -> socket.socket:
    """A socket to ``host:port`` through the SOCKS5 ``proxy``, the name resolved by the proxy.

    Raises:
        OSError: the proxy cannot be reached, refuses, or does not speak SOCKS5.
    """
    name = host.encode("idna") if not host.isascii() else host.encode()
    if len(name) > 255:
        raise OSError("host name too long for SOCKS5")
    sock = socket.create_connection(proxy, timeout)
    try:
        _socks5_handshake(sock, name, port)
    except BaseException:
        sock.close()
        raise
    return sock


class _WatchedHTTP(http.client.HTTPConnection):
    """A connection whose socket the watchdog can shut down (plain HTTP).

    A ``.onion`` host is reached through the watchdog's Tor proxy (TLS, for the subclass, is
    then made over that socket by http.client as usual).
    """

    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:  # noqa: ANN401 - http.client's signature
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog
        if is_onion(self.host):
            proxy = watchdog.tor_proxy
            if proxy is None:
                raise _NoTorProxyError(self.host)
            self._create_connection = lambda address, timeout=None, _source=None: socks5_connect(
                proxy, address[0], address[1], timeout
            )

    def connect(self) -> None:
        super().connect()
        self._watchdog.attach(self.sock)


class _NoTorProxyError(Exception):
    """A ``.onion`` host and no Tor proxy configured."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class _WatchedHTTPS(_WatchedHTTP, http.client.HTTPSConnection):
    """The same over TLS: ``connect`` reaches HTTPSConnection's, then attaches its socket."""


class _HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTP, watchdog=self._watchdog), req)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One default TLS context for every download: loading the CA store costs ~0.1 s each time.

    An ``SSLContext`` may be shared by connections in several threads.
    """
    return ssl.create_default_context()


class _HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog
        self._ssl = _tls_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(_WatchedHTTPS, watchdog=self._watchdog), req, context=self._ssl
        )


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Redirects to ``http(s)`` only (the standard handler also follows ``ftp``)."""

    def redirect_request(  # noqa: PLR0913, PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,  # noqa: ANN401 - urllib's signature
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme not in {"http", "https"}:
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl} refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@contextlib.contextmanager
def _open(
    url: str, request: urllib.request.Request, limits: DownloadLimits
) -> Iterator[tuple[http.client.HTTPResponse, _Watchdog]]:
    """The response to ``request`` under a watchdog; every failure as one :class:`BuildError`.

    An :class:`urllib.error.HTTPError` is let through (304 is an answer, not a failure).
    """
    with _Watchdog(limits) as watchdog:
        opener = urllib.request.build_opener(
            _HttpHandler(watchdog), _HttpsHandler(watchdog), _RedirectHandler()
        )
        try:
            with opener.open(request, timeout=TIMEOUT_S) as response:
                watchdog.head_received()
                yield response, watchdog
        except urllib.error.HTTPError:
            raise
        except _NoTorProxyError as e:
            raise BuildError(
                f"{url}: {e.host} is a Tor onion service: set network.tor_proxy (or --tor-proxy)"
            ) from None
        except (OSError, ValueError, http.client.HTTPException) as e:
            if watchdog.reason is not None:
                raise BuildError(f"{url}: {watchdog.reason}") from None
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            raise BuildError(f"{url}: cannot download: {reason}") from None
        if watchdog.reason is not None:
            raise BuildError(f"{url}: {watchdog.reason}")


def _declared_size(url: str, response: http.client.HTTPResponse, max_bytes: int) -> int | None:
    expected = response.headers.get("Content-Length")
    if expected is None or not expected.strip().isdigit():
        return None
    size = int(expected)
    if size > max_bytes:
        raise BuildError(
            f"{url}: larger than {human_size(max_bytes)} ({human_size(size)} announced)"
        )
    return size


def _meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".meta.json")


def _cached(dest: Path, url: str) -> Download | None:
    try:
        got = Download.from_dict(json.loads(_meta_path(dest).read_text(encoding="utf-8")), dest)
        same = got.url == url and dest.stat().st_size == got.size
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return got if same else None


def _request(url: str, previous: Download | None) -> urllib.request.Request:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    if previous is not None:
        if previous.etag:
            request.add_header("If-None-Match", previous.etag)
        if previous.last_modified:
            request.add_header("If-Modified-Since", previous.last_modified)
    return request


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True, slots=True)
class _Body:
    """How one body is taken: its limits, the bytes it must start with, where it goes."""

    limits: DownloadLimits
    magic: tuple[bytes, ...]
    what: str
    progress: Progress | None


def _check_magic(url: str, head: bytes, body: _Body) -> None:
    width = max(len(m) for m in body.magic)
    if len(head) >= width and not any(head.startswith(m) for m in body.magic):
        raise BuildError(f"{url}: not {body.what} (bad magic)")


def _stream(
    url: str,
    response: http.client.HTTPResponse,
    watchdog: _Watchdog,
    out: _Sink | None,
    body: _Body,
) -> tuple[str, int]:
    """Hash (and write) the body: BLAKE3 hex and size."""
    max_bytes = body.limits.max_bytes
    expected = _declared_size(url, response, max_bytes)
    hasher = new_hasher(expected or 0)
    size = 0
    head = b""
    checked = not body.magic
    # read1: returns what one recv brought, so the watchdog's count follows the wire.
    while chunk := response.read1(CHUNK):
        watchdog.received(len(chunk))
        if not checked:
            head += chunk[: 16 - len(head)]
            _check_magic(url, head, body)
            checked = len(head) >= max(len(m) for m in body.magic)
        size += len(chunk)
        if size > max_bytes:
            raise BuildError(f"{url}: larger than {human_size(max_bytes)}")
        if out is not None:
            out.write(chunk)
        hasher.update(chunk)
        if body.progress is not None:
            body.progress(len(chunk))
    if watchdog.reason is not None:
        raise BuildError(f"{url}: {watchdog.reason}")
    if not checked:
        raise BuildError(f"{url}: not {body.what} (bad magic)")
    if expected is not None and expected != size:
        raise BuildError(f"{url}: transfer cut short ({size} of {expected} bytes)")
    return hasher.hexdigest(), size


def download(  # noqa: PLR0913 - one keyword per aspect of the download
    url: str,
    dest: Path | None,
    *,
    previous: Download | None = None,
    progress: Progress | None = None,
    limits: DownloadLimits = DownloadLimits(),
    magic: tuple[bytes, ...] = (),
    what: str = "the expected file",
) -> Download:
    """Bring ``url`` to ``dest``, re-using an earlier download when the server says so.

    With ``dest`` None the body is only hashed (large images that are listed, not kept), and
    ``previous`` tells what an earlier call found, for the conditional request; otherwise the
    earlier call is read from a small ``.meta.json`` file beside ``dest``. The partial file
    (``dest`` + ``.part``) is removed whatever happens, ``KeyboardInterrupt`` included.

    Args:
        url: what to download.
        dest: where to keep it, or None to hash it only.
        previous: the earlier download (``dest`` None only).
        progress: receives byte counts as they arrive.
        limits: size, head deadline and minimum rate.
        magic: the body must start with one of these (checked as its first bytes arrive).
        what: the kind of file ``magic`` identifies, for the message (``an s9pk``).

    Raises:
        BuildError: the URL is not http(s), the server answers with an error, the body does
            not start with ``magic``, is larger than allowed, too slow or cut short, or
            ``dest`` cannot be written.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    if dest is not None:
        previous = _cached(dest, url)
    part = None if dest is None else dest.with_name(dest.name + ".part")
    body = _Body(limits, magic, what, progress)
    try:
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
        with (
            _open(url, _request(url, previous), limits) as (response, watchdog),
            part.open("wb") if part is not None else contextlib.nullcontext() as out,
        ):
            digest, size = _stream(url, response, watchdog, out, body)
            result = Download(
                url=url,
                path=None,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                blake3=digest,
                size=size,
                fresh=True,
            )
        if part is not None and dest is not None:
            part.replace(dest)
            result = replace(result, path=dest)
            with contextlib.suppress(OSError):
                _meta_path(dest).write_text(json.dumps(result.to_dict()), encoding="utf-8")
    except urllib.error.HTTPError as e:
        e.close()  # the error holds the response: its socket would linger until collected
        if e.code == 304 and previous is not None:
            return previous
        raise BuildError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    except OSError as e:
        raise BuildError(f"{url}: cannot download: {e.strerror or e}") from None
    finally:
        if part is not None:
            with contextlib.suppress(OSError):
                part.unlink()
    return result


def fetch_bytes(
    url: str,
    *,
    max_bytes: int,
    timeout: float = TIMEOUT_S,
    limits: DownloadLimits = DownloadLimits(),
) -> bytes:
    """The body of ``url``, at most ``max_bytes`` long, under ``limits`` (head within ``timeout``).

    Raises:
        BuildError: the URL is not http(s), the server answers with an error, the body is
            longer than ``max_bytes``, too slow or cut short.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    limits = replace(limits, max_bytes=min(max_bytes, limits.max_bytes), head_timeout_s=timeout)
    buffer = _Collect()
    try:
        with _open(url, request, limits) as (response, watchdog):
            _stream(url, response, watchdog, buffer, _Body(limits, (), "", None))
    except urllib.error.HTTPError as e:
        e.close()
        raise BuildError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    return bytes(buffer.data)


class _Collect:
    """A writable that keeps what it is given (``fetch_bytes``'s body)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)


# --------------------------------------------------------------------------------------------
# Registry sources (issue 21): JSON documents (JSON-RPC answers, listings) and archive headers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """A small response body (a JSON-RPC answer, a listing).

    Attributes:
        body: the bytes, or None when the server answered 304 to the ETag asked with.
        status: the HTTP status (200, 304, or the error status when ``ok`` is False).
        etag: the response's ``ETag``, or None.
        content_type: the response's ``Content-Type`` without parameters, lower case.
    """

    body: bytes | None
    status: int
    etag: str | None
    content_type: str

    @property
    def ok(self) -> bool:
        """A 2xx or 304 answer."""
        return 200 <= self.status < 300 or self.status == 304


def fetch_document(
    url: str,
    *,
    data: bytes | None = None,
    etag: str | None = None,
    max_bytes: int,
    limits: DownloadLimits = DownloadLimits(),
) -> Document:
    """GET ``url`` (or POST ``data`` as JSON) and return its body, at most ``max_bytes`` long.

    An HTTP error status is returned, not raised (a JSON-RPC client tells a server that does not
    speak JSON-RPC from one that fails); with ``etag``, a 304 answer has no body.

    Raises:
        BuildError: the URL is not http(s), cannot be reached, or the body is longer than
            ``max_bytes``, too slow or cut short.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if etag is not None:
        headers["If-None-Match"] = etag
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=data, headers=headers, method="GET" if data is None else "POST"
    )
    limits = replace(limits, max_bytes=min(max_bytes, limits.max_bytes))
    buffer = _Collect()
    try:
        with _open(url, request, limits) as (response, watchdog):
            _stream(url, response, watchdog, buffer, _Body(limits, (), "", None))
            kind = response.headers.get("Content-Type", "")
            got_etag = response.headers.get("ETag")
            status = response.status
    except urllib.error.HTTPError as e:
        e.close()  # it holds the response: its socket would linger until collected
        kind = e.headers.get("Content-Type", "") if e.headers else ""
        got_etag = e.headers.get("ETag") if e.headers else None
        return Document(None, e.code, got_etag or etag, kind.split(";")[0].strip().lower())
    return Document(bytes(buffer.data), status, got_etag, kind.split(";")[0].strip().lower())


def fetch_prefix(url: str, size: int, *, limits: DownloadLimits = DownloadLimits()) -> bytes:
    """The first ``size`` bytes of ``url`` (a ``Range`` request; a full answer is cut short).

    Raises:
        BuildError: the URL cannot be fetched, or has fewer than ``size`` bytes.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, headers={"User-Agent": USER_AGENT, "Range": f"bytes=0-{size - 1}"}
    )
    out = bytearray()
    try:
        with _open(url, request, limits) as (response, watchdog):
            while len(out) < size and (chunk := response.read1(min(CHUNK, size - len(out)))):
                watchdog.received(len(chunk))
                out += chunk
    except urllib.error.HTTPError as e:
        e.close()  # it holds the response: its socket would linger until collected
        raise BuildError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    if len(out) < size:
        raise BuildError(f"{url}: shorter than {size} bytes")
    return bytes(out[:size])


def download_resumable(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    progress: Progress | None = None,
    limits: DownloadLimits = DownloadLimits(),
) -> tuple[int, bool]:
    """Bring ``url`` to ``dest`` through ``dest.part``, continuing a part left by an earlier run.

    A part that exists is continued with ``Range: bytes=<size>-``; a server that answers 200
    instead sends the whole file again. Unlike :func:`download`, the part is kept on failure
    (the next run continues it); the caller verifies the result.

    Returns:
        The file's size, and whether an earlier part was continued.

    Raises:
        BuildError: the server answers an error, the file is larger than ``max_bytes``, the
            transfer is too slow or cut short, or ``dest`` cannot be written.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
    except OSError as e:
        raise BuildError(f"{dest}: cannot write: {e.strerror or e}") from None
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    limits = replace(limits, max_bytes=min(max_bytes, limits.max_bytes))
    try:
        with _open(url, request, limits) as (response, watchdog):
            resumed = response.status == 206 and have > 0
            start = have if resumed else 0
            body = _Body(
                replace(limits, max_bytes=max(limits.max_bytes - start, 1)), (), "", progress
            )
            if progress is not None and start:
                progress(start)
            with part.open("ab" if resumed else "wb") as out:
                _stream(url, response, watchdog, out, body)
        size = part.stat().st_size
        part.replace(dest)
    except urllib.error.HTTPError as e:
        e.close()  # it holds the response: its socket would linger until collected
        if e.code == 416 and have:
            part.unlink(missing_ok=True)
            return download_resumable(
                url, dest, max_bytes=max_bytes, progress=progress, limits=limits
            )
        raise BuildError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    except OSError as e:
        raise BuildError(f"{url}: cannot download: {e.strerror or e}") from None
    return size, resumed
