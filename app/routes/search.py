"""The search page: ``/search`` and ``/search.json`` are one handler, two renderings.

The home page moved to ``app.routes.browse``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response

from app.api_models import SearchAnswer
from app.auth.deps import Actor, OptionalActor
from app.client_address import client_address
from app.config import Settings
from app.deps import SearchDep, SettingsDep
from app.render import render, render_error, wants_json
from app.services.ratelimit import RateLimiter, retry_after, shared_limiter
from app.services.search import (
    SORTS,
    SearchQuery,
    SearchResults,
    parse_search_query,
    search_pages,
)

router = APIRouter()

# The attributes of ``app.state`` holding the limiters; tests and benchmarks put their own there.
RATE_LIMITER = "search_rate_limiter"  # the public: a bucket per client address
# API token holders: a bucket per token.
TOKEN_RATE_LIMITER = "token_search_rate_limiter"  # noqa: S105  (an attribute name, no secret)


def search_limiter(app: FastAPI, *, for_tokens: bool = False) -> RateLimiter:
    """A search rate limiter of the app, built from the settings on first use.

    The public one (READINGROOM_SEARCH_RATE_*), or with ``for_tokens`` that of API token
    holders (READINGROOM_TOKEN_SEARCH_RATE_*).
    """
    settings: Settings = app.state.settings
    attribute, burst, rate = (
        (
            TOKEN_RATE_LIMITER,
            settings.token_search_rate_burst,
            settings.token_search_rate_per_second,
        )
        if for_tokens
        else (RATE_LIMITER, settings.search_rate_burst, settings.search_rate_per_second)
    )
    return shared_limiter(app.state, attribute, lambda: RateLimiter.per_second(burst, rate))


def refuse_if_too_fast(request: Request, actor: Actor | None) -> Response | None:
    """A 429 in the error envelope, with Retry-After, when this client searches too fast.

    A request with a valid API token counts against that token's own, higher limit, wherever
    it comes from; everyone else against the limit of their address.
    """
    token_id = actor.token_id if actor is not None else None
    if token_id is not None:
        wait = search_limiter(request.app, for_tokens=True).acquire(str(token_id))
        message = "too many searches with this API token in a short time; wait and retry"
    else:
        wait = search_limiter(request.app).acquire(client_address(request))
        message = (
            "too many searches from your address in a short time; wait a few seconds and retry"
        )
    if wait is None:
        return None
    response = render_error(request, 429, "rate_limited", message)
    response.headers["Retry-After"] = retry_after(wait)
    return response


Values = list[str] | None  # a repeatable parameter: each value ORed with the others


def search_query(
    q: Annotated[str, Query(description='Words, "exact phrases" and -excluded words.')] = "",
    page: Annotated[int, Query(description="Page of results, from 1.")] = 1,
    per_page: Annotated[int | None, Query(description="Results per page (at most 50).")] = None,
    sort: Annotated[str, Query(description=f"One of {', '.join(SORTS)}.")] = "",
    document: Annotated[str, Query(description="Search inside this document id only.")] = "",
    agency: Annotated[Values, Query(description="Agency slug, e.g. ice.")] = None,
    request_number: Annotated[
        Values, Query(alias="request", description="FOIA tracking number.")
    ] = None,
    production: Annotated[Values, Query(description="Production id.")] = None,
    year: Annotated[Values, Query(description="Year of the document date.")] = None,
    document_type: Annotated[
        Values, Query(alias="type", description="Document type: email, memo…")
    ] = None,
    exemption: Annotated[Values, Query(description="Exemption code: b6, b7C…")] = None,
    redacted: Annotated[Values, Query(description="true or false.")] = None,
    released_differently: Annotated[
        Values,
        Query(
            description="true: pages with a version in another release that hides or shows "
            "other words."
        ),
    ] = None,
    date_from: Annotated[str | None, Query(description="Document date from, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, Query(description="Document date until, YYYY-MM-DD.")] = None,
    released_from: Annotated[str | None, Query(description="Released from, YYYY-MM-DD.")] = None,
    released_to: Annotated[str | None, Query(description="Released until, YYYY-MM-DD.")] = None,
) -> SearchQuery:
    """The search asked for by the query string (shared by /search, .json and .atom).

    Facets are multi-select: a repeated parameter is an OR (``?agency=ice&agency=cbp``),
    different parameters are ANDed.
    """
    return parse_search_query(
        q=q,
        page=page,
        per_page=per_page,
        sort=sort,
        document=document,
        filters={
            "agency": agency or [],
            "request": request_number or [],
            "production": production or [],
            "year": year or [],
            "type": document_type or [],
            "exemption": exemption or [],
            "redacted": redacted or [],
            "released_differently": released_differently or [],
        },
        date_from=date_from,
        date_to=date_to,
        released_from=released_from,
        released_to=released_to,
    )


SearchQueryDep = Annotated[SearchQuery, Depends(search_query)]


def search_url(path: str, query: SearchQuery, **changes: Any) -> str:
    """``path`` with the query string of ``query`` (and ``changes``)."""
    params = query.params(**changes)
    return f"{path}?{urlencode(params)}" if params else path


def search_links(path: str, results: SearchResults) -> dict[str, Any]:
    """Every link the results page offers, built once for both renderings."""
    query = results.query
    atom = search_url("/search.atom", query, page=1, per_page=None, sort="relevance")
    return {
        "self": search_url(path, query),
        "first": search_url(path, query, page=1),
        "prev": search_url(path, query, page=query.page - 1) if query.page > 1 else None,
        "next": (
            search_url(path, query, page=query.page + 1)
            if query.page < results.total_pages
            else None
        ),
        "atom": atom if query.document is None else None,
        "clear_filters": search_url(
            path,
            SearchQuery(q=query.q, document=query.document, sort=query.sort),
        ),
        "all_documents": (
            search_url(path, SearchQuery(q=query.q)) if query.document is not None else None
        ),
        "remove": {
            (f.name, f.value): search_url(path, query.without(f.name, f.value))
            for f in results.active_filters
        },
        "inside": {
            doc.id: search_url(path, SearchQuery(q=query.q, document=doc.id))
            for doc in results.documents
        },
    }


def search_payload(results: SearchResults, links: dict[str, Any]) -> dict[str, Any]:
    """The JSON twin. Keys are only ever added, never renamed or removed."""
    q = results.query.q
    reader_suffix = f"?{urlencode({'q': q})}" if q else ""
    documents = []
    for doc in results.documents:
        pages = [
            {
                "number": p.number,
                "url": p.url,
                "snippet": str(p.snippet),
                "bates": p.bates,
                "thumbnail_url": p.thumbnail_url,
                "reader_url": p.url + reader_suffix,
                "version_group": p.version_group,
                "also_in_other_releases": p.other_releases,
            }
            for p in doc.pages
        ]
        document = {
            "id": doc.id,
            "url": doc.url,
            "title": doc.title,
            "slug": doc.slug,
            "agencies": doc.agencies,
            "productions": doc.productions,
            "document_date": doc.document_date.isoformat() if doc.document_date else None,
            "release_date": doc.release_date.isoformat() if doc.release_date else None,
            "document_type": doc.document_type,
            "page_count": doc.page_count,
        }
        documents.append(
            {
                # The first shape, kept as it was: id, title, url, agencies, productions, pages.
                "id": doc.id,
                "title": doc.title,
                "url": doc.url,
                "agencies": doc.agencies,
                "productions": doc.productions,
                "pages": pages,
                "document": document,
                "matching_pages": doc.matching_pages,
                "search_inside_url": links["inside"][doc.id],
                "also_released_as": [
                    {"id": f.id, "title": f.title, "url": f.url} for f in doc.also_released_as
                ],
            }
        )
    return {
        "query": results.query.as_json(),
        "total_documents": results.total_documents,
        "total_result_pages": results.total_pages,
        "total_matching_pages": results.total_matching_pages,
        "documents": documents,
        "facets": {
            facet.name: {
                "title": facet.title,
                "values": [
                    {"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}
                    for v in facet.values
                ],
            }
            for facet in results.facets
        },
        "filters": [
            {
                "name": f.name,
                "value": f.value,
                "label": f.label,
                "remove_url": links["remove"][(f.name, f.value)],
            }
            for f in results.active_filters
        ],
        "links": {key: links[key] for key in ("self", "prev", "next", "atom", "clear_filters")},
    }


@router.get("/search.json", responses={200: {"model": SearchAnswer}})
@router.get("/search", include_in_schema=False)
def show_search(
    request: Request,
    client: SearchDep,
    settings: SettingsDep,
    query: SearchQueryDep,
    actor: OptionalActor,
) -> Response:
    if (refused := refuse_if_too_fast(request, actor)) is not None:
        return refused
    results = search_pages(client, settings, query)
    links = search_links("/search.json" if wants_json(request) else "/search", results)
    context = {
        "results": results,
        "links": links,
        "sorts": [
            (value, label)
            for value, (label, _) in SORTS.items()
            if value != "page" or query.document is not None
        ],
    }
    return render(request, "search.html", context, search_payload(results, links))
