"""A page that records what it requested and what went wrong, for the browser tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from playwright.sync_api import BrowserContext, ConsoleMessage, Page

Scheme = Literal["light", "dark"]


@dataclass
class Visit:
    """A page plus everything it asked for and complained about."""

    page: Page
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def goto(self, url: str) -> Visit:
        response = self.page.goto(url, wait_until="load")
        assert response is None or response.ok, url
        return self


def open_page(context: BrowserContext) -> Visit:
    """A new page that records requests, failures, console errors, page errors and dialogs."""
    page = context.new_page()
    visit = Visit(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            visit.errors.append(message.text)

    page.on("request", lambda r: visit.requests.append(r.url))
    page.on("requestfailed", lambda r: visit.failed.append(r.url))
    page.on("console", on_console)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    page.on("dialog", lambda d: (visit.dialogs.append(d.message), d.dismiss()))
    return visit
