"""Document and page permalinks, page images and downloads.

Documents resolve by id; a wrong or missing slug answers 301 to the canonical URL, so every
link ever printed keeps working. Each HTML view has its ``.json`` twin from the same data.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.models import Document, Page, Production
from app.render import render, wants_json
from app.routes.versions import document_version_json, other_version_json
from app.services.documents import (
    MAX_PAGE_NUMBER,
    READER_CHUNK,
    DocumentView,
    PageView,
    citation,
    exemption_label,
    find_bates,
    get_public_document,
    iter_document_text,
    original_file,
    show_document,
    show_page,
)
from app.services.matching import MAX_QUERY_LENGTH, QueryMatcher, mark_text
from app.services.pages import IMAGE_WIDTHS, PageDisplay, image_size, page_display, page_image
from app.services.versions import document_versions, other_versions
from app.urls import (
    ImageSize,
    absolute_url,
    agency_path,
    bates_path,
    document_path,
    original_download_path,
    page_embed_path,
    page_image_path,
    page_path,
    page_ref,
    production_path,
    request_path,
    text_download_path,
)

router = APIRouter()

_REF = re.compile(r"^(\d{1,12})(?:-([A-Za-z0-9-]*))?$")
# Derived images are a function of (sha256, pipeline version): they never change at a URL.
IMMUTABLE = "public, max-age=31536000, immutable"

PageNumber = Annotated[int, Path(ge=1, le=MAX_PAGE_NUMBER)]
QueryText = Annotated[str, Query(max_length=MAX_QUERY_LENGTH)]


def parse_ref(ref: str) -> tuple[int, str | None]:
    """``"12-some-slug"`` as ``(12, "some-slug")``; anything else is not a document."""
    match = _REF.match(ref)
    if match is None:
        raise NotFoundError(f"there is no document at {ref!r}")
    return int(match.group(1)), match.group(2)


def canonical_redirect(request: Request, canonical: str) -> Response:
    """301 to the canonical path, keeping the ``.json`` twin and the query string."""
    suffix = ".json" if wants_json(request) else ""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(canonical + suffix + query, status_code=301)


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII name for old clients, then the exact name in UTF-8."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def production_json(production: Production) -> dict[str, Any]:
    return {
        "id": production.id,
        "title": production.title,
        "url": production_path(production.id),
        "agency": production.agency.name,
        "agency_slug": production.agency.slug,
        "agency_url": agency_path(production.agency.slug),
        "release_date": production.release_date.isoformat() if production.release_date else None,
        "request": (
            {
                "id": production.request.id,
                "tracking_number": production.request.tracking_number,
                "url": request_path(production.request.id),
            }
            if production.request
            else None
        ),
    }


def document_json(
    settings: Settings, document: Document, productions: list[Production]
) -> dict[str, Any]:
    path = document_path(document.id, document.slug)
    return {
        "id": document.id,
        "title": document.title,
        "url": path,
        "canonical_url": absolute_url(settings.base_url, path),
        "original_filename": document.original_filename,
        "sha256": document.sha256,
        "bytes": document.bytes,
        "media_type": document.media_type,
        "page_count": document.page_count,
        "state": document.state.value,
        "document_date": document.document_date.isoformat() if document.document_date else None,
        "document_type": document.document_type,
        "bates_start": document.bates_start,
        "bates_end": document.bates_end,
        "email_headers": dict(document.email_headers or {}),
        "productions": [production_json(p) for p in productions],
        "downloads": {
            "original": original_download_path(document.id, document.slug),
            "text": text_download_path(document.id, document.slug),
        },
    }


def page_json(document: Document, page: Page) -> dict[str, Any]:
    width, height = image_size(page.width, page.height, "image")
    return {
        "number": page.number,
        "url": page_path(document.id, document.slug, page.number),
        "text": page.text,
        "text_source": page.text_source.value,
        "bates": page.bates_number,
        "bates_url": bates_path(page.bates_number) if page.bates_number else None,
        "exemptions": list(page.exemptions or []),
        "redaction_count": page.redaction_count,
        "image": {
            "url": page_image_path(document.id, document.slug, page.number, "image"),
            "width": width,
            "height": height,
        },
        "thumbnail": page_image_path(document.id, document.slug, page.number, "thumb"),
    }


def page_view_json(
    settings: Settings, view: PageView, display: PageDisplay, q: str
) -> dict[str, Any]:
    """The ``.json`` of a page view (also the embed view's)."""
    doc = view.document
    page = page_json(doc, view.page)
    page["image"].update(width=display.width, height=display.height, rotation=display.rotation)
    page.update(
        embed=page_embed_path(doc.id, doc.slug, view.page.number),
        previous=page_path(doc.id, doc.slug, view.previous) if view.previous else None,
        next=page_path(doc.id, doc.slug, view.next) if view.next else None,
        citation=citation(settings.base_url, doc, view.productions, view.page),
    )
    return {
        "document": document_json(settings, doc, view.productions),
        "page": page,
        "query": q,
        "highlights": [
            {"text": b.text, "x0": b.x0, "y0": b.y0, "x1": b.x1, "y1": b.y1} for b in display.boxes
        ],
    }


def _document_payload(settings: Settings, view: DocumentView) -> dict[str, Any]:
    doc, chunk = view.document, view.chunk
    here = document_path(doc.id, doc.slug)
    return {
        "document": {
            **document_json(settings, doc, view.productions),
            "exemptions": [
                {"code": e.code, "label": e.label, "pages": e.pages} for e in view.exemptions
            ],
            "redaction_count": view.redaction_count,
            "citation": citation(settings.base_url, doc, view.productions),
        },
        "pages": [page_json(doc, p) for p in view.pages],
        "reader": {
            "from": chunk.first,
            "to": chunk.last,
            "per_screen": chunk.size,
            "page_count": chunk.page_count,
            "previous": f"{here}.json?from={chunk.previous_from}" if chunk.previous_from else None,
            "next": f"{here}.json?from={chunk.next_from}" if chunk.next_from else None,
        },
        "matches": (
            {
                "query": view.matches.query,
                "pages": view.matches.pages,
                "total": view.matches.total,
            }
            if view.matches
            else None
        ),
    }


def social_meta(
    settings: Settings, document: Document, page: Page | None, description: str
) -> dict[str, str]:
    """OpenGraph, Twitter-card and oEmbed discovery values, all absolute URLs."""
    number = page.number if page else 1
    path = (
        page_path(document.id, document.slug, number)
        if page
        else document_path(document.id, document.slug)
    )
    url = absolute_url(settings.base_url, path)
    return {
        "url": url,
        "title": f"{document.title}, page {number}" if page else document.title,
        "description": " ".join(description.split())[:300],
        "image": absolute_url(
            settings.base_url, page_image_path(document.id, document.slug, number, "image")
        ),
        "oembed": absolute_url(settings.base_url, "/oembed")
        + "?"
        + urlencode({"url": url, "format": "json"}),
    }


def _document_description(view: DocumentView) -> str:
    doc = view.document
    sources = "; ".join(f"{p.title} ({p.agency.name})" for p in view.productions)
    return f"{doc.page_count} page{'s' if doc.page_count != 1 else ''} released in {sources}."


# Documented on every route that answers it: a ref whose slug is missing or out of date.
CANONICAL_REDIRECT: dict[int | str, dict[str, Any]] = {
    301: {"description": "Moved to the canonical URL (the slug was missing or has changed)."}
}


# Routes match in order: `.txt` and `.json` must be tried before the bare `{ref}`.
@router.get("/documents/{ref}.txt", response_class=StreamingResponse, responses=CANONICAL_REDIRECT)
def download_text(ref: str, session: SessionDep) -> Response:
    """The document's text, page by page, as plain UTF-8."""
    document_id, slug = parse_ref(ref)
    document = get_public_document(session, document_id)
    if slug != document.slug:
        return RedirectResponse(text_download_path(document_id, document.slug), status_code=301)
    return StreamingResponse(
        iter_document_text(session, document),
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition("inline", f"{document.slug}.txt"),
            "X-Content-Type-Options": "nosniff",
        },
    )


