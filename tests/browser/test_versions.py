"""Releases compared, in Debian's headless chromium (issue 11).

Two releases of one memo: the interim release shows a name, the re-release has it under
black boxes. A reader opens the interim page, finds "Other versions of this page (1)",
follows "Compare", and sees the hidden name marked in the aligned text and over the page
image, where the other release has its boxes. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from app import migrate
from app.meili.managed import Endpoint
from tests.browser.support import Site, served, shot, site_settings
from tests.versions_helpers import GivenPage, Line, load_boxed_document, run_versions_jobs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MEMO = (
    "On March 3 the field office met with Dumi Kator about the detention contract renewal. "
    "The parties reviewed the bed count, the staffing plan for the night shift, and the "
    "medical services provided under the current agreement. Dumi Kator asked for the "
    "inspection reports of the last two years and a copy of the grievance log."
)


def _lines(hide: frozenset[str]) -> list[Line]:
    words = MEMO.split()
    return [
        [(w, w.strip(".,") in hide) for w in words[i : i + 10]] for i in range(0, len(words), 10)
    ]


@dataclass(frozen=True)
class Releases:
    site: Site
    interim: int
    again: int


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    meili_endpoint: Endpoint,
    module_database_url: str | None,
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("versions-e2e")
    settings = site_settings(folder / "var", meili_endpoint, "ve", module_database_url)
    migrate.upgrade(settings)
    with served(settings, meili_endpoint) as site:
        yield site


@pytest.fixture(scope="module")
def releases(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Releases:
    folder = tmp_path_factory.mktemp("versions-pdfs")
    interim = load_boxed_document(
        site.settings,
        folder,
        "Contract meeting memo",
        [GivenPage(_lines(frozenset()), "ICE-2021-000001")],
        production="Interim Release 1",
        release_date=dt.date(2021, 6, 1),
    )
    again = load_boxed_document(
        site.settings,
        folder,
        "Contract meeting memo (re-release)",
        [GivenPage(_lines(frozenset({"Dumi", "Kator"})), "ICE-2021-000001")],
        production="Re-release",
        release_date=dt.date(2022, 3, 1),
    )
    run_versions_jobs(site.settings, [interim, again])
    return Releases(site, interim, again)


def test_a_reader_goes_from_a_page_to_the_compare_view_and_sees_the_hidden_words(
    releases: Releases, page: Page
) -> None:
    p = page
    p.goto(f"{releases.site.url}/documents/{releases.interim}/pages/1")
    section = p.locator("section.versions")
    expect(section.locator("h2")).to_have_text("Other versions of this page (1)")
    expect(section.locator(".change-summary")).to_contain_text("4 words shown here and not there")
    section.locator("a.compare-link").click()
    p.wait_for_url(f"**/compare/{releases.interim}-1...{releases.again}-1")
    expect(p.locator(".compare-summary")).to_contain_text(
        "4 hidden by a redaction box in the other version"
    )
    # In the aligned text: the name, marked as hidden by a box in the re-release.
    marked = p.locator("table.aligned mark.diff-redaction_box")
    expect(marked).to_have_count(4)
    assert sorted(marked.all_inner_texts()) == ["Dumi", "Dumi", "Kator", "Kator"]
    # Over the image of version A: the marks are drawn on the page, where the words stand,
    # and version B outlines its boxes at the same places.
    p.locator("#side-a img.page-image").evaluate("img => img.decode()")
    ax, ay, aw, ah = _rect(p.locator("#side-a img.page-image"))
    assert aw > 100
    marks = sorted(_rect(m) for m in p.locator("#side-a mark.diff-box").all())
    assert len(marks) == 4
    for x, y, w, h in marks:
        assert w > 0
        assert h > 0
        assert ax <= x <= ax + aw
        assert ay <= y <= ay + ah
    bx, by, _, _ = _rect(p.locator("#side-b img.page-image"))
    outlines = sorted(_rect(r) for r in p.locator("#side-b .redaction-box").all())
    assert len(outlines) == 4
    for (mx, my, _, _), (ox, oy, _, _) in zip(
        sorted(marks, key=_place), sorted(outlines, key=_place), strict=True
    ):
        # The same place on each page, relative to its image (a few pixels of box margin).
        assert abs((mx - ax) - (ox - bx)) < 8
        assert abs((my - ay) - (oy - by)) < 8
    assert marked.first.get_attribute("title") == "hidden by a redaction box in the other version"
    shot(p, "versions-compare")


Rect = tuple[float, float, float, float]


def _rect(locator: Locator) -> Rect:
    box = locator.bounding_box()
    assert box is not None, "not drawn"
    return box["x"], box["y"], box["width"], box["height"]


def _place(rect: Rect) -> tuple[float, float]:
    """Reading order: rows of 10 pixels, then left to right."""
    return round(rect[1] / 10), rect[0]
