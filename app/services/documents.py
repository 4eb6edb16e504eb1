"""Reading documents and pages from the database, as the public may see them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.errors import GoneError, NotFoundError
from app.models import Document, Page, Production


@dataclass(frozen=True)
class DocumentView:
    document: Document
    pages: list[Page]


def get_public_document(session: Session, document_id: int) -> Document:
    """The document if the public may see it.

    Unknown or unpublished: ``NotFoundError`` (404); taken down: ``GoneError`` (410).
    """
    document = session.scalars(
        select(Document)
        .where(Document.id == document_id)
        .options(selectinload(Document.productions).selectinload(Production.agency))
    ).first()
    if document is None or not document.published:
        raise NotFoundError(f"there is no public document {document_id}")
    if document.taken_down_at is not None:
        raise GoneError(
            f"this document was taken down: {document.taken_down_reason or 'no reason given'}"
        )
    return document


def show_document(session: Session, document_id: int) -> DocumentView:
    """A public document with all its pages in order."""
    document = get_public_document(session, document_id)
    pages = list(
        session.scalars(select(Page).where(Page.document_id == document.id).order_by(Page.number))
    )
    return DocumentView(document, pages)


def show_page(session: Session, document_id: int, number: int) -> tuple[Document, Page]:
    """One page of a public document."""
    document = get_public_document(session, document_id)
    page = session.scalars(
        select(Page).where(Page.document_id == document.id, Page.number == number)
    ).first()
    if page is None:
        raise NotFoundError(f"document {document_id} has no page {number}")
    return document, page


def count_public(session: Session) -> tuple[int, int]:
    """Numbers of public documents and of their pages."""
    public = (Document.published.is_(True)) & (Document.taken_down_at.is_(None))
    documents = session.scalar(select(func.count()).select_from(Document).where(public)) or 0
    pages = session.scalar(select(func.count()).select_from(Page).join(Document).where(public)) or 0
    return documents, pages
