"""Full-text search over pages, grouped by document.

One request finds the documents (``distinct`` on the document id, exact counts through
page/hitsPerPage); one multi-search then fetches the best matching pages of each shown document.
Visibility (``published = true``) is always a filter element of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from app.config import Settings
from app.errors import InvalidInputError, UnavailableError
from app.highlight import POST, PRE, highlight_html
from app.meili import MeiliClient, MeiliError, MeiliUnavailableError
from app.urls import document_path, page_path

MAX_QUERY_LENGTH = 500
MAX_PER_PAGE = 50
MAX_RESULT_PAGE = 200
PAGES_PER_DOCUMENT = 3
VISIBLE = "published = true"


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    page: int = 1
    per_page: int = 10

    def validated(self) -> SearchQuery:
        if len(self.q) > MAX_QUERY_LENGTH:
            raise InvalidInputError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
        if not 1 <= self.page <= MAX_RESULT_PAGE:
            raise InvalidInputError(f"page must be between 1 and {MAX_RESULT_PAGE}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise InvalidInputError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        return SearchQuery(self.q.strip(), self.page, self.per_page)


@dataclass(frozen=True)
class PageHit:
    number: int
    url: str
    snippet: Markup
    bates: str | None


@dataclass(frozen=True)
class DocumentHit:
    id: int
    title: str
    url: str
    agencies: list[str]
    productions: list[str]
    pages: list[PageHit] = field(default_factory=list)


@dataclass(frozen=True)
class SearchResults:
    query: SearchQuery
    total_documents: int
    total_pages: int
    documents: list[DocumentHit]


def _page_query(settings: Settings, q: str, document_id: int) -> dict[str, Any]:
    return {
        "indexUid": settings.pages_index,
        "q": q,
        "filter": [VISIBLE, f"document_id = {int(document_id)}"],
        "limit": PAGES_PER_DOCUMENT,
        "attributesToRetrieve": ["page", "bates"],
        "attributesToCrop": ["text"],
        "cropLength": 30,
        "attributesToHighlight": ["text"],
        "highlightPreTag": PRE,
        "highlightPostTag": POST,
    }


def search_pages(client: MeiliClient, settings: Settings, query: SearchQuery) -> SearchResults:
    """Documents matching ``query.q`` with their best pages, or nothing for an empty query."""
    query = query.validated()
    if not query.q:
        return SearchResults(query, 0, 0, [])
    try:
        grouped = client.search(
            settings.pages_index,
            {
                "q": query.q,
                "filter": [VISIBLE],
                "distinct": "document_id",
                "page": query.page,
                "hitsPerPage": query.per_page,
                "attributesToRetrieve": [
                    "document_id",
                    "document_slug",
                    "document_title",
                    "agency_names",
                    "production_titles",
                ],
            },
        )
        hits: list[dict[str, Any]] = grouped["hits"]
        page_results = (
            client.multi_search([_page_query(settings, query.q, h["document_id"]) for h in hits])
            if hits
            else []
        )
    except MeiliUnavailableError as exc:
        raise UnavailableError("search is unavailable right now; try again shortly") from exc
    except MeiliError as exc:
        raise InvalidInputError(f"the search could not be run: {exc}") from exc
    documents = []
    for hit, pages in zip(hits, page_results, strict=True):
        doc_id, slug = int(hit["document_id"]), str(hit["document_slug"])
        documents.append(
            DocumentHit(
                id=doc_id,
                title=str(hit["document_title"]),
                url=document_path(doc_id, slug),
                agencies=list(hit.get("agency_names") or []),
                productions=list(hit.get("production_titles") or []),
                pages=[
                    PageHit(
                        number=int(p["page"]),
                        url=page_path(doc_id, slug, int(p["page"])),
                        snippet=highlight_html(p["_formatted"]["text"]),
                        bates=p.get("bates"),
                    )
                    for p in pages["hits"]
                ],
            )
        )
    return SearchResults(
        query, int(grouped.get("totalHits", 0)), int(grouped.get("totalPages", 0)), documents
    )
