"""Helpers for the reader, browse and embed tests: ingest a PDF, then edit its rows directly.

The pipeline does not yet write every field the site shows (dates, exemptions, email headers),
so tests set them on the rows the way the pipeline will, and assert on what the site makes of
them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.models import Document, DocumentState, Page, PageState, TextSource
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
)
from app.slugs import slugify
from ingest import PIPELINE_VERSION
from ingest.run import IngestTarget, ingest_paths
from ingest.storage import store_file


def ingest_pdf(
    settings: Settings,
    path: Path,
    *,
    agency: str = "ICE",
    production: str = "Release 1",
    request: str | None = None,
    release_date: dt.date | None = None,
    published: bool = True,
) -> int:
    """Ingest one file into a production and return its document id."""
    target = IngestTarget(
        agency=agency,
        production=production,
        request=request,
        release_date=release_date,
        published=published,
    )
    return ingest_paths(settings, [path], target)[0].document_id


def update_document(settings: Settings, document_id: int, **fields: Any) -> None:
    """Set columns of one document row."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        for name, value in fields.items():
            setattr(document, name, value)


def update_page(settings: Settings, document_id: int, number: int, **fields: Any) -> None:
    """Set columns of one page row."""
    with session_scope(settings) as session:
        page = session.scalars(
            select(Page).where(Page.document_id == document_id, Page.number == number)
        ).one()
        for name, value in fields.items():
            setattr(page, name, value)


def document_url(settings: Settings, document_id: int) -> str:
    """The canonical path of a document."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        return f"/documents/{document.id}-{document.slug}"


def add_document(
    settings: Settings,
    pdf: Path,
    texts: Sequence[str],
    *,
    title: str = "Ledger",
    agency: str = "ICE",
    production: str = "Release 1",
    request: str | None = None,
    release_date: dt.date | None = None,
    published: bool = True,
    page_fields: Sequence[Mapping[str, Any]] = (),
) -> int:
    """A public document whose rows are written directly, without the pipeline (fast for
    many pages): the original is stored, one extracted page per text; ``page_fields`` gives
    more columns of each page (its Bates number, exemptions...), in page order."""
    stored = store_file(pdf, settings.files_dir)
    with session_scope(settings) as session:
        owner = get_or_create_agency(session, agency)
        release = get_or_create_production(
            session,
            owner,
            production,
            request=get_or_create_request(session, request, owner) if request else None,
            release_date=release_date,
            published=published,
        )
        document = Document(
            title=title,
            slug=slugify(title),
            original_filename=pdf.name,
            sha256=stored.sha256,
            bytes=stored.size,
            media_type="application/pdf",
            page_count=len(texts),
            state=DocumentState.INDEXED,
            published=published,
            pipeline_version=PIPELINE_VERSION,
        )
        document.productions.append(release)
        session.add(document)
        session.flush()
        session.add_all(
            Page(
                document_id=document.id,
                number=number,
                text=text,
                text_source=TextSource.LAYER,
                width=612.0,
                height=792.0,
                state=PageState.INDEXED,
                pipeline_version=PIPELINE_VERSION,
                **(page_fields[number - 1] if number <= len(page_fields) else {}),
            )
            for number, text in enumerate(texts, start=1)
        )
        return document.id
