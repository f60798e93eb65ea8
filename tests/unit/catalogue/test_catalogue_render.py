"""render(): pages, links, safety with hostile packages, feeds, sitemap, localization, determinism."""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import pytest
from unit.catalogue.catalogue_sites import (
    ADMIN,
    API_URL,
    DEV,
    HOSTILE_DONATION,
    HOSTILE_LICENSE,
    HOSTILE_TITLE,
    REGISTRY,
    DemoSite,
    options,
)
from unit.catalogue.html_scan import scan

from s9reg.catalogue import (
    CatalogueError,
    CatalogueOptions,
    PackageExtras,
    icon_file,
    render,
    template_dirs,
)
from s9reg.exver import VersionString
from s9reg.registry import FullIndex, OsIndex
from s9reg.s9pk.commitment import b64_encode
from s9reg.s9pk.metadata import LocaleString

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; object-src 'none'"
)


def html_pages(site: DemoSite) -> dict[str, bytes]:
    return {p: b for p, b in site.files.items() if p.endswith(".html")}


# --------------------------------------------------------------------------------------------
# Paths and determinism
# --------------------------------------------------------------------------------------------


def test_every_page_and_asset_is_rendered(demo_site: DemoSite) -> None:
    expected = {
        "index.html",
        "_catalogue/recent.html",
        "_catalogue/add.html",
        "_catalogue/trust.html",
        "_catalogue/feed.atom",
        "_catalogue/s9reg.css",
        "_catalogue/s9reg.js",
        "_catalogue/search-index.js",
        "_catalogue/registry-qr.svg",
        "_catalogue/icon.svg",
        "_catalogue/category/featured.html",
        "_catalogue/category/bitcoin.html",
        "_catalogue/os.html",
        "sitemap.xml",
        "robots.txt",
    }
    for pid in ("hello", "bitcoind", "notes", "wiki", "evil"):
        expected |= {f"{pid}/index.html", f"{pid}/feed.atom"}
    assert expected <= set(demo_site.files)
    # Without OS releases, no OS page and no link to it.
    without = render(replace(demo_site.index, os=OsIndex()), demo_site.options, {})
    assert "_catalogue/os.html" not in without
    assert b"os.html" not in without["index.html"]
    # Every top-level name added contains "." or "_" (docs/site-layout.md "Names").
    assert all(
        "." in p.split("/")[0] or "_" in p.split("/")[0]
        for p in demo_site.files
        if "/" in p and p.split("/")[0] not in demo_site.index.package.packages
    )
    assert all("." in p.split("/")[-1] for p in demo_site.files)


def test_category_with_an_unusual_id_gets_a_hashed_page(demo_site: DemoSite) -> None:
    pages = [p for p in demo_site.files if p.startswith("_catalogue/category/c-")]
    assert len(pages) == 1
    assert re.fullmatch(r"_catalogue/category/c-[0-9a-f]{16}\.html", pages[0])
    assert b"Notes" in demo_site.files[pages[0]]


def test_render_is_deterministic(demo_site: DemoSite) -> None:
    again = render(demo_site.index, demo_site.options, dict(reversed(demo_site.extras.items())))
    assert again == demo_site.files
    assert list(again) == sorted(again)


# --------------------------------------------------------------------------------------------
# Links: local resources only, every link resolves
# --------------------------------------------------------------------------------------------


def test_pages_load_nothing_from_other_hosts(demo_site: DemoSite) -> None:
    for path, html in html_pages(demo_site).items():
        page = scan(html)
        metas = [
            e for e in page.find("meta") if e.attrs.get("http-equiv") == "Content-Security-Policy"
        ]
        assert [m.attrs["content"] for m in metas] == [CSP], path
        for element in page.elements:
            for name in ("src", "srcset", "poster", "data"):
                value = element.attrs.get(name)
                assert value is None or not urlsplit(value).scheme, (path, element)
            if element.tag == "link":
                assert not urlsplit(str(element.attrs["href"])).scheme, (path, element)
            if element.tag == "script":
                assert element.attrs.get("src"), f"{path}: inline script"
                assert not element.text.strip(), path
            assert not any(k.startswith("on") for k in element.attrs), (path, element)
            if element.tag == "a":
                href = str(element.attrs.get("href"))
                if urlsplit(href).scheme:
                    assert urlsplit(href).scheme in {"http", "https", "mailto"}, (path, href)
                    assert element.attrs.get("rel") == "noopener nofollow", (path, href)
    css = demo_site.files["_catalogue/s9reg.css"].decode()
    assert "url(" not in css
    assert "@import" not in css
    js = demo_site.files["_catalogue/s9reg.js"].decode()
    assert "http" not in js
    assert "fetch(" not in js


