"""Which publish phase and which HTTP headers each site file gets (publishing-lessons.md §1, §5).

Files are classified by path and extension only, so catalogue pages, feeds and icons added to
the site later are handled without changes here.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from enum import IntEnum

from s9reg.site_layout import IMMUTABLE_PREFIXES, ROOT_DOCUMENTS, RPC_DIR

__all__ = [
    "CACHE_DOCUMENT",
    "CACHE_IMMUTABLE",
    "CACHE_MUTABLE",
    "CACHE_STATE",
    "ObjectHeaders",
    "Phase",
    "classify",
    "state_headers",
]

CACHE_IMMUTABLE = "public, max-age=31536000, immutable, no-transform"
# Entry points a client polls (index, API results, home page, feeds): a CDN may keep them a
# minute at most and must ask again afterwards.
CACHE_MUTABLE = "public, max-age=60, must-revalidate"
CACHE_DOCUMENT = "public, max-age=300, must-revalidate"
CACHE_STATE = "no-cache"

OCTET_STREAM = "application/octet-stream"
_TEXT_TYPES = {
    "json": "application/json; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "htm": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "map": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    # Stated, never sniffed. S3 stores no Content-Security-Policy; what keeps an SVG opened
    # directly from running script is the build's sanitizer (s9reg.catalogue), the
    # Content-Disposition below (what S3 can store), and the CSP `s9reg serve` sends.
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "ico": "image/vnd.microsoft.icon",
    "woff2": "font/woff2",
    "woff": "font/woff",
    "pdf": "application/pdf",
    "s9pk": OCTET_STREAM,
}
_DOCUMENTS = frozenset({"json", "html", "htm", "xml", "atom", "rss", "txt", "md"})
_FEEDS = frozenset({"xml", "atom", "rss"})
# Extensions a browser would run script from if the file were opened as a page. Stored with
# ``Content-Disposition: attachment``: opening the URL downloads it, while ``<img>`` and CSS
# (which ignore the disposition) still show it.
_ACTIVE_IMAGES = frozenset({"svg", "svgz"})
ATTACHMENT = "attachment"
# Top-level files published last of all: the entry points that name everything else.
RPC_PREFIX = RPC_DIR + "/"


class Phase(IntEnum):
    """Upload phases, in order; a phase starts only when the one before it has finished."""

    FILES = 1
    """Package files, icons and other assets that documents refer to."""
    PAGES = 2
    """Per-package documents and catalogue pages."""
    API = 3
    """Precomputed JSON-RPC results and other top-level documents (feeds)."""
    INDEX = 4
    """The full index, the home page and the site marker."""

    @property
    def label(self) -> str:
        """Lower-case name, as shown in plans and JSON output."""
        return self.name.lower()


@dataclass(frozen=True, slots=True, order=True)
class ObjectHeaders:
    """The HTTP headers stored with an object (``content_disposition`` empty: none)."""

    content_type: str
    cache_control: str
    content_disposition: str = ""

    def describe(self) -> str:
        """One line for messages: ``type; cache-control[; disposition]``."""
        parts = (self.content_type, self.cache_control, self.content_disposition)
        return "; ".join(p for p in parts if p)


def _extension(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def content_type(key: str) -> str:
    """The ``Content-Type`` of a site file, from its extension (UTF-8 for text)."""
    ext = _extension(key)
    known = _TEXT_TYPES.get(ext)
    if known is not None:
        return known
    guessed, encoding = mimetypes.guess_type(key, strict=False)
    # A guessed encoding (``.gz``) would need Content-Encoding, which breaks Range requests.
    return guessed if guessed is not None and encoding is None else OCTET_STREAM


def classify(key: str) -> tuple[Phase, ObjectHeaders]:
    """The phase and headers of the site file at ``key`` (a relative POSIX path).

    ``.s9pk`` files and everything under ``_icons/`` are immutable content; other non-document
    assets go first too (documents refer to them) with a document lifetime; SVG images are
    stored as attachments. Top-level documents
    and ``rpc.v0/`` results are short-lived entry points; documents elsewhere (per-package
    pages) are published before them.
    """
    ext = _extension(key)
    ctype = content_type(key)
    disposition = ATTACHMENT if ext in _ACTIVE_IMAGES else ""
    top_level = "/" not in key
    if ext == "s9pk" or key.startswith(IMMUTABLE_PREFIXES):
        return Phase.FILES, ObjectHeaders(ctype, CACHE_IMMUTABLE, disposition)
    if ext not in _DOCUMENTS:
        return Phase.FILES, ObjectHeaders(ctype, CACHE_DOCUMENT, disposition)
    if key in ROOT_DOCUMENTS:
        return Phase.INDEX, ObjectHeaders(ctype, CACHE_MUTABLE)
    if key.startswith(RPC_PREFIX) or top_level or ext in _FEEDS:
        return Phase.API, ObjectHeaders(ctype, CACHE_MUTABLE)
    return Phase.PAGES, ObjectHeaders(ctype, CACHE_DOCUMENT)


def state_headers() -> ObjectHeaders:
    """Headers of s9reg's own state objects (pointer, manifests): never served stale."""
    return ObjectHeaders("application/json; charset=utf-8", CACHE_STATE)
