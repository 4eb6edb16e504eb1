"""Ingest files into a production: intake, process, then index after the commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.db import session_scope
from app.meili import open_search_engine
from app.models import Document
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
)
from ingest.index import index_documents
from ingest.intake import IntakeOutcome, intake_file
from ingest.process import ProcessOptions, process_document


@dataclass(frozen=True)
class IngestTarget:
    agency: str
    production: str
    request: str | None = None
    release_date: dt.date | None = None
    languages: str = "eng"
    published: bool = True


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    document_id: int
    state: str
    reason: str | None
    pages: int


def ingest_paths(
    settings: Settings,
    paths: Sequence[Path],
    target: IngestTarget,
    *,
    options: ProcessOptions | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Take every file in, process it, index it; return one outcome per file."""
    options = options or ProcessOptions()
    intake: list[tuple[Path, int, IntakeOutcome]] = []
    with session_scope(settings) as session:
        agency = get_or_create_agency(session, target.agency)
        request = get_or_create_request(session, target.request, agency) if target.request else None
        production = get_or_create_production(
            session,
            agency,
            target.production,
            request=request,
            release_date=target.release_date,
            ocr_languages=target.languages,
            published=target.published,
        )
        for path in paths:
            result = intake_file(session, settings, path, production)
            intake.append((path, result.document.id, result.outcome))
            # Commit per file: a stored original is recorded even if a later file fails.
            session.commit()

    outcomes: list[FileOutcome] = []
    processed: list[int] = []
    with session_scope(settings) as session:
        for path, document_id, how in intake:
            if how is IntakeOutcome.NEW:
                process_document(session, settings, document_id, options)
                processed.append(document_id)
            else:
                processed.append(document_id)  # re-index: it joined a new production
            document = session.get(Document, document_id)
            if document is None:
                raise LookupError(f"document {document_id} vanished during ingest")
            outcome = FileOutcome(
                path,
                document_id,
                "duplicate" if how is IntakeOutcome.DUPLICATE else document.state.value,
                document.state_reason,
                document.page_count,
            )
            outcomes.append(outcome)
            if on_file:
                on_file(outcome)
    with session_scope(settings) as session, open_search_engine(settings) as engine:
        index_documents(engine.client, settings, session, processed)
    return outcomes