def _targets(page_path: str, html: bytes) -> list[str]:
    out = []
    for element in scan(html).elements:
        for name in ("href", "src"):
            value = element.attrs.get(name)
            if value and not urlsplit(value).scheme:
                out.append(value)
    return out


def test_every_local_link_resolves_within_the_site(demo_site: DemoSite) -> None:
    ids = {p: scan(b).ids for p, b in html_pages(demo_site).items()}
    checked = 0
    for path, html in html_pages(demo_site).items():
        for target in _targets(path, html):
            parts = urlsplit(target)
            file = posixpath.normpath(posixpath.join(posixpath.dirname(path), unquote(parts.path)))
            if not parts.path:
                file = path
            assert not file.startswith(".."), (path, target)
            assert (demo_site.root / file).is_file(), (path, target)
            if parts.fragment and file in ids:
                assert unquote(parts.fragment) in ids[file], (path, target)
            checked += 1
    assert checked > 100


def test_links_are_relative_and_name_files(demo_site: DemoSite) -> None:
    home = scan(demo_site.files["hello/index.html"])
    hrefs = {str(a.attrs["href"]) for a in home.find("a")}
    assert "../index.html" in hrefs
    assert "../_catalogue/trust.html" in hrefs
    # A directory link would not open from file://.
    assert not any(h.endswith("/") and not urlsplit(h).scheme for h in hrefs)


# --------------------------------------------------------------------------------------------
# Package pages
# --------------------------------------------------------------------------------------------


def test_package_page_lists_every_variant_mirror_signature_and_commitment(
    demo_site: DemoSite,
) -> None:
    html = demo_site.files["hello/index.html"].decode()
    page = scan(demo_site.files["hello/index.html"])
    info = demo_site.index.package.packages["hello"]
    hrefs = {a.attrs.get("href") for a in page.find("a")}
    assert {"v-1.1.0:0", "v-1.0.0:0"} <= page.ids
    variants = [asset for v in info.versions.values() for _, asset in v.s9pks]
    assert len(variants) == 3
    for asset in variants:
        assert len(asset.urls) == 2
        assert set(asset.urls) <= hrefs
        assert b64_encode(asset.commitment.root_sighash) in html
    assert html.count("registry-co-signed") == 3
    assert ADMIN.public_key.fingerprint in html
    assert REGISTRY.public_key.fingerprint in html
    assert html.index("v-1.1.0:0") < html.index("v-1.0.0:0"), "newest version first"
    # Sizes come from the extras, instructions and licence from the package.
    sizes = demo_site.extras[("hello", "1.1.0:0")].file_sizes
    assert all(f"{s} B" in html or "KiB" in html for s in sizes.values())
    assert "Start the service and open its UI." in html
    assert "MIT License" in html
    assert "Release 1.1.0:0." in html


def test_dependencies_show_titles_icons_and_links(demo_site: DemoSite) -> None:
    page = scan(demo_site.files["wiki/index.html"])
    deps_links = {a.attrs["href"]: a.text for a in page.find("a")}
    assert deps_links.get("../bitcoind/index.html") == "Bitcoind"
    html = demo_site.files["wiki/index.html"].decode()
    assert "missing-dep" in html
    assert html.count(">required<") == 2
    icons = [i.attrs["src"] for i in page.find("img") if "_icons/" in str(i.attrs["src"])]
    assert len(icons) >= 3  # the package's own icon and both dependencies'


def test_flavored_versions_are_marked(demo_site: DemoSite) -> None:
    page = scan(demo_site.files["bitcoind/index.html"])
    assert {"v-knots:28.1:0", "v-28.1:0"} <= page.ids
    assert "flavor knots" in demo_site.files["bitcoind/index.html"].decode()


def test_trust_page_lists_signers_admins_and_how_to_verify(demo_site: DemoSite) -> None:
    html = demo_site.files["_catalogue/trust.html"].decode()
    page = scan(demo_site.files["_catalogue/trust.html"])
    for key in (ADMIN, DEV, REGISTRY):
        assert key.public_key.fingerprint in html
    assert "admin: may publish any package" in html
    assert "Dev &lt;b&gt;Team&lt;/b&gt;" in html
    hrefs = [a.attrs["href"] for a in page.find("a")]
    assert "mailto:admin@example.com" in hrefs
    assert not any("javascript" in str(h) for h in hrefs)
    assert "s9reg s9pk verify" in html


