"""Debian's Chromium, driven by Playwright, on a dashboard page that is watched:
every request it sends and every script error it raises are kept.

Chromium comes from ``tests/dashboard/install_browser.sh`` (apt), never from
Playwright's own downloads. Without it the dashboard tests are skipped, except
in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, ViewportSize

from tests.dashboard.served import TIMEOUT, Served

CHROMIUM = Path(os.environ.get("SEEDANCE_MOCK_CHROMIUM", "/usr/bin/chromium"))
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
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: axe-core, as bundled in the axe-playwright-python wheel
AXE = importlib.resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def require_chromium() -> None:
    """Skip (or, in CI, fail) when Debian's chromium is not installed."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"Chromium is missing at {CHROMIUM}: run tests/dashboard/install_browser.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def launch(playwright: Playwright) -> Browser:
    """Chromium with a fresh temporary profile (launch() makes a new user-data dir)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class Watched:
    """A page and what it did: the requests it sent and the script errors it raised."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def close_and_check(self, server: Served) -> None:
        """Close the page; fail if it ever talked to another origin or raised an error."""
        self.page.context.close()
        outside = [url for url in self.requests if not url.startswith(server.base_url + "/")]
        assert not outside, f"the page requested other origins: {outside}"
        assert not self.errors, f"the page logged errors: {self.errors}"


def open_dashboard(browser: Browser, server: Served, viewport: ViewportSize = DESKTOP) -> Watched:
    context = browser.new_context(
        viewport={"width": viewport["width"], "height": viewport["height"]}
    )
    context.set_default_timeout(TIMEOUT * 1000)
    page = context.new_page()
    watched = Watched(page)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        # a refused fetch (401, 409) is logged as a failed resource; anything else is a bug
        if message.type == "error" and "Failed to load resource" not in message.text:
            watched.errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.goto(server.url("/__admin/ui"))
    return watched


def axe_violations(page: Page) -> list[str]:
    """What axe-core finds against WCAG 2.2 A/AA and its best practices, one line each."""
    page.evaluate(AXE)
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run({runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]
