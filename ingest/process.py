"""Processing one document: open it, read every page, record markings, metadata and a state.

A document is ``processing`` (with a start time) until it is proven done, and ends in exactly
one final state with a reason a volunteer can act on. Pages are written once per (document,
number) and updated in place on a retry; pages already done at this pipeline version are not
redone, so a retried document only re-reads what failed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Document, DocumentState, Page, PageState
from app.slugs import slugify
from ingest import PIPELINE_VERSION
from ingest.classify import classify_document, find_document_date, parse_email_headers
from ingest.errors import IngestError
from ingest.intake import title_from_filename
from ingest.markings import bates_range
from ingest.metadata import read_pdf_metadata, useful_title
from ingest.pages import ExtractOptions, PageResult, Progress, extract_pages, write_words
from ingest.source import Source, prepare_source
from ingest.storage import derived_dir

log = logging.getLogger(__name__)

DONE_STATES = frozenset({PageState.EXTRACTED, PageState.INDEXED, PageState.PENDING_INDEX})
# Pages whose text decides a document's type, date and email headers.
HEAD_PAGES = 2


@dataclass(frozen=True)
class ProcessOptions:
    password: str | None = None
    force_ocr: bool = False
    languages: str | None = None  # default: the production's OCR languages


def _set_state(
    document: Document, state: DocumentState, reason: str | None, *, retryable: bool
) -> None:
    document.state = state
    document.state_reason = reason
    document.retryable = retryable


def _page_values(settings: Settings, document: Document, result: PageResult) -> dict[str, Any]:
    """The columns of a page's row from what was read; writes its OCR word boxes, if any."""
    values: dict[str, Any] = {
        "layer_text": result.layer_text,
        "ocr_text": result.ocr_text,
        "text": result.text,
        "text_source": result.text_source,
        "ocr_confidence": result.ocr_confidence,
        "width": result.width,
        "height": result.height,
        "bates_number": result.bates_number,
        "exemptions": result.exemptions,
        "redaction_count": result.redaction_count,
        "state": result.state,
        "state_reason": result.state_reason,
        "pipeline_version": PIPELINE_VERSION,
    }
    if result.ocr_words is not None:
        words = (
            derived_dir(settings.files_dir, document.sha256, PIPELINE_VERSION)
            / "words"
            / (f"{result.number}.json")
        )
        write_words(words, result)
        values["words_path"] = str(words.relative_to(settings.files_dir))
    return values


def _describe(document: Document, pages: list[Page], metadata: dict[str, str]) -> None:
    """Document-level fields from its first pages and metadata."""
    head = "\n".join(p.text for p in pages[:HEAD_PAGES])
    headers = parse_email_headers(pages[0].text) if pages else {}
    document.email_headers = headers
    document.document_type = classify_document(head).value
    # The text's own date (an email's Sent line, a memo's DATE) is the record's date; a PDF's
    # creation date is usually when the agency scanned or exported it, so it only fills in.
    document.document_date = find_document_date(head)
    if document.document_date is None and metadata.get("created"):
        document.document_date = dt.date.fromisoformat(metadata["created"][:10])
    title = useful_title(metadata) or headers.get("subject")
    # Only replace the title made from the file name, never one a person has set.
    if title and document.title == title_from_filename(document.original_filename):
        document.title = title[:500]
        document.slug = slugify(title)
    document.bates_start, document.bates_end = bates_range([p.bates_number for p in pages])


def start_document(
    session: Session,
    settings: Settings,
    document: Document,
    options: ProcessOptions,
    *,
    commit_final: bool = True,
) -> Source | None:
    """Mark the document processing, open its file and read its metadata.

    Returns None (the document already in its final state, committed unless
    ``commit_final`` is false: a job commits it with its own end, so that nobody sees a
    final document whose job still runs) when the file cannot be read at all: encrypted,
    unsupported, broken.

    One commit, after the open: its job is leased already, so a worker dying during the open
    leaves the document queued and its job taken up again; and no write lock is held while
    the file is opened, which may take up to the open's timeout.
    """
    document.state = DocumentState.PROCESSING
    document.processing_started_at = dt.datetime.now(dt.UTC)
    try:
        source = prepare_source(settings, document.sha256, password=options.password)
    except IngestError as exc:
        _set_state(document, DocumentState(exc.state), exc.reason, retryable=exc.retryable)
        if commit_final:
            session.commit()
        return None
    except OSError as exc:
        _set_state(
            document,
            DocumentState.FAILED,
            f"the stored original could not be read ({exc.strerror}); retry later",
            retryable=True,
        )
        if commit_final:
            session.commit()
        return None
    document.media_type = source.media_type
    document.page_count = source.pdf.page_count
    document.pdf_metadata = read_pdf_metadata(source.pdf.path, password=source.pdf.password)
    session.commit()
    return source


