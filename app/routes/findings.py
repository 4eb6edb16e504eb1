"""Findings pages and actions for moderators, and their JSON API (token or session).

Browser: ``/moderation/findings`` (the archive), ``/moderation/productions/{id}/findings``
and ``/moderation/documents/{id}/findings``, each with its ``.json`` twin, filtered by
``kind`` and ``status``; a bulk form keeps or redacts the checked findings; a page of the
agency's original where a box is drawn to redact (``/moderation/documents/{id}/pages/{n}
/redact``). API: ``GET /api/findings``, ``POST /api/findings/decisions``, ``POST
/api/documents/{id}/redactions`` and ``POST /api/findings/scan``.

Every answer here is private (no-store, noindex): findings carry the very values the public
must not see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.deps import ModeratorUser
from app.auth.models import User
from app.auth.web import private_headers, render_private, safe_next, see_other
from app.config import Settings
from app.deps import SearchDep, SessionDep, SettingsDep
from app.errors import InvalidInputError, NotFoundError
from app.findings import FindingKind, FindingStatus
from app.meili import MeiliClient
from app.models import Document, Page, Production
from app.services.findings import (
    Decision,
    FindingsList,
    add_drawn_redaction,
    decide_findings,
    finding_crop,
    list_findings,
    original_page_png,
    public_waiting_count,
    redact_page_path,
    scan_archive,
)
from app.services.pages import image_size

router = APIRouter()

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
PageNumber = Annotated[int, Path(ge=1, le=1_000_000)]
KindFilter = Annotated[FindingKind | None, Query(description="Only findings of this kind.")]
StatusFilter = Annotated[str, Query(pattern="^(pending|kept|redacted|all)$")]


def _status(value: str) -> FindingStatus | None:
    return None if value == "all" else FindingStatus(value)


def _png(data: bytes) -> Response:
    return private_headers(Response(data, media_type="image/png"))


def _findings_page(
    request: Request,
    user: User,
    found: FindingsList,
    *,
    title: str,
    here: str,
    kind: FindingKind | None,
    status: str,
    production: Production | None = None,
    document: Document | None = None,
    alert: int = 0,
) -> Response:
    payload = found.model_dump(mode="json") | {"public_waiting": alert}
    context = {
        "found": found,
        "title": title,
        "here": here,
        "kind": kind.value if kind else "",
        "status": status,
        "kinds": list(FindingKind),
        "production": production,
        "document": document,
        "alert": alert,
    }
    return render_private(request, "moderation/findings.html", context, payload, user=user)


@router.get("/moderation/findings", include_in_schema=False)
@router.get("/moderation/findings.json", include_in_schema=False)
def show_findings(
    request: Request,
    session: SessionDep,
    user: ModeratorUser,
    kind: KindFilter = None,
    status: StatusFilter = "pending",
    public: Annotated[bool, Query(description="Only documents the public can see.")] = False,
) -> Response:
    """Findings of the whole archive; ``public=true`` for those already published."""
    found = list_findings(session, user, kind=kind, status=_status(status), public_only=public)
    return _findings_page(
        request,
        user,
        found,
        title="Findings on public documents" if public else "Findings",
        here="/moderation/findings" + ("?public=true" if public else ""),
        kind=kind,
        status=status,
        alert=public_waiting_count(session),
    )


@router.get("/moderation/productions/{production_id}/findings", include_in_schema=False)
@router.get("/moderation/productions/{production_id}/findings.json", include_in_schema=False)
def show_production_findings(
    request: Request,
    session: SessionDep,
    user: ModeratorUser,
    production_id: Id,
    kind: KindFilter = None,
    status: StatusFilter = "pending",
) -> Response:
    """Findings of one production's documents."""
    production = session.get(Production, production_id)
    if production is None:
        raise NotFoundError(f"there is no production {production_id}")
    found = list_findings(
        session, user, production_id=production_id, kind=kind, status=_status(status)
    )
    return _findings_page(
        request,
        user,
        found,
        title=f"Findings in {production.title}",
        here=f"/moderation/productions/{production_id}/findings",
        kind=kind,
        status=status,
        production=production,
    )


@router.get("/moderation/documents/{document_id}/findings", include_in_schema=False)
@router.get("/moderation/documents/{document_id}/findings.json", include_in_schema=False)
def show_document_findings(
    request: Request,
    session: SessionDep,
    user: ModeratorUser,
    document_id: Id,
    kind: KindFilter = None,
    status: StatusFilter = "pending",
) -> Response:
    """Findings of one document."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"there is no document {document_id}")
    found = list_findings(session, user, document_id=document_id, kind=kind, status=_status(status))
    return _findings_page(
        request,
        user,
        found,
        title=f"Findings in {document.title}",
        here=f"/moderation/documents/{document_id}/findings",
        kind=kind,
        status=status,
        document=document,
    )


@router.post("/moderation/findings/decide", include_in_schema=False)
def decide_form(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    decision: Annotated[str, Form(pattern="^(keep|redact)$")],
    finding_ids: Annotated[list[int], Form(alias="finding")] = [],  # noqa: B006 (FastAPI form default)
    next_path: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    """Keep or redact the checked findings (one or many)."""
    if not finding_ids:
        raise InvalidInputError("check at least one finding")
    choice: Decision = "keep" if decision == "keep" else "redact"
    decide_findings(session, client, settings, user, finding_ids, choice)
    return see_other(safe_next(next_path, "/moderation/findings"))


@router.get("/moderation/findings/{finding_id}/crop.png", include_in_schema=False)
def show_finding_crop(
    session: SessionDep, settings: SettingsDep, user: ModeratorUser, finding_id: Id
) -> Response:
    """The part of the agency's original page around a finding, outlined in red."""
    return _png(finding_crop(settings, session, user, finding_id))