def test_add_page_has_url_copy_button_and_qr(demo_site: DemoSite) -> None:
    page = scan(demo_site.files["_catalogue/add.html"])
    field = next(e for e in page.find("input") if e.attrs.get("id") == "registry-url")
    assert field.attrs["value"] == API_URL
    assert any(e.attrs.get("for") == "registry-url" for e in page.find("label"))
    assert any(b.attrs.get("data-copy") == "registry-url" for b in page.find("button"))
    svg = demo_site.files["_catalogue/registry-qr.svg"]
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"http" not in svg.replace(b"http://www.w3.org/2000/svg", b"")


# --------------------------------------------------------------------------------------------
# Hostile packages
# --------------------------------------------------------------------------------------------


def test_hostile_package_fields_are_text(demo_site: DemoSite) -> None:
    raw = demo_site.files["evil/index.html"]
    html = raw.decode()
    page = scan(raw)
    h1 = page.find("h1")[0]
    assert h1.text.startswith(HOSTILE_TITLE)
    # The build caps titles (builder/limits.py), so the whole title is shown, as text.
    assert h1.text.endswith("WWWW")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert [s.attrs["src"] for s in page.find("script")] == ["../_catalogue/s9reg.js"]
    assert not page.find("iframe")
    assert not page.find("svg")
    for element in page.elements:
        assert not any(k.startswith("on") for k in element.attrs), element
        for name in ("href", "src"):
            value = str(element.attrs.get(name, ""))
            assert not value.lower().startswith(("javascript:", "data:")), element
    hrefs = [a.attrs.get("href") for a in page.find("a")]
    assert HOSTILE_DONATION in hrefs  # a valid https URL, safely quoted
    assert "javascript:window.__pwned=12" in html  # the marketing "URL", shown as text only
    assert "https://evil.example/t.png" in hrefs  # Markdown images become plain links
    assert not any(str(h).startswith("https://evil.example/i.png") for h in hrefs)
    assert "&lt;/pre&gt;&lt;script&gt;" in html
    assert HOSTILE_LICENSE not in html


def test_hostile_package_in_search_index_and_feed(demo_site: DemoSite) -> None:
    js = demo_site.files["_catalogue/search-index.js"].decode()
    prefix = '"use strict";\nwindow.s9regSearchIndex = '
    assert js.startswith(prefix)
    assert js.endswith(";\n")
    data = json.loads(js[len(prefix) : -2])
    ids = [p["id"] for p in data["packages"]]
    assert sorted(ids) == sorted(demo_site.index.package.packages)
    evil = next(p for p in data["packages"] if p["id"] == "evil")
    assert "<script>" in evil["text"]  # data, never markup: the page script only compares text
    assert len(js) < 20_000
    feed = feedparser.parse(demo_site.files["evil/feed.atom"])
    assert not feed.bozo
    assert feed.entries[0].title.startswith(HOSTILE_TITLE)


def test_control_characters_are_dropped(demo_site: DemoSite) -> None:
    packages = dict(demo_site.index.package.packages)
    info = packages["notes"]
    version = next(iter(info.versions))
    bad = replace(
        info.versions[version], title="Bell\x07 and\x00 null", release_notes=LocaleString("a\x1bb")
    )
    packages["notes"] = replace(info, versions={version: bad})
    index = replace(demo_site.index, package=replace(demo_site.index.package, packages=packages))
    files = render(index, demo_site.options, {})
    assert b"Bell and null" in files["notes/index.html"]
    assert not feedparser.parse(files["notes/feed.atom"]).bozo
    text = b"".join(data for path, data in files.items() if not path.startswith("_icons/"))
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", text)


# --------------------------------------------------------------------------------------------
# Feeds, sitemap, robots
# --------------------------------------------------------------------------------------------


