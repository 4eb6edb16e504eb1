"""Moderation pages and forms: the queue of drafts, the audit log, and the actions.

Every form posts back to the page it came from (``next``), after the change is committed,
recorded in the audit log and pushed to the search index.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from app.auth.deps import CurrentUser, ModeratorUser
from app.auth.web import parse_form, render_private, safe_next, see_other
from app.deps import SearchDep, SessionDep, SettingsDep
from app.models import ProductionStatus
from app.services.audit import list_audit
from app.services.findings import public_waiting_count
from app.services.moderation import (
    DocumentEdit,
    ProductionEdit,
    edit_document,
    edit_production,
    publish_production,
    restore_document,
    take_down,
    unlink_document,
)
from app.services.uploads import list_productions, upload_page_path

router = APIRouter()

# Bounded like the database's integer ids: a larger number would crash the query, not 404.
ProductionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Next = Annotated[str, Form(alias="next", max_length=500)]


@router.get("/moderation", include_in_schema=False)
@router.get("/moderation.json", include_in_schema=False)
def show_moderation_queue(request: Request, session: SessionDep, user: ModeratorUser) -> Response:
    """Draft productions waiting for a moderator, newest first."""
    drafts = list_productions(session, user, status=ProductionStatus.DRAFT)
    alert = public_waiting_count(session)  # findings on public documents (issue 12)
    payload = {"drafts": [d.model_dump(mode="json") for d in drafts], "public_findings": alert}
    context = {"drafts": drafts, "public_findings": alert}
    return render_private(request, "moderation/queue.html", context, payload, user=user)


@router.get("/moderation/audit", include_in_schema=False)
@router.get("/moderation/audit.json", include_in_schema=False)
def show_audit_log(
    request: Request,
    session: SessionDep,
    user: ModeratorUser,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    target_type: Annotated[str | None, Query(max_length=40)] = None,
    target_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Who did what and when, newest first; narrowed to one target with ``target_type/_id``."""
    audit = list_audit(session, page=page, target_type=target_type, target_id=target_id)
    payload = {
        "entries": [e.as_json() for e in audit.entries],
        "page": audit.page,
        "pages": audit.pages,
        "total": audit.total,
    }
    context = {"audit": audit, "target_type": target_type, "target_id": target_id}
    return render_private(request, "moderation/audit.html", context, payload, user=user)


@router.post("/moderation/productions/{production_id}/publish", include_in_schema=False)
def publish(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: CurrentUser,
    production_id: ProductionId,
    next_path: Next = "",
) -> Response:
    """Publish a draft (moderators; trusted volunteers for their own productions)."""
    publish_production(session, client, settings, user, production_id)
    return see_other(safe_next(next_path, upload_page_path(production_id)))


@router.post("/moderation/productions/{production_id}/edit", include_in_schema=False)
def edit_production_form(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    production_id: ProductionId,
    title: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
    release_date: Annotated[str, Form(max_length=20)] = "",
    next_path: Next = "",
) -> Response:
    """Correct a production's title, description or release date."""
    edit = parse_form(
        ProductionEdit, {"title": title, "description": description, "release_date": release_date}
    )
    edit_production(session, client, settings, user, production_id, edit)
    return see_other(safe_next(next_path, upload_page_path(production_id)))


@router.post(
    "/moderation/productions/{production_id}/documents/{document_id}/unlink",
    include_in_schema=False,
)
def unlink(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    production_id: ProductionId,
    document_id: DocumentId,
    next_path: Next = "",
) -> Response:
    """Remove a duplicate (or misfiled) document from a production; the document is kept."""
    unlink_document(session, client, settings, user, production_id, document_id)
    return see_other(safe_next(next_path, upload_page_path(production_id)))


@router.post("/moderation/documents/{document_id}/edit", include_in_schema=False)
def edit_document_form(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    document_id: DocumentId,
    title: Annotated[str, Form(max_length=500)] = "",
    document_date: Annotated[str, Form(max_length=20)] = "",
    document_type: Annotated[str, Form(max_length=40)] = "",
    next_path: Next = "",
) -> Response:
    """Correct a document's title, date or type."""
    edit = parse_form(
        DocumentEdit,
        {"title": title, "document_date": document_date, "document_type": document_type},
    )
    edit_document(session, client, settings, user, document_id, edit)
    return see_other(safe_next(next_path, "/moderation"))


@router.post("/moderation/documents/{document_id}/take-down", include_in_schema=False)
def take_down_form(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    document_id: DocumentId,
    reason: Annotated[str, Form(max_length=2000)] = "",
    next_path: Next = "",
) -> Response:
    """Withdraw a document with a public reason; its URL answers 410 from now on."""
    take_down(session, client, settings, user, document_id, reason)
    return see_other(safe_next(next_path, "/moderation"))


@router.post("/moderation/documents/{document_id}/restore", include_in_schema=False)
def restore_form(
    session: SessionDep,
    client: SearchDep,
    settings: SettingsDep,
    user: ModeratorUser,
    document_id: DocumentId,
    next_path: Next = "",
) -> Response:
    """Undo a takedown."""
    restore_document(session, client, settings, user, document_id)
    return see_other(safe_next(next_path, "/moderation"))
