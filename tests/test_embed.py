"""oEmbed and the embeddable page view; only embeds may be framed by other sites."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.config import Settings
from tests.archive_helpers import add_document, document_url, update_document, update_page
from tests.pdfs import make_text_pdf

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def memo(migrated_settings: Settings, tmp_path: Path) -> tuple[int, str]:
    texts = ["the quetzal pilot", "second page"]
    doc_id = add_document(
        migrated_settings,
        make_text_pdf(tmp_path / "memo.pdf", texts),
        texts,
        title='Memo <script>alert("x")</script>',
    )
    update_page(migrated_settings, doc_id, 2, bates_number="ICE-2021-000002")
    return doc_id, document_url(migrated_settings, doc_id)


def test_oembed_answers_a_rich_iframe_for_pages_and_documents(
    web: TestClient, memo: tuple[int, str]
) -> None:
    _, url = memo
    page = web.get("/oembed", params={"url": f"{BASE}{url}/pages/2?q=quetzal", "format": "json"})
    assert page.status_code == 200
    body = page.json()
    assert body["version"] == "1.0"
    assert body["type"] == "rich"
    assert body["provider_name"] == "readingroom"
    assert body["url"] == f"{BASE}{url}/pages/2"
    assert body["thumbnail_url"] == f"{BASE}{url}/pages/2/thumb.webp"
    assert (body["width"], body["thumbnail_width"]) == (600, 200)
    frame = BeautifulSoup(body["html"], "html.parser").iframe
    assert frame is not None
    assert frame["src"] == f"{BASE}{url}/pages/2/embed?q=quetzal"
    assert frame["title"] == 'Memo <script>alert("x")</script>, page 2'
    assert "<script>" not in body["html"]  # the title is escaped inside the attribute
    assert (frame["width"], frame["height"]) == (str(body["width"]), str(body["height"]))

    document = web.get("/oembed.json", params={"url": f"{BASE}{url}", "maxwidth": 300}).json()
    assert BeautifulSoup(document["html"], "html.parser").iframe["src"] == (  # type: ignore[index]
        f"{BASE}{url}/pages/1/embed"
    )
    assert document["width"] == 300
    small = web.get("/oembed.json", params={"url": f"{url}/pages/1", "maxheight": 200}).json()
    assert small["height"] == 200


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://elsewhere.example/documents/1-x", 404),
        (f"{BASE}/agencies/ice", 404),
        (f"{BASE}/documents/999999-nothing", 404),
        (f"{BASE}/documents/1-memo/pages/9", 404),
        ("javascript:alert(1)", 400),
    ],
)
def test_oembed_refuses_what_is_not_a_public_page_here(
    web: TestClient, memo: tuple[int, str], url: str, status: int
) -> None:
    answer = web.get("/oembed.json", params={"url": url})
    assert answer.status_code == status
    assert answer.json()["error"]["status"] == status


def test_oembed_speaks_json_only_and_respects_takedowns(
    web: TestClient, memo: tuple[int, str], migrated_settings: Settings
) -> None:
    doc_id, url = memo
    xml = web.get("/oembed.json", params={"url": f"{BASE}{url}", "format": "xml"})
    assert xml.status_code == 501
    assert xml.json()["error"]["code"] == "not_implemented"
    update_document(migrated_settings, doc_id, taken_down_at=dt.datetime.now(dt.UTC))
    assert web.get("/oembed.json", params={"url": f"{BASE}{url}"}).status_code == 410


def test_embed_view_is_minimal_and_links_back(web: TestClient, memo: tuple[int, str]) -> None:
    _, url = memo
    answer = web.get(f"{url}/pages/1/embed", params={"q": "quetzal"})
    assert answer.status_code == 200
    page = BeautifulSoup(answer.text, "html.parser")
    assert page.select(".site-header") == []  # no site chrome inside someone else's article
    assert page.select(".page-canvas mark.hit")  # the query is drawn on the image
    back = page.select_one("a[target=_blank]")
    assert back is not None
    assert back["href"] == f"{BASE}{url}/pages/1?q=quetzal"
    assert back["rel"] == ["noopener"]
    assert page.select_one("details.page-text-box pre.page-text") is not None
    assert all(script.get("src") for script in page.find_all("script"))
    twin = web.get(f"{url}/pages/1/embed.json").json()
    assert twin["page"]["number"] == 1


def test_only_embeds_may_be_framed_by_other_sites(web: TestClient, memo: tuple[int, str]) -> None:
    _, url = memo
    # The full policy is checked in test_security.py; here only who may frame what.
    embed = web.get(f"{url}/pages/1/embed")
    assert "frame-ancestors *" in embed.headers["content-security-policy"].split("; ")
    assert "x-frame-options" not in embed.headers
    for path in ("/", url, f"{url}/pages/1", "/oembed.json?url=" + url, "/nothing-here"):
        answer = web.get(path)
        policy = answer.headers["content-security-policy"].split("; ")
        assert "frame-ancestors 'none'" in policy, path
        assert answer.headers["x-frame-options"] == "DENY", path
    original = web.get(f"{url}/original")
    policy = original.headers["content-security-policy"].split("; ")
    assert policy[0] == "sandbox"
    assert "frame-ancestors 'none'" in policy
