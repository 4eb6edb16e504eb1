"""Browse pages: home, agencies, requests, productions, sitemap and robots.txt.

Only published productions and public documents are listed; a production says how many of its
files are not shown and why.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import session_scope
from app.models import Document, DocumentState, FoiaRequest, Production
from app.routes import site
from app.services import browse
from ingest.storage import original_path
from tests.archive_helpers import add_document, document_url, update_document
from tests.pdfs import make_text_pdf

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_serial = itertools.count(1)


def soup(answer: Any) -> BeautifulSoup:
    assert answer.status_code == 200, answer.text[:300]
    return BeautifulSoup(answer.text, "html.parser")


def one(node: BeautifulSoup | Tag, selector: str) -> Tag:
    found = node.select_one(selector)
    assert found is not None, selector
    return found


def _doc(settings: Settings, tmp_path: Path, title: str, pages: int = 1, **where: Any) -> int:
    n = next(_serial)
    texts = [f"{title} page {p} ({n})" for p in range(1, pages + 1)]
    pdf = make_text_pdf(tmp_path / f"doc-{n}.pdf", texts)
    return add_document(settings, pdf, texts, title=title, **where)


@pytest.fixture
def archive(migrated_settings: Settings, tmp_path: Path) -> dict[str, int]:
    """ICE (under DHS) with two published productions, CBP with a draft only."""
    s = migrated_settings
    release_1: dict[str, Any] = {
        "production": "Interim Release 1",
        "request": "2021-ICFO-21457",
        "release_date": dt.date(2021, 9, 14),
    }
    release_2: dict[str, Any] = {
        "production": "Interim Release 2",
        "request": "2021-ICFO-21457",
        "release_date": dt.date(2021, 11, 2),
    }
    ids = {
        "memo": _doc(s, tmp_path, "Pilot memo", 2, **release_1),
        "email": _doc(s, tmp_path, "Trial email", 3, **release_1),
        "letter": _doc(s, tmp_path, "Pricing letter", 1, **release_2),
        "locked": _doc(s, tmp_path, "Locked file", **release_2),
        "broken": _doc(s, tmp_path, "Broken file", **release_2),
        "busy": _doc(s, tmp_path, "Busy file", **release_2),
        "gone": _doc(s, tmp_path, "Gone file", **release_2),
        "held": _doc(s, tmp_path, "Held file", **release_2),
        "draft": _doc(s, tmp_path, "Draft memo", agency="CBP", production="Draft", published=False),
    }
    update_document(
        s,
        ids["locked"],
        state=DocumentState.ENCRYPTED,
        state_reason="this file is password-protected: retry with its password",
    )
    update_document(
        s, ids["broken"], state=DocumentState.FAILED, state_reason="the file is not a PDF"
    )
    update_document(s, ids["busy"], state=DocumentState.PROCESSING)
    update_document(
        s,
        ids["gone"],
        taken_down_at=dt.datetime.now(dt.UTC),
        taken_down_reason="privacy request",
    )
    update_document(s, ids["held"], published=False)
    with session_scope(s) as session:
        for production in session.query(Production).all():
            ids[f"production:{production.title}"] = production.id
        for request in session.query(FoiaRequest).all():
            ids[f"request:{request.tracking_number}"] = request.id
    return ids


def test_home_lists_the_latest_published_productions(
    web: TestClient, archive: dict[str, int]
) -> None:
    home = soup(web.get("/"))
    items = home.select("ul.productions li.production-item")
    assert [one(i, "h3").get_text(strip=True) for i in items] == [
        "Interim Release 2",
        "Interim Release 1",
    ]
    assert one(items[1], "p.counts").get_text() == "2 documents, 5 pages"
    assert one(items[0], "p.counts").get_text() == "1 document, 1 page"
    assert "2021-ICFO-21457" in one(items[1], "p.meta").get_text()
    assert "3 documents, 6 pages in 2 productions" in one(home, ".totals").get_text()
    twin = web.get("/index.json").json()
    assert twin["totals"] == {"documents": 3, "pages": 6}
    assert twin["productions"] == 2
    latest = twin["latest_productions"]
    assert [p["title"] for p in latest] == ["Interim Release 2", "Interim Release 1"]
    assert latest[1]["agency"]["slug"] == "ice"
    assert latest[1]["request"]["tracking_number"] == "2021-ICFO-21457"
    assert (latest[1]["documents"], latest[1]["pages"]) == (2, 5)
    assert web.get("/.json").json() == twin  # the twin the Link header of "/" names


def test_agencies_nest_components_under_departments(
    web: TestClient, archive: dict[str, int]
) -> None:
    page = soup(web.get("/agencies"))
    rows = [(r["class"], one(r, "th a").get_text()) for r in page.select("table.listing tbody tr")]
    assert rows == [
        (["depth-0"], "U.S. Department of Homeland Security"),
        (["depth-1"], "U.S. Immigration and Customs Enforcement"),
    ]
    agencies = web.get("/agencies.json").json()["agencies"]
    ice = agencies[1]
    assert (ice["slug"], ice["parent"]["slug"], ice["productions"], ice["documents"]) == (
        "ice",
        "dhs",
        2,
        3,
    )
    assert [a["slug"] for a in agencies] == ["dhs", "ice"]  # CBP has only a draft


def test_agency_page_lists_requests_and_productions(
    web: TestClient, archive: dict[str, int]
) -> None:
    page = soup(web.get("/agencies/ice"))
    assert one(page, "h1").get_text(" ", strip=True) == (
        "U.S. Immigration and Customs Enforcement (ICE)"
    )
    assert one(page, ".crumbs").get_text(" ", strip=True) == (
        "Agencies \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "
        "U.S. Department of Homeland Security"
    )
    request_id = archive["request:2021-ICFO-21457"]
    assert one(page, "#requests-h + ul a")["href"] == f"/requests/{request_id}"
    twin = web.get("/agencies/ice.json").json()
    assert twin["agency"]["parent"]["slug"] == "dhs"
    assert [r["productions"] for r in twin["requests"]] == [2]
    assert [p["title"] for p in twin["productions"]] == ["Interim Release 2", "Interim Release 1"]
    parent = web.get("/agencies/dhs.json").json()
    assert [c["slug"] for c in parent["children"]] == ["ice"]
    assert web.get("/agencies/cbp").status_code == 404
    assert web.get("/agencies/nothing.json").json()["error"]["code"] == "not_found"


def test_request_page_lists_its_productions(web: TestClient, archive: dict[str, int]) -> None:
    request_id = archive["request:2021-ICFO-21457"]
    page = soup(web.get(f"/requests/{request_id}"))
    assert one(page, "h1").get_text() == "FOIA request 2021-ICFO-21457"
    assert len(page.select("li.production-item")) == 2
    twin = web.get(f"/requests/{request_id}.json").json()
    assert twin["request"]["agency"]["slug"] == "ice"
    assert web.get("/requests/999999").status_code == 404
    assert web.get("/requests/abc").status_code == 400


def test_production_lists_public_documents_and_says_what_is_missing(
    web: TestClient, archive: dict[str, int], migrated_settings: Settings
) -> None:
    production_id = archive["production:Interim Release 2"]
    page = soup(web.get(f"/productions/{production_id}"))
    titles = [a.get_text() for a in page.select("table.documents th a")]
    assert titles == ["Pricing letter"]
    link = one(page, "table.documents th a")["href"]
    assert link == document_url(migrated_settings, archive["letter"])
    missing = [li.get_text(" ", strip=True) for li in page.select(".unavailable li")]
    assert sorted(missing) == [
        "1 file being processed",
        "1 file could not be read : the file is not a PDF",
        "1 file not published",
        "1 file password-protected : this file is password-protected: retry with its password",
        "1 file taken down",
    ]
    twin = web.get(f"/productions/{production_id}.json").json()
    assert twin["production"]["documents"] == 1
    assert twin["paging"] == {"page": 1, "per_page": 100, "total": 1, "pages": 1}
    states = {g["state"]: g for g in twin["unavailable"]}
    assert set(states) == {"encrypted", "failed", "processing", "taken_down", "withheld"}
    assert states["encrypted"]["reasons"] == [
        "this file is password-protected: retry with its password"
    ]
    assert states["taken_down"]["reasons"] == []
    draft = archive["production:Draft"]
    assert web.get(f"/productions/{draft}").status_code == 404
    assert web.get(f"/productions/{production_id}", params={"page": 2}).status_code == 400


def _zip(answer: Any) -> zipfile.ZipFile:
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(answer.content))


def _stored(settings: Settings, document_id: int) -> bytes:
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        return original_path(settings.files_dir, document.sha256).read_bytes()


def test_a_production_downloads_as_one_zip_of_its_public_originals(
    web: TestClient, archive: dict[str, int], migrated_settings: Settings
) -> None:
    first = archive["production:Interim Release 1"]
    page = soup(web.get(f"/productions/{first}"))
    link = one(page, "p.download a")
    assert link["href"] == f"/productions/{first}/download.zip"
    assert link.get_text() == "Download all 2 documents"
    twin = web.get(f"/productions/{first}.json").json()
    assert twin["download"]["url"] == f"/productions/{first}/download.zip"
    assert twin["download"]["documents"] == 2
    sizes = [len(_stored(migrated_settings, archive[k])) for k in ("memo", "email")]
    assert twin["download"]["bytes"] == sum(sizes)

    answer = web.get(f"/productions/{first}/download.zip")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="ice-interim-release-1-')
    with _zip(answer) as bundle:
        assert bundle.testzip() is None  # every member's CRC checks
        names = bundle.namelist()
        assert names[-1] == "manifest.csv"
        members = names[:-1]
        assert [m.split("-", 1)[0] for m in members] == ["0001", "0002"]
        for member, key in zip(members, ("memo", "email"), strict=True):
            assert bundle.read(member) == _stored(migrated_settings, archive[key])  # as stored
        manifest = list(csv.DictReader(io.StringIO(bundle.read("manifest.csv").decode())))
    assert [row["title"] for row in manifest] == ["Pilot memo", "Trial email"]
    assert [row["file"] for row in manifest] == members
    assert [row["pages"] for row in manifest] == ["2", "3"]
    memo_url = document_url(migrated_settings, archive["memo"])
    assert manifest[0]["url"] == migrated_settings.base_url.rstrip("/") + memo_url

    # Release 2 holds one public document among files that are taken down, unpublished,
    # still processing or unreadable: only that one is in its ZIP.
    second = archive["production:Interim Release 2"]
    with _zip(web.get(f"/productions/{second}/download.zip")) as bundle:
        assert len(bundle.namelist()) == 2
        assert bundle.read(bundle.namelist()[0]) == _stored(migrated_settings, archive["letter"])
    draft = archive["production:Draft"]
    assert web.get(f"/productions/{draft}/download.zip").status_code == 404
    assert web.get("/productions/999999/download.zip").status_code == 404


def test_a_lost_original_is_named_in_the_manifest_and_the_zip_stays_whole(
    web: TestClient, archive: dict[str, int], migrated_settings: Settings
) -> None:
    with session_scope(migrated_settings) as session:
        memo = session.get(Document, archive["memo"])
        assert memo is not None
        original_path(migrated_settings.files_dir, memo.sha256).unlink()
    first = archive["production:Interim Release 1"]
    with _zip(web.get(f"/productions/{first}/download.zip")) as bundle:
        assert bundle.testzip() is None
        assert len(bundle.namelist()) == 2  # the email and the manifest
        manifest = list(csv.DictReader(io.StringIO(bundle.read("manifest.csv").decode())))
    assert manifest[0]["title"] == "Pilot memo"
    assert manifest[0]["file"].startswith("(missing: ")
    assert manifest[1]["file"] == bundle.namelist()[0]


def test_production_documents_are_paged(
    web: TestClient, archive: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browse, "DOCUMENTS_PER_PAGE", 1)
    production_id = archive["production:Interim Release 1"]
    first = soup(web.get(f"/productions/{production_id}"))
    assert [a.get_text() for a in first.select("table.documents th a")] == ["Pilot memo"]
    assert one(first, "a[rel=next]")["href"] == f"/productions/{production_id}?page=2"
    second = web.get(f"/productions/{production_id}.json", params={"page": 2}).json()
    assert [d["title"] for d in second["documents"]] == ["Trial email"]
    assert second["paging"]["pages"] == 2


def test_markup_in_catalogue_names_is_shown_as_text(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    evil = "<script>alert(1)</script>"
    _doc(migrated_settings, tmp_path, f"Doc {evil}", production=f"Release {evil}", request=evil)
    for path in ("/", "/agencies/ice", "/productions/1", "/requests/1"):
        page = soup(web.get(path))
        assert all(script.get("src") for script in page.find_all("script")), path
        assert evil in page.get_text(), path


def _locs(answer: Any) -> tuple[str, list[str]]:
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/xml"
    root = ET.fromstring(answer.content)  # noqa: S314 - our own sitemap, in a test
    return root.tag.removeprefix(SITEMAP), [loc.text or "" for loc in root.iter(f"{SITEMAP}loc")]


def test_sitemap_lists_public_pages_only(
    web: TestClient, archive: dict[str, int], migrated_settings: Settings
) -> None:
    kind, locs = _locs(web.get("/sitemap.xml"))
    base = "http://127.0.0.1:8000"
    assert kind == "urlset"
    public = {archive["memo"], archive["email"], archive["letter"]}
    expected_docs = {base + document_url(migrated_settings, i) for i in public}
    assert {loc for loc in locs if "/documents/" in loc} == expected_docs
    assert f"{base}/productions/{archive['production:Interim Release 2']}" in locs
    assert f"{base}/productions/{archive['production:Draft']}" not in locs
    assert f"{base}/agencies/ice" in locs
    assert f"{base}/agencies/cbp" not in locs
    assert f"{base}/requests/{archive['request:2021-ICFO-21457']}" in locs


def test_a_big_sitemap_becomes_an_index(
    web: TestClient, archive: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site, "SITEMAP_LIMIT", 2)
    kind, parts = _locs(web.get("/sitemap.xml"))
    base = "http://127.0.0.1:8000"
    assert kind == "sitemapindex"
    assert parts == [
        f"{base}/sitemaps/listings.xml",
        f"{base}/sitemaps/documents-1.xml",
        f"{base}/sitemaps/documents-2.xml",
    ]
    documents = [_locs(web.get(p.removeprefix(base)))[1] for p in parts[1:]]
    assert [len(d) for d in documents] == [2, 1]
    assert web.get("/sitemaps/documents-3.xml").status_code == 404


def test_robots_allows_all_but_the_api_and_the_search_feed(web: TestClient) -> None:
    answer = web.get("/robots.txt")
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert lines[:4] == ["User-agent: *", "Allow: /", "Disallow: /api/", "Disallow: /search.atom"]
    assert "Sitemap: http://127.0.0.1:8000/sitemap.xml" in lines