# The bottom decorator registers first: the `.json` twin must be tried before `{ref}`.
@router.get("/documents/{ref}", include_in_schema=False)
@router.get("/documents/{ref}.json", responses=CANONICAL_REDIRECT)
def show_document_view(
    request: Request,
    ref: str,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[int, Query(alias="from", ge=1, le=MAX_PAGE_NUMBER)] = 1,
    q: QueryText = "",
) -> Response:
    """A document: metadata, downloads, citation and one screen of its pages."""
    document_id, slug = parse_ref(ref)
    view = show_document(session, document_id, start=start, query=q)
    doc = view.document
    if slug != doc.slug:
        return canonical_redirect(request, document_path(document_id, doc.slug))
    context = {
        "view": view,
        "q": q,
        "mark": partial(mark_text, matcher=QueryMatcher(q)),
        "citation": citation(settings.base_url, doc, view.productions),
        "meta": social_meta(settings, doc, None, _document_description(view)),
        "image_size": image_size,
        "bates_path": bates_path,
        "exemption_label": exemption_label,
    }
    payload = _document_payload(settings, view)
    versions = document_versions(session, doc.id)  # issue 11
    context["versions"] = versions
    payload["document"]["versions"] = [document_version_json(v) for v in versions]
    return render(request, "document.html", context, payload)