def test_feeds_are_valid_atom(demo_site: DemoSite) -> None:
    feed = feedparser.parse(demo_site.files["_catalogue/feed.atom"])
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    releases = sum(len(p.versions) for p in demo_site.index.package.packages.values())
    assert len(feed.entries) == releases
    assert all(e.link.startswith(API_URL) for e in feed.entries)
    assert len({e.id for e in feed.entries}) == releases
    for pid, info in demo_site.index.package.packages.items():
        own = feedparser.parse(demo_site.files[f"{pid}/feed.atom"])
        assert not own.bozo
        assert len(own.entries) == len(info.versions)
        assert own.feed.links[0].href == f"{API_URL}{pid}/feed.atom"
    ET.fromstring(demo_site.files["_catalogue/feed.atom"])


def test_feed_is_newest_first_and_recent_page_follows_published_at(demo_site: DemoSite) -> None:
    packages = dict(demo_site.index.package.packages)
    info = packages["notes"]
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    versions = {
        v: replace(p, s9pks=tuple((hw, replace(a, published_at=later)) for hw, a in p.s9pks))
        for v, p in info.versions.items()
    }
    packages["notes"] = replace(info, versions=versions)
    index = replace(demo_site.index, package=replace(demo_site.index.package, packages=packages))
    files = render(index, demo_site.options, {})
    feed = feedparser.parse(files["_catalogue/feed.atom"])
    assert feed.entries[0].link == f"{API_URL}notes/index.html#v-2.3.1:1"
    assert feed.feed.updated == "2030-01-02T03:04:05Z"
    recent = scan(files["_catalogue/recent.html"])
    links = [
        a.attrs["href"] for a in recent.find("a") if str(a.attrs["href"]).endswith("/index.html")
    ]
    assert next(h for h in links if h != "../index.html") == "../notes/index.html"
    pinned = render(
        index, replace(demo_site.options, generated_at=datetime(2031, 1, 1, tzinfo=UTC)), {}
    )
    assert feedparser.parse(pinned["_catalogue/feed.atom"]).feed.updated == "2031-01-01T00:00:00Z"


def test_sitemap_lists_every_page_and_robots_points_at_it(demo_site: DemoSite) -> None:
    root = ET.fromstring(demo_site.files["sitemap.xml"])
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locs = {e.text for e in root.iter(f"{ns}loc")}
    assert locs == {API_URL + p for p in html_pages(demo_site)}
    assert (
        demo_site.files["robots.txt"]
        == f"User-agent: *\nAllow: /\nSitemap: {API_URL}sitemap.xml\n".encode()
    )


# --------------------------------------------------------------------------------------------
# Localization
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "category", "short", "lang"),
    [
        pytest.param("en_US", "Featured", "Hello, a demo package", "en-US", id="exact match"),
        pytest.param("de_DE", "Empfohlen", "Hello, ein Demo-Paket", "de-DE", id="other language"),
        pytest.param("de_AT", "Empfohlen", "Hello, ein Demo-Paket", "de-AT", id="same prefix"),
        pytest.param("fr_FR", "Featured", "Hello, a demo package", "fr-FR", id="first as fallback"),
    ],
)
def test_locale_strings_follow_upstream_fallback(
    demo_site: DemoSite, language: str, category: str, short: str, lang: str
) -> None:
    files = render(demo_site.index, options(language=language), demo_site.extras)
    home = files["index.html"].decode()
    assert f'<html lang="{lang}">' in home
    assert f">{category} <span" in home
    assert short in home


# --------------------------------------------------------------------------------------------
# OS releases, empty registry
# --------------------------------------------------------------------------------------------


def test_os_releases_page(demo_site: DemoSite) -> None:
    files = demo_site.files
    html = files["_catalogue/os.html"].decode()
    assert bytes(range(32)).hex() in html
    assert "1.1 GiB" in html
    assert "raspberrypi" in html
    assert "&lt;b&gt;Faster&lt;/b&gt; backups" in html
    assert "<li>two &lt;script&gt;x&lt;/script&gt;</li>" in html
    assert "javascript:" not in html
    assert 'href="_catalogue/os.html"' in files["index.html"].decode()


def test_empty_registry() -> None:
    files = render(FullIndex(), CatalogueOptions(registry_url="http://127.0.0.1:5959"), {})
    assert b"no packages yet" in files["index.html"]
    feed = feedparser.parse(files["_catalogue/feed.atom"])
    assert not feed.bozo
    assert feed.entries == []
    assert b"<loc>http://127.0.0.1:5959/index.html</loc>" in files["sitemap.xml"]


def test_package_without_extras_renders(demo_site: DemoSite) -> None:
    files = render(demo_site.index, demo_site.options, {})
    html = files["hello/index.html"].decode()
    assert "Start the service" not in html
    assert "unknown" in html  # size column


