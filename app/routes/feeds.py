"""Atom feeds: new productions (all, per agency, per request) and any search (``/search.atom``).

A feed is a third rendering of data the site already has: the production listings, and the
same search as ``/search`` with the same parameters (and the same rate limit).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from app.auth.deps import OptionalActor
from app.deps import SearchDep, SessionDep, SettingsDep
from app.routes.search import SearchQueryDep, refuse_if_too_fast
from app.services.feeds import (
    ATOM_MEDIA_TYPE,
    Feed,
    agency_feed,
    productions_feed,
    render_atom,
    request_feed,
    search_feed,
)

router = APIRouter(tags=["feeds"])
# The OpenAPI document names the media type (a bare Response class documents none).
ATOM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An Atom 1.0 feed.",
        "content": {"application/atom+xml": {"schema": {"type": "string"}}},
    }
}


def _atom(feed: Feed) -> Response:
    return Response(render_atom(feed), media_type=ATOM_MEDIA_TYPE)


@router.get("/feeds/productions.atom", response_class=Response, responses=ATOM_DOC)
def show_productions_feed(session: SessionDep, settings: SettingsDep) -> Response:
    """Newly published productions of every agency, newest first."""
    return _atom(productions_feed(session, settings))


@router.get("/feeds/agencies/{slug}.atom", response_class=Response, responses=ATOM_DOC)
def show_agency_feed(
    slug: Annotated[str, Path(max_length=120)], session: SessionDep, settings: SettingsDep
) -> Response:
    """Newly published productions of one agency and the agencies under it."""
    return _atom(agency_feed(session, settings, slug))


@router.get("/feeds/requests/{request_id:int}.atom", response_class=Response, responses=ATOM_DOC)
def show_request_feed(
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Newly published productions answering one FOIA request."""
    return _atom(request_feed(session, settings, request_id))


@router.get("/search.atom", response_class=Response, responses=ATOM_DOC)
def show_search_feed(
    request: Request,
    client: SearchDep,
    settings: SettingsDep,
    query: SearchQueryDep,
    actor: OptionalActor,
) -> Response:
    """The documents matching a search (same parameters as /search), newest first."""
    if (refused := refuse_if_too_fast(request, actor)) is not None:
        return refused
    return _atom(search_feed(client, settings, query))
