"""Downloads for the build: remote ``.s9pk`` sources and StartOS image URLs.

Each download streams to a file beside its final name and is renamed into place only when it
is complete. A later build asks again with ``If-None-Match``/``If-Modified-Since``, so an
unchanged remote file costs one request and no transfer. Only ``http`` and ``https`` URLs are
fetched; redirects are followed by the standard library (at most 10, to ``http(s)`` only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from s9reg import __version__
from s9reg.builder.errors import BuildError
from s9reg.s9pk.tree import new_hasher

__all__ = ["Download", "download", "fetch_bytes", "file_name_of", "url_key"]

TIMEOUT_S = 60.0
CHUNK = 1 << 20
USER_AGENT = f"s9reg/{__version__}"
Progress = Callable[[int], None]


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


def _transfer(
    url: str, request: urllib.request.Request, part: Path | None, progress: Progress | None
) -> Download:
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
        expected = response.headers.get("Content-Length")
        hasher = new_hasher(int(expected) if expected and expected.isdigit() else 0)
        size = 0
        with part.open("wb") if part is not None else contextlib.nullcontext() as out:
            while chunk := response.read(CHUNK):
                if out is not None:
                    out.write(chunk)
                hasher.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise BuildError(f"{url}: transfer cut short ({size} of {expected} bytes)")
        return Download(
            url=url,
            path=None,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            blake3=hasher.hexdigest(),
            size=size,
            fresh=True,
        )


def download(
    url: str,
    dest: Path | None,
    *,
    previous: Download | None = None,
    progress: Progress | None = None,
) -> Download:
    """Bring ``url`` to ``dest``, re-using an earlier download when the server says so.

    With ``dest`` None the body is only hashed (large images that are listed, not kept), and
    ``previous`` tells what an earlier call found, for the conditional request; otherwise the
    earlier call is read from a small ``.meta.json`` file beside ``dest``.

    Raises:
        BuildError: the URL is not http(s), the server answers with an error, the transfer
            is cut short, or ``dest`` cannot be written.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    if dest is not None:
        previous = _cached(dest, url)
    part = None if dest is None else dest.with_name(dest.name + ".part")
    try:
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
        result = _transfer(url, _request(url, previous), part, progress)
        if part is not None and dest is not None:
            part.replace(dest)
            result = replace(result, path=dest)
            with contextlib.suppress(OSError):
                _meta_path(dest).write_text(json.dumps(result.to_dict()), encoding="utf-8")
    except urllib.error.HTTPError as e:
        if e.code == 304 and previous is not None:
            return previous
        raise BuildError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise BuildError(f"{url}: cannot download: {e.reason}") from None
    except (OSError, ValueError) as e:
        raise BuildError(f"{url}: cannot download: {e}") from None
    finally:
        if part is not None:
            with contextlib.suppress(OSError):
                part.unlink()
    return result


def fetch_bytes(url: str, *, max_bytes: int, timeout: float = TIMEOUT_S) -> bytes:
    """The body of ``url``, at most ``max_bytes`` long, within ``timeout`` seconds per read.

    Raises:
        BuildError: the URL is not http(s), the server answers with an error, the body is
            longer than ``max_bytes`` or cut short.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise BuildError(f"{url}: only http and https URLs can be downloaded")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(max_bytes + 1)
            expected = response.headers.get("Content-Length")
    except urllib.error.HTTPError as e:
        raise BuildError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise BuildError(f"{url}: cannot download: {e.reason}") from None
    except (OSError, ValueError) as e:
        raise BuildError(f"{url}: cannot download: {e}") from None
    if len(body) > max_bytes:
        raise BuildError(f"{url}: larger than {max_bytes} bytes")
    if expected is not None and expected.isdigit() and int(expected) != len(body):
        raise BuildError(f"{url}: transfer cut short ({len(body)} of {expected} bytes)")
    return body
