"""HTTP/1.1 on the wire for :mod:`s9reg.serve.http`: request heads, responses, headers, ranges.

Parsing and formatting only, with the limits that bound a request head; connections, routing
and answers are :mod:`s9reg.serve.http`'s.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from s9reg.serve.rpc import INVALID_REQUEST, Count

__all__ = [
    "CHUNK",
    "INTERNAL_ERROR",
    "MAX_HEAD",
    "MAX_HEADERS",
    "BadRequestError",
    "Request",
    "Response",
    "byte_range",
    "cors_headers",
    "etag_matches",
    "head_bytes",
    "head_parts",
    "host_name",
    "http_date",
    "json_response",
    "not_found",
    "parse_head",
    "range_header",
    "rpc_error_response",
    "safe_rel",
]

MAX_HEAD = 16 * 1024
MAX_HEADERS = 100
CHUNK = 256 * 1024
_REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    307: "Temporary Redirect",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# ASCII digits only: \d and int() also read other scripts' digits.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# Positions past this are past any file: int() refuses texts of more than 4300 digits.
_BEYOND = 1 << 63


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    global _date_cache  # noqa: PLW0603 - one formatted date per second, shared by all responses
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


class BadRequestError(Exception):
    def __init__(self, status: int, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem


@dataclass(slots=True)
class Request:
    method: str
    target: str
    path: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    rpc_methods: tuple[str, ...] = ()
    sent: bool = False  # a file response already written by its handler
    length: int | None = None  # bytes of a file response
    counts: tuple[Count, ...] = ()  # JSON-RPC counter increments, replayed by cached answers
    cacheable: bool = False  # the same request bytes always get this answer (same snapshot)


def parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as e:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequestError(400, "undecodable request head") from e
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if (
        len(parts) != 3
        or not _TOKEN.fullmatch(parts[0])
        or parts[2] not in {"HTTP/1.1", "HTTP/1.0"}
    ):
        raise BadRequestError(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequestError(400, "malformed header line")
        key = name.lower()
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if len(headers) > MAX_HEADERS:
        raise BadRequestError(431, "too many headers")
    path = urlsplit(target).path if target.startswith("/") else ""
    if not path:
        raise BadRequestError(400, "request target must be an absolute path")
    return Request(method, target, path, version, headers)


def json_response(
    status: int, value: object, extra: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json"), *(extra or [])], body)


def rpc_error_response(status: int, problem: str) -> Response:
    error = {"code": INVALID_REQUEST, "message": "Invalid Request", "data": problem}
    return json_response(status, {"jsonrpc": "2.0", "error": error, "id": None})


def cors_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    # Echo, as upstream's Cors middleware does (registry-protocol.md §1.5). The brochure
    # POSTs with `withCredentials: true`, and a browser rejects such an answer unless it
    # names the origin and says Allow-Credentials, so both stay, although the API is
    # public and uses no cookie: there is no ambient credential for a page to borrow (a
    # proxy adding one, such as basic auth, must restrict CORS itself: docs/serve.md).
    return [
        ("Access-Control-Allow-Origin", headers.get("origin", "*")),
        ("Access-Control-Allow-Methods", headers.get("access-control-request-method", "*")),
        ("Access-Control-Allow-Headers", headers.get("access-control-request-headers", "*")),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", "Origin"),
    ]


INTERNAL_ERROR = b'{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":null}'


def host_name(host: str | None) -> str | None:
    if not host:
        return None
    try:
        return urlsplit(f"//{host}").hostname
    except ValueError:
        return None


def safe_rel(path: str) -> str | None:
    """The site-relative file path of a URL path, or None if it could escape the site."""
    segments = unquote(path, errors="strict").split("/")[1:]
    for seg in segments[:-1]:
        if not seg or seg.startswith(".") or "\\" in seg or "\0" in seg:
            return None
    last = segments[-1] if segments else ""
    if last.startswith(".") or "\\" in last or "\0" in last:
        return None
    rel = "/".join(segments)
    return rel + "index.html" if rel == "" or rel.endswith("/") else rel


def etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """``(start, end inclusive)``, None to send everything, or False if unsatisfiable."""
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # multiple or malformed ranges: RFC 9110 lets us send the whole file
    if not m.group(1):
        length = _position(m.group(2))
        if length == 0:
            return False
        return (max(0, size - length), size - 1) if size else False
    start = _position(m.group(1))
    end = _position(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return False
    return start, min(end, size - 1)


def _position(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) < len(str(_BEYOND)) else _BEYOND


def head_parts(
    response: Response, *, keep_alive: bool, length: int | None = None
) -> tuple[bytes, bytes]:
    """The response head before and after its ``Date`` header."""
    parts = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n"]
    has_length = False
    for k, v in response.headers:
        parts.append(f"{k}: {v}\r\n")
        has_length = has_length or k.lower() == "content-length"
    if not has_length and response.status not in {100, 304}:
        parts.append(f"Content-Length: {len(response.body) if length is None else length}\r\n")
    after = "Server: s9reg\r\n" + ("" if keep_alive else "Connection: close\r\n") + "\r\n"
    return "".join(parts).encode("latin-1"), after.encode("latin-1")


def head_bytes(response: Response, *, keep_alive: bool, length: int | None = None) -> bytes:
    before, after = head_parts(response, keep_alive=keep_alive, length=length)
    return before + b"Date: " + http_date().encode("latin-1") + b"\r\n" + after


def not_found() -> Response:
    return Response(404, [("Content-Type", "text/plain")], b"not found\n")


def range_header(request: Request, etag: str) -> str | None:
    if request.method != "GET":
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return None
    return request.headers.get("range")
