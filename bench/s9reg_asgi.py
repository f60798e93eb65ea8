"""s9reg's answers as an ASGI app, so that uvicorn and granian can serve them (bench/serve.py).

The HTTP layer (parsing, keep-alive, timeouts, limits) is the ASGI server's; everything after
it is s9reg's own: :meth:`HttpApp.respond` routes and answers (JSON-RPC, CORS, health, site
files with ETag and ranges), and complete cacheable JSON-RPC answers are kept by the same key
the responder uses, so a repeated request costs what it costs in ``s9reg serve`` minus the
head parsing. Site files are read into memory (the built site's files are small) instead of
``sendfile``. A benchmark shim: not part of s9reg, not for production.

    S9REG_BENCH_SITE=_site PYTHONPATH=bench uvicorn --factory s9reg_asgi:create_app
    S9REG_BENCH_SITE=_site PYTHONPATH=bench granian --interface asgi --factory s9reg_asgi:create_app
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from s9reg.serve._wire import Request as _Request
from s9reg.serve._wire import Response as _Response
from s9reg.serve.answer_cache import answer_key as _answer_key
from s9reg.serve.http import HttpApp
from s9reg.serve.settings import ServeSettings
from s9reg.serve.sources import open_source

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_TOO_LARGE = _Response(413, [("Content-Type", "text/plain")], b"request body too large\n")
_CACHED = 1024


class S9regAsgi:
    """An ASGI 3 application answering as ``s9reg serve`` does."""

    def __init__(self, site: str) -> None:
        settings = ServeSettings(site=site)
        self.http = HttpApp(settings, open_source(site), access_stream=sys.stderr)
        self.http.loader.refresh()
        # S9REG_BENCH_MAX_BODY=0 leaves the limit to the server alone (bench/slowclients.py).
        self.max_body = int(os.environ.get("S9REG_BENCH_MAX_BODY", settings.max_body)) or None
        # The responder's answer cache, by the same key (path, body, device and CORS headers).
        self.answers: dict[tuple[object, ...], _Response] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            self.http.access.flush()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        started = time.monotonic()
        request = _request(scope)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if self.max_body is not None and len(body) > self.max_body:
                await _send(send, _TOO_LARGE, head_only=False)
                return
            if not message.get("more_body", False):
                break
        key = _answer_key(request, body)
        response = self.answers.get(key) if key is not None else None
        if response is None:
            answer = self.http.respond(request, body)
            if isinstance(answer, _Response):
                response = answer
                if key is not None and answer.cacheable and len(self.answers) < _CACHED:
                    self.answers[key] = answer
            else:
                response = _file_response(answer)
        self.http.metrics.inc("s9reg_http_responses_total", str(response.status))
        client = scope.get("client")
        self.http.log(client[0] if client else "-", request, response, started)
        await _send(send, response, head_only=request.method == "HEAD")


def _request(scope: Scope) -> _Request:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    raw = scope.get("raw_path") or scope["path"].encode()
    target = raw.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    version = "HTTP/" + scope.get("http_version", "1.1")
    return _Request(scope["method"], target, urlsplit(target).path, version, headers)


def _file_response(sender: Callable[..., Awaitable[_Response]]) -> _Response:
    """The answer a site-file sender of :class:`HttpApp` would write, read into memory.

    The sender is a closure over the open file, the byte range and the response head it
    computed (ETag, Last-Modified, Range); those are taken from it, and the file is read here
    instead of with ``sendfile`` on the responder's own transport.
    """
    cells = dict(
        zip(
            sender.__code__.co_freevars,
            (c.cell_contents for c in sender.__closure__ or ()),
            strict=True,
        )
    )
    f, start, count, response = cells["f"], cells["start"], cells["count"], cells["response"]
    with f:
        body = os.pread(f.fileno(), count, start)
    return _Response(response.status, response.headers, body, length=count)


async def _send(send: Send, response: _Response, *, head_only: bool) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if not any(k == b"content-length" for k, _ in headers) and response.status not in {100, 304}:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else response.body})


def create_app() -> S9regAsgi:
    """The app for the site named by ``S9REG_BENCH_SITE`` (an ASGI server's ``--factory``)."""
    return S9regAsgi(os.environ["S9REG_BENCH_SITE"])
