"""Processing one document: open it, read every page, record markings, metadata and a state.

A document is ``processing`` (with a start time) until it is proven done, and ends in exactly
one final state with a reason a volunteer can act on. Pages are written once per (document,
number) and updated in place on a retry; pages already done at this pipeline version are not
redone, so a retried document only re-reads what failed. Pages are committed as they are read
(see COMMIT_EVERY_PAGES), so a worker that dies mid-document keeps what it finished.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Base, Document, DocumentState, Page, PageState
from app.slugs import slugify
from ingest import PIPELINE_VERSION
from ingest.classify import classify_document, find_document_date, parse_email_headers
from ingest.errors import IngestError
from ingest.intake import title_from_filename
from ingest.markings import bates_range
from ingest.metadata import read_pdf_metadata, useful_title
from ingest.pages import ExtractOptions, PageResult, Progress, extract_pages, write_words
from ingest.screening import shield_pages
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


# When read pages are committed. Born-digital pages are read in a few milliseconds each, and
# a commit per page cost more than reading them: on a 400-page born-digital document (40 lines
# a page; best of 7 on 2 shared cores) the job took 1.1 s on SQLite and 1.3 s on PostgreSQL
# committed once at its end, 2.0 s and 3.7 s committed page by page (a commit: 3.8 and 7.4 ms),
# and 1.0 s and 1.2 s committed every 50 pages, no cost to be seen. So they are committed in
# batches of COMMIT_EVERY_PAGES, or once the oldest of a batch has waited COMMIT_EVERY_SECONDS
# (slow pages: big layouts, a loaded machine). An OCR'd page took seconds of tesseract, beside
# which a commit is free: it is committed as soon as it is read. A worker killed mid-job thus
# loses the page it was on and at most half a second of born-digital reading; the job taken
# up again skips every committed page.
COMMIT_EVERY_PAGES = 50
COMMIT_EVERY_SECONDS = 0.5


@dataclass(frozen=True)
class _Seen:
    """What a job found in a page's row before reading it."""

    done: bool
    write_count: int


def _seen_pages(session: Session, document_id: int, numbers: range) -> dict[int, _Seen]:
    # Only the columns that decide: loading each page's text to skip it cost more than that.
    rows = session.execute(
        select(Page.number, Page.state, Page.pipeline_version, Page.write_count).where(
            Page.document_id == document_id,
            Page.number >= numbers.start,
            Page.number < numbers.stop,
        )
    )
    return {
        number: _Seen(state in DONE_STATES and version == PIPELINE_VERSION, count)
        for number, state, version, count in rows
    }


def _insert_new_pages(session: Session) -> Insert:
    """An INSERT of page rows that leaves alone a page another worker inserted meanwhile."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(Page).on_conflict_do_nothing(
            index_elements=[Page.document_id, Page.number]
        )
    return sqlite_insert(Page).on_conflict_do_nothing(
        index_elements=[Page.document_id, Page.number]
    )


class _PageWriter:
    """Writes the pages of one job as they are read, committing by the rule above.

    Writes are conditional, so that a duplicated job (its lease given away while it still
    ran) never writes a page twice: a new page is inserted unless its row appeared meanwhile,
    and an existing one (a retry of a failed page) is updated only if its ``write_count`` is
    still the one seen before reading it.
    """

    def __init__(
        self, session: Session, settings: Settings, document: Document, seen: dict[int, _Seen]
    ) -> None:
        self.session, self.settings, self.document, self.seen = session, settings, document, seen
        self.waiting: list[PageResult] = []
        self.oldest = 0.0
        self.insert = _insert_new_pages(session)
        table = Base.metadata.tables["pages"]
        self.update = (
            update(table)
            .where(
                table.c.document_id == bindparam("b_document_id"),
                table.c.number == bindparam("b_number"),
                table.c.write_count == bindparam("b_seen"),
            )
            .values(write_count=table.c.write_count + 1)
        )

    def add(self, result: PageResult) -> None:
        """Take one read page; commit it (with those waiting) when the rule says so."""
        if not self.waiting:
            self.oldest = time.monotonic()
        self.waiting.append(result)
        if (
            result.ocr_reason is not None  # it went through OCR (even if that failed)
            or len(self.waiting) >= COMMIT_EVERY_PAGES
            or time.monotonic() - self.oldest >= COMMIT_EVERY_SECONDS
        ):
            self.write()
            self.session.commit()

    def write(self) -> None:
        """Send the waiting pages to the database, uncommitted."""
        if not self.waiting:
            return
        now = dt.datetime.now(dt.UTC)
        # Findings recorded, and their text masked out of the page rows (issue 12).
        shields = shield_pages(self.session, self.document, self.waiting)
        new_rows, changed = [], []
        for result in self.waiting:
            values = _page_values(self.settings, self.document, result) | {"written_at": now}
            values |= shields.get(result.number, {})
            seen = self.seen.get(result.number)
            if seen is None:
                new_rows.append(
                    values
                    | {"document_id": self.document.id, "number": result.number, "write_count": 1}
                )
            else:
                changed.append(
                    values
                    | {
                        "b_document_id": self.document.id,
                        "b_number": result.number,
                        "b_seen": seen.write_count,
                    }
                )
        self.waiting = []
        if new_rows:
            # One executemany INSERT: an ORM object per page cost more than the page's text.
            self.session.execute(self.insert, new_rows)
        if changed:
            self.session.execute(self.update, changed)


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
    """Read the pages in ``numbers`` that are not done yet, writing and committing as they come.

    Returns the page numbers read. Pages already done at this pipeline version are skipped
    (unless OCR is forced), so a retried or duplicated job redoes nothing that was committed.
    Pages are committed as they are read (see COMMIT_EVERY_PAGES), so a worker that dies
    keeps what it finished. With ``commit`` false the last batch is only sent, uncommitted:
    the caller commits it with its own bookkeeping (the job's end), and a short document is
    still one write transaction.
    """
    seen = _seen_pages(session, document.id, numbers)
    todo = [n for n in numbers if n not in seen or not seen[n].done or options.force_ocr]
    if not todo:
        return []
    languages = options.languages or (
        document.productions[0].ocr_languages if document.productions else settings.ocr_languages
    )
    writer = _PageWriter(session, settings, document, seen)
    extract_pages(
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
        on_page=writer.add,
    )
    writer.write()
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
