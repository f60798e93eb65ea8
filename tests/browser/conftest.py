"""Real headless Chromium (Debian's) on the rendered catalogue, over file:// and a local HTTP server.

One browser per session; every test opens its own context. Nothing is ever downloaded: Playwright
drives /usr/bin/chromium, and every page request is recorded so tests can prove none leaves the site.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright
from unit.catalogue.catalogue_sites import DemoSite, build_demo_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> DemoSite:
    """The demo registry plus a hostile package, built and rendered."""
    return build_demo_site(tmp_path_factory.mktemp("browser"))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass


@pytest.fixture(scope="session")
def http_base(site: DemoSite) -> Iterator[str]:
    """A static HTTP server for the site on 127.0.0.1 (free port); its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site.root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def file_base(site: DemoSite) -> str:
    """The site's file:// base URL."""
    return site.root.as_uri() + "/"


@pytest.fixture(params=["file", "http"])
def base(request: pytest.FixtureRequest) -> str:
    """Each test using this runs over file:// and over HTTP."""
    name = "file_base" if request.param == "file" else "http_base"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium; Playwright gives it a fresh, temporary user-data directory."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail("Chromium is missing: apt-get install chromium (./tasks deps does)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $S9REG_TEST_ARTIFACTS/browser, else pytest's temporary directory."""
    root = os.environ.get("S9REG_TEST_ARTIFACTS")
    path = Path(root) / "browser" if root else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A desktop-sized context with JavaScript on."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()
