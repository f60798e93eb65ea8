"""Where every catalogue file lives in the site (docs/catalogue.md, docs/site-layout.md "Names").

Every name added at the top level or inside ``<id>/`` contains a ``.`` or a ``_``, so it never
collides with a package id, a version directory or the registry's own files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re

from s9reg.catalogue._svg import sanitize_svg
from s9reg.catalogue.errors import CatalogueError

__all__ = [
    "ADD",
    "ASSETS",
    "CSS",
    "DEFAULT_ICON",
    "FEED",
    "HOME",
    "ICONS",
    "JS",
    "OS",
    "QR",
    "RECENT",
    "ROBOTS",
    "SEARCH_INDEX",
    "SITEMAP",
    "TRUST",
    "category_page",
    "icon_file",
    "package_feed",
    "package_page",
    "relative_root",
    "version_anchor",
]

ASSETS = "_catalogue"
ICONS = "_icons"
HOME = "index.html"
RECENT = f"{ASSETS}/recent.html"
ADD = f"{ASSETS}/add.html"
TRUST = f"{ASSETS}/trust.html"
OS = f"{ASSETS}/os.html"
FEED = f"{ASSETS}/feed.atom"
CSS = f"{ASSETS}/s9reg.css"
JS = f"{ASSETS}/s9reg.js"
SEARCH_INDEX = f"{ASSETS}/search-index.js"
QR = f"{ASSETS}/registry-qr.svg"
DEFAULT_ICON = f"{ASSETS}/icon.svg"
SITEMAP = "sitemap.xml"
ROBOTS = "robots.txt"

_DATA_URL_RE = re.compile(r"data:([^,]*?);base64,([A-Za-z0-9+/]*={0,2})", re.DOTALL)
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_EXTENSIONS = {
    "image/png": "png",
    "image/svg+xml": "svg",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/avif": "avif",
}


def icon_file(data_url: str) -> tuple[str, bytes]:
    """Content-addressed site path ``_icons/<sha256 hex>.<ext>`` and decoded bytes of a data URL.

    The extension comes from the MIME type (``png``, ``svg``, ``jpg``, ``webp``, ``gif``,
    ``avif``; ``bin`` for anything else), so a static host serves the right content type. An
    SVG is rebuilt by :func:`sanitize_svg` first (its address is that of what is published).

    Args:
        data_url: ``data:<mime>;base64,<data>`` as the index stores icons.

    Raises:
        CatalogueError: not a base64 data URL.
        SvgError: an SVG that cannot be made safe (not XML, a DTD, …).
    """
    m = _DATA_URL_RE.fullmatch(data_url)
    if m is None:
        raise CatalogueError(f"icon is not a base64 data URL: {data_url[:40]!r}")
    try:
        data = base64.b64decode(m.group(2), validate=True)
    except binascii.Error as e:
        raise CatalogueError(f"icon data URL has invalid base64: {e}") from None
    mime = m.group(1).split(";", 1)[0].strip().lower()
    ext = _EXTENSIONS.get(mime, "bin")
    if ext == "svg":
        data = sanitize_svg(data)
    return f"{ICONS}/{hashlib.sha256(data).hexdigest()}.{ext}", data


def package_page(package_id: str) -> str:
    """The page of one package: ``<id>/index.html``."""
    return f"{package_id}/index.html"


def package_feed(package_id: str) -> str:
    """The Atom feed of one package: ``<id>/feed.atom`` (never a valid version directory)."""
    return f"{package_id}/feed.atom"


def category_page(category_id: str) -> str:
    """The page of one category; ids that are not simple slugs are named by their hash."""
    slug = category_id if _SLUG_RE.fullmatch(category_id) else _hashed(category_id)
    return f"{ASSETS}/category/{slug}.html"


def _hashed(text: str) -> str:
    return "c-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def version_anchor(version: str) -> str:
    """The fragment id of a version on its package page, as its directory: without ``#``."""
    return "v-" + version.removeprefix("#")


def relative_root(page: str) -> str:
    """The prefix that leads from ``page`` back to the site root (``""``, ``../``, …)."""
    depth = posixpath.normpath(page).count("/")
    return "../" * depth
