"""The catalogue in real Chromium: loads cleanly, searches, works without JS, phones, dark, a11y, CSP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_pages import Scheme, Visit, open_page
from playwright.sync_api import Browser, BrowserContext
from unit.catalogue.catalogue_sites import HOSTILE_DONATION, HOSTILE_TITLE, DemoSite

PAGES = [
    "index.html",
    "_catalogue/recent.html",
    "_catalogue/category/featured.html",
    "hello/index.html",
    "bitcoind/index.html",
    "wiki/index.html",
    "evil/index.html",
    "_catalogue/add.html",
    "_catalogue/trust.html",
    "_catalogue/os.html",
]


def _shot(visit: Visit, artifacts: Path, name: str) -> None:
    # Viewport shots: full-page captures of very long pages stall headless Chromium without a GPU.
    visit.page.screenshot(path=str(artifacts / f"{re.sub(r'[^A-Za-z0-9.-]+', '_', name)}.png"))


def test_pages_load_with_no_errors_and_no_outside_request(
    context: BrowserContext, base: str, artifacts: Path
) -> None:
    visit = open_page(context)
    for path in PAGES:
        visit.goto(base + path)
        _shot(visit, artifacts, f"{base.split(':', maxsplit=1)[0]}-{path}")
        assert visit.page.locator("h1").count() == 1, path
    assert visit.errors == []
    assert visit.failed == []
    assert visit.dialogs == []
    outside = [u for u in visit.requests if not u.startswith(base)]
    assert outside == []
    # Stylesheet, script and icons were really loaded from the site.
    assert any(u.endswith("/_catalogue/s9reg.css") for u in visit.requests)
    assert any("/_icons/" in u for u in visit.requests)


def test_search_with_javascript(context: BrowserContext, base: str, artifacts: Path) -> None:
    visit = open_page(context).goto(base + "index.html")
    page = visit.page
    cards = page.locator("#cards li.card")
    total = cards.count()
    assert total == 5
    assert page.locator("#search").is_visible()
    page.get_by_label("Search packages").fill("wiki")
    visible = page.locator("#cards li.card:visible")
    assert visible.count() == 1
    assert visible.first.get_attribute("data-id") == "wiki"
    assert page.locator("#search-status").inner_text() == f"1 of {total} packages match"
    page.get_by_label("Search packages").fill("demo package x86_64")
    assert visible.count() == 4  # every demo package but the hostile one
    page.get_by_label("Search packages").fill("no such thing")
    assert visible.count() == 0
    assert page.locator("#search-empty").is_visible()
    page.get_by_label("Search packages").fill("")
    page.get_by_label("Category").select_option("bitcoin")
    assert [c.get_attribute("data-id") for c in visible.all()] == ["bitcoind"]
    _shot(visit, artifacts, f"search-{base.split(':', maxsplit=1)[0]}")
    visit.goto(base + "index.html?q=notes")
    assert [c.get_attribute("data-id") for c in visible.all()] == ["notes"]
    assert visit.errors == []


def test_without_javascript_everything_is_listed(
    browser: Browser, base: str, artifacts: Path
) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    try:
        visit = open_page(context).goto(base + "index.html")
        page = visit.page
        assert not page.locator("#search").is_visible()
        assert page.get_by_text("Search needs JavaScript").is_visible()
        assert page.locator("#cards li.card:visible").count() == 5
        _shot(visit, artifacts, f"nojs-home-{base.split(':', maxsplit=1)[0]}")
        page.locator(".categories").get_by_role("link", name=re.compile("^Bitcoin")).click()
        page.wait_for_load_state("load")
        assert page.url == base + "_catalogue/category/bitcoin.html"
        assert page.locator("h1").inner_text() == "Bitcoin"
        assert page.locator("li.card").count() == 1
        page.get_by_role("link", name="Bitcoin Core").click()
        page.wait_for_load_state("load")
        assert page.url == base + "bitcoind/index.html"
        assert visit.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_has_no_horizontal_scroll(
    browser: Browser, http_base: str, artifacts: Path, scheme: Scheme
) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, color_scheme=scheme, is_mobile=True, has_touch=True
    )
    try:
        visit = open_page(context)
        for path in PAGES:
            visit.goto(http_base + path)
            width = visit.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path}: {width}px wide"
            _shot(visit, artifacts, f"phone-{scheme}-{path}")
        assert visit.errors == []
    finally:
        context.close()


def test_dark_mode(browser: Browser, http_base: str, artifacts: Path) -> None:
    colours = {}
    schemes: tuple[Scheme, ...] = ("light", "dark")
    for scheme in schemes:
        context = browser.new_context(color_scheme=scheme)
        try:
            visit = open_page(context).goto(http_base + "hello/index.html")
            colours[scheme] = visit.page.evaluate(
                "[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]"
            )
            _shot(visit, artifacts, f"scheme-{scheme}")
        finally:
            context.close()
    assert colours["light"] == ["rgb(255, 255, 255)", "rgb(31, 35, 40)"]
    assert colours["dark"] == ["rgb(13, 17, 23)", "rgb(230, 237, 243)"]


def test_keyboard_navigation(context: BrowserContext, http_base: str) -> None:
    visit = open_page(context).goto(http_base + "index.html")
    page = visit.page
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "[document.activeElement.className, document.activeElement.textContent]"
    )
    assert focused == ["skip", "Skip to content"]
    box = page.locator("a.skip").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    tag, outline = page.evaluate(
        "[document.activeElement.tagName, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert tag in {"A", "INPUT"}
    assert outline != "none"
    # Search is reachable and usable from the keyboard alone.
    page.get_by_label("Search packages").focus()
    page.keyboard.type("hello")
    assert page.locator("#cards li.card:visible").count() == 1
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "search-category"


def test_csp_blocks_an_injected_inline_script(context: BrowserContext, base: str) -> None:
    visit = open_page(context).goto(base + "hello/index.html")
    visit.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__injected = 1'; document.body.appendChild(s); }"
    )
    assert visit.page.evaluate("window.__injected") is None
    assert any("Content Security Policy" in e for e in visit.errors)


def test_hostile_package_shows_text_and_runs_nothing(
    context: BrowserContext, base: str, site: DemoSite
) -> None:
    visit = open_page(context).goto(base + "evil/index.html")
    page = visit.page
    assert page.locator("h1").inner_text().startswith(HOSTILE_TITLE)
    assert (
        page.get_by_text("window.__pwned=11").count() == 0
        or page.locator("pre.license").count() == 1
    )
    page.locator("details summary").filter(has_text="Full license text").click()
    assert page.locator("pre.license").inner_text() == "</pre><script>window.__pwned=11</script>"
    page.get_by_role("link", name=HOSTILE_DONATION).hover()
    for summary in page.locator("summary").all():
        summary.click()
    assert page.evaluate("window.__pwned") is None
    assert visit.dialogs == []
    assert visit.errors == []
    assert [u for u in visit.requests if not u.startswith(base)] == []
    # The same text through the home page's search.
    visit.goto(base + "index.html")
    page.get_by_label("Search packages").fill("<script>")
    assert [c.get_attribute("data-id") for c in page.locator("#cards li.card:visible").all()] == [
        "evil"
    ]
    assert page.evaluate("window.__pwned") is None
    assert len(site.files["evil/index.html"]) < 100_000


A11Y_PAGES = {
    "light": PAGES,
    # Colours are all that changes in dark mode.
    "dark": ["index.html", "hello/index.html", "evil/index.html", "_catalogue/trust.html"],
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(
    browser: Browser, http_base: str, artifacts: Path, scheme: Scheme
) -> None:
    context = browser.new_context(color_scheme=scheme)
    axe = Axe()
    try:
        visit = open_page(context)
        problems = {}
        for path in A11Y_PAGES[scheme]:
            visit.goto(http_base + path)
            results = axe.run(visit.page)
            assert results.response["testEngine"]["name"] == "axe-core"
            serious = [
                {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
                for v in results.response["violations"]
                if v["impact"] in {"serious", "critical"}
            ]
            if serious:
                problems[path] = serious
        (artifacts / f"axe-{scheme}.json").write_text(json.dumps(problems, indent=2))
        assert problems == {}
        # The same check does fail on a page with known problems.
        visit.page.set_content('<main><img src="x.png"><input type="text"></main>')
        found = {v["id"] for v in axe.run(visit.page).response["violations"]}
        assert {"image-alt", "label"} <= found
    finally:
        context.close()


def test_copy_button_copies_the_registry_url(
    browser: Browser, http_base: str, site: DemoSite
) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        visit = open_page(context).goto(http_base + "_catalogue/add.html")
        page = visit.page
        page.get_by_role("button", name="Copy").click()
        page.wait_for_function("document.getElementById('copy-status').textContent !== ''")
        assert page.locator("#copy-status").inner_text() == "Copied to the clipboard."
        assert page.evaluate("navigator.clipboard.readText()") == site.options.registry_url
        assert page.locator("img[src$='registry-qr.svg']").evaluate("i => i.naturalWidth") > 0
        assert visit.errors == []
    finally:
        context.close()