def process_pages(
    session: Session,
    settings: Settings,
    document: Document,
    pdf_path: Path,
    password: str | None,
    numbers: range,
    options: ProcessOptions,
    progress: Progress | None = None,
    *,
    commit: bool = True,
) -> list[int]:
    """Read the pages in ``numbers`` that are not done yet, write them and commit.

    Returns the page numbers written. Pages already done at this pipeline version are skipped
    (unless OCR is forced), so a retried or duplicated job redoes nothing. With ``commit``
    false the pages are only flushed: the caller commits them with its own bookkeeping (the
    job's end), one write transaction instead of two.
    """
    existing = {
        page.number: page
        for page in session.scalars(
            select(Page).where(
                Page.document_id == document.id,
                Page.number >= numbers.start,
                Page.number < numbers.stop,
            )
        )
    }
    todo = [
        n
        for n in numbers
        if not (
            n in existing
            and existing[n].state in DONE_STATES
            and existing[n].pipeline_version == PIPELINE_VERSION
            and not options.force_ocr
        )
    ]
    if not todo:
        return []
    languages = options.languages or (
        document.productions[0].ocr_languages if document.productions else settings.ocr_languages
    )
    results = extract_pages(
        pdf_path,
        todo,
        ExtractOptions(
            languages=languages,
            force_ocr=options.force_ocr,
            ocr_timeout=settings.ocr_timeout_seconds,
            workers=settings.workers,
            password=password,
        ),
        progress,
    )
    new_rows = []
    for result in results:
        values = _page_values(settings, document, result)
        page = existing.get(result.number)
        if page is None:
            new_rows.append(values | {"document_id": document.id, "number": result.number})
        else:  # a retry: the row is loaded already
            for column, value in values.items():
                setattr(page, column, value)
    if new_rows:
        # One executemany INSERT: an ORM object per page cost more than the page's text.
        session.execute(insert(Page), new_rows)
    if commit:
        session.commit()
    else:
        session.flush()
    return todo


def finish_document(
    session: Session,
    document: Document,
    *,
    lost_ranges: Sequence[tuple[int, int, str]] = (),
    commit: bool = True,
) -> DocumentState:
    """Describe the document from its pages and give it its final state; commit.

    ``lost_ranges`` are page ranges whose jobs ran out of attempts, with the last error.
    With ``commit`` false the caller commits (with the pages' index state, in one go).
    """
    pages = list(
        session.scalars(select(Page).where(Page.document_id == document.id).order_by(Page.number))
    )
    _describe(document, pages, document.pdf_metadata or {})
    document.pipeline_version = PIPELINE_VERSION
    failed = [p.number for p in pages if p.state is PageState.OCR_FAILED]
    missing = document.page_count - len(pages)
    if lost_ranges or missing > 0:
        detail = "; ".join(f"pages {a}-{b}: {error}" for a, b, error in lost_ranges[:3])
        _set_state(
            document,
            DocumentState.PARTIAL,
            f"{max(missing, 0)} of {document.page_count} pages could not be processed"
            + (f" ({detail})" if detail else "")
            + "; the other pages are searchable. Retry to try them again.",
            retryable=True,
        )
    elif failed:
        shown = ", ".join(str(n) for n in failed[:10]) + ("…" if len(failed) > 10 else "")
        _set_state(
            document,
            DocumentState.PARTIAL,
            f"{len(failed)} of {len(pages)} pages could not be OCR'd (pages {shown}); the "
            "other pages are searchable. Retry to try those pages again.",
            retryable=True,
        )
    else:
        _set_state(document, DocumentState.INDEXED, None, retryable=False)
    if commit:
        session.commit()
    return document.state


def process_document(
    session: Session,
    settings: Settings,
    document_id: int,
    options: ProcessOptions | None = None,
    progress: Progress | None = None,
) -> DocumentState:
    """Read every page of one stored document in this process; return its final state."""
    options = options or ProcessOptions()
    document = session.get(Document, document_id)
    if document is None:
        raise LookupError(f"no document {document_id}")
    source = start_document(session, settings, document, options)
    if source is None:
        return document.state
    process_pages(
        session,
        settings,
        document,
        source.pdf.path,
        source.pdf.password,
        range(1, source.pdf.page_count + 1),
        options,
        progress,
    )
    return finish_document(session, document)
