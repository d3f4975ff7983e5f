"""Fixtures: a simulator on a real socket (``server``, or ``start_server`` for
one with settings), one Chromium per module, and a watched dashboard page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, ViewportSize, sync_playwright

from tests.dashboard.browser import DESKTOP, Watched, launch, open_dashboard, require_chromium
from tests.dashboard.served import Served, manual_config, serving

StartServer = Callable[..., Served]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start a simulator on a manual clock (Config fields as keywords); stopped after the test."""
    with ExitStack() as stack:

        def start(**settings: Any) -> Served:
            return stack.enter_context(serving(manual_config(**settings)))

        yield start


@pytest.fixture
def server(start_server: StartServer) -> Served:
    return start_server()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch(playwright)
    yield chromium
    chromium.close()


OpenPage = Callable[..., Watched]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Open the dashboard of a server (at a viewport); after the test, check that
    each page only ever talked to its server and raised no script error. (Ask
    for the server first, so that it outlives its pages.)"""
    opened: list[tuple[Watched, Served]] = []

    def open_(server: Served, viewport: ViewportSize = DESKTOP) -> Watched:
        page = open_dashboard(browser, server, viewport)
        opened.append((page, server))
        return page

    yield open_
    for page, server in opened:
        page.close_and_check(server)


@pytest.fixture
def watched(open_page: OpenPage, server: Served) -> Watched:
    """The dashboard of ``server`` at 1280×800."""
    return open_page(server)
