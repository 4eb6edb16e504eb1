"""Publishing safely, in Debian's headless chromium (issue 12).

A volunteer uploads a production whose PDF has a failed redaction (a name under a black box
that is still in the text layer) and personal data; a moderator sees publication refused,
opens the findings, redacts the hidden name and the SSN by drawing a box on the page and
from the list, keeps the rest, and publishes. The public PDF, the page text, the page image
and search then hold none of the redacted words. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import PIL.Image
import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Page, expect

from app import migrate
from app.auth.models import Role
from app.meili.managed import Endpoint
from bench.findings_set import PLANTED, write_planted_pdf
from tests.auth_helpers import PASSWORD, make_user
from tests.browser.support import Site, served, shot, site_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VOLUNTEER = "volunteer@example.org"
MODERATOR = "moderator@example.org"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    meili_endpoint: Endpoint,
    module_database_url: str | None,
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("findings-e2e") / "var"
    settings = site_settings(folder, meili_endpoint, "fi", module_database_url)
    migrate.upgrade(settings)
    make_user(settings, VOLUNTEER)
    make_user(settings, MODERATOR, Role.MODERATOR)
    with served(settings, meili_endpoint) as site:
        yield site


def _log_in(p: Page, site: Site, email: str) -> None:
    p.goto(site.url + "/accounts/login")
    p.fill("#email", email)
    p.fill("#password", PASSWORD)
    p.click("form.login-form button[type=submit]")
    p.wait_for_url(re.compile(r"/accounts$|/uploads"))


def _compact(value: str) -> str:
    return "".join(value.split()).lower()


def test_a_failed_redaction_is_refused_redacted_in_the_browser_then_published(
    site: Site, page: Page, tmp_path: Path
) -> None:
    p = page
    _log_in(p, site, VOLUNTEER)
    p.goto(site.url + "/uploads/productions/new")
    p.fill("#agency", "ICE")
    p.fill("#title", "Interim Release 7")
    p.click("form.stacked button[type=submit]")
    p.wait_for_url(re.compile(r"/uploads/productions/\d+$"))
    production_url = p.url
    p.set_input_files("#files", [str(write_planted_pdf(tmp_path / "interview.pdf"))])
    p.click("#upload-button")
    p.wait_for_function(
        """() => [...document.querySelectorAll('table#documents tbody tr')]
               .some(row => row.dataset.state === 'indexed')""",
        timeout=120_000,
        polling=500,
    )
    p.context.clear_cookies()

    # The moderator: the production page warns, and publishing is refused.
    _log_in(p, site, MODERATOR)
    p.goto(production_url)
    expect(p.locator("#findings-notice")).to_contain_text("cannot be published")
    shot(p, "findings-production-warned")
    p.click("#publish")
    expect(p.locator("body")).to_contain_text("cannot be published yet")
    shot(p, "findings-publication-refused")

    # The findings: the hidden name is listed with its crop.
    p.goto(production_url)
    p.click("#review-findings")
    rows = p.locator("#findings tbody tr")
    expect(rows.first).to_be_visible()
    hidden = rows.filter(has=p.locator("code.secret", has_text=PLANTED["hidden"]))
    expect(hidden).to_have_count(1)
    expect(hidden.locator("img.crop")).to_be_visible()
    shot(p, "findings-list")

    # Open its page and draw a box over the hidden name: it is burned in.
    with p.expect_navigation():
        hidden.locator("a.redact-link").click()
    image = p.locator("#page-image")
    expect(image).to_be_visible()
    box = image.bounding_box()
    assert box is not None
    listed = p.request.get(site.url + "/api/findings?kind=text_under_box").json()
    finding_box = [float(v) for v in listed["findings"][0]["boxes"][0]]
    x0, y0, x1, y1 = finding_box
    p.mouse.move(box["x"] + (x0 - 0.005) * box["width"], box["y"] + (y0 - 0.005) * box["height"])
    p.mouse.down()
    p.mouse.move(box["x"] + (x1 + 0.005) * box["width"], box["y"] + (y1 + 0.005) * box["height"])
    p.mouse.up()
    expect(p.locator("#drawn-box")).to_be_visible()
    shot(p, "findings-box-drawn")
    with p.expect_navigation():
        p.click("#burn-box")

    # Back in the list: redact the SSN, keep everything else, then publish.
    p.goto(production_url.replace("/uploads/", "/moderation/") + "/findings")
    ssn = p.locator("#findings tbody tr[data-kind=ssn] input[name=finding]")
    ssn.check()
    with p.expect_navigation():
        p.click("#redact-checked")
    p.check("#check-all")
    with p.expect_navigation():
        p.click("#keep-checked")
    expect(p.locator("#no-findings")).to_be_visible()
    p.goto(production_url)
    expect(p.locator("#findings-notice")).to_have_count(0)
    with p.expect_navigation():
        p.click("#publish")
    expect(p.locator("#production-status")).to_have_text("published")
    public = p.locator("table#documents a", has_text="public page").first.get_attribute("href")
    assert public is not None
    shot(p, "findings-published")

    # The public side: file, text, image and search hold none of the redacted words.
    p.context.clear_cookies()
    p.goto(site.url + public)
    with httpx.Client(base_url=site.url) as visitor:
        pdf_bytes = visitor.get(public + "/original").content
        pdf = pdfium.PdfDocument(pdf_bytes)
        text = "".join(pg.get_textpage().get_text_bounded() for pg in pdf)
        assert _compact(PLANTED["hidden"]) not in _compact(text)
        assert _compact(PLANTED["ssn"]) not in _compact(text)
        assert "okapi" in text
        page_text = visitor.get(public + ".txt").text
        assert "quintanilla" not in page_text.lower()
        assert PLANTED["ssn"] not in page_text
        deadline = time.monotonic() + 30
        while True:  # the index takes the masked pages a moment after the commit
            found = visitor.get("/search.json", params={"q": "okapi"}).json()["documents"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert found
        assert visitor.get("/search.json", params={"q": "Quintanilla"}).json()["documents"] == []
        assert visitor.get("/search.json", params={"q": PLANTED["ssn"]}).json()["documents"] == []
        drawn = PIL.Image.open(io.BytesIO(visitor.get(public + "/pages/1/image.webp").content))
        grey = drawn.convert("L")
        w, h = grey.size
        inside = grey.crop((int(x0 * w) + 2, int(y0 * h) + 2, int(x1 * w) - 2, int(y1 * h) - 2))
        assert max(inside.getdata()) < 60
    p.goto(site.url + public + "/pages/1")
    expect(p.locator("body")).not_to_contain_text("Quintanilla")
    shot(p, "findings-public-page")
