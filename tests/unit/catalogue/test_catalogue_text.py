"""Sanitized Markdown, safe link targets and small formatters of the catalogue."""

from __future__ import annotations

import pytest

from s9reg.catalogue._paths import relative_root, version_anchor
from s9reg.catalogue._text import markdown_html, safe_url, short_text
from s9reg.units import human_size


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        pytest.param("**bold** _em_", "<p><strong>bold</strong> <em>em</em></p>", id="emphasis"),
        pytest.param(
            "[site](https://example.com/)",
            '<p><a href="https://example.com/" rel="noopener nofollow">site</a></p>',
            id="links get rel",
        ),
        pytest.param(
            "<script>alert(1)</script>",
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
            id="raw HTML is text",
        ),
        pytest.param(
            "[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>", id="javascript link"
        ),
        pytest.param(
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "<p>[x](data:text/html;base64,PHNjcmlwdD4=)</p>",
            id="data link",
        ),
        pytest.param(
            "![tracker](https://evil.example/p.png)",
            '<p>!<a href="https://evil.example/p.png" rel="noopener nofollow">tracker</a></p>',
            id="images become links",
        ),
        pytest.param(
            '[t](https://example.com/ "a\\" onclick=\\"x")',
            '<p><a href="https://example.com/" title="a&quot; onclick=&quot;x" rel="noopener nofollow">t</a></p>',
            id="title cannot add attributes",
        ),
        pytest.param(
            "# Head\n\n- a\n- b",
            "<h3>Head</h3>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>",
            id="structure",
        ),
        pytest.param(
            "```\n<b>x</b>\n```", "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>", id="code"
        ),
        pytest.param("a\x00b\x1bc", "<p>abc</p>", id="control characters dropped"),
        pytest.param(
            "<mailto:me@example.com>",
            '<p><a href="mailto:me@example.com" rel="noopener nofollow">mailto:me@example.com</a></p>',
            id="mailto",
        ),
    ],
)
def test_markdown_is_sanitized(markdown: str, html: str) -> None:
    assert markdown_html(markdown) == html


@pytest.mark.parametrize(
    ("url", "mailto", "safe"),
    [
        pytest.param("https://example.com/a?b#c", False, True, id="https"),
        pytest.param("http://127.0.0.1:5959/", False, True, id="http"),
        pytest.param("HTTPS://EXAMPLE.COM/", False, True, id="upper-case scheme"),
        pytest.param("javascript:alert(1)", False, False, id="javascript"),
        pytest.param("JaVaScRiPt:alert(1)", False, False, id="mixed-case javascript"),
        pytest.param(
            "javascript://example.com/%0aalert(1)", False, False, id="javascript with authority"
        ),
        pytest.param("data:text/html,<script>", False, False, id="data"),
        pytest.param("https:///nohost", False, False, id="no host"),
        pytest.param("//example.com/x", False, False, id="scheme-relative"),
        pytest.param("https://exa mple.com/", False, False, id="space"),
        pytest.param("https://example.com/\x00", False, False, id="control character"),
        pytest.param("mailto:a@example.com", False, False, id="mailto not allowed"),
        pytest.param("mailto:a@example.com", True, True, id="mailto allowed"),
        pytest.param("https://[::1", False, False, id="unparsable"),
    ],
)
def test_safe_url(url: str, mailto: bool, safe: bool) -> None:
    assert (safe_url(url, mailto=mailto) == url) is safe
    if not safe:
        assert safe_url(url, mailto=mailto) is None


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(0, "0 B", id="zero"),
        pytest.param(1023, "1023 B", id="bytes"),
        pytest.param(1024, "1.0 KiB", id="KiB"),
        pytest.param(5 * 1024**3 // 2, "2.5 GiB", id="GiB"),
        pytest.param(1 << 62, "4096.0 PiB", id="beyond PiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_markdown_headings_sit_under_the_embedding_section() -> None:
    assert markdown_html("# a\n## b\n#### c", top_heading=2) == "<h2>a</h2>\n<h3>b</h3>\n<h5>c</h5>"
    assert markdown_html("###### deep") == "<h6>deep</h6>"


def test_safe_url_of_nothing() -> None:
    assert safe_url(None) is None
    assert safe_url("") is None


def test_short_text_collapses_whitespace_and_cuts() -> None:
    assert short_text("a \n b", 10) == "a b"
    assert short_text("abcdefghij", 5) == "abcd…"
    assert len(short_text("x" * 1000, 120)) == 120


@pytest.mark.parametrize(
    ("page", "root"),
    [
        pytest.param("index.html", "", id="top"),
        pytest.param("hello/index.html", "../", id="package"),
        pytest.param("_catalogue/category/x.html", "../../", id="category"),
    ],
)
def test_relative_root(page: str, root: str) -> None:
    assert relative_root(page) == root


def test_version_anchor_drops_the_flavor_hash() -> None:
    assert version_anchor("#knots:28.1:0") == "v-knots:28.1:0"
    assert version_anchor("1.0.0:0") == "v-1.0.0:0"
