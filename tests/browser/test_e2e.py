"""End to end in Debian's headless chromium: search, land on the page, follow a Bates link,
download the original, narrow with a facet. Screenshots go to ``test-artifacts/screenshots/``.

The app runs for real (uvicorn on a free port, in a thread) over a data folder where the demo
production was ingested once for the module. Only born-digital demo files are searched: the
scanned ones have text only once OCR runs in the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.meili.managed import Endpoint
from app.models import Document
from ingest.demo import DEMO, generate_demo_production
from ingest.run import IngestTarget, ingest_paths
from ingest.storage import original_path
from tests.browser.support import Site, served, shot, site_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MEMO = "ICE-2021-000003_memo_pilot_approval.pdf"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    meili_endpoint: Endpoint,
    module_database_url: str | None,
) -> Iterator[Site]:
    """The demo production ingested into a fresh installation (on each database), served by
    uvicorn."""
    folder = tmp_path_factory.mktemp("e2e") / "var"
    settings = site_settings(folder, meili_endpoint, "e2e", module_database_url)
    migrate.upgrade(settings)
    paths = generate_demo_production(settings.resolved_data_dir / "demo")
    ingest_paths(
        settings,
        paths,
        IngestTarget(
            agency=DEMO.agency,
            production=DEMO.production,
            request=DEMO.request,
            release_date=DEMO.release_date,
            languages="eng+spa",
        ),
    )
    with served(settings, meili_endpoint) as site:
        yield site


def _document_sha256(settings: Settings, filename: str) -> str:
    with session_scope(settings) as session:
        sha: str | None = session.scalar(
            select(Document.sha256).where(Document.original_filename == filename)
        )
    assert sha is not None
    return sha


def test_search_lands_on_the_highlighted_page(site: Site, page: Page) -> None:
    p = page
    p.goto(site.url + "/")
    shot(p, "home")
    p.fill("#home-q", '"GLASS HERON"')
    p.press("#home-q", "Enter")
    p.wait_for_url(re.compile(r"/search\?"))
    p.wait_for_selector("a.page-link")
    shot(p, "results")

    # A result for the approval memo links to its page that names the pilot.
    link = p.locator("a.page-link[href*='memorandum-request-to-approve']").first
    link.click()
    p.wait_for_url(re.compile(r"/pages/\d+\?q="))
    hits = p.locator(".page-canvas mark.hit")
    assert hits.count() >= 2  # GLASS and HERON
    assert hits.first.is_visible()
    box = hits.first.bounding_box()
    image = p.locator(".page-canvas img").bounding_box()
    assert box is not None
    assert image is not None
    # The overlay lies on the image, and the image has really loaded.
    assert image["x"] <= box["x"] <= image["x"] + image["width"]
    assert image["y"] <= box["y"] <= image["y"] + image["height"]
    assert p.evaluate("document.querySelector('.page-canvas img').naturalWidth") > 500
    marked = p.locator("pre.page-text mark").all_text_contents()
    assert any("GLASS" in m and "HERON" in m for m in marked)
    shot(p, "page")

    p.locator(".crumbs a").last.click()
    p.wait_for_selector("section.reader")
    assert p.locator("section.reader .page").count() == 2
    shot(p, "document")

    p.locator(".crumbs a", has_text=DEMO.production).first.click()
    p.wait_for_selector("table.documents")
    assert p.locator("table.documents tbody tr").count() == len(DEMO.files)
    shot(p, "production")


def test_bates_link_and_original_download(site: Site, page: Page) -> None:
    p = page
    p.goto(site.url + "/bates/ice-2021-000004")
    assert re.search(r"/documents/\d+-memorandum-[a-z0-9-]+/pages/2$", p.url)

    p.locator(".crumbs a").last.click()
    p.locator("dl.metadata a.bates", has_text="ICE-2021-000003").click()
    p.wait_for_url(re.compile(r"/pages/1$"))
    assert p.locator("h1 .bates").inner_text() == "ICE-2021-000003"

    p.locator(".crumbs a").last.click()
    with p.expect_download() as download_info:
        p.locator("a", has_text="Original file").click()
    download = download_info.value
    assert download.suggested_filename == MEMO
    stored = original_path(site.settings.files_dir, _document_sha256(site.settings, MEMO))
    assert Path(download.path()).read_bytes() == stored.read_bytes()


def test_a_facet_narrows_the_results(site: Site, page: Page) -> None:
    p = page
    p.goto(site.url + "/search?q=FaceTrace")
    facets = p.locator("fieldset.facet input[type=checkbox]")
    assert facets.count() > 0, "the results page shows no facets"
    before = p.locator("ol.results > li").count()
    type_facet = p.locator("#facet-type input[type=checkbox]")
    chosen = type_facet.first if type_facet.count() else facets.first
    label = p.locator(f"label[for='{chosen.get_attribute('id')}']").inner_text()
    expected = int(re.search(r"\(([\d,]+)\)", label).group(1).replace(",", ""))  # type: ignore[union-attr]
    chosen.check()
    p.locator("button.apply").click()
    p.wait_for_url(re.compile(r"[?&](type|agency|request|production|year|exemption|redacted)="))
    p.wait_for_selector("ol.results > li")
    after = p.locator("ol.results > li").count()
    assert 0 < after <= before
    assert after == min(expected, 10)
    assert urlsplit(p.url).path == "/search"
    shot(p, "results-filtered")
