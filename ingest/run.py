"""Ingest paths into a production: intake every file, then process and index each document.

Inputs may be files or folders (walked recursively); a ZIP is stored as an original too, then
unpacked safely and each member taken in as its own document. Every file is stored and
recorded before any processing starts, so nothing is lost if a later step fails. Pages are
pushed to the index after each document's commit, so a long production becomes searchable as
it goes; if Meilisearch cannot be reached the pages wait as ``pending_index``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient, SearchEngine, open_search_engine
from app.meili.managed import ManagedMeiliError
from app.models import Document, DocumentState, Production
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
)
from ingest.archive import extract_zip
from ingest.errors import IngestError
from ingest.index import index_documents
from ingest.intake import IntakeOutcome, intake_file
from ingest.jobs import enqueue_document, open_jobs, sweep_expired, worker_name
from ingest.pages import Progress
from ingest.process import ProcessOptions
from ingest.sniff import Kind, sniff
from ingest.tasks import WorkerContext, work_once

log = logging.getLogger(__name__)


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
    name: str
    document_id: int
    state: str
    reason: str | None
    pages: int


@dataclass(frozen=True)
class Taken:
    """One file taken in: its name, its document, and whether it was new."""

    name: str
    document_id: int
    outcome: IntakeOutcome


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files named directly, and every file below a named folder, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink())
        elif path.is_file():
            files.append(path)
    return files


def _intake_zip(
    session: Session, settings: Settings, path: Path, production: Production, name: str
) -> list[Taken]:
    scratch = Path(tempfile.mkdtemp(dir=settings.files_dir / "tmp", prefix="unzip-"))
    try:
        try:
            members = extract_zip(path, scratch)
        except IngestError as exc:
            # The archive itself becomes the record of what went wrong, kept like any upload.
            result = intake_file(
                session,
                settings,
                path,
                production,
                original_name=name,
                media_type="application/zip",
            )
            document = result.document
            if result.outcome is IntakeOutcome.NEW:
                document.state = DocumentState(exc.state)
                document.state_reason = exc.reason
                document.retryable = exc.retryable
            session.commit()
            return [
                Taken(
                    name,
                    document.id,
                    IntakeOutcome.DUPLICATE
                    if result.outcome is IntakeOutcome.DUPLICATE
                    else IntakeOutcome.NEW,
                )
            ]
        taken = []
        for member in members:
            member_name = f"{name}/{member.original_name}"
            taken.extend(intake_path(session, settings, member.path, production, member_name))
        return taken
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def intake_path(
    session: Session, settings: Settings, path: Path, production: Production, name: str
) -> list[Taken]:
    """Store and record one file (for a ZIP, each of its members), committing per file."""
    if sniff(path) is Kind.ZIP:
        return _intake_zip(session, settings, path, production, name)
    result = intake_file(session, settings, path, production, original_name=name)
    # Commit per file: a stored original is recorded even if a later file fails.
    session.commit()
    return [Taken(name, result.document.id, result.outcome)]


@contextlib.contextmanager
def _search_engine(settings: Settings) -> Iterator[SearchEngine | None]:
    try:
        with open_search_engine(settings) as engine:
            yield engine
    except ManagedMeiliError as exc:
        log.warning("search engine unavailable, pages stay pending_index: %s", exc)
        yield None


def ingest_paths(
    settings: Settings,
    paths: Sequence[Path],
    target: IngestTarget,
    *,
    options: ProcessOptions | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
    progress: Progress | None = None,
) -> list[FileOutcome]:
    """Take every file in, process it, index it; return one outcome per document."""
    options = options or ProcessOptions()
    report = progress or (lambda _event, _n: None)
    files = expand_paths(paths)
    (settings.files_dir / "tmp").mkdir(parents=True, exist_ok=True)
    taken: list[Taken] = []
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
        session.commit()
        for path in files:
            taken.extend(intake_path(session, settings, path, production, path.name))
    report("files_total", len(taken))

    new_ids = [t.document_id for t in taken if t.outcome is IntakeOutcome.NEW]
    duplicate_ids = [t.document_id for t in taken if t.outcome is IntakeOutcome.DUPLICATE]
    with _search_engine(settings) as engine:
        client = engine.client if engine is not None else None
        _process(settings, new_ids, options, client, report)
        with session_scope(settings) as session:
            # A duplicate joined this production: its records now name it too.
            if client is not None and duplicate_ids:
                index_documents(client, settings, session, duplicate_ids)
            outcomes = [_outcome(session, t.name, t.document_id, t.outcome) for t in taken]
    for outcome in outcomes:
        report("file_done", 1)
        if on_file:
            on_file(outcome)
    return outcomes


def _outcome(session: Session, name: str, document_id: int, how: IntakeOutcome) -> FileOutcome:
    document = session.get(Document, document_id)
    if document is None:
        raise LookupError(f"document {document_id} vanished during ingest")
    return FileOutcome(
        name or document.original_filename,
        document.id,
        "duplicate" if how is IntakeOutcome.DUPLICATE else document.state.value,
        document.state_reason,
        document.page_count,
    )


def _process(
    settings: Settings,
    document_ids: Sequence[int],
    options: ProcessOptions,
    client: MeiliClient | None,
    report: Progress,
) -> None:
    """Queue the documents' processing and see it through to final states."""
    job_options = {"force_ocr": options.force_ocr, "languages": options.languages}
    job_ids = []
    with session_scope(settings) as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            if document is None or document.state.is_final:
                continue  # e.g. a ZIP that could not be unpacked is final at intake
            job_ids.append(enqueue_document(session, document, options=job_options).id)
    if not job_ids:
        return
    passwords = dict.fromkeys(document_ids, options.password) if options.password else {}
    if settings.broker_url and not passwords:
        from ingest.dispatch import CeleryDispatcher

        CeleryDispatcher(settings).submit(job_ids)
        wait_for_jobs(settings, document_ids)
    else:
        run_queued_jobs(settings, document_ids, client=client, progress=report, passwords=passwords)


