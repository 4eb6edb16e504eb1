"""Uploading in Debian's headless chromium: log in, create a production, choose two PDFs,
watch their progress bars, then see them processed on the production page (live, by its poll
of the page's ``.json`` twin). Screenshots go to ``test-artifacts/screenshots/``.

The app runs for real (uvicorn on a free port, in a thread) with its in-process job pool, so
the files are processed exactly as they would be on a volunteer's laptop.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from pydantic import SecretStr

from app import migrate
from app.config import PROJECT_ROOT, Settings
from app.main import create_app
from app.meili import MeiliClient
from app.meili.managed import Endpoint
from tests.auth_helpers import PASSWORD, make_user
from tests.pdfs import make_text_pdf

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
VOLUNTEER = "volunteer@example.org"


@dataclass(frozen=True)
class Site:
    url: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, meili_endpoint: Endpoint) -> Iterator[Site]:
    """A fresh installation with one volunteer, served by uvicorn."""
    port = _free_port()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("upload-e2e") / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=f"up{uuid.uuid4().hex[:10]}_",
        base_url=f"http://127.0.0.1:{port}",
    )
    migrate.upgrade(settings)
    make_user(settings, VOLUNTEER)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Site(settings.base_url, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        client = MeiliClient(meili_endpoint.url, meili_endpoint.key)
        for index in client.list_indexes():
            if index["uid"].startswith(settings.index_prefix):
                client.wait(client.delete_index(index["uid"]))
        client.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is missing: `make system-deps` installs it")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_volunteer_uploads_two_pdfs_and_watches_them_processed(
    site: Site, page: Page, tmp_path: Path
) -> None:
    first = make_text_pdf(tmp_path / "field-memo.pdf", ["Field memo about the heron pilot"])
    second = make_text_pdf(
        tmp_path / "email-thread.pdf", ["From: a@ice.dhs.gov", "second page of the thread"]
    )
    p = page

    # A private page sends the visitor to log in, then back.
    p.goto(site.url + "/uploads/productions/new")
    p.wait_for_url(re.compile(r"/accounts/login\?next="))
    p.fill("#email", VOLUNTEER)
    p.fill("#password", PASSWORD)
    p.click("form.login-form button[type=submit]")
    p.wait_for_url(re.compile(r"/uploads/productions/new$"))

    p.fill("#agency", "ICE")
    p.fill("#title", "Interim Release 4")
    p.fill("#request_number", "2022-ICFO-00042")
    p.fill("#release_date", "2022-03-01")
    p.select_option("#ocr_languages", "eng+spa")
    _shot(p, "upload-new-production")
    p.click("form.stacked button[type=submit]")
    p.wait_for_url(re.compile(r"/uploads/productions/\d+$"))
    expect(p.locator("h1")).to_have_text("Interim Release 4")
    expect(p.locator("#production-status")).to_have_text("draft")

    # Choose both files at once; each gets its own progress bar while it is sent. The
    # requests are held until the bars have been seen (small files are sent in a blink).
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    p.route(re.compile(r"/api/productions/\d+/files$"), hold)
    p.set_input_files("#files", [str(first), str(second)])
    p.click("#upload-button")
    queue = p.locator("#upload-queue li")
    expect(queue).to_have_count(2)
    expect(queue.locator("progress")).to_have_count(2)
    expect(queue.filter(has_text="field-memo.pdf").locator(".status")).to_have_text("sending")
    _shot(p, "upload-sending")
    deadline = time.monotonic() + 30
    while len(held) < 2 and time.monotonic() < deadline:
        p.wait_for_timeout(100)
    assert len(held) == 2, "both files are sent at once"
    for route in held:
        route.continue_()
    p.unroute(re.compile(r"/api/productions/\d+/files$"))

    # When both are sent the page shows their rows; the poll then fills in their progress.
    rows = p.locator("table#documents tbody tr")
    expect(rows).to_have_count(2, timeout=30_000)
    p.wait_for_function(
        """() => [...document.querySelectorAll('table#documents tbody tr')]
               .every(row => row.dataset.state === 'indexed')""",
        timeout=180_000,
        polling=500,
    )
    _shot(p, "upload-processed")
    for filename in ("field-memo.pdf", "email-thread.pdf"):
        row = rows.filter(has_text=filename)
        expect(row.locator("[data-field=state]")).to_have_text("indexed")
    expect(
        rows.filter(has_text="email-thread.pdf").locator("[data-field=pages] span")
    ).to_have_text("2 / 2")
    # Still private: no public link before a moderator publishes it.
    expect(p.locator("table#documents a", has_text="public page")).to_have_count(0)
