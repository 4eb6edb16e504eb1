"""Moderation: publish productions, correct metadata, unlink duplicates, take documents down.

Every change is committed together with its audit entry, and only then pushed to the search
index (``ingest.index.index_documents`` writes public documents and deletes the others), so
the index never shows what the database does not say is public.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.config import Settings
from app.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from app.meili import MeiliClient
from app.models import Document, Production, ProductionStatus
from app.services.audit import record
from app.services.findings import check_publishable
from app.services.uploads import ConflictError, may_publish, owner_of
from app.slugs import slugify
from ingest.classify import DocumentType
from ingest.index import index_documents

MIN_REASON_LENGTH = 5


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class DocumentEdit(BaseModel):
    """New metadata of a document; fields left out (or None) keep their value."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: Annotated[str | None, Field(min_length=1, max_length=500)] = None
    document_date: dt.date | None = None
    document_type: DocumentType | None = None

    _blank = field_validator("title", "document_date", "document_type", mode="before")(
        _blank_is_none
    )


class ProductionEdit(BaseModel):
    """New metadata of a production; fields left out (or None) keep their value."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: Annotated[str | None, Field(min_length=1, max_length=300)] = None
    description: Annotated[str | None, Field(max_length=20_000)] = None
    release_date: dt.date | None = None

    _blank = field_validator("title", "description", "release_date", mode="before")(_blank_is_none)


def _require_moderator(user: User) -> None:
    if not user.is_moderator:
        raise PermissionDeniedError("only a moderator may do this")


def _get_production(session: Session, production_id: int) -> Production:
    production = session.get(Production, production_id)
    if production is None:
        raise NotFoundError(f"there is no production {production_id}")
    return production


def _get_document(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"there is no document {document_id}")
    return document


def _reindex(client: MeiliClient, settings: Settings, session: Session, ids: list[int]) -> None:
    # After the commit: index_documents re-sends public documents and removes the others.
    if ids:
        index_documents(client, settings, session, ids)


def publish_production(
    session: Session, client: MeiliClient, settings: Settings, user: User, production_id: int
) -> Production:
    """Make a draft production and its documents public, then index them.

    Moderators may publish any production; a trusted volunteer only their own. Taken-down
    documents stay down (they are published but not public).
    """
    production = _get_production(session, production_id)
    if not may_publish(user, owner_of(session, production.id)):
        raise PermissionDeniedError(
            "a moderator reviews uploads before they are public; only a moderator (or a trusted "
            "volunteer, for their own productions) may publish"
        )
    if production.status == ProductionStatus.PUBLISHED:
        raise InvalidInputError(f"production {production.id} is already published")
    check_publishable(session, production)  # issue 12: findings of high confidence first
    production.status = ProductionStatus.PUBLISHED
    production.published_at = dt.datetime.now(dt.UTC)
    ids = []
    for document in production.documents:
        document.published = True
        ids.append(document.id)
    record(session, user, "production.publish", "production", production.id, documents=len(ids))
    session.commit()
    _reindex(client, settings, session, ids)
    return production


def edit_production(
    session: Session,
    client: MeiliClient,
    settings: Settings,
    user: User,
    production_id: int,
    edit: ProductionEdit,
) -> Production:
    """Correct a production's title, description or release date (moderators), and reindex."""
    _require_moderator(user)
    production = _get_production(session, production_id)
    changes: dict[str, Any] = {}
    if edit.title is not None and edit.title != production.title:
        clash = session.scalars(
            select(Production).where(
                Production.agency_id == production.agency_id,
                Production.title == edit.title,
                Production.id != production.id,
            )
        ).first()
        if clash is not None:
            raise ConflictError(f"production {clash.id} of this agency already has that title")
        changes["title"] = [production.title, edit.title]
        production.title = edit.title
    if edit.description is not None and edit.description != production.description:
        changes["description"] = [production.description, edit.description]
        production.description = edit.description
    if edit.release_date is not None and edit.release_date != production.release_date:
        changes["release_date"] = [_iso(production.release_date), _iso(edit.release_date)]
        production.release_date = edit.release_date
    if changes:
        record(session, user, "production.edit", "production", production.id, changes=changes)
        session.commit()
        _reindex(client, settings, session, [d.id for d in production.documents])
    return production


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def edit_document(
    session: Session,
    client: MeiliClient,
    settings: Settings,
    user: User,
    document_id: int,
    edit: DocumentEdit,
) -> Document:
    """Correct a document's title, date or type (moderators), and reindex it.

    A new title gives a new slug; links with the old slug keep working (they redirect).
    """
    _require_moderator(user)
    document = _get_document(session, document_id)
    changes: dict[str, Any] = {}
    if edit.title is not None and edit.title != document.title:
        changes["title"] = [document.title, edit.title]
        document.title = edit.title
        document.slug = slugify(edit.title)
    if edit.document_date is not None and edit.document_date != document.document_date:
        changes["document_date"] = [_iso(document.document_date), _iso(edit.document_date)]
        document.document_date = edit.document_date
    if edit.document_type is not None and edit.document_type.value != document.document_type:
        changes["document_type"] = [document.document_type, edit.document_type.value]
        document.document_type = edit.document_type.value
    if changes:
        record(session, user, "document.edit", "document", document.id, changes=changes)
        session.commit()
        _reindex(client, settings, session, [document.id])
    return document


def unlink_document(
    session: Session,
    client: MeiliClient,
    settings: Settings,
    user: User,
    production_id: int,
    document_id: int,
) -> Document:
    """Remove a document from a production (a duplicate, or a file that does not belong).

    The document and its original are kept; if no published production holds it any more it
    is no longer public.
    """
    _require_moderator(user)
    production = _get_production(session, production_id)
    document = _get_document(session, document_id)
    if production not in document.productions:
        raise NotFoundError(f"production {production_id} has no document {document_id}")
    document.productions.remove(production)
    if not any(p.status == ProductionStatus.PUBLISHED for p in document.productions):
        document.published = False
    record(
        session,
        user,
        "document.unlink",
        "document",
        document.id,
        production=production.id,
        remaining_productions=[p.id for p in document.productions],
    )
    session.commit()
    _reindex(client, settings, session, [document.id])
    return document


def take_down(
    session: Session,
    client: MeiliClient,
    settings: Settings,
    user: User,
    document_id: int,
    reason: str,
) -> Document:
    """Withdraw a document from the public with a public reason; its original is kept.

    Its URL then answers 410 Gone with the reason, and it leaves the search index.
    """
    _require_moderator(user)
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise InvalidInputError("say why the document is taken down: the public will read it")
    if len(reason) > 2000:
        raise InvalidInputError("a takedown reason has at most 2000 characters")
    document = _get_document(session, document_id)
    document.taken_down_at = dt.datetime.now(dt.UTC)
    document.taken_down_reason = reason
    record(session, user, "document.take_down", "document", document.id, reason=reason)
    session.commit()
    _reindex(client, settings, session, [document.id])
    return document


def restore_document(
    session: Session, client: MeiliClient, settings: Settings, user: User, document_id: int
) -> Document:
    """Undo a takedown: the document is public again if one of its productions is."""
    _require_moderator(user)
    document = _get_document(session, document_id)
    if document.taken_down_at is None:
        raise InvalidInputError(f"document {document_id} is not taken down")
    record(
        session,
        user,
        "document.restore",
        "document",
        document.id,
        previous_reason=document.taken_down_reason,
    )
    document.taken_down_at = None
    document.taken_down_reason = None
    session.commit()
    _reindex(client, settings, session, [document.id])
    return document