@router.get(
    "/moderation/documents/{document_id}/pages/{number}/original.png", include_in_schema=False
)
def show_original_page(
    session: SessionDep,
    settings: SettingsDep,
    user: ModeratorUser,
    document_id: Id,
    number: PageNumber,
) -> Response:
    """A page of the agency's original with its findings outlined."""
    return _png(original_page_png(settings, session, user, document_id, number))


@router.get("/moderation/documents/{document_id}/pages/{number}/redact", include_in_schema=False)
def show_redact_page(
    request: Request,
    session: SessionDep,
    user: ModeratorUser,
    document_id: Id,
    number: PageNumber,
) -> Response:
    """Draw a box on the page to burn it out of the public copy."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"there is no document {document_id}")
    page = session.scalars(
        select(Page).where(Page.document_id == document_id, Page.number == number)
    ).first()
    if page is None:
        raise NotFoundError(f"document {document_id} has no page {number}")
    found = list_findings(session, user, document_id=document_id, status=None)
    on_page = [f for f in found.findings if f.page_number == number]
    width, height = image_size(page.width, page.height, "image")
    context = {
        "document": document,
        "page": page,
        "findings": on_page,
        "image_url": f"/moderation/documents/{document_id}/pages/{number}/original.png",
        "width": width,
        "height": height,
        "here": redact_page_path(document_id, number),
    }
    payload = {"findings": [f.model_dump(mode="json") for f in on_page]}
    return render_private(request, "moderation/redact.html", context, payload, user=user)


def _box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y1]


@router.post(
    "/moderation/documents/{document_id}/pages/{number}/redactions", include_in_schema=False
)
def redact_box_form(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    document_id: Id,
    number: PageNumber,
    x0: Annotated[float, Form(ge=0, le=1)],
    y0: Annotated[float, Form(ge=0, le=1)],
    x1: Annotated[float, Form(ge=0, le=1)],
    y1: Annotated[float, Form(ge=0, le=1)],
) -> Response:
    """Burn a drawn box into the public copy of the page."""
    add_drawn_redaction(session, client, settings, user, document_id, number, _box(x0, y0, x1, y1))
    return see_other(redact_page_path(document_id, number))


@router.post("/moderation/findings/scan", include_in_schema=False)
async def scan_form(
    session: SessionDep, client: SearchDep, settings: SettingsDep, user: ModeratorUser
) -> Response:
    """Scan every public document for findings (material published before the scan)."""
    await run_in_threadpool(_scan, session, client, settings, user)
    return see_other("/moderation/findings?public=true")


def _scan(session: Session, client: MeiliClient, settings: Settings, user: User) -> dict[str, Any]:
    report = scan_archive(session, client, settings, user)
    return {
        "documents": report.documents,
        "pages": report.pages,
        "changed_documents": len(report.changed),
        "findings": report.findings,
        "unreadable": report.unreadable,
    }


# --- API -------------------------------------------------------------------------------------


class DecisionIn(BaseModel):
    finding_ids: Annotated[list[int], Field(min_length=1, max_length=1000)]
    decision: Decision


class DecisionOut(BaseModel):
    decided: int
    documents: list[int]
    redacted_versions: list[int]


class RedactionIn(BaseModel):
    page: Annotated[int, Field(ge=1, le=1_000_000)]
    box: Annotated[
        list[float],
        Field(min_length=4, max_length=4, description="x0, y0, x1, y1: fractions of the page."),
    ]


@router.get("/api/findings", response_model=FindingsList, tags=["moderation"])
def list_findings_api(
    session: SessionDep,
    user: ModeratorUser,
    production_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    document_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: KindFilter = None,
    status: StatusFilter = "pending",
    public: bool = False,
) -> FindingsList:
    """Findings (moderators): by production, document, kind and status."""
    return list_findings(
        session,
        user,
        production_id=production_id,
        document_id=document_id,
        kind=kind,
        status=_status(status),
        public_only=public,
    )


@router.post("/api/findings/decisions", response_model=DecisionOut, tags=["moderation"])
def decide_api(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    data: DecisionIn,
) -> DecisionOut:
    """Keep or redact findings; redacting burns them into the public copy."""
    result = decide_findings(session, client, settings, user, data.finding_ids, data.decision)
    return DecisionOut(
        decided=result.decided,
        documents=result.documents,
        redacted_versions=result.redacted_versions,
    )


@router.post("/api/documents/{document_id}/redactions", status_code=201, tags=["moderation"])
def redact_api(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    document_id: Id,
    data: RedactionIn,
) -> dict[str, int]:
    """Burn a box (fractions of the upright page) into the public copy of a page."""
    finding = add_drawn_redaction(session, client, settings, user, document_id, data.page, data.box)
    return {"finding_id": finding.id}


@router.post("/api/findings/scan", tags=["moderation"])
async def scan_api(
    session: SessionDep, client: SearchDep, settings: SettingsDep, user: ModeratorUser
) -> dict[str, Any]:
    """Scan every public document again (what was published before the scan existed)."""
    return await run_in_threadpool(_scan, session, client, settings, user)
