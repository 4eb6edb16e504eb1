"""The embeddable page view and the oEmbed endpoint.

Only the embed view may be framed by other sites; that policy, with the other security
headers, is set in one place: :mod:`app.security_headers`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.api_errors import ErrorEnvelope
from app.api_models import OEmbedAnswer
from app.deps import SessionDep, SettingsDep
from app.errors import ReadingroomError
from app.render import render
from app.routes.documents import (
    CANONICAL_REDIRECT,
    PageNumber,
    QueryText,
    canonical_redirect,
    page_context,
    page_view_json,
    parse_ref,
)
from app.services.documents import show_page
from app.services.embeds import oembed
from app.services.pages import page_display
from app.urls import page_embed_path

router = APIRouter()


class NotImplementedFormatError(ReadingroomError):
    # The oEmbed spec asks for 501 when a provider cannot answer in the requested format.
    status_code = 501
    code = "not_implemented"


@router.get("/documents/{ref}/pages/{number}/embed", include_in_schema=False)
@router.get("/documents/{ref}/pages/{number}/embed.json", responses=CANONICAL_REDIRECT)
def show_page_embed(
    request: Request,
    ref: str,
    number: PageNumber,
    session: SessionDep,
    settings: SettingsDep,
    q: QueryText = "",
) -> Response:
    """A page with minimal chrome, for iframes on other sites."""
    document_id, slug = parse_ref(ref)
    view = show_page(session, document_id, number)
    if slug != view.document.slug:
        return canonical_redirect(request, page_embed_path(document_id, view.document.slug, number))
    display = page_display(settings, view.document, view.page, q)
    return render(
        request,
        "embed.html",
        page_context(settings, view, display, q),
        page_view_json(settings, view, display, q),
    )


@router.get(
    "/oembed.json",
    responses={
        200: {"model": OEmbedAnswer},
        501: {
            "model": ErrorEnvelope,
            "description": "A format other than json: the oEmbed specification's answer.",
        },
    },
)
@router.get("/oembed", include_in_schema=False)
def show_oembed(
    session: SessionDep,
    settings: SettingsDep,
    url: Annotated[str, Query(min_length=1, max_length=2000)],
    response_format: Annotated[str, Query(alias="format", max_length=10)] = "json",
    maxwidth: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    maxheight: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    """oEmbed for a document or page URL of this site (JSON only)."""
    if response_format != "json":
        raise NotImplementedFormatError("only format=json is available")
    payload = oembed(session, settings, url, maxwidth=maxwidth, maxheight=maxheight)
    return JSONResponse(payload, headers={"Cache-Control": "public, max-age=3600"})