@router.get("/documents/{ref}/original", response_class=FileResponse, responses=CANONICAL_REDIRECT)
def download_original(ref: str, session: SessionDep, settings: SettingsDep) -> Response:
    """The original file exactly as the agency released it, from the content-addressed store."""
    document_id, slug = parse_ref(ref)
    document = get_public_document(session, document_id)
    if slug != document.slug:
        return RedirectResponse(original_download_path(document_id, document.slug), status_code=301)
    original = original_file(settings, document)
    return FileResponse(
        original.path,
        media_type=original.media_type,
        headers={
            "Content-Disposition": content_disposition("attachment", original.filename),
            "X-Content-Type-Options": "nosniff",
            # Released files are hostile input: never let one run as a page of this site.
            "Content-Security-Policy": "sandbox",
            # The bytes never change, but a takedown must reach caches within a day.
            "Cache-Control": "public, max-age=86400",
        },
    )


@router.get("/documents/{ref}/pages/{number}", include_in_schema=False)
@router.get("/documents/{ref}/pages/{number}.json", responses=CANONICAL_REDIRECT)
def show_page_view(
    request: Request,
    ref: str,
    number: PageNumber,
    session: SessionDep,
    settings: SettingsDep,
    q: QueryText = "",
) -> Response:
    """One page: its image with the query's matches drawn on it, its text, its neighbours."""
    document_id, slug = parse_ref(ref)
    view = show_page(session, document_id, number)
    doc = view.document
    if slug != doc.slug:
        return canonical_redirect(request, page_path(document_id, doc.slug, number))
    display = page_display(settings, doc, view.page, q)
    context, payload = (
        page_context(settings, view, display, q),
        page_view_json(settings, view, display, q),
    )
    # Issue 11: the other versions of this page, with what differs.
    versions = other_versions(session, view.page)
    context["versions"], context["here_ref"] = versions, page_ref(doc.id, view.page.number)
    payload["page"]["other_versions"] = [
        other_version_json(v, context["here_ref"]) for v in versions
    ]
    return render(request, "page.html", context, payload)


def page_context(
    settings: Settings, view: PageView, display: PageDisplay, q: str
) -> dict[str, Any]:
    """What ``page.html`` and ``embed.html`` draw."""
    return {
        "view": view,
        "document": view.document,
        "page": view.page,
        "display": display,
        "q": q,
        "marked_text": mark_text(view.page.text or "", QueryMatcher(q)),
        "citation": citation(settings.base_url, view.document, view.productions, view.page),
        "meta": social_meta(
            settings, view.document, view.page, view.page.text or view.document.title
        ),
        "reader_from": ((view.page.number - 1) // READER_CHUNK) * READER_CHUNK + 1,
        "bates_path": bates_path,
        "exemption_label": exemption_label,
    }


def _image_kind(size: str) -> ImageSize:
    for known in IMAGE_WIDTHS:
        if size == known:
            return known
    raise NotFoundError(f"there is no page image of size {size!r}")


@router.get(
    "/documents/{ref}/pages/{number}/{size}.webp",
    response_class=FileResponse,
    responses=CANONICAL_REDIRECT,
)
def show_page_image(
    ref: str, number: PageNumber, size: str, session: SessionDep, settings: SettingsDep
) -> Response:
    """A page drawn as WebP: ``thumb`` (about 200 px wide) or ``image`` (about 1000 px)."""
    image = _image_kind(size)
    document_id, slug = parse_ref(ref)
    view = show_page(session, document_id, number)
    doc = view.document
    if slug != doc.slug:
        return RedirectResponse(
            page_image_path(document_id, doc.slug, number, image), status_code=301
        )
    path = page_image(settings, doc, view.page, image)
    return FileResponse(path, media_type="image/webp", headers={"Cache-Control": IMMUTABLE})


@router.get(
    "/bates/{bates_number:path}",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "Found: the page stamped with this number."}},
)
def show_bates(bates_number: str, session: SessionDep) -> Response:
    """302 to the page stamped with this Bates number (``.json`` goes to the page's twin)."""
    as_json = bates_number.endswith(".json")
    view = find_bates(session, bates_number.removesuffix(".json") if as_json else bates_number)
    doc = view.document
    target = page_path(doc.id, doc.slug, view.page.number) + (".json" if as_json else "")
    return RedirectResponse(target, status_code=302)