def run_queued_jobs(
    settings: Settings,
    document_ids: Sequence[int],
    *,
    client: MeiliClient | None,
    progress: Progress | None = None,
    passwords: dict[int, str] | None = None,
) -> None:
    """Run the queued jobs of these documents in this process until none is left."""
    ctx = WorkerContext(
        settings, client, worker_name(), progress=progress, passwords=passwords or {}
    )
    only = set(document_ids)
    while True:
        if work_once(ctx, only=only):
            continue
        if not _still_open(settings, only):
            return
        time.sleep(0.5)  # backoff pending, or another worker holds a job of these documents


def wait_for_jobs(settings: Settings, document_ids: Sequence[int], timeout: float = 86_400) -> None:
    """Wait until workers elsewhere have finished every job of these documents."""
    deadline = time.monotonic() + timeout
    while _still_open(settings, set(document_ids)) and time.monotonic() < deadline:
        time.sleep(1.0)


def _still_open(settings: Settings, document_ids: set[int]) -> bool:
    with session_scope(settings) as session:
        sweep_expired(session)
        return any(open_jobs(session, d) for d in document_ids)


# A document still `processing` this long after it started is taken to have died with its
# process (killed, machine restarted) and may be retried.
STUCK_AFTER = dt.timedelta(hours=1)


def retryable_document_ids(session: Session, only: Sequence[int] | None = None) -> list[int]:
    """Documents a retry can help: marked retryable, or stuck in processing/queued."""
    stuck_before = dt.datetime.now(dt.UTC) - STUCK_AFTER
    ids = []
    query = select(Document).order_by(Document.id)
    if only:
        query = query.where(Document.id.in_(list(only)))
    for document in session.scalars(query):
        started = document.processing_started_at
        if started is not None and started.tzinfo is None:  # SQLite drops the zone
            started = started.replace(tzinfo=dt.UTC)
        stuck = document.state is DocumentState.QUEUED or (
            document.state is DocumentState.PROCESSING
            and (started is None or started < stuck_before)
        )
        if document.retryable or stuck:
            ids.append(document.id)
    return ids


def retry_documents(
    settings: Settings,
    document_ids: Sequence[int],
    options: ProcessOptions | None = None,
    progress: Progress | None = None,
) -> list[FileOutcome]:
    """Process the given documents again (finished pages are kept) and index them."""
    options = options or ProcessOptions()
    report = progress or (lambda _event, _n: None)
    with session_scope(settings) as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            if document is not None:
                # Reopen: a final state must not stop the retry from being queued.
                document.state = DocumentState.QUEUED
        session.commit()
    with _search_engine(settings) as engine:
        _process(settings, document_ids, options, engine.client if engine else None, report)
    with session_scope(settings) as session:
        return [
            _outcome(session, "", document_id, IntakeOutcome.NEW) for document_id in document_ids
        ]
