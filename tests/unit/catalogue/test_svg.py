"""SVG icons are rebuilt from an allow-list at build (issue #16): nothing in them can run or load."""

from __future__ import annotations

import base64
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from unit.catalogue.catalogue_sites import DemoSite

from s9reg.catalogue import render
from s9reg.catalogue._svg import MAX_SVG, SvgError, sanitize_svg

NS = 'xmlns="http://www.w3.org/2000/svg"'
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
# Anything that could run script, navigate or load a resource once the SVG is a document.
DANGER = re.compile(
    rb"script|onload|onclick|onerror|onbegin|foreignObject|javascript|https?:|@import|<a[ >]"
    rb"|<set|<animate|iframe|xhtml|evil|image/svg",
    re.IGNORECASE,
)


def danger(data: bytes) -> re.Match[bytes] | None:
    """The first dangerous-looking part of ``data``, namespace declarations aside."""
    for decl in (NS, XLINK):
        data = data.replace(decl.encode(), b"")
    return DANGER.search(data)


def svg(body: str, attrs: str = "") -> bytes:
    return f'<svg {NS} {XLINK} viewBox="0 0 24 24"{attrs}>{body}</svg>'.encode()


HOSTILE = [
    pytest.param(svg("<script>alert(1)</script>"), id="script"),
    pytest.param(svg("<script><![CDATA[alert(1)]]></script>"), id="script CDATA"),
    pytest.param(svg("", ' onload="alert(1)"'), id="onload on the root"),
    pytest.param(svg('<rect width="1" height="1" onclick="alert(1)" OnMouseOver="x()"/>'), id="on"),
    pytest.param(
        svg(
            '<foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://evil.example"/></foreignObject>'
        ),
        id="foreignObject",
    ),
    pytest.param(svg('<a href="javascript:alert(1)"><rect width="1" height="1"/></a>'), id="link"),
    pytest.param(svg('<a xlink:href="https://evil.example"><rect/></a>'), id="xlink link"),
    pytest.param(svg('<image href="https://evil.example/t.png"/>'), id="external image"),
    pytest.param(svg('<image xlink:href="https://evil.example/t.png"/>'), id="xlink image"),
    pytest.param(svg('<image href="data:image/svg+xml;base64,PHN2Zy8+"/>'), id="nested SVG image"),
    pytest.param(svg('<use href="https://evil.example/sprite.svg#a"/>'), id="external use"),
    pytest.param(svg('<rect fill="url(https://evil.example/p.svg#g)"/>'), id="external url()"),
    pytest.param(svg('<rect style="fill:url(//evil.example/x)"/>'), id="url() in style"),
    pytest.param(svg("<style>@import url(https://evil.example/x.css);</style>"), id="@import"),
    pytest.param(svg("<style>@im\\port 'https://evil.example/x.css';</style>"), id="escape"),
    pytest.param(
        svg("<style>@font-face{font-family:x;src:url(https://evil.example/f)}</style>"),
        id="@font-face",
    ),
    pytest.param(svg('<set attributeName="href" to="javascript:alert(1)"/>'), id="set"),
    pytest.param(svg('<animate attributeName="href" values="javascript:alert(1)"/>'), id="animate"),
    pytest.param(
        svg('<html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(1)</html:script>'),
        id="XHTML script",
    ),
    pytest.param(b'<?xml-stylesheet href="https://evil.example/x.css"?>' + svg(""), id="PI"),
    pytest.param(svg('<g><g><rect evil:x="1" xmlns:evil="urn:evil"/></g></g>'), id="foreign attr"),
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_svg_is_defanged(data: bytes) -> None:
    assert danger(data)
    out = sanitize_svg(data)
    assert not danger(out), out
    root = ET.fromstring(out)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 24 24"


def test_drawing_is_kept() -> None:
    data = svg(
        '<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#f00"/>'
        '<stop offset="1" stop-color="#00f"/></linearGradient><path id="p" d="M0 0h9"/></defs>'
        '<style>.a { fill: url(#g); }</style><g class="a" transform="scale(2)">'
        '<rect width="10" height="10" rx="2" fill="url(#g)"/><use xlink:href="#p"/>'
        '<text x="1" y="2">A &amp; B</text>'
        '<image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/></g>'
    )
    out = sanitize_svg(data).decode()
    for kept in (
        '<linearGradient id="g" x1="0" x2="1">',
        '<stop offset="0" stop-color="#f00"/>',
        "<style>.a { fill: url(#g); }</style>",
        '<rect fill="url(#g)" height="10" rx="2" width="10"/>',
        '<use href="#p"/>',
        '<text x="1" y="2">A &amp; B</text>',
        'href="data:image/png;base64,iVBORw0KGgo="',
        'transform="scale(2)"',
    ):
        assert kept in out, (kept, out)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not xml", id="not XML"),
        pytest.param(b"<svg><rect/></svg>", id="no SVG namespace"),
        pytest.param(b"<html " + NS.encode() + b"/>", id="another root"),
        pytest.param(
            b'<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            + svg("&b;"),
            id="entities",
        ),
        pytest.param(
            b'<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + svg("&x;"), id="XXE"
        ),
        pytest.param(svg("<g>" * 100 + "</g>" * 100), id="too deep"),
        pytest.param(svg(" " * MAX_SVG), id="too large"),
    ],
)
def test_refused(data: bytes) -> None:
    with pytest.raises(SvgError):
        sanitize_svg(data)


def test_billion_laughs_is_refused_at_once() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    started = time.monotonic()
    with pytest.raises(SvgError):
        sanitize_svg(f"<!DOCTYPE svg [{lol}]>".encode() + svg("&l9;"))
    assert time.monotonic() - started < 0.5


def test_build_publishes_the_sanitized_icon(demo_site: DemoSite) -> None:
    hostile = svg('<script>alert(1)</script><circle r="5" onload="alert(2)"/>')
    data_url = "data:image/svg+xml;base64," + base64.b64encode(hostile).decode()
    files = render(replace(demo_site.index, icon=data_url), demo_site.options, {})
    svgs = {p: d for p, d in files.items() if p.startswith("_icons/") and p.endswith(".svg")}
    assert svgs
    for path, data in svgs.items():
        assert not danger(data), (path, data)
    assert any(b'<circle r="5"/>' in d for d in svgs.values())
    # An icon that cannot be made safe is not published: the default icon is shown instead.
    broken = "data:image/svg+xml;base64," + base64.b64encode(b"<svg><script/>").decode()
    files = render(replace(demo_site.index, icon=broken), demo_site.options, {})
    assert '_catalogue/icon.svg"' in files["index.html"].decode()
