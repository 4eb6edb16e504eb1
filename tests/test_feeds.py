"""Atom feeds: well-formed, escaped, absolute links, and only public material."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.models import Document, FoiaRequest, Production
from tests.test_search import Archive, PageSpec, publish

A = "{http://www.w3.org/2005/Atom}"
BASE = "https://foia.example.org"


@pytest.fixture
def site(migrated_settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    settings = migrated_settings.model_copy(update={"base_url": BASE})
    with TestClient(create_app(settings)) as client:
        yield client, settings


def _feed(client: TestClient, url: str, **params: Any) -> ET.Element:
    answer = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert answer.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(answer.content)  # noqa: S314 - our own output, parsed to check it
    assert root.tag == f"{A}feed"
    # What RFC 4287 requires of a feed and of each entry.
    for tag in ("id", "title", "updated"):
        assert root.find(f"{A}{tag}") is not None
    assert root.find(f"{A}author/{A}name") is not None
    self_link = root.find(f"{A}link[@rel='self']")
    assert self_link is not None
    assert self_link.attrib["href"].startswith(BASE + "/")
    for entry in root.iter(f"{A}entry"):
        for tag in ("id", "title", "updated"):
            assert entry.find(f"{A}{tag}") is not None
        link = entry.find(f"{A}link[@rel='alternate']")
        assert link is not None
        assert link.attrib["href"].startswith(BASE + "/")
    return root


def _entry_titles(root: ET.Element) -> list[str]:
    return [e.findtext(f"{A}title") or "" for e in root.iter(f"{A}entry")]


def _released(production: Production, day: int) -> Production:
    production.published_at = dt.datetime(2024, 1, day, 12, tzinfo=dt.UTC)
    return production


def _archive(a: Archive) -> list[Document]:
    ice1 = _released(
        a.production("ICE", "Interim 1", request="2021-ICFO-1", release_date=dt.date(2021, 3, 1)),
        1,
    )
    ice2 = _released(a.production("ICE", "Interim 2 <script>x</script>", request="2021-ICFO-1"), 3)
    cbp = _released(a.production("CBP", "Towers", request="CBP-2020-9"), 2)
    fbi = _released(a.production("FBI", "Vault"), 4)
    draft = a.production("ICE", "Unreleased", published=False)
    withdrawn = _released(a.production("ICE", "Withdrawn", request="2021-ICFO-1"), 5)
    return [
        a.document(ice1, "Memo one", ["heron memo", "heron page two"]),
        a.document(ice1, "Memo two", ["heron memo again"], document_type="memo"),
        a.document(ice2, 'Email "quoted" & <b>bold</b>', ["heron\x0cform feed <script>"]),
        a.document(cbp, "Tower plan", ["heron towers"]),
        a.document(fbi, "Vault file", ["vault heron"]),
        a.document(draft, "Draft memo", ["heron secret"], published=False),
        a.document(withdrawn, "Taken down", ["heron withdrawn"], taken_down=True),
    ]


def test_productions_feed_lists_published_productions_newest_first(
    site: tuple[TestClient, Settings],
) -> None:
    client, settings = site
    publish(settings, _archive)
    root = _feed(client, "/feeds/productions.atom")
    assert _entry_titles(root) == [
        "Federal Bureau of Investigation: Vault",
        "U.S. Immigration and Customs Enforcement: Interim 2 <script>x</script>",
        "U.S. Customs and Border Protection: Towers",
        "U.S. Immigration and Customs Enforcement: Interim 1",
    ]
    first = next(root.iter(f"{A}entry"))
    assert first.findtext(f"{A}published") == "2024-01-04T12:00:00Z"
    link = first.find(f"{A}link")
    assert link is not None
    assert link.attrib["href"].startswith(f"{BASE}/productions/")
    interim1 = list(root.iter(f"{A}entry"))[-1]
    assert interim1.findtext(f"{A}summary") == (
        "2 documents, 3 pages, released by the agency on 2021-03-01, "
        "in response to FOIA request 2021-ICFO-1."
    )
    # The escaped title is text in the XML, not markup.
    raw = client.get("/feeds/productions.atom").text
    assert "<script>" not in raw
    assert "&lt;script&gt;" in raw


def test_agency_and_request_feeds(site: tuple[TestClient, Settings]) -> None:
    client, settings = site
    publish(settings, _archive)
    ice = _feed(client, "/feeds/agencies/ice.atom")
    assert [t.split(": ", 1)[1] for t in _entry_titles(ice)] == [
        "Interim 2 <script>x</script>",
        "Interim 1",
    ]
    alternate = ice.find(f"{A}link[@rel='alternate']")
    assert alternate is not None
    assert alternate.attrib["href"] == f"{BASE}/agencies/ice"
    # A department's feed includes its components.
    dhs = _feed(client, "/feeds/agencies/dhs.atom")
    assert len(_entry_titles(dhs)) == 3
    assert client.get("/feeds/agencies/nope.atom").status_code == 404

    with session_scope(settings) as session:
        request_id = session.scalars(
            select(FoiaRequest.id).where(FoiaRequest.tracking_number == "2021-ICFO-1")
        ).one()
    body = _feed(client, f"/feeds/requests/{request_id}.atom")
    assert body.findtext(f"{A}title") == "Releases for FOIA request 2021-ICFO-1"
    assert len(_entry_titles(body)) == 2
    assert client.get("/feeds/requests/999.atom").status_code == 404
    assert client.get("/feeds/requests/abc.atom").status_code == 404


def test_search_feed_follows_a_query_with_its_filters(
    site: tuple[TestClient, Settings],
) -> None:
    client, settings = site
    publish(settings, _archive)
    root = _feed(client, "/search.atom", q="heron")
    titles = _entry_titles(root)
    # Newest in the archive first; nothing unpublished or taken down.
    assert titles[:3] == ["Vault file", 'Email "quoted" & <b>bold</b>', "Tower plan"]
    assert sorted(titles[3:]) == ["Memo one", "Memo two"]  # released together
    email = next(e for e in root.iter(f"{A}entry") if "quoted" in (e.findtext(f"{A}title") or ""))
    content = email.find(f"{A}content")
    assert content is not None
    assert content.attrib["type"] == "html"
    fragment = BeautifulSoup(content.text or "", "html.parser")
    assert fragment.find("script") is None
    assert [m.text for m in fragment.find_all("mark")] == ["heron"]
    page_link = fragment.find("a")
    assert page_link is not None
    assert str(page_link["href"]).endswith("/pages/1?q=heron")
    assert str(page_link["href"]).startswith(BASE + "/documents/")
    entry_id = email.findtext(f"{A}id") or ""
    assert entry_id.startswith(f"{BASE}/documents/")

    filtered = _feed(client, "/search.atom", q="heron", agency="ice", type="memo")
    assert _entry_titles(filtered) == ["Memo two"]
    assert "Agency: U.S. Immigration" in (filtered.findtext(f"{A}title") or "")
    self_link = filtered.find(f"{A}link[@rel='self']")
    assert self_link is not None
    assert self_link.attrib["href"] == f"{BASE}/search.atom?q=heron&agency=ice&type=memo"

    everything = _feed(client, "/search.atom")
    assert len(_entry_titles(everything)) == 5
    bad = client.get("/search.atom", params={"q": "x", "page": 0})
    assert bad.status_code == 400


def test_no_response_carries_the_search_key(
    site: tuple[TestClient, Settings],
) -> None:
    client, settings = site
    publish(
        settings,
        lambda a: [a.document(a.production("ICE", "R"), "Doc", [PageSpec("kestrel", ["b6"])])],
    )
    assert settings.meili_key is not None
    key = settings.meili_key.get_secret_value()
    urls = [
        "/search?q=kestrel",
        "/search.json?q=kestrel",
        "/search.json?q=kestrel&exemption=b6",
        "/search.json?q=kestrel&document=1",
        "/search.atom?q=kestrel",
        "/search.json?q=" + "x" * 600,
        "/search.json?q=kestrel&sort=nope",
        "/feeds/productions.atom",
        "/feeds/agencies/ice.atom",
        "/feeds/agencies/none.atom",
        "/healthz",
        "/api/openapi.json",
    ]
    for url in urls:
        answer = client.get(url)
        assert key not in answer.text, url
        assert all(key not in value for value in answer.headers.values()), url