def test_extras_are_matched_by_version_as_written(demo_site: DemoSite) -> None:
    extras = {
        ("hello", "1.1.0:0"): PackageExtras(instructions="**Unique** words", license_text=None)
    }
    files = render(demo_site.index, demo_site.options, extras)
    assert "<strong>Unique</strong> words" in files["hello/index.html"].decode()
    assert VersionString.parse("1.1.0:0") in demo_site.index.package.packages["hello"].versions


# --------------------------------------------------------------------------------------------
# Icons and templates
# --------------------------------------------------------------------------------------------


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"/>\n'  # as the sanitizer writes it
SVG64 = base64.b64encode(SVG).decode()


@pytest.mark.parametrize(
    ("data_url", "ext", "data"),
    [
        pytest.param("data:image/png;base64,iVBORw0KGgo=", "png", b"\x89PNG\r\n\x1a\n", id="png"),
        pytest.param(f"data:image/svg+xml;base64,{SVG64}", "svg", SVG, id="svg"),
        pytest.param("data:image/jpeg;base64,/9j/", "jpg", b"\xff\xd8\xff", id="jpeg"),
        pytest.param("data:text/html;base64,PGI+", "bin", b"<b>", id="not an image type"),
        pytest.param(
            f"data:image/svg+xml;charset=utf-8;base64,{SVG64}", "svg", SVG, id="with parameters"
        ),
    ],
)
def test_icon_file_is_content_addressed(data_url: str, ext: str, data: bytes) -> None:
    path, decoded = icon_file(data_url)
    assert decoded == data
    assert path == f"_icons/{hashlib.sha256(data).hexdigest()}.{ext}"


@pytest.mark.parametrize(
    "data_url",
    [
        pytest.param("https://example.com/icon.png", id="not a data URL"),
        pytest.param("data:image/png,rawtext", id="not base64"),
        pytest.param("data:image/png;base64,abc", id="bad padding"),
    ],
)
def test_icon_file_refuses_other_urls(data_url: str) -> None:
    with pytest.raises(CatalogueError, match="icon"):
        icon_file(data_url)


def test_operator_templates_override_single_files(demo_site: DemoSite, tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "s9reg.css").write_text("body { color: rebeccapurple; }\n")
    (tmp_path / "trust.html").write_text(
        '{% extends "base.html" %}{% block main %}<p>Our own trust page</p>{% endblock %}'
    )
    files = render(demo_site.index, replace(demo_site.options, template_dir=tmp_path), {})
    assert files["_catalogue/s9reg.css"] == b"body { color: rebeccapurple; }\n"
    assert b"<p>Our own trust page</p>" in files["_catalogue/trust.html"]
    assert files["index.html"] == render(demo_site.index, demo_site.options, {})["index.html"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param("home.html", "{% if %}", "home.html", id="syntax error"),
        pytest.param("home.html", "{{ no_such_value }}", "no_such_value", id="undefined value"),
    ],
)
def test_broken_operator_template_is_a_catalogue_error(
    demo_site: DemoSite, tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(CatalogueError, match=message):
        render(demo_site.index, replace(demo_site.options, template_dir=tmp_path), {})


def test_missing_template_directory_is_a_catalogue_error(
    demo_site: DemoSite, tmp_path: Path
) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        render(demo_site.index, replace(demo_site.options, template_dir=tmp_path / "nope"), {})


def test_templates_ship_in_the_wheel_where_the_renderer_looks() -> None:
    root = Path(__file__).resolve().parents[3]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["templates"] == "s9reg/templates"
    assert template_dirs()[-1] == root / "templates"  # an editable install falls back to it
    names = {p.relative_to(root / "templates").as_posix() for p in (root / "templates").rglob("*")}
    assert {"base.html", "home.html", "package.html", "feed.atom", "static/s9reg.css"} <= names


def test_home_lists_every_package_by_title(demo_site: DemoSite) -> None:
    page = scan(demo_site.files["index.html"])
    cards = [e.attrs["data-id"] for e in page.find("li") if e.attrs.get("data-id")]
    assert sorted(cards) == sorted(demo_site.index.package.packages)
    titles = [a.text for a in page.find("a") if str(a.attrs["href"]).endswith("/index.html")]
    listed = [t for t in titles if t][-len(cards) :]
    assert listed == sorted(listed, key=str.casefold)
