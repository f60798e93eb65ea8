"""``s9reg serve`` in real Chromium (issue #16): what a browser does with its answers.

* An SVG opened directly (its URL in a tab) is a document of the registry's origin: served with
  the SVG policy (``sandbox``), a script in it does not run; the same file from a plain static
  server does run, which shows the test would see it.
* The brochure POSTs with ``withCredentials`` (registry-protocol.md §4): such a request is
  answered by ``s9reg serve`` but refused by the browser when ``Allow-Credentials`` is missing,
  which is why it stays although the API uses no cookie.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from browser_pages import open_page
from playwright.sync_api import BrowserContext
from unit.catalogue.catalogue_sites import DemoSite

from s9reg.serve import BackgroundServer, ServeSettings

EVIL_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" '
    b"onload=\"fetch('/pwned-onload')\">"
    b"<script>fetch('/pwned-script'); alert('pwned')</script>"
    b'<rect width="10" height="10" fill="red"/></svg>'
)


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler] | functools.partial[object]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass


@contextmanager
def served(site: DemoSite, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``s9reg serve`` of a copy of the demo site holding an unsanitized SVG under ``_icons/``."""
    root = tmp_path / "site"
    shutil.copytree(site.root, root, copy_function=os.link)
    (root / "_icons" / "evil.svg").write_bytes(EVIL_SVG)
    with BackgroundServer(ServeSettings(site=str(root), port=0)) as server:
        yield server.url, root


def test_an_svg_opened_directly_runs_no_script(
    context: BrowserContext, site: DemoSite, tmp_path: Path
) -> None:
    with served(site, tmp_path) as (url, root):
        visit = open_page(context).goto(f"{url}/_icons/evil.svg")
        visit.page.wait_for_timeout(300)
        assert not [u for u in visit.requests if "pwned" in u]
        assert visit.dialogs == []
        # The same file from a static server without the policy: the script runs.
        with http_server(functools.partial(_Quiet, directory=str(root))) as plain:
            control = open_page(context).goto(f"{plain}/_icons/evil.svg")
            control.page.wait_for_timeout(300)
            assert control.dialogs == ["pwned"]


class _Blank(BaseHTTPRequestHandler):
    """A page of another origin, and an API that allows the origin but not credentials."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers", "content-type")

    def do_GET(self) -> None:
        body = b"<!doctype html><title>another origin</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        self.send_response(200)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"jsonrpc":"2.0","result":{"name":"no credentials"},"id":null}'
        self.send_response(200)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


BROCHURE_POST = """async (url) => {
    try {
        const r = await fetch(url, {
            method: "POST", credentials: "include",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({method: "info", params: {}}),
        });
        return (await r.json()).result.name;
    } catch (e) {
        return "refused: " + e;
    }
}"""


def test_credentialed_cors_as_the_brochure_sends_it(
    context: BrowserContext, site: DemoSite, tmp_path: Path
) -> None:
    with (
        served(site, tmp_path) as (url, _),
        http_server(_Blank) as page_origin,
        http_server(_Blank) as no_credentials,
    ):
        visit = open_page(context).goto(page_origin + "/")
        name = visit.page.evaluate(BROCHURE_POST, f"{url}/rpc/v0")
        assert name == site.index.info().name
        refused = visit.page.evaluate(BROCHURE_POST, f"{no_credentials}/rpc/v0")
        assert refused.startswith("refused: TypeError")
