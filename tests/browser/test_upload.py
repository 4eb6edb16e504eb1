"""Uploading in Debian's headless chromium: log in, create a production, choose two PDFs,
watch their progress bars, then see them processed on the production page (live, by its poll
of the page's ``.json`` twin). Screenshots go to ``test-artifacts/screenshots/``.

The app runs for real (uvicorn on a free port, in a thread) with its in-process job pool, so
the files are processed exactly as they would be on a volunteer's laptop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from app import migrate
from app.meili.managed import Endpoint
from tests.auth_helpers import PASSWORD, make_user
from tests.browser.support import Site, served, shot, site_settings
from tests.pdfs import make_text_pdf

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VOLUNTEER = "volunteer@example.org"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    meili_endpoint: Endpoint,
    module_database_url: str | None,
) -> Iterator[Site]:
    """A fresh installation (on each database) with one volunteer, served by uvicorn."""
    folder = tmp_path_factory.mktemp("upload-e2e") / "var"
    settings = site_settings(folder, meili_endpoint, "up", module_database_url)
    migrate.upgrade(settings)
    make_user(settings, VOLUNTEER)
    with served(settings, meili_endpoint) as site:
        yield site


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
    shot(p, "upload-new-production")
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
    shot(p, "upload-sending")
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
    shot(p, "upload-processed")
    for filename in ("field-memo.pdf", "email-thread.pdf"):
        row = rows.filter(has_text=filename)
        expect(row.locator("[data-field=state]")).to_have_text("indexed")
    expect(
        rows.filter(has_text="email-thread.pdf").locator("[data-field=pages] span")
    ).to_have_text("2 / 2")
    # Still private: no public link before a moderator publishes it.
    expect(p.locator("table#documents a", has_text="public page")).to_have_count(0)
