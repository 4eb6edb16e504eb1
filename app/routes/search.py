"""Home and search pages."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.deps import SearchDep, SessionDep, SettingsDep
from app.render import render
from app.services.documents import count_public
from app.services.search import SearchQuery, SearchResults, search_pages

router = APIRouter()


@router.get("/", include_in_schema=False)
@router.get("/index.json")
def show_home(request: Request, session: SessionDep) -> Response:
    documents, pages = count_public(session)
    payload = {"totals": {"documents": documents, "pages": pages}}
    return render(request, "home.html", payload, payload)


def search_payload(results: SearchResults) -> dict[str, Any]:
    return {
        "query": asdict(results.query),
        "total_documents": results.total_documents,
        "total_result_pages": results.total_pages,
        "documents": [
            {
                "id": doc.id,
                "title": doc.title,
                "url": doc.url,
                "agencies": doc.agencies,
                "productions": doc.productions,
                "pages": [
                    {"number": p.number, "url": p.url, "snippet": str(p.snippet), "bates": p.bates}
                    for p in doc.pages
                ],
            }
            for doc in results.documents
        ],
    }


@router.get("/search.json")
@router.get("/search", include_in_schema=False)
def show_search(
    request: Request,
    client: SearchDep,
    settings: SettingsDep,
    q: str = "",
    page: int = Query(1, ge=1),
    per_page: int = Query(10, ge=1),
) -> Response:
    results = search_pages(client, settings, SearchQuery(q=q, page=page, per_page=per_page))
    return render(request, "search.html", {"results": results}, search_payload(results))
