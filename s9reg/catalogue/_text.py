"""Text helpers of the catalogue: sanitized Markdown, safe link targets, sizes and dates.

Everything a package author wrote is hostile until shown otherwise (issue 5, "Safe with
hostile packages"): Markdown goes through markdown-it-py with raw HTML off and then nh3 with an
allow-list; only ``http``/``https`` (and ``mailto`` for contacts) ever become link targets.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache, lru_cache
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

__all__ = [
    "LINK_REL",
    "clean_text",
    "iso_date",
    "markdown_html",
    "safe_url",
    "short_text",
]

LINK_REL = "noopener nofollow"

# Characters XML 1.0 forbids (the feeds must parse) and that HTML treats as parse errors.
_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_SAFE_SCHEMES = frozenset({"http", "https"})
_ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "td": {"align"}, "th": {"align"}}


def clean_text(text: str) -> str:
    """Drop control characters that XML 1.0 forbids; everything else is kept as written."""
    return _ILLEGAL_CHARS.sub("", text)


def short_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), for cards and the search index."""
    text = " ".join(clean_text(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(url: str | None, *, mailto: bool = False) -> str | None:
    """``url`` if it may become a link target (absolute ``http(s)``), else None.

    Args:
        url: a URL from a manifest or the index, as written.
        mailto: also accept ``mailto:`` (signer contacts).
    """
    if not url or _ILLEGAL_CHARS.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in _SAFE_SCHEMES and parts.netloc:
        return url
    if mailto and scheme == "mailto" and parts.path:
        return url
    return None


@cache
def _markdown() -> MarkdownIt:
    # Raw HTML is escaped instead of passed through, and images are not rendered: they would be
    # requests to other hosts. "![alt](u)" then reads as "!" and a link, which is still useful.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")
    return md


@lru_cache(maxsize=1024)  # versions of a package mostly share their licence and instructions
def markdown_html(text: str, *, top_heading: int = 3) -> str:
    """Markdown rendered to HTML that is safe to embed in a page.

    The allow-list keeps text structure (headings, lists, code, tables, links), drops every
    attribute except ``href``/``title``/``start``/``align``, keeps only ``http``, ``https`` and
    ``mailto`` links, and gives every link ``rel="noopener nofollow"``.

    Args:
        text: Markdown from a package or an OS release.
        top_heading: the level a Markdown ``#`` becomes, so that the page keeps one ``h1`` and
            an outline under the section that embeds the text.
    """
    md = _markdown()
    tokens = md.parse(clean_text(text))
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            token.tag = f"h{min(6, int(token.tag[1:]) + top_heading - 1)}"
    rendered = md.renderer.render(tokens, md.options, {})
    return nh3.clean(
        rendered,
        tags=set(_ALLOWED_TAGS),
        attributes={k: set(v) for k, v in _ALLOWED_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel=LINK_REL,
        strip_comments=True,
    ).strip()


def iso_date(when: datetime) -> str:
    """The UTC calendar date, ``YYYY-MM-DD``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d")
