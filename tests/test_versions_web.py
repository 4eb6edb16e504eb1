"""The versions on the web: a page's other versions, the compare view, a document's versions,
and the withheld pages and Bates gaps of a production and a request (HTML and ``.json``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import session_scope
from app.meili import open_search_engine
from app.models import Document
from ingest.index import index_documents
from tests.versions_helpers import GivenPage, Line, load_boxed_document, run_versions_jobs

MEMO = (
    "On March 3 the field office met with {name} about the detention contract renewal. "
    "The parties reviewed the bed count, the staffing plan for the night shift, and the "
    "medical services provided under the current agreement. {name} asked for the inspection "
    "reports of the last two years and a copy of the grievance log before the next meeting."
)
LETTER = (
    "The contractor submitted its quarterly compliance report on time. Auditors found three "
    "deficiencies in the recreation schedule and one in the visitation records. A corrective "
    "action plan is due within thirty days of this letter, signed by the facility administrator."
)
SLIP = "Page withheld pursuant to exemption (b)(5)"
DASH = "\u2013"  # the en dash of a range, as readers write it


def lines(text: str, hide: frozenset[str] = frozenset(), per_line: int = 10) -> list[Line]:
    words = text.split()
    return [
        [(w, w.strip(".,") in hide) for w in words[i : i + per_line]]
        for i in range(0, len(words), per_line)
    ]


def stamp(n: int) -> str:
    return f"ICE-2021-{n:06d}"


@dataclass(frozen=True)
class Release:
    title: str
    date: dt.date


@dataclass(frozen=True)
class Site:
    web: TestClient
    memo_a: int
    memo_b: int
    production_a: int
    production_b: int
    request: int


def soup(answer: Any) -> BeautifulSoup:
    assert answer.status_code == 200, answer.text[:400]
    return BeautifulSoup(answer.text, "html.parser")


@pytest.fixture
def site(web: TestClient, migrated_settings: Settings, tmp_path: Path) -> Site:
    settings = migrated_settings
    memo = MEMO.format(name="Dumi Kator")
    interim = Release("Interim Release 1", dt.date(2021, 6, 1))
    again = Release("Re-release", dt.date(2022, 3, 1))
    memo_a = load_boxed_document(
        settings,
        tmp_path,
        "Contract meeting memo",
        [
            GivenPage(lines(memo), stamp(1)),
            GivenPage(lines(LETTER), stamp(2)),
            GivenPage(lines(SLIP), stamp(3)),
        ],
        production=interim.title,
        release_date=interim.date,
    )
    later_a = load_boxed_document(
        settings,
        tmp_path,
        "Inspection notes",
        [GivenPage(lines(LETTER.replace("three", "four")), stamp(8))],
        production=interim.title,
        release_date=interim.date,
    )
    # The re-release hides the name under boxes, and releases two of the missing pages.
    memo_b = load_boxed_document(
        settings,
        tmp_path,
        "Contract meeting memo (re-release)",
        [
            GivenPage(lines(memo, hide=frozenset({"Dumi", "Kator"})), stamp(1)),
            GivenPage(lines(LETTER), stamp(2)),
        ],
        production=again.title,
        release_date=again.date,
    )
    found_b = load_boxed_document(
        settings,
        tmp_path,
        "Recreation schedule",
        [
            GivenPage(lines("Recreation schedule for the east housing unit " * 3), stamp(4)),
            GivenPage(lines("Visitation log summary for the west housing unit " * 3), stamp(5)),
        ],
        production=again.title,
        release_date=again.date,
    )
    ids = [memo_a, later_a, memo_b, found_b]
    with open_search_engine(settings) as engine:
        # Indexed as the pipeline leaves them, before any comparison; the versions jobs then
        # re-index the documents whose pages joined a group.
        with session_scope(settings) as session:
            index_documents(engine.client, settings, session, ids)
        run_versions_jobs(settings, ids, client=engine.client)
    with session_scope(settings) as session:
        a = session.get(Document, memo_a)
        b = session.get(Document, memo_b)
        assert a is not None
        assert b is not None
        production_a, production_b = a.productions[0], b.productions[0]
        assert production_a.request_id is not None
        return Site(web, memo_a, memo_b, production_a.id, production_b.id, production_a.request_id)


def test_a_page_lists_its_other_version_with_a_change_summary(site: Site) -> None:
    page = soup(site.web.get(f"/documents/{site.memo_a}/pages/1", follow_redirects=True))
    section = page.select_one("section.versions")
    assert section is not None
    assert section.h2 is not None
    assert section.h2.get_text() == "Other versions of this page (1)"
    link = section.select_one("a.version-link")
    assert link is not None
    assert f"/documents/{site.memo_b}-" in str(link["href"])
    summary = section.select_one(".change-summary")
    assert summary is not None
    assert "4 words shown here and not there, 0 shown there and not here" in summary.get_text()
    compare = section.select_one("a.compare-link")
    assert compare is not None
    assert compare["href"] == f"/compare/{site.memo_a}-1...{site.memo_b}-1"
    twin = site.web.get(f"/documents/{site.memo_a}/pages/1.json", follow_redirects=True).json()
    [other] = twin["page"]["other_versions"]
    assert other["words_only_here"] == 4
    assert other["words_only_there"] == 0
    assert other["compare_url"] == compare["href"]
    assert other["productions"][0]["title"] == "Re-release"


def test_the_compare_view_marks_the_words_hidden_by_a_box(site: Site) -> None:
    url = f"/compare/{site.memo_a}-1...{site.memo_b}-1"
    page = soup(site.web.get(url))
    marked = page.select("#side-a mark.diff-box.diff-redaction_box")
    assert sorted(m["data-word"] for m in marked) == ["Dumi", "Dumi", "Kator", "Kator"]
    # The boxes of version B are outlined where they are.
    assert len(page.select("#side-b .redaction-box")) == 4
    in_text = page.select("table.aligned mark.diff-redaction_box")
    assert {m.get_text() for m in in_text} == {"Dumi", "Kator"}
    assert "hidden by a redaction box in the other version" in str(in_text[0]["title"])
    summary = page.select_one(".compare-summary")
    assert summary is not None
    assert "4 hidden by a redaction box in the other version" in summary.get_text()
    twin = site.web.get(url + ".json").json()
    assert twin["counts"] == {"redaction_box": 4}
    words = twin["a"]["differing_words"]
    assert [w["text"] for w in words] == ["Dumi", "Kator", "Dumi", "Kator"]
    assert all(w["box"] is not None for w in words)
    assert twin["b"]["redaction_count"] == 4
    assert len(twin["b"]["redaction_boxes"]) == 4


def test_the_compare_view_tells_ocr_differences_from_redactions(site: Site) -> None:
    """The inspection notes read "four" where the letter reads "three": no box, no label."""
    with session_scope(site.web.app.state.settings) as session:  # type: ignore[attr-defined]
        notes = session.query(Document).filter(Document.title == "Inspection notes").one()
        notes_id = notes.id
    twin = site.web.get(f"/compare/{site.memo_a}-2...{notes_id}-1.json").json()
    reasons = {w["text"]: w["reason"] for w in twin["a"]["differing_words"]}
    assert reasons == {"three": "different"}


def test_a_document_lists_its_versions(site: Site) -> None:
    page = soup(site.web.get(f"/documents/{site.memo_a}", follow_redirects=True))
    section = page.select_one("section.versions")
    assert section is not None
    items = section.select("li")
    assert len(items) == 2
    texts = [i.get_text(" ", strip=True) for i in items]
    assert any("Contract meeting memo (re-release)" in t and "another version" in t for t in texts)
    twin = site.web.get(f"/documents/{site.memo_a}.json", follow_redirects=True).json()
    relations = {v["title"]: v["relation"] for v in twin["document"]["versions"]}
    assert relations["Contract meeting memo (re-release)"] == "same"


def test_a_production_shows_its_slip_sheets_and_bates_gaps(site: Site) -> None:
    page = soup(site.web.get(f"/productions/{site.production_a}"))
    section = page.select_one("section.withheld")
    assert section is not None
    count = section.select_one(".withheld-count")
    assert count is not None
    assert "1 page withheld in full" in count.get_text()
    assert "(b)(5) on 1" in count.get_text()
    [gap] = section.select(".bates-gaps li")
    text = gap.get_text(" ", strip=True)
    assert f"ICE-2021-000004 {DASH} 000007 not in this release" in text
    assert "2 of these pages in another release" in text
    assert f"ICE-2021-000006 {DASH} 000007 not in any release" in text
    twin = site.web.get(f"/productions/{site.production_a}.json").json()["withheld"]
    assert twin["withheld_pages"] == 1
    assert twin["by_exemption"] == [{"code": "b5", "label": "(b)(5)", "pages": 1}]
    [entry] = twin["bates_gaps"]
    assert (entry["first"], entry["last"], entry["in_other_releases"]) == (4, 7, 2)
    assert [n["label"] for n in entry["never_released"]] == [f"ICE-2021-000006 {DASH} 000007"]
    assert twin["pages_in_no_release"] == 2


def test_a_request_shows_the_numbers_no_release_carries(site: Site) -> None:
    page = soup(site.web.get(f"/requests/{site.request}"))
    section = page.select_one("section.withheld")
    assert section is not None
    gaps = [li.get_text(" ", strip=True) for li in section.select(".bates-gaps li")]
    assert gaps == [f"ICE-2021-000006 {DASH} 000007 not in any release (2 pages)"]
    twin = site.web.get(f"/requests/{site.request}.json").json()["withheld"]
    assert [g["label"] for g in twin["bates_gaps"]] == [f"ICE-2021-000006 {DASH} 000007"]
    assert twin["withheld_pages"] == 1


def test_a_compare_link_to_a_page_that_does_not_exist_is_a_clear_404(site: Site) -> None:
    answer = site.web.get(f"/compare/{site.memo_a}-1...nonsense.json")
    assert answer.status_code == 404
    assert "document-page" in answer.json()["error"]["message"]
    answer = site.web.get(f"/compare/{site.memo_a}-1...{site.memo_a}-1.json")
    assert answer.status_code == 404


def test_search_folds_the_versions_of_a_page_into_one_hit(site: Site) -> None:
    page = soup(site.web.get("/search", params={"q": "staffing plan for the night shift"}))
    results = page.select("ol.results > li.result")
    # Both releases of the memo match; one hit shows the page, the other is folded into it.
    assert len(results) == 1
    also = results[0].select_one(".page-hit .also-in")
    assert also is not None
    assert also.get_text(strip=True) == "also in 1 other release"
    folded = results[0].select_one(".also-released")
    assert folded is not None
    shown = results[0].select_one("h3 a")
    assert shown is not None
    titles = {shown.get_text(strip=True), *(a.get_text(strip=True) for a in folded.select("a"))}
    assert titles == {"Contract meeting memo", "Contract meeting memo (re-release)"}
    twin = site.web.get("/search.json", params={"q": "staffing plan for the night shift"}).json()
    [hit] = twin["documents"]
    assert hit["pages"][0]["also_in_other_releases"] == 1
    assert [f["id"] for f in hit["also_released_as"]] == [
        ({site.memo_a, site.memo_b} - {hit["id"]}).pop()
    ]
    # A page found in one release only is one hit with nothing folded.
    alone = site.web.get("/search.json", params={"q": "visitation log summary"}).json()
    assert [d["pages"][0]["also_in_other_releases"] for d in alone["documents"]] == [0]


def test_released_differently_filters_the_documents_whose_versions_differ(site: Site) -> None:
    """The memo's releases differ (a name boxed in one); the letter's do not, nor does a
    document with no other release."""
    twin = site.web.get(
        "/search.json", params={"q": "", "released_differently": "true", "per_page": 50}
    ).json()
    # Without words too, the two releases of the memo are one hit.
    [hit] = twin["documents"]
    assert {hit["id"], *(f["id"] for f in hit["also_released_as"])} == {site.memo_a, site.memo_b}
    counts = {v["value"]: v["count"] for v in twin["facets"]["released_differently"]["values"]}
    assert counts["true"] == 2
    everything = site.web.get(
        "/search.json", params={"released_differently": "false", "per_page": 50}
    ).json()
    assert site.memo_a not in {d["id"] for d in everything["documents"]}
    assert len(everything["documents"]) == 2


def test_a_request_shows_its_release_history(site: Site) -> None:
    page = soup(site.web.get(f"/requests/{site.request}"))
    rows = page.select("section.release-history tbody tr")
    assert [r["data-production"] for r in rows] == [str(site.production_a), str(site.production_b)]

    def cells(row: Any) -> dict[str, str]:
        return {
            name: row.select_one(f"td.{name}").get_text(" ", strip=True)
            for name in ("pages", "new", "fewer", "more", "withheld")
        }

    # The interim release: 4 pages, one a slip-sheet, all new.
    assert cells(rows[0]) == {"pages": "4", "new": "3", "fewer": "0", "more": "0", "withheld": "1"}
    # The re-release: the memo again (its name now boxed) and the letter again, 2 new pages.
    assert cells(rows[1]) == {"pages": "4", "new": "2", "fewer": "0", "more": "1", "withheld": "0"}
    rereleased = rows[1].select_one("td.rereleased")
    assert rereleased is not None
    assert rereleased.get_text(" ", strip=True) == "2 (from Interim Release 1 )"
    twin = site.web.get(f"/requests/{site.request}.json").json()["release_history"]
    assert [h["production"]["id"] for h in twin] == [site.production_a, site.production_b]
    assert twin[1]["rereleased_pages"] == 2
    assert twin[1]["rereleased_with_more_redactions"] == 1
    assert twin[1]["rereleases"][0]["id"] == site.production_a


def test_exemption_statistics_per_request_and_per_agency(site: Site) -> None:
    page = soup(site.web.get(f"/requests/{site.request}"))
    section = page.select_one("section.exemption-stats")
    assert section is not None
    header = [th.get_text(strip=True) for th in section.select("table.stats thead th")]
    assert header == ["Release", "Pages", "Redaction boxes", "Withheld in full", "(b)(5)"]
    body = [
        [c.get_text(strip=True) for c in tr.select("th, td")]
        for tr in section.select("table.stats tbody tr")
    ]
    assert body == [["Interim Release 1", "4", "0", "1", "1"], ["Re-release", "4", "4", "0", "0"]]
    # The chart: one bar (the (b)(5) slip-sheet of the interim release), titled for readers.
    bars = section.select("svg rect.bar")
    assert [b.title.get_text() for b in bars if b.title] == ["Interim Release 1: (b)(5) on 1 page"]
    twin = site.web.get(f"/requests/{site.request}.json").json()["exemption_stats"]
    assert [p["redaction_boxes"] for p in twin["periods"]] == [0, 4]
    assert twin["periods"][0]["exemptions"] == {"b5": 1}
    agency = site.web.get("/agencies/ice.json").json()["exemption_stats"]
    assert [(p["label"], p["pages"], p["withheld_pages"]) for p in agency["periods"]] == [
        ("2021", 4, 1),
        ("2022", 4, 0),
    ]
    html = soup(site.web.get("/agencies/ice"))
    assert html.select_one("section.exemption-stats svg") is not None


def test_the_feed_says_a_re_release_shows_fewer_redactions(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    memo = MEMO.format(name="Dumi Kator")
    first = load_boxed_document(
        migrated_settings,
        tmp_path,
        "Memo",
        [GivenPage(lines(memo, hide=frozenset({"Dumi", "Kator"})), stamp(1))],
        production="First release",
        release_date=dt.date(2021, 6, 1),
    )
    again = load_boxed_document(
        migrated_settings,
        tmp_path,
        "Memo, court-ordered",
        [GivenPage(lines(memo), stamp(1))],
        production="Court-ordered release",
        release_date=dt.date(2022, 3, 1),
    )
    run_versions_jobs(migrated_settings, [first, again])
    answer = web.get("/feeds/productions.atom")
    assert answer.status_code == 200
    root = ET.fromstring(answer.content)  # noqa: S314 - our own output, parsed to check it
    atom = "{http://www.w3.org/2005/Atom}"
    entries = {
        (e.findtext(f"{atom}title") or "").rsplit(": ", 1)[-1]: (
            e.findtext(f"{atom}summary") or "",
            [c.get("term") for c in e.findall(f"{atom}category")],
        )
        for e in root.findall(f"{atom}entry")
    }
    summary, terms = entries["Court-ordered release"]
    assert summary.endswith(
        "Re-releases 1 page of earlier releases (First release), 1 of them with fewer redactions."
    )
    assert "fewer-redactions" in terms
    summary, terms = entries["First release"]
    assert "Re-releases" not in summary
    assert "fewer-redactions" not in terms
