"""Where a built site is read from: a directory, S3, or an HTTP(S) base URL (docs/site-layout.md).

Each source fetches one file at a time with a conditional request (ETag), so refreshing an
unchanged site costs one small request. Foreign errors (OSError, botocore, urllib) are turned
into :class:`~s9reg.serve.errors.SourceError` here, at the adapter boundary; S3 clients and the
classification of botocore errors come from :mod:`s9reg.s3`, as publish's do.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from s9reg.errors import ConfigError
from s9reg.s3 import S3Location, S3Options, StorageError, StorageNotFoundError
from s9reg.serve.errors import SourceError, SourceNotFoundError

__all__ = [
    "MAX_FETCH",
    "Fetched",
    "HttpSource",
    "LocalSource",
    "RemoteFile",
    "S3Source",
    "Source",
    "content_type",
    "open_source",
]

# Largest JSON document read into memory from a site (a FullIndex with inline icons is a few MB).
MAX_FETCH = 256 * 1024 * 1024
_CHUNK = 64 * 1024
_HTTP_TIMEOUT = 15.0
_TYPES = {
    ".json": "application/json",
    ".s9pk": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".xml": "application/xml",
    ".webmanifest": "application/manifest+json",
}


def content_type(name: str) -> str:
    """The ``Content-Type`` of a site file, by extension (``.s9pk`` is opaque bytes)."""
    ext = os.path.splitext(name)[1].lower()  # noqa: PTH122 - a URL path, not a file system path
    if ext in _TYPES:
        return _TYPES[ext]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A file's bytes and its version tag (None when the source gives none)."""

    data: bytes
    etag: str | None


@dataclass(slots=True)
class RemoteFile:
    """An open file of a remote site, streamed to a client.

    Attributes:
        status: 200, or 206 for a range.
        size: the bytes this answer carries.
        total: the whole file's size (for ``Content-Range``), or None when unknown.
        etag: the file's ETag, or None.
        chunks: the body.
    """

    status: int
    size: int
    total: int | None
    etag: str | None
    content_range: str | None
    chunks: Generator[bytes, None, None]

    def close(self) -> None:
        """Release the connection to the storage."""
        self.chunks.close()


class Source(Protocol):
    """Read access to one built site."""

    @property
    def description(self) -> str:
        """Where the site is, for logs (no credentials)."""
        ...

    @property
    def kind(self) -> str:
        """``local``, ``http`` or ``s3``: what ``/health`` says of the source (not where it is)."""
        ...

    def fetch(self, rel: str, etag: str | None = None) -> Fetched | None:
        """The bytes of ``rel``, or None when its tag still equals ``etag``.

        Raises:
            SourceNotFoundError: the site has no such file.
            SourceError: the storage failed or the file is larger than :data:`MAX_FETCH`.
        """
        ...


def _read_capped(stream: IO[bytes], where: str) -> bytes:
    data = stream.read(MAX_FETCH + 1)
    if len(data) > MAX_FETCH:
        raise SourceError(f"{where}: larger than {MAX_FETCH} bytes")
    return data


