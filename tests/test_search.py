"""Search: words, phrases, facets, filters, sorts, pages, search inside a document, limits.

Test data is written the way the pipeline writes it: Document and Page rows committed, then
``ingest.index.index_documents`` pushes them to a real Meilisearch (one index prefix per test).
HTML is asserted on parsed markup, JSON on its shape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import session_scope
from app.meili import open_search_engine
from app.models import Document, DocumentState, Page, PageState, Production, TextSource
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
)
from app.services.ratelimit import RateLimiter
from app.slugs import slugify
from ingest.index import index_documents

_serial = itertools.count(1)


@dataclass
class PageSpec:
    text: str
    exemptions: list[str] = field(default_factory=list)
    redactions: int = 0
    bates: str | None = None


@dataclass
class Archive:
    """Builds agencies, productions and documents as committed rows, then indexes them."""

    session: Session
    document_ids: list[int] = field(default_factory=list)

    def production(
        self,
        agency: str,
        title: str,
        *,
        request: str | None = None,
        release_date: dt.date | None = None,
        published: bool = True,
    ) -> Production:
        owner = get_or_create_agency(self.session, agency)
        foia = get_or_create_request(self.session, request, owner) if request else None
        return get_or_create_production(
            self.session,
            owner,
            title,
            request=foia,
            release_date=release_date,
            published=published,
        )

    def document(
        self,
        productions: Production | Sequence[Production],
        title: str,
        pages: Sequence[str | PageSpec],
        *,
        document_date: dt.date | None = None,
        document_type: str | None = None,
        published: bool = True,
        taken_down: bool = False,
    ) -> Document:
        serial = next(_serial)
        document = Document(
            title=title,
            slug=slugify(title),
            original_filename=f"{serial}.pdf",
            sha256=hashlib.sha256(f"{serial}-{title}".encode()).hexdigest(),
            bytes=1000,
            page_count=len(pages),
            state=DocumentState.INDEXED,
            document_date=document_date,
            document_type=document_type,
            published=published,
            taken_down_at=dt.datetime.now(dt.UTC) if taken_down else None,
        )
        document.productions.extend(
            [productions] if isinstance(productions, Production) else productions
        )
        for number, spec in enumerate(pages, start=1):
            page = spec if isinstance(spec, PageSpec) else PageSpec(spec)
            document.pages.append(
                Page(
                    number=number,
                    text=page.text,
                    text_source=TextSource.LAYER,
                    exemptions=page.exemptions,
                    redaction_count=page.redactions,
                    bates_number=page.bates,
                    state=PageState.EXTRACTED,
                )
            )
        self.session.add(document)
        self.session.flush()
        self.document_ids.append(document.id)
        return document


def publish(settings: Settings, build: Any) -> dict[str, int]:
    """Run ``build(archive)`` in one committed transaction, then index what it made.

    ``build`` returns the documents it wants to name; their ids come back by title.
    """
    with session_scope(settings) as session:
        archive = Archive(session)
        named = build(archive) or []
        ids = {d.title: d.id for d in named}
        all_ids = list(archive.document_ids)
    with session_scope(settings) as session, open_search_engine(settings) as engine:
        index_documents(engine.client, settings, session, all_ids)
    return ids


def soup(answer: Any) -> BeautifulSoup:
    assert answer.status_code == 200, answer.text
    return BeautifulSoup(answer.text, "html.parser")


def titles(body: dict[str, Any]) -> list[str]:
    return [d["document"]["title"] for d in body["documents"]]


def facet(body: dict[str, Any], name: str) -> dict[str, int]:
    return {v["value"]: v["count"] for v in body["facets"][name]["values"]}


# --- words, phrases, typos ---------------------------------------------------------------------


def test_words_exact_phrases_excluded_words_and_typos(
    web: TestClient, migrated_settings: Settings
) -> None:
    def build(a: Archive) -> list[Document]:
        release = a.production("ICE", "Release 1")
        return [
            a.document(release, "Pilot memo", ["The facial recognition pilot program started"]),
            a.document(release, "Budget", ["A program for recognition of facial expressions"]),
            a.document(release, "Draft", ["Draft facial recognition contract"]),
            a.document(release, "Aviso", ["Orden de detención y reconocimiento facial"]),
        ]

    publish(migrated_settings, build)

    def found(q: str) -> set[str]:
        answer = web.get("/search.json", params={"q": q})
        assert answer.status_code == 200, answer.text
        return set(titles(answer.json()))

    assert found("facial recognition") == {"Pilot memo", "Budget", "Draft"}
    assert found('"facial recognition"') == {"Pilot memo", "Draft"}
    assert found('"facial recognition" -draft') == {"Pilot memo"}
    assert found("recognitoin") == {"Pilot memo", "Budget", "Draft"}  # one typo
    # Every word must match: an extra word narrows, never widens.
    assert found("facial expressions") == {"Budget"}
    assert found("detencion") == {"Aviso"}  # accents fold
    assert found("detención reconocimiento") == {"Aviso"}


# --- the JSON contract and the HTML results -------------------------------------------------------


def test_results_are_grouped_by_document_with_best_pages_linking_to_the_page(
    web: TestClient, migrated_settings: Settings
) -> None:
    pages = [PageSpec(f"filler page {n}", bates=f"ICE-{n:06d}") for n in range(1, 9)]
    pages[2] = PageSpec("the quokka program review", bates="ICE-000003")
    pages[6] = PageSpec("quokka budget and quokka staffing", bates="ICE-000007")
    ids = publish(
        migrated_settings,
        lambda a: [
            a.document(
                a.production("ICE", "Release 1", release_date=dt.date(2021, 6, 1)),
                "Quokka files",
                pages,
                document_date=dt.date(2020, 3, 9),
                document_type="memo",
            )
        ],
    )
    doc_id = ids["Quokka files"]

    body = web.get("/search.json", params={"q": "quokka"}).json()
    assert body["total_documents"] == 1
    assert body["total_result_pages"] == 1
    item = body["documents"][0]
    # The first shape stays, and the `document` object is added beside it.
    assert item["id"] == item["document"]["id"] == doc_id
    assert item["url"] == item["document"]["url"] == f"/documents/{doc_id}-quokka-files"
    assert item["title"] == item["document"]["title"] == "Quokka files"
    assert item["document"]["document_date"] == "2020-03-09"
    assert item["document"]["release_date"] == "2021-06-01"
    assert item["document"]["document_type"] == "memo"
    assert item["document"]["page_count"] == 8
    assert item["matching_pages"] == 2
    assert sorted(p["number"] for p in item["pages"]) == [3, 7]
    by_number = {p["number"]: p for p in item["pages"]}
    seven = by_number[7]
    assert seven["url"] == f"/documents/{doc_id}-quokka-files/pages/7"
    assert seven["reader_url"] == seven["url"] + "?q=quokka"
    assert seven["thumbnail_url"] == f"/documents/{doc_id}-quokka-files/pages/7/thumb.webp"
    assert seven["bates"] == "ICE-000007"
    assert seven["snippet"].count("<mark>quokka</mark>") == 2
    assert body["query"]["q"] == "quokka"
    assert set(body) >= {"facets", "filters", "links", "query", "documents"}

    html = soup(web.get("/search", params={"q": "quokka"}))
    result = html.select_one("li.result")
    assert isinstance(result, Tag)
    heading = result.find("h3")
    assert heading is not None
    assert heading.text.strip() == "Quokka files"
    links = [str(a["href"]) for a in result.select("a.page-link")]
    assert sorted(links) == [
        f"/documents/{doc_id}-quokka-files/pages/3?q=quokka",
        f"/documents/{doc_id}-quokka-files/pages/7?q=quokka",
    ]
    thumbs = [str(img["src"]) for img in result.select("a.page-link img.thumb")]
    assert f"/documents/{doc_id}-quokka-files/pages/3/thumb.webp" in thumbs
    marks = [m.text for m in result.select(".snippet mark")]
    assert marks == ["quokka"] * 3
    inside = result.select_one(".inside a")
    assert inside is not None
    assert str(inside["href"]) == f"/search?q=quokka&document={doc_id}"
    alternate = html.find("link", attrs={"type": "application/atom+xml"})
    assert isinstance(alternate, Tag)
    assert str(alternate["href"]).startswith("/search.atom?q=quokka")


def test_pagination_counts_documents_exactly(web: TestClient, migrated_settings: Settings) -> None:
    def build(a: Archive) -> None:
        release = a.production("ICE", "Release 1")
        for n in range(23):
            # Many matching pages per document: the counts are of documents, not pages.
            a.document(release, f"Ledger {n:02d}", ["ledger entry"] * 4)

    publish(migrated_settings, build)
    first = web.get("/search.json", params={"q": "ledger", "per_page": 10}).json()
    assert first["total_documents"] == 23
    assert first["total_result_pages"] == 3
    assert len(first["documents"]) == 10
    assert first["links"]["next"] == "/search.json?q=ledger&per_page=10&page=2"
    assert first["links"]["prev"] is None
    last = web.get("/search.json", params={"q": "ledger", "per_page": 10, "page": 3}).json()
    assert len(last["documents"]) == 3
    assert last["links"]["next"] is None
    seen = set()
    for page in (1, 2, 3):
        body = web.get("/search.json", params={"q": "ledger", "per_page": 10, "page": page})
        seen.update(titles(body.json()))
    assert len(seen) == 23
    past = web.get("/search", params={"q": "ledger", "per_page": 10, "page": 5})
    beyond = soup(past).select_one(".empty")
    assert beyond is not None
    assert "only 3 pages of results" in beyond.text
    first_page = beyond.find("a")
    assert isinstance(first_page, Tag)
    assert str(first_page["href"]) == "/search?q=ledger&per_page=10"
    html = soup(web.get("/search", params={"q": "ledger", "per_page": 10, "page": 2}))
    pager = html.find("nav", attrs={"aria-label": "Result pages"})
    assert isinstance(pager, Tag)
    assert {str(a["rel"][0]): str(a["href"]) for a in pager.find_all("a")} == {
        "prev": "/search?q=ledger&per_page=10",
        "next": "/search?q=ledger&per_page=10&page=3",
    }


# --- facets and filters ------------------------------------------------------------------------


def _faceted_archive(a: Archive) -> list[Document]:
    ice1 = a.production("ICE", "Interim 1", request="2021-ICFO-1", release_date=dt.date(2021, 3, 1))
    ice2 = a.production("ICE", "Interim 2", request="2021-ICFO-1", release_date=dt.date(2022, 5, 1))
    cbp = a.production(
        "CBP", "CBP release", request="CBP-2020-9", release_date=dt.date(2020, 1, 15)
    )
    fbi = a.production("FBI", "Vault part 1", release_date=dt.date(2019, 7, 4))
    return [
        a.document(
            ice1,
            "ICE email",
            ["surveillance vendor email", PageSpec("withheld", ["b6", "b7C"], 2)],
            document_date=dt.date(2019, 5, 2),
            document_type="email",
        ),
        a.document(
            ice2,
            "ICE memo",
            ["surveillance memo one", "surveillance memo two", "surveillance memo three"],
            document_date=dt.date(2020, 8, 30),
            document_type="memo",
        ),
        a.document(
            cbp,
            "CBP email",
            [PageSpec("surveillance towers", ["b5"], 1)],
            document_date=dt.date(2019, 11, 11),
            document_type="email",
        ),
        a.document(
            fbi,
            "FBI report",
            ["surveillance report"],
            document_date=dt.date(2018, 1, 1),
            document_type="report",
        ),
        # Released twice: counted once under each production, once in total.
        a.document(
            [ice1, cbp],
            "Joint letter",
            ["surveillance letter"],
            document_date=None,
            document_type="letter",
        ),
    ]


def test_facet_counts_are_exact_document_counts(
    web: TestClient, migrated_settings: Settings
) -> None:
    publish(migrated_settings, _faceted_archive)
    body = web.get("/search.json", params={"q": "surveillance"}).json()
    assert body["total_documents"] == 5
    assert facet(body, "agency") == {"ice": 3, "cbp": 2, "fbi": 1}
    assert facet(body, "request") == {"2021-ICFO-1": 3, "CBP-2020-9": 2}
    assert facet(body, "year") == {"2019": 2, "2020": 1, "2018": 1}
    assert facet(body, "type") == {"email": 2, "memo": 1, "report": 1, "letter": 1}
    # Exemptions on page 2 count although the query matched page 1 only.
    assert facet(body, "exemption") == {"b6": 1, "b7C": 1, "b5": 1}
    assert facet(body, "redacted") == {"true": 2, "false": 3}
    productions = {v["label"]: v["count"] for v in body["facets"]["production"]["values"]}
    assert productions == {
        "Interim 1 (ICE)": 2,
        "Interim 2 (ICE)": 1,
        "CBP release (CBP)": 2,
        "Vault part 1 (FBI)": 1,
    }
    agencies = {v["value"]: v["label"] for v in body["facets"]["agency"]["values"]}
    assert agencies["ice"] == "U.S. Immigration and Customs Enforcement"
    labels = {v["value"]: v["label"] for v in body["facets"]["exemption"]["values"]}
    assert labels["b7C"] == "(b)(7)(C)"
    years = [v["value"] for v in body["facets"]["year"]["values"]]
    assert years == ["2020", "2019", "2018"]


def test_facets_are_or_within_and_and_across(web: TestClient, migrated_settings: Settings) -> None:
    publish(migrated_settings, _faceted_archive)

    def search(**params: Any) -> dict[str, Any]:
        answer = web.get("/search.json", params={"q": "surveillance", **params})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    both = search(agency=["ice", "cbp"])
    assert set(titles(both)) == {"ICE email", "ICE memo", "CBP email", "Joint letter"}
    # The selected facet keeps counting its other values, so they stay selectable.
    assert facet(both, "agency") == {"ice": 3, "cbp": 2, "fbi": 1}
    assert {v["value"] for v in both["facets"]["agency"]["values"] if v["selected"]} == {
        "ice",
        "cbp",
    }
    # Other facets count within the selection.
    assert facet(both, "type") == {"email": 2, "memo": 1, "letter": 1}

    emails = search(agency=["ice", "cbp"], type="email")
    assert set(titles(emails)) == {"ICE email", "CBP email"}
    assert facet(emails, "agency") == {"ice": 1, "cbp": 1}

    assert set(titles(search(exemption="b7c"))) == {"ICE email"}  # codes match any case
    assert set(titles(search(exemption=["b5", "b6"]))) == {"ICE email", "CBP email"}
    assert set(titles(search(redacted="false"))) == {"ICE memo", "FBI report", "Joint letter"}
    assert set(titles(search(year="2019"))) == {"ICE email", "CBP email"}
    assert set(titles(search(request="CBP-2020-9"))) == {"CBP email", "Joint letter"}

    everything = search()
    production_ids = {v["label"]: v["value"] for v in everything["facets"]["production"]["values"]}
    vault = search(production=production_ids["Vault part 1 (FBI)"])
    assert titles(vault) == ["FBI report"]

    chips = {f["label"]: f["remove_url"] for f in emails["filters"]}
    assert chips == {
        "Agency: U.S. Immigration and Customs Enforcement": (
            "/search.json?q=surveillance&agency=cbp&type=email"
        ),
        "Agency: U.S. Customs and Border Protection": (
            "/search.json?q=surveillance&agency=ice&type=email"
        ),
        "Document type: Email": "/search.json?q=surveillance&agency=ice&agency=cbp",
    }


def test_date_ranges_and_sorts(web: TestClient, migrated_settings: Settings) -> None:
    publish(migrated_settings, _faceted_archive)

    def search(**params: Any) -> list[str]:
        answer = web.get("/search.json", params={"q": "surveillance", **params})
        assert answer.status_code == 200, answer.text
        return titles(answer.json())

    assert set(search(date_from="2019-05-02", date_to="2019-11-11")) == {"ICE email", "CBP email"}
    assert set(search(date_from="2019-05-03")) == {"ICE memo", "CBP email"}
    assert set(search(date_to="2018-12-31")) == {"FBI report"}
    assert set(search(released_from="2021-01-01")) == {"ICE email", "ICE memo"}
    # A document released twice carries its first release date.
    assert set(search(released_to="2020-01-15")) == {"CBP email", "FBI report", "Joint letter"}

    # Documents without a date come last, whichever the direction.
    assert search(sort="date_desc") == [
        "ICE memo",
        "CBP email",
        "ICE email",
        "FBI report",
        "Joint letter",
    ]
    assert search(sort="date_asc") == [
        "FBI report",
        "ICE email",
        "CBP email",
        "ICE memo",
        "Joint letter",
    ]
    assert search(sort="released_desc")[0] == "ICE memo"
    assert search(sort="released_asc")[0] == "FBI report"


def test_filters_without_words_browse_the_archive(
    web: TestClient, migrated_settings: Settings
) -> None:
    publish(migrated_settings, _faceted_archive)
    body = web.get("/search.json", params={"agency": "fbi"}).json()
    assert titles(body) == ["FBI report"]
    assert body["documents"][0]["pages"][0]["number"] == 1
    assert "<mark>" not in body["documents"][0]["pages"][0]["snippet"]


def test_facet_sidebar_is_an_accessible_form_with_removable_chips(
    web: TestClient, migrated_settings: Settings
) -> None:
    publish(migrated_settings, _faceted_archive)
    html = soup(
        web.get(
            "/search",
            params={"q": "surveillance", "agency": "ice", "date_from": "2019-01-01"},
        )
    )
    form = html.find("form", id="search-form")
    assert isinstance(form, Tag)
    assert form.get("role") == "search"
    assert form.get("method") == "get"
    sidebar = html.find("aside", class_="facets")
    assert isinstance(sidebar, Tag)
    legends = [legend.text.strip() for legend in sidebar.find_all("legend")]
    assert legends[:2] == ["Agency", "FOIA request"]
    assert "Document date" in legends
    assert "Release date" in legends
    # Every control has a label and submits with the search form, also without JavaScript.
    for control in sidebar.find_all("input"):
        assert control.get("form") == "search-form"
        assert html.find("label", attrs={"for": control["id"]}) is not None
    ice = sidebar.find("input", attrs={"name": "agency", "value": "ice"})
    assert isinstance(ice, Tag)
    assert ice.has_attr("checked")
    cbp = sidebar.find("input", attrs={"name": "agency", "value": "cbp"})
    assert isinstance(cbp, Tag)
    assert not cbp.has_attr("checked")
    ice_label = html.find("label", attrs={"for": ice["id"]})
    assert ice_label is not None
    assert "(2)" in ice_label.text  # the undated joint letter is outside the date range
    date_from = sidebar.find("input", attrs={"name": "date_from"})
    assert isinstance(date_from, Tag)
    assert date_from["value"] == "2019-01-01"
    apply = sidebar.find("button", attrs={"type": "submit"})
    assert isinstance(apply, Tag)
    assert apply.get("form") == "search-form"
    sort = html.find("select", attrs={"name": "sort"})
    assert isinstance(sort, Tag)
    assert html.find("label", attrs={"for": sort["id"]}) is not None

    chips = {
        str(a.find(string=True, recursive=False)).strip(): str(a["href"])
        for a in html.select("a.chip")
    }
    assert chips == {
        "Agency: U.S. Immigration and Customs Enforcement": (
            "/search?q=surveillance&date_from=2019-01-01"
        ),
        "Dated from 2019-01-01": "/search?q=surveillance&agency=ice",
    }
    assert html.find("main") is not None
    assert html.find("section", attrs={"aria-labelledby": "results-heading"}) is not None


def test_no_result_states_suggest_what_to_change(
    web: TestClient, migrated_settings: Settings
) -> None:
    publish(migrated_settings, _faceted_archive)
    landing = soup(web.get("/search"))
    assert landing.select_one(".search-help") is not None
    assert landing.select_one("aside.facets") is None

    narrowed = soup(web.get("/search", params={"q": "towers", "agency": "fbi"}))
    empty = narrowed.select_one(".empty")
    assert empty is not None
    assert "with these filters" in empty.text
    retry = empty.find("a", string="Search again without filters")
    assert isinstance(retry, Tag)
    assert str(retry["href"]) == "/search?q=towers"
    # The selected value still shows, ticked, so that it can be unticked.
    fbi = narrowed.find("input", attrs={"name": "agency", "value": "fbi"})
    assert isinstance(fbi, Tag)
    assert fbi.has_attr("checked")

    plain = soup(web.get("/search", params={"q": "zzyzx"})).select_one(".empty")
    assert plain is not None
    assert "Check the spelling" in plain.text


# --- search inside one document ----------------------------------------------------------------


def test_search_inside_one_document_pages_through_its_matching_pages(
    web: TestClient, migrated_settings: Settings
) -> None:
    pages: list[str | PageSpec] = []
    for n in range(1, 61):
        text = f"page {n} of the border log" + (" with checkpoint notes" if n % 2 == 0 else "")
        pages.append(PageSpec(text, ["b6"] if n % 10 == 0 else [], 1 if n % 10 == 0 else 0))
    ids = publish(
        migrated_settings,
        lambda a: [
            a.document(a.production("CBP", "Logs"), "Border log", pages),
            a.document(a.production("CBP", "Logs"), "Other log", ["checkpoint notes elsewhere"]),
        ],
    )
    doc_id = ids["Border log"]
    params: dict[str, Any] = {"q": "checkpoint", "document": doc_id, "per_page": 20}
    first = web.get("/search.json", params=params).json()
    assert first["total_matching_pages"] == 30
    assert first["total_result_pages"] == 2
    assert first["total_documents"] == 1
    (item,) = first["documents"]
    assert item["document"]["id"] == doc_id
    assert len(item["pages"]) == 20
    assert all(p["number"] % 2 == 0 for p in item["pages"])
    second = web.get("/search.json", params={**params, "page": 2}).json()
    numbers = {p["number"] for p in item["pages"]} | {
        p["number"] for p in second["documents"][0]["pages"]
    }
    assert numbers == set(range(2, 61, 2))
    # Inside a document the facets count pages.
    assert facet(first, "exemption") == {"b6": 6}
    # (and "released_differently": versions in other releases, issue 11)
    assert set(first["facets"]) == {"exemption", "redacted", "released_differently"}
    redacted = web.get("/search.json", params={**params, "redacted": "true"}).json()
    assert sorted(p["number"] for p in redacted["documents"][0]["pages"]) == [
        10,
        20,
        30,
        40,
        50,
        60,
    ]
    in_order = web.get(
        "/search.json", params={"document": doc_id, "sort": "page", "per_page": 5}
    ).json()
    assert [p["number"] for p in in_order["documents"][0]["pages"]] == [1, 2, 3, 4, 5]
    assert in_order["total_matching_pages"] == 60

    html = soup(web.get("/search", params=params))
    heading = html.find("h1")
    assert heading is not None
    assert "Border log" in heading.text
    hidden = html.find("input", attrs={"type": "hidden", "name": "document"})
    assert isinstance(hidden, Tag)
    assert hidden["value"] == str(doc_id)
    assert len(html.select("a.page-link")) == 20
    nothing = soup(web.get("/search", params={"q": "zzyzx", "document": doc_id}))
    assert "No page of this document matches" in nothing.text


# --- visibility, safety, limits ------------------------------------------------------------------


def test_unpublished_and_taken_down_documents_never_show(
    web: TestClient, migrated_settings: Settings
) -> None:
    def build(a: Archive) -> None:
        public = a.production("ICE", "Public")
        draft = a.production("ICE", "Draft", published=False)
        a.document(public, "Shown", ["narwhal memo"])
        a.document(public, "Withdrawn", ["narwhal memo"], taken_down=True)
        a.document(public, "Unpublished", ["narwhal memo"], published=False)
        a.document(draft, "In a draft", ["narwhal memo"], published=False)

    publish(migrated_settings, build)
    body = web.get("/search.json", params={"q": "narwhal"}).json()
    assert titles(body) == ["Shown"]
    assert facet(body, "agency") == {"ice": 1}


def test_markup_in_titles_and_text_is_shown_as_text(
    web: TestClient, migrated_settings: Settings
) -> None:
    title = '<script>alert("t")</script> "Quoted" & <b>bold</b>'
    publish(
        migrated_settings,
        lambda a: [
            a.document(
                a.production("ICE", "<img src=x onerror=alert(1)> release"),
                title,
                ['<img src=x onerror="alert(2)"> ocelot <script>alert(3)</script>'],
            )
        ],
    )
    html = soup(web.get("/search", params={"q": "ocelot"}))
    assert html.find("script", src=False) is None
    assert html.find("img", src="x") is None
    assert html.find("b") is None
    result = html.select_one("li.result h3 a")
    assert result is not None
    assert result.text == title
    snippet = html.select_one(".snippet")
    assert snippet is not None
    assert [m.text for m in snippet.find_all("mark")] == ["ocelot"]
    labels = " ".join(label.text for label in html.select("aside label"))
    assert "<img src=x onerror=alert(1)> release" in labels
    body = web.get("/search.json", params={"q": "ocelot"}).json()
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in body["documents"][0]["pages"][0]["snippet"]


@pytest.mark.parametrize(
    "injection",
    [
        'ice" OR agency_slugs = "fbi',
        "ice\\",
        'ice\\" OR published = false OR agency_slugs = "fbi',
        "fbi OR cbp",
        "(fbi)",
    ],
)
def test_filter_values_cannot_rewrite_the_filter(
    web: TestClient, migrated_settings: Settings, injection: str
) -> None:
    def build(a: Archive) -> None:
        a.document(a.production("ICE", "R"), "ICE doc", ["jaguar"])
        a.document(a.production("FBI", "R"), "FBI doc", ["jaguar"])
        a.document(
            a.production("FBI", "Hidden", published=False), "Hidden", ["jaguar"], published=False
        )

    publish(migrated_settings, build)
    for name in ("agency", "type", "exemption", "request"):
        answer = web.get("/search.json", params={"q": "jaguar", name: injection})
        assert answer.status_code == 200, answer.text
        assert titles(answer.json()) == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": "x" * 501}, "longer than 500"),
        ({"q": "x", "page": 0}, "page must be between"),
        ({"q": "x", "page": 201}, "page must be between"),
        ({"q": "x", "page": "two"}, "page"),
        ({"q": "x", "per_page": 51}, "per_page"),
        ({"q": "x", "sort": "price"}, "sort must be one of"),
        ({"q": "x", "sort": "page"}, "only applies inside one document"),
        ({"q": "x", "date_from": "2021-13-01"}, "not a real date"),
        ({"q": "x", "date_from": "03/09/2021"}, "like 2021-03-09"),
        ({"q": "x", "date_from": "2021-05-01", "date_to": "2021-04-01"}, "date_from is after"),
        ({"q": "x", "released_from": "2021-05-01", "released_to": "2020-01-01"}, "released_from"),
        ({"q": "x", "production": "abc"}, "whole number"),
        ({"q": "x", "year": "-1"}, "whole number"),
        ({"q": "x", "redacted": "maybe"}, "true or false"),
        ({"q": "x", "document": "12abc"}, "document number"),
        ({"q": "x", "document": "1", "agency": "ice"}, "cannot filter on agency"),
        ({"q": "x", "agency": [f"a{n}" for n in range(21)]}, "at most 20"),
        ({"q": "x", "agency": "a" * 201}, "longer than 200"),
    ],
)
def test_bad_parameters_answer_400_in_the_error_envelope(
    web: TestClient, params: dict[str, Any], fragment: str
) -> None:
    answer = web.get("/search.json", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == 400
    assert error["code"] == "invalid_input"
    assert fragment in error["message"]
    html = web.get("/search", params=params)
    assert html.status_code == 400
    page = BeautifulSoup(html.text, "html.parser")
    assert page.h1 is not None
    assert page.h1.text == "Check your request"


def test_empty_form_fields_are_ignored(web: TestClient, migrated_settings: Settings) -> None:
    publish(migrated_settings, _faceted_archive)
    answer = web.get(
        "/search.json?q=surveillance&sort=&date_from=&date_to=&released_from=&released_to="
        "&agency=&document="
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["total_documents"] == 5


def test_rate_limit_answers_429_with_retry_after(web: TestClient) -> None:
    clock = [0.0]
    app = web.app
    assert isinstance(app, FastAPI)
    app.state.search_rate_limiter = RateLimiter(3, 3.0, clock=lambda: clock[0])
    for _ in range(3):
        assert web.get("/search.json", params={"q": "a"}).status_code == 200
    refused = web.get("/search.json", params={"q": "a"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "error": {
            "status": 429,
            "code": "rate_limited",
            "message": (
                "too many searches from your address in a short time; wait a few seconds and retry"
            ),
        }
    }
    assert web.get("/search", params={"q": "a"}).status_code == 429
    clock[0] += 1.0  # one token back per second
    assert web.get("/search.json", params={"q": "a"}).status_code == 200
    assert web.get("/search.json", params={"q": "a"}).status_code == 429
    # The home page and documents are not rate limited.
    assert web.get("/").status_code == 200


def test_rate_limiter_buckets_are_per_client_and_bounded() -> None:
    now = [100.0]
    limiter = RateLimiter(2, 10.0, max_clients=3, clock=lambda: now[0])
    assert limiter.acquire("a") is None
    assert limiter.acquire("a") is None
    wait = limiter.acquire("a")
    assert wait == pytest.approx(5.0)
    assert limiter.acquire("b") is None  # another client has its own bucket
    now[0] += 5.0
    assert limiter.acquire("a") is None
    for client in ("c", "d", "e"):
        limiter.acquire(client)
    assert len(limiter._buckets) == 3  # the least recently seen are forgotten
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(0, 1.0)
