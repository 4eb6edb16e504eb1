"""The embeddable page view, the oEmbed endpoint, and who may frame which page.

Only the embed view may be framed by other sites (``frame-ancestors *``); every other response
may be framed by this site alone, so nobody can overlay our pages to trick a reader into
clicking (clickjacking). :class:`FramePolicyMiddleware` sets that on every response.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import SessionDep, SettingsDep
from app.errors import ReadingroomError
from app.render import render
from app.routes.documents import (
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

EMBEDDABLE = re.compile(r"^/documents/[^/]+/pages/[^/]+/embed(?:\.json)?$")


class NotImplementedFormatError(ReadingroomError):
    # The oEmbed spec asks for 501 when a provider cannot answer in the requested format.
    status_code = 501
    code = "not_implemented"


@router.get("/documents/{ref}/pages/{number}/embed", include_in_schema=False)
@router.get("/documents/{ref}/pages/{number}/embed.json")
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


@router.get("/oembed.json")
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


class FramePolicyMiddleware:
    """Adds ``frame-ancestors`` (and ``X-Frame-Options`` where framing is not allowed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embeddable = bool(EMBEDDABLE.match(scope["path"]))

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                directive = "frame-ancestors *" if embeddable else "frame-ancestors 'self'"
                existing = headers.get("content-security-policy")
                if existing and "frame-ancestors" not in existing:
                    headers["Content-Security-Policy"] = f"{existing}; {directive}"
                elif not existing:
                    headers["Content-Security-Policy"] = directive
                if not embeddable:
                    headers["X-Frame-Options"] = "SAMEORIGIN"
            await send(message)

        await self.app(scope, receive, send_with_policy)
