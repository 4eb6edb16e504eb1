"""End to end in Debian's headless chromium: search, land on the page, follow a Bates link,
download the original, narrow with a facet. Screenshots go to ``test-artifacts/screenshots/``.

The app runs for real (uvicorn on a free port, in a thread) over a data folder where the demo
production was ingested once for the module. Only born-digital demo files are searched: the
scanned ones have text only once OCR runs in the pipeline.
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
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from pydantic import SecretStr
from sqlalchemy import select

from app import migrate
from app.config import PROJECT_ROOT, Settings
from app.db import session_scope
from app.main import create_app
from app.meili import MeiliClient
from app.meili.managed import Endpoint
from app.models import Document
from ingest.demo import DEMO, generate_demo_production
from ingest.run import IngestTarget, ingest_paths
from ingest.storage import original_path

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
MEMO = "ICE-2021-000003_memo_pilot_approval.pdf"


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
    """The demo production ingested into a fresh data folder, served by uvicorn."""
    port = _free_port()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("e2e") / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=f"e2e{uuid.uuid4().hex[:10]}_",
        base_url=f"http://127.0.0.1:{port}",
    )
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
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


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
    _shot(p, "home")
    p.fill("#home-q", '"GLASS HERON"')
    p.press("#home-q", "Enter")
    p.wait_for_url(re.compile(r"/search\?"))
    p.wait_for_selector("a.page-link")
    _shot(p, "results")

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
    _shot(p, "page")

    p.locator(".crumbs a").last.click()
    p.wait_for_selector("section.reader")
    assert p.locator("section.reader .page").count() == 2
    _shot(p, "document")

    p.locator(".crumbs a", has_text=DEMO.production).first.click()
    p.wait_for_selector("table.documents")
    assert p.locator("table.documents tbody tr").count() == len(DEMO.files)
    _shot(p, "production")


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
    if facets.count() == 0:
        pytest.skip("facets not built yet")
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
    _shot(p, "results-filtered")
