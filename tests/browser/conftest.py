"""Browser fixtures: one chromium per module (after its ``site``), a fresh context per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, Site
from tests.conftest import require


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    require(CHROMIUM.exists(), "Debian's chromium is missing: `make system-deps` installs it")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()
