"""The site's pages, asserted on parsed HTML and on their JSON twins."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.config import Settings
from app.highlight import POST, PRE, highlight_html
from ingest.run import IngestTarget, ingest_paths
from tests.pdfs import make_text_pdf


def _ingest(settings: Settings, path: Path) -> int:
    outcomes = ingest_paths(settings, [path], IngestTarget(agency="ICE", production="Release 1"))
    return outcomes[0].document_id


def test_highlight_escapes_text_before_marking() -> None:
    html = highlight_html(f"<script>alert(1)</script> {PRE}facial{POST} & {PRE}cut")
    assert str(html) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>facial</mark> &amp; <mark>cut</mark>"
    )


def test_page_text_with_markup_shows_as_text_in_results_and_pages(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "x.pdf", ['<script>alert("pwned")</script> quetzal report'])
    doc_id = _ingest(migrated_settings, pdf)

    results = BeautifulSoup(web.get("/search", params={"q": "quetzal"}).text, "html.parser")
    # Only our own external scripts may appear; the page's text never becomes an element.
    assert all(script.get("src") for script in results.find_all("script"))
    snippet = results.select_one(".snippet")
    assert snippet is not None
    mark = snippet.find("mark")
    assert mark is not None
    assert mark.text == "quetzal"
    assert '<script>alert("pwned")</script>' in snippet.text

    link = results.select_one("a.page-link")
    assert link is not None
    page = BeautifulSoup(web.get(str(link["href"])).text, "html.parser")
    assert all(script.get("src") for script in page.find_all("script"))
    assert page.title is not None
    assert "page 1" in page.title.text
    canonical = page.find("link", rel="canonical")
    assert canonical is not None
    assert f"/documents/{doc_id}-" in str(canonical["href"])


def test_wrong_slug_redirects_to_the_canonical_url(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    doc_id = _ingest(migrated_settings, make_text_pdf(tmp_path / "Field Memo.pdf", ["a", "b"]))
    answer = web.get(f"/documents/{doc_id}-old-title/pages/2", follow_redirects=False)
    assert answer.status_code == 301
    assert answer.headers["location"] == f"/documents/{doc_id}-field-memo/pages/2"
    bare = web.get(f"/documents/{doc_id}.json", follow_redirects=False)
    assert bare.headers["location"] == f"/documents/{doc_id}-field-memo.json"
    document = web.get(f"/documents/{doc_id}-field-memo.json").json()
    assert [p["number"] for p in document["pages"]] == [1, 2]
    html = web.get(f"/documents/{doc_id}-field-memo")
    assert 'rel="alternate"' in html.headers["link"]


def test_errors_share_one_envelope(web: TestClient) -> None:
    missing = web.get("/documents/999999-nothing.json")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    too_long = web.get("/search.json", params={"q": "x" * 501})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "invalid_input"
    html = web.get("/documents/999999-nothing")
    assert html.status_code == 404
    soup = BeautifulSoup(html.text, "html.parser")
    assert soup.h1 is not None
    assert soup.h1.text == "Not found"


def test_home_and_empty_search_guide_the_reader(web: TestClient) -> None:
    home = BeautifulSoup(web.get("/").text, "html.parser")
    assert home.find("form", role="search") is not None
    assert home.find("label", attrs={"for": "home-q"}) is not None
    assert web.get("/index.json").json()["totals"] == {"documents": 0, "pages": 0}
    empty = BeautifulSoup(web.get("/search", params={"q": "nothingmatches"}).text, "html.parser")
    message = empty.select_one(".empty")
    assert message is not None
    assert "No released page matches" in message.text