class LocalSource:
    """A site directory on this machine; files are also served from it directly."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def description(self) -> str:
        """The directory."""
        return str(self.root)

    def path(self, rel: str) -> Path | None:
        """The file ``rel`` (a safe relative path) with its links resolved; None if outside.

        A link inside the site to a file elsewhere (``x.json -> /etc/passwd``) is not served;
        the site directory itself may be a link.
        """
        root = Path(os.path.realpath(self.root))
        path = Path(os.path.realpath(root / rel))
        return path if path.is_relative_to(root) else None

    def fetch(self, rel: str, etag: str | None = None) -> Fetched | None:
        """Read ``rel``; its tag is its inode, size and modification time.

        Raises:
            SourceNotFoundError: no such file.
            SourceError: it cannot be read.
        """
        path = self.path(rel)
        if path is None:
            raise SourceNotFoundError(f"{self.root / rel}: a link to outside the site")
        try:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                tag = f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"
                if tag == etag:
                    return None
                return Fetched(_read_capped(f, str(path)), tag)
        except FileNotFoundError:
            raise SourceNotFoundError(f"{path}: no such file") from None
        except OSError as e:
            raise SourceError(f"{path}: {e.strerror or e}") from e


class HttpSource:
    """A site published on a static web host or CDN, read over HTTP(S)."""

    kind = "http"

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/") + "/"

    @property
    def description(self) -> str:
        """The base URL without any user info."""
        parts = urllib.parse.urlsplit(self.base)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", ""))

    def url(self, rel: str) -> str:
        """The absolute URL of ``rel`` (each segment percent-encoded)."""
        return self.base + "/".join(
            urllib.parse.quote(s, safe=":@!$&'()*+,;=") for s in rel.split("/")
        )

    def fetch(self, rel: str, etag: str | None = None) -> Fetched | None:
        """GET ``rel`` with ``If-None-Match``.

        Raises:
            SourceNotFoundError: 404 or 410.
            SourceError: any other failure.
        """
        request = urllib.request.Request(self.url(rel), headers={"Accept-Encoding": "identity"})  # noqa: S310 - http(s) only, checked in open_source
        if etag is not None:
            request.add_header("If-None-Match", etag)
        where = f"{self.description}{rel}"
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT) as response:  # noqa: S310
                return Fetched(_read_capped(response, where), response.headers.get("ETag"))
        except urllib.error.HTTPError as e:
            e.close()  # it holds the response: its socket would linger until collected
            if e.code == 304:
                return None
            if e.code in {404, 410}:
                raise SourceNotFoundError(f"{where}: HTTP {e.code}") from None
            raise SourceError(f"{where}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise SourceError(f"{where}: {reason}") from e


class S3Source:
    """A site in an S3 bucket under a prefix (credentials from the AWS chain).

    Args:
        location: the bucket, prefix and how to reach them (endpoint, region, addressing);
            what the location leaves open comes from the AWS chain (``AWS_ENDPOINT_URL``, …).
        client: an S3 client to use instead of one from :func:`s9reg.s3.client.make_client`.

    Raises:
        SourceError: no client can be created for the location (a malformed endpoint URL).
    """

    kind = "s3"

    def __init__(self, location: S3Location, client: object | None = None) -> None:
        self.location = location
        self.bucket = location.bucket
        self.prefix = location.prefix
        if client is None:
            # Only S3 sites pay for importing boto3.
            from s9reg.s3.client import make_client  # noqa: PLC0415

            try:
                client = make_client(location, retries=3, connect_timeout=10.0)
            except StorageError as e:
                raise SourceError(e.message, hint=e.hint) from e
        self._client = client
        meta = getattr(client, "meta", None)
        self.endpoint: str | None = getattr(meta, "endpoint_url", None)

    @property
    def description(self) -> str:
        """``s3://bucket/prefix/``."""
        return self.location.url

    def key(self, rel: str) -> str:
        """The object key of ``rel``."""
        return self.location.key(rel)

    def _error(self, e: Exception, rel: str) -> SourceError:
        from s9reg.s3.client import storage_error  # noqa: PLC0415 - boto3 only for S3 sites

        found = storage_error(e, f"{self.description}{rel}", self.endpoint)
        if isinstance(found, StorageNotFoundError):
            return SourceNotFoundError(f"{self.description}{rel}: no such key")
        return SourceError(found.message, hint=found.hint)

    def fetch(self, rel: str, etag: str | None = None) -> Fetched | None:
        """GetObject with ``IfNoneMatch``.

        Raises:
            SourceNotFoundError: no such key (or no such bucket).
            SourceError: any other failure; an unreachable endpoint is named.
        """
        args: dict[str, str] = {"Bucket": self.bucket, "Key": self.key(rel)}
        if etag is not None:
            args["IfNoneMatch"] = etag
        try:
            response = self._client.get_object(**args)  # type: ignore[attr-defined]
            body = response["Body"]
            try:
                data = _read_capped(body, self.description + rel)
            finally:
                body.close()
            return Fetched(data, response.get("ETag"))
        except SourceError:
            raise
        # botocore (ClientError, BotoCoreError) and urllib3 errors while streaming the body.
        except Exception as e:
            if _s3_status(e) == 304:
                return None
            raise self._error(e, rel) from e

    def open(self, rel: str, byte_range: str | None) -> RemoteFile:
        """Stream ``rel`` (optionally a ``Range``) for a client.

        Raises:
            SourceNotFoundError: no such key.
            SourceError: any other failure (also an unsatisfiable range).
        """
        args: dict[str, str] = {"Bucket": self.bucket, "Key": self.key(rel)}
        if byte_range is not None:
            args["Range"] = byte_range
        try:
            response = self._client.get_object(**args)  # type: ignore[attr-defined]
        except Exception as e:  # as in fetch
            raise self._error(e, rel) from e
        content_range = response.get("ContentRange")
        total = None
        if content_range and "/" in content_range:
            with contextlib.suppress(ValueError):
                total = int(content_range.rsplit("/", 1)[1])
        body = response["Body"]

        def chunks() -> Generator[bytes, None, None]:
            try:
                while chunk := body.read(_CHUNK):
                    yield chunk
            finally:
                body.close()

        return RemoteFile(
            status=206 if content_range else 200,
            size=int(response.get("ContentLength", 0)),
            total=total,
            etag=response.get("ETag"),
            content_range=content_range,
            chunks=chunks(),
        )


def _s3_status(e: Exception) -> int | None:
    response = getattr(e, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def open_source(site: str, s3: S3Options | None = None) -> LocalSource | HttpSource | S3Source:
    """The source for a ``--site`` value: ``s3://bucket/prefix``, ``http(s)://…`` or a path.

    Args:
        site: where the built site is.
        s3: how to reach an ``s3://`` site's bucket (endpoint, region, addressing); None
            leaves all of it to the AWS chain.

    Raises:
        SourceError: an ``s3://`` URL without a bucket, an S3 client that cannot be created,
            or a directory that does not exist.
    """
    if site.startswith("s3://"):
        try:
            location = S3Location.parse(site, s3)
        except ConfigError as e:
            raise SourceError(e.message) from None
        return S3Source(location)
    if site.startswith(("http://", "https://")):
        return HttpSource(site)
    root = Path(site).expanduser()
    if not root.is_dir():
        raise SourceError(f"{root}: not a directory", hint="run s9reg build first, or pass --site")
    return LocalSource(root.resolve())
