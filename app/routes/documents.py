"""Document and page permalinks: resolved by id, with the canonical slug enforced by redirect."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.deps import SessionDep
from app.errors import NotFoundError
from app.models import Document, Page
from app.render import render, wants_json
from app.services.documents import show_document, show_page
from app.urls import document_path, page_path

router = APIRouter()

_REF = re.compile(r"^(\d{1,12})(?:-([A-Za-z0-9-]*))?$")


def _parse_ref(ref: str) -> tuple[int, str | None]:
    match = _REF.match(ref)
    if match is None:
        raise NotFoundError(f"there is no document at {ref!r}")
    return int(match.group(1)), match.group(2)


def _document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "title": document.title,
        "url": document_path(document.id, document.slug),
        "original_filename": document.original_filename,
        "sha256": document.sha256,
        "bytes": document.bytes,
        "page_count": document.page_count,
        "state": document.state.value,
        "document_date": document.document_date.isoformat() if document.document_date else None,
        "document_type": document.document_type,
        "bates_start": document.bates_start,
        "bates_end": document.bates_end,
        "productions": [
            {"id": p.id, "title": p.title, "agency": p.agency.name} for p in document.productions
        ],
    }


def _page_json(document: Document, page: Page) -> dict[str, Any]:
    return {
        "number": page.number,
        "url": page_path(document.id, document.slug, page.number),
        "text": page.text,
        "text_source": page.text_source.value,
        "bates": page.bates_number,
        "exemptions": list(page.exemptions or []),
        "redaction_count": page.redaction_count,
    }


def _canonical_redirect(request: Request, canonical: str) -> Response:
    suffix = ".json" if wants_json(request) else ""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(canonical + suffix + query, status_code=301)


# The bottom decorator registers first: the `.json` twin must be tried before `{ref}`.
@router.get("/documents/{ref}", include_in_schema=False)
@router.get("/documents/{ref}.json")
def show_document_page(request: Request, ref: str, session: SessionDep) -> Response:
    document_id, slug = _parse_ref(ref)
    view = show_document(session, document_id)
    if slug != view.document.slug:
        return _canonical_redirect(request, document_path(document_id, view.document.slug))
    payload = {
        "document": _document_json(view.document),
        "pages": [_page_json(view.document, p) for p in view.pages],
    }
    return render(
        request, "document.html", {"view": view, "q": request.query_params.get("q", "")}, payload
    )


@router.get("/documents/{ref}/pages/{number}", include_in_schema=False)
@router.get("/documents/{ref}/pages/{number}.json")
def show_page_view(request: Request, ref: str, number: int, session: SessionDep) -> Response:
    document_id, slug = _parse_ref(ref)
    document, page = show_page(session, document_id, number)
    if slug != document.slug:
        return _canonical_redirect(request, page_path(document_id, document.slug, number))
    payload = {"document": _document_json(document), "page": _page_json(document, page)}
    return render(
        request,
        "page.html",
        {"document": document, "page": page, "q": request.query_params.get("q", "")},
        payload,
    )
