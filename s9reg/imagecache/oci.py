"""A small client of the OCI distribution HTTP API (``shared/spec/image-cache.md`` §1.4, §2.2).

Manifests are always requested with the full ``Accept`` list, because distribution 2.8 answers
404 or 400 to a HEAD or GET whose ``Accept`` header lacks the stored media type. Token and basic
authentication (docker.io, ghcr.io) and blob redirects (to CDNs) are handled here; every
failure leaves as a :class:`~s9reg.imagecache.errors.CacheError`.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlencode, urljoin, urlsplit

from s9reg.imagecache.errors import (
    CacheError,
    ImageNotFoundError,
    RegistryHttpError,
    UpstreamUnavailableError,
)

__all__ = [
    "ACCEPT",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "INDEX_TYPES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
    "RegistryClient",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
ACCEPT = f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}"
CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 4 << 20
MAX_REDIRECTS = 5
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
_LINK_RE = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
_HTTP_OK = 200
_NOT_FOUND = 404
_UNAUTHORIZED = 401
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: digest, media type and size (plus the platform of index entries)."""

    digest: str
    media_type: str
    size: int
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index exactly as stored: its bytes are what its digest covers."""

    data: bytes
    media_type: str
    digest: str

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str | None = None) -> Manifest:
        """Wrap manifest bytes; the media type defaults to the document's ``mediaType``.

        Raises:
            CacheError: the bytes are not a JSON object.
        """
        doc = _json_object(data, "manifest")
        kind = media_type or str(doc.get("mediaType") or OCI_MANIFEST)
        return cls(data=data, media_type=kind, digest="sha256:" + hashlib.sha256(data).hexdigest())

    @property
    def doc(self) -> dict[str, Any]:
        """The parsed JSON document."""
        return _json_object(self.data, "manifest")

    @property
    def is_index(self) -> bool:
        """Whether this is a multi-platform index (OCI index or Docker manifest list)."""
        return self.media_type in INDEX_TYPES or "manifests" in self.doc

    def children(self) -> list[Descriptor]:
        """The per-platform manifests of an index (empty for an image manifest).

        Raises:
            CacheError: an entry is malformed.
        """
        out = []
        for entry in self.doc.get("manifests") or []:
            platform = entry.get("platform") if isinstance(entry, dict) else None
            label = None
            if isinstance(platform, dict):
                label = "/".join(
                    str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k)
                )
            out.append(_descriptor(entry, label))
        return out

    def blobs(self) -> list[Descriptor]:
        """Config and layer blobs of an image manifest; foreign (``urls``) layers are left out.

        Raises:
            CacheError: an entry is malformed.
        """
        doc = self.doc
        out = []
        if isinstance(doc.get("config"), dict):
            out.append(_descriptor(doc["config"], None))
        for layer in doc.get("layers") or []:
            if isinstance(layer, dict) and layer.get("urls"):
                continue
            out.append(_descriptor(layer, None))
        return out


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    # ValueError: also int()'s 4300-digit limit on a number in the document, not only bad JSON.
    except (ValueError, RecursionError) as e:
        raise CacheError(f"{what} is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise CacheError(f"{what} is not a JSON object")
    return doc


def _descriptor(entry: object, platform: str | None) -> Descriptor:
    if not isinstance(entry, dict):
        raise CacheError("manifest entry is not an object")
    digest, kind, size = entry.get("digest"), entry.get("mediaType"), entry.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool):
        raise CacheError(f"manifest entry without digest or size: {entry!r:.200}")
    return Descriptor(digest=digest, media_type=str(kind or ""), size=size, platform=platform)


class _HTTPConnection(http.client.HTTPConnection):
    # Headers and a streamed body go out in separate writes; without TCP_NODELAY each small
    # request waits for the peer's delayed ACK (about 40 ms).
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass(slots=True)
class _Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def error_text(self) -> str:
        try:
            errors = json.loads(self.body).get("errors") or []
            return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError):
            return self.body[:200].decode("utf-8", "replace").strip()


class RegistryClient:
    """A registry at ``base_url`` (``https://ghcr.io``, ``http://127.0.0.1:5000``).

    One persistent connection per host; not thread-safe (use one client per thread).

    Args:
        base_url: scheme, host and port of the registry; no path.
        username: optional user for token or basic authentication.
        password: optional password or token.
        timeout: socket timeout in seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._netloc = urlsplit(self.base_url).netloc
        self._basic = (
            "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            if username is not None
            else None
        )
        self.timeout = timeout
        self._conns: dict[tuple[str, str], http.client.HTTPConnection] = {}
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        """Close every open connection."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- queries -------------------------------------------------------------------------

    def ping(self, timeout: float = 3.0) -> bool:
        """Whether the registry answers ``GET /v2/`` (200, or 401 for one that needs a token)."""
        saved, self.timeout = self.timeout, timeout
        try:
            return self._send("GET", "/v2/", auth=False).status in (_HTTP_OK, _UNAUTHORIZED)
        except CacheError:
            return False
        finally:
            self.timeout = saved
            self.close()

    def catalog(self) -> list[str]:
        """Every repository (``GET /v2/_catalog``, following ``Link`` pages).

        Raises:
            CacheError: the registry is unreachable or answers an error.
        """
        out: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path is not None:
            r = self._expect(self.request("GET", path), (_HTTP_OK,), "catalog")
            out.extend(_json_object(r.body, "catalog").get("repositories") or [])
            path = _next_link(r)
        return out

    def tags(self, repo: str) -> list[str]:
        """The tags of ``repo``; an unknown repository or ``"tags": null`` gives ``[]``.

        Raises:
            CacheError: the registry is unreachable or answers an error.
        """
        out: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n=1000"
        while path is not None:
            r = self.request("GET", path)
            if r.status == _NOT_FOUND:
                return out
            self._expect(r, (_HTTP_OK,), f"{repo}: tags")
            out.extend(_json_object(r.body, "tag list").get("tags") or [])
            path = _next_link(r)
        return out

    def head_manifest(self, repo: str, ref: str) -> Descriptor | None:
        """Resolve a tag or digest with HEAD and the full Accept list; None if unknown.

        Raises:
            CacheError: the registry is unreachable or answers an unexpected status.
        """
        r = self.request("HEAD", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
        if r.status == _NOT_FOUND:
            return None
        self._expect(r, (_HTTP_OK,), f"{repo}:{ref}")
        digest = r.header("Docker-Content-Digest")
        if not digest:
            raise CacheError(f"{self.base_url}/{repo}:{ref}: no Docker-Content-Digest header")
        length = r.header("Content-Length") or "0"
        # ASCII digits within int()'s limit: isdigit() and int() read other scripts' digits.
        if not (length.isascii() and length.isdigit() and len(length) <= 19):
            problem = f"bad Content-Length {length[:40]!r}"
            raise CacheError(f"{self.base_url}/{repo}:{ref}: {problem}")
        return Descriptor(
            digest=digest,
            media_type=(r.header("Content-Type") or "").split(";")[0].strip(),
            size=int(length),
        )

    def get_manifest(self, repo: str, ref: str) -> Manifest | None:
        """Fetch a manifest or index by tag or digest; None if unknown.

        Raises:
            CacheError: unreachable, an unexpected status, or bytes that do not match the digest.
        """
        r = self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
        if r.status == _NOT_FOUND:
            return None
        self._expect(r, (_HTTP_OK,), f"{repo}:{ref}")
        if len(r.body) > MAX_MANIFEST_BYTES:
            raise CacheError(f"{self.base_url}/{repo}:{ref}: manifest larger than 4 MiB")
        kind = (r.header("Content-Type") or "").split(";")[0].strip()
        manifest = Manifest.from_bytes(r.body, kind if kind in _MANIFEST_TYPES else None)
        if ref.startswith("sha256:") and manifest.digest != ref:
            raise CacheError(f"{self.base_url}/{repo}@{ref}: the registry sent other bytes")
        return manifest

    def has_blob(self, repo: str, digest: str) -> bool:
        """Whether ``repo`` holds (or, via a proxy, can serve) the blob.

        Raises:
            CacheError: unreachable or an unexpected status.
        """
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        if r.status == _NOT_FOUND:
            return False
        self._expect(r, (_HTTP_OK,), f"{repo}@{digest}")
        return True

    @contextmanager
    def open_blob(self, repo: str, digest: str) -> Iterator[Iterator[bytes]]:
        """Stream a blob (redirects followed), yielding an iterator of chunks.

        Raises:
            ImageNotFoundError: the blob is unknown.
            CacheError: unreachable or an unexpected status.
        """
        url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
        conn, resp = self._stream("GET", url)
        try:
            if resp.status == _NOT_FOUND:
                raise ImageNotFoundError(f"{self.base_url}/{repo}@{digest}: blob unknown")
            if resp.status != _HTTP_OK:
                body = resp.read()
                r = _Response(resp.status, resp.headers, body, url)
                self._expect(r, (_HTTP_OK,), f"{repo}@{digest}")
            yield self._chunks(resp, url)
        finally:
            resp.close()
            if urlsplit(url).netloc != self._netloc or resp.status != _HTTP_OK:
                conn.close()

    def _chunks(self, resp: http.client.HTTPResponse, url: str) -> Iterator[bytes]:
        try:
            while chunk := resp.read(CHUNK):
                yield chunk
        except (OSError, http.client.HTTPException) as e:
            raise UpstreamUnavailableError(f"{url}: transfer interrupted: {e}") from e

    # --- changes -------------------------------------------------------------------------

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> str:
        """Store a manifest under a tag or its digest; returns the digest the registry reports.

        Raises:
            CacheError: the registry refused it (e.g. blobs missing, or a read-only proxy).
        """
        r = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            headers={"Content-Type": manifest.media_type},
            body=manifest.data,
        )
        self._expect(r, (201,), f"{repo}:{ref}: storing the manifest")
        return r.header("Docker-Content-Digest") or manifest.digest

    def mount_blob(self, repo: str, digest: str, source_repo: str) -> bool:
        """Link a blob another repository of the same registry holds; False if not possible.

        Raises:
            CacheError: unreachable or an unexpected status.
        """
        query = urlencode({"mount": digest, "from": source_repo})
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/?{query}")
        if r.status == 201:
            return True
        self._expect(r, (202,), f"{repo}: mounting {digest}")
        location = r.header("Location")
        if location:
            self.request("DELETE", location)
        return False

    def push_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        chunks: Iterable[bytes],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload a blob in one streamed PUT (``POST`` for the location, then ``PUT ?digest=``).

        Raises:
            CacheError: the upload was refused (the registry checks the digest itself).
        """
        r = self._expect(self.request("POST", f"/v2/{repo}/blobs/uploads/"), (202,), repo)
        location = r.header("Location")
        if not location:
            raise CacheError(f"{self.base_url}/{repo}: upload started without a Location")
        sep = "&" if "?" in location else "?"
        target = f"{location}{sep}{urlencode({'digest': digest})}"

        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                if progress is not None:
                    progress(len(chunk))
                yield chunk

        r = self.request(
            "PUT",
            target,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body=counted(),
        )
        self._expect(r, (201,), f"{repo}@{digest}: upload")

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest by digest (2.8 refuses deletes by tag).

        Raises:
            ImageNotFoundError: no such manifest.
            CacheError: refused (405 on a proxy instance) or unreachable.
        """
        r = self.request("DELETE", f"/v2/{repo}/manifests/{digest}")
        if r.status == _NOT_FOUND:
            raise ImageNotFoundError(f"{repo}@{digest}: no such manifest")
        self._expect(r, (202,), f"{repo}@{digest}: delete")

    # --- transport -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
    ) -> _Response:
        """Send one request (authenticating on a 401 challenge, following redirects).

        Raises:
            UpstreamUnavailableError: the registry cannot be reached.
        """
        r = self._send(method, path, headers=headers, body=body)
        retryable = isinstance(body, bytes | None)
        if r.status == _UNAUTHORIZED and retryable and self._authenticate(r):
            r = self._send(method, path, headers=headers, body=body)
        return r

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        auth: bool = True,
    ) -> _Response:
        url = urljoin(self.base_url + "/", path)
        for _ in range(MAX_REDIRECTS):
            conn, resp = self._stream(method, url, headers=headers, body=body, auth=auth)
            try:
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise UpstreamUnavailableError(f"{url}: {e}") from e
            location = resp.getheader("Location")
            if resp.status in _REDIRECTS and location and method in ("GET", "HEAD"):
                url = urljoin(url, location)
                continue
            return _Response(resp.status, resp.headers, data, url)
        raise CacheError(f"{url}: too many redirects")

    def _stream(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        auth: bool = True,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        send = dict(headers or {})
        if auth and parts.netloc == self._netloc:
            token = self._tokens.get("*")
            if token:
                send["Authorization"] = token
        retryable = isinstance(body, bytes | None)
        for attempt in (1, 2):
            conn = self._conns.get(key)
            if conn is None:
                conn = self._connect(parts.scheme, parts.netloc, url)
                self._conns[key] = conn
            try:
                conn.request(method, target, body=body, headers=send)
                return conn, conn.getresponse()
            except Exception as e:
                conn.close()
                self._conns.pop(key, None)
                if not isinstance(e, OSError | http.client.HTTPException):
                    raise  # e.g. a failed check in a streamed body: the request is half-sent
                # A kept-alive connection the server closed fails once; a fresh one may not.
                if attempt == 2 or not retryable or isinstance(e, ConnectionRefusedError):
                    raise UpstreamUnavailableError(f"{url}: {e}") from e
        raise UpstreamUnavailableError(f"{url}: cannot connect")  # pragma: no cover

    def _connect(self, scheme: str, netloc: str, url: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return _HTTPSConnection(netloc, timeout=self.timeout)
        if scheme == "http":
            return _HTTPConnection(netloc, timeout=self.timeout)
        raise CacheError(f"{url}: unsupported URL scheme {scheme!r}")

    def _authenticate(self, r: _Response) -> bool:
        challenge = r.header("WWW-Authenticate") or ""
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self._basic is None:
                return False
            self._tokens["*"] = self._basic
            return True
        if scheme.lower() != "bearer":
            return False
        params = dict(_CHALLENGE_RE.findall(rest))
        realm = params.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            return False
        token_client = RegistryClient(realm, timeout=self.timeout)
        headers = {"Authorization": self._basic} if self._basic else {}
        query = urlencode({k: v for k, v in params.items() if k in ("service", "scope")})
        with token_client:
            resp = token_client._send("GET", f"{realm}?{query}", headers=headers, auth=False)
        if resp.status != _HTTP_OK:
            raise RegistryHttpError(
                f"{realm}: token request refused ({resp.status})",
                status=resp.status,
                hint="check the upstream's username and password",
            )
        doc = _json_object(resp.body, "token response")
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str):
            return False
        # One token at a time: each operation works on one repository.
        self._tokens["*"] = f"Bearer {token}"
        return True

    def _expect(self, r: _Response, ok: tuple[int, ...], what: str) -> _Response:
        if r.status in ok:
            return r
        detail = r.error_text()
        hint = None
        if r.status == 405:
            hint = "a pull-through instance refuses writes; use the writer instance"
        raise RegistryHttpError(
            f"{self.base_url}: {what}: HTTP {r.status}" + (f" ({detail})" if detail else ""),
            status=r.status,
            hint=hint,
        )


_MANIFEST_TYPES = frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST})


def _next_link(r: _Response) -> str | None:
    m = _LINK_RE.search(r.header("Link") or "")
    return m.group(1) if m else None
