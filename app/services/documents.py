"""Reading documents and pages from the database, as the public may see them.

A document is public when it is published, not taken down, and processed into pages
(``indexed``, ``partial`` or ``duplicate``). Everything the site lists or serves goes through
:func:`public_documents` or :func:`get_public_document`, so the rule lives in one place:
unknown or not public answers 404, taken down answers 410 with the recorded reason.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, Text, cast, func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.errors import GoneError, InvalidInputError, NotFoundError
from app.models import Document, DocumentState, Page, Production
from app.services.findings import public_original
from app.services.matching import QueryMatcher
from app.services.originals import reading_original
from app.urls import absolute_url, document_path, page_path
from ingest.blobstore import ensure_local_original

READER_CHUNK = 20  # pages per screen of the reader: a 2,000-page document opens as fast as a memo
MAX_PAGE_NUMBER = 1_000_000
MAX_LISTED_MATCHES = 500
MAX_BATES_LENGTH = 80
TEXT_BATCH = 200

VIEWABLE_STATES = (DocumentState.INDEXED, DocumentState.PARTIAL, DocumentState.DUPLICATE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def public_documents() -> ColumnElement[bool]:
    """SQL condition: the document may be shown, listed and linked to."""
    return (
        Document.published.is_(True)
        & Document.taken_down_at.is_(None)
        & Document.state.in_(VIEWABLE_STATES)
    )


@dataclass(frozen=True)
class ExemptionCount:
    code: str  # normalised, as the pipeline writes it: "b6", "b7C"
    label: str  # as a reader writes it: "(b)(6)", "(b)(7)(C)"
    pages: int  # pages on which the exemption is claimed


@dataclass(frozen=True)
class ReaderChunk:
    """Which pages one screen of the reader shows."""

    first: int
    last: int
    size: int
    page_count: int

    @property
    def previous_from(self) -> int | None:
        return max(1, self.first - self.size) if self.first > 1 else None

    @property
    def next_from(self) -> int | None:
        return self.last + 1 if self.last < self.page_count else None


@dataclass(frozen=True)
class InDocumentMatches:
    """Pages of one document whose text matches a query (the first few hundred listed)."""

    query: str
    pages: list[int]
    total: int


@dataclass(frozen=True)
class DocumentView:
    document: Document
    productions: list[Production]
    exemptions: list[ExemptionCount]
    redaction_count: int
    pages: list[Page]
    chunk: ReaderChunk
    matches: InDocumentMatches | None


@dataclass(frozen=True)
class PageView:
    document: Document
    productions: list[Production]
    page: Page
    previous: int | None
    next: int | None


@dataclass(frozen=True)
class OriginalFile:
    path: Path
    media_type: str
    filename: str


def exemption_label(code: str) -> str:
    """``b7C`` as ``(b)(7)(C)``, the way exemptions are cited."""
    match = re.fullmatch(r"b(\d)([A-F]?)", code)
    if match is None:
        return code
    digit, sub = match.groups()
    return f"(b)({digit})" + (f"({sub})" if sub else "")


def _exemption_order(code: str) -> tuple[int, str]:
    match = re.fullmatch(r"b(\d)([A-F]?)", code)
    return (int(match.group(1)), match.group(2)) if match else (99, code)


def _sorted_productions(document: Document) -> list[Production]:
    return sorted(document.productions, key=lambda p: (p.release_date or dt.date.max, p.id))


def get_public_document(session: Session, document_id: int) -> Document:
    """The document if the public may see it.

    Unknown, unpublished or not processed into pages: ``NotFoundError`` (404); taken down:
    ``GoneError`` (410) with the reason recorded at takedown.
    """
    document = session.scalars(
        select(Document)
        .where(Document.id == document_id)
        .options(
            selectinload(Document.productions).selectinload(Production.agency),
            selectinload(Document.productions).selectinload(Production.request),
        )
    ).first()
    if document is None or not document.published:
        raise NotFoundError(f"there is no public document {document_id}")
    if document.taken_down_at is not None:
        raise GoneError(
            f"this document was taken down: {document.taken_down_reason or 'no reason given'}"
        )
    if document.state not in VIEWABLE_STATES:
        raise NotFoundError(f"document {document_id} is not available ({document.state.value})")
    return document


def _exemptions(session: Session, document_id: int) -> tuple[list[ExemptionCount], int]:
    # Grouped by the stored JSON text: a 2,000-page document has a handful of distinct code
    # lists, so only those are decoded here, not one list per page.
    as_text = cast(Page.exemptions, Text)
    rows = session.execute(
        select(as_text, func.count(), func.coalesce(func.sum(Page.redaction_count), 0))
        .where(Page.document_id == document_id)
        .group_by(as_text)
    )
    codes: Counter[str] = Counter()
    redactions = 0
    for raw, pages, redaction_count in rows:
        decoded = json.loads(raw) if raw else []
        for code in {c for c in decoded if isinstance(c, str)} if isinstance(decoded, list) else ():
            codes[code] += pages
        redactions += int(redaction_count)
    ordered = sorted(codes, key=_exemption_order)
    return [ExemptionCount(c, exemption_label(c), codes[c]) for c in ordered], redactions


def _matching_pages(session: Session, document_id: int, query: str) -> InDocumentMatches:
    matcher = QueryMatcher(query)
    found: list[int] = []
    total = 0
    if matcher:
        rows = session.execute(
            select(Page.number, Page.text)
            .where(Page.document_id == document_id)
            .order_by(Page.number)
            .execution_options(yield_per=TEXT_BATCH)
        )
        for number, text in rows:
            if matcher.matches(text or ""):
                total += 1
                if len(found) < MAX_LISTED_MATCHES:
                    found.append(number)
    return InDocumentMatches(query, found, total)


def reader_chunk(page_count: int, start: int) -> ReaderChunk:
    """The screen of the reader that starts at page ``start`` (1-based)."""
    if not 1 <= start <= max(page_count, 1):
        raise InvalidInputError(f"from must be a page number between 1 and {max(page_count, 1)}")
    return ReaderChunk(start, min(page_count, start + READER_CHUNK - 1), READER_CHUNK, page_count)


def show_document(
    session: Session, document_id: int, *, start: int = 1, query: str = ""
) -> DocumentView:
    """A public document with one screen of its pages, and the pages that match ``query``."""
    document = get_public_document(session, document_id)
    chunk = reader_chunk(document.page_count, start)
    pages = list(
        session.scalars(
            select(Page)
            .where(
                Page.document_id == document.id,
                Page.number >= chunk.first,
                Page.number <= chunk.last,
            )
            .order_by(Page.number)
        )
    )
    exemptions, redactions = _exemptions(session, document.id)
    matches = _matching_pages(session, document.id, query) if query.strip() else None
    return DocumentView(
        document, _sorted_productions(document), exemptions, redactions, pages, chunk, matches
    )


def get_public_page(session: Session, document_id: int, number: int) -> tuple[Document, Page]:
    """Page ``number`` of a public document, or NotFoundError."""
    document = get_public_document(session, document_id)
    page = session.scalars(
        select(Page).where(Page.document_id == document.id, Page.number == number)
    ).first()
    if page is None:
        raise NotFoundError(f"document {document_id} has no page {number}")
    return document, page


def show_page(session: Session, document_id: int, number: int) -> PageView:
    """One page of a public document, with its neighbours' numbers."""
    document, page = get_public_page(session, document_id, number)
    return PageView(
        document,
        _sorted_productions(document),
        page,
        number - 1 if number > 1 else None,
        number + 1 if number < document.page_count else None,
    )


def _bates_key(value: str) -> str:
    return "".join(value.split()).upper()


def find_bates(session: Session, bates_number: str) -> PageView:
    """The public page stamped ``bates_number``, matched ignoring case and spaces."""
    wanted = bates_number.strip()
    key = _bates_key(wanted)
    if not key or len(wanted) > MAX_BATES_LENGTH:
        raise NotFoundError(f"no released page carries the Bates number {bates_number!r}")
    spellings = {wanted, wanted.upper(), " ".join(wanted.upper().split()), key}
    query = select(Page.document_id, Page.number).order_by(Page.document_id, Page.number)
    rows = session.execute(query.where(Page.bates_number.in_(spellings))).all()
    if not rows:
        # Stamps are printed with stray spaces ("2019-ICLI-00003 022454"); this scan is the
        # slow path, taken only when no spelling above was stored verbatim.
        normalised = func.upper(func.replace(func.replace(Page.bates_number, " ", ""), "\t", ""))
        rows = session.execute(query.where(normalised == key).limit(20)).all()
    gone: GoneError | None = None
    for document_id, number in rows:
        try:
            return show_page(session, document_id, number)
        except GoneError as exc:
            gone = gone or exc
        except NotFoundError:
            continue
    if gone is not None:
        raise gone
    raise NotFoundError(f"no released page carries the Bates number {bates_number!r}")


def iter_document_text(session: Session, document: Document) -> Iterator[str]:
    """The document's text, page after page, each under a separator line (for ``.txt``)."""
    yield f"{document.title}\n"
    last = 0
    while True:
        pages = session.execute(
            select(Page.number, Page.bates_number, Page.text)
            .where(Page.document_id == document.id, Page.number > last)
            .order_by(Page.number)
            .limit(TEXT_BATCH)
        ).all()
        if not pages:
            return
        for number, bates, text in pages:
            stamp = f" · {bates}" if bates else ""
            yield f"\n----- page {number} of {document.page_count}{stamp} -----\n\n{text or ''}\n"
        last = pages[-1][0]


def safe_filename(name: str, fallback: str) -> str:
    """A file name a browser or an unzip tool will save as-is: no folders, no control
    characters, at most 200 characters; ``fallback`` when nothing is left."""
    base = _UNSAFE_FILENAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return base[:200] or fallback


def original_file(settings: Settings, document: Document) -> OriginalFile:
    """Where the stored original of a public document is, and how to name it for download.

    On a machine that has not seen the original yet (another one took the upload), it is
    fetched from the shared store first and kept in the local folder for the next download.
    ``NotFoundError`` when no store has it, ``UnavailableError`` when the store cannot be read.
    """
    if not _SHA256.match(document.sha256):
        raise NotFoundError(f"document {document.id} has no stored original")
    # Issue 12: held while findings wait for a moderator; the redacted copy once there is one.
    with reading_original(document.id):
        replacement = public_original(settings, document)
    if replacement is not None:
        return OriginalFile(
            replacement[0], "application/pdf", safe_filename(replacement[1], document.slug)
        )
    with reading_original(document.id):
        path = ensure_local_original(settings, document.sha256)
    media_type = document.media_type or "application/octet-stream"
    if media_type == "application/octet-stream":
        with path.open("rb") as handle:
            if handle.read(5) == b"%PDF-":
                media_type = "application/pdf"
    return OriginalFile(path, media_type, safe_filename(document.original_filename, document.slug))


def _human_date(value: dt.date) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def citation(
    base_url: str, document: Document, productions: list[Production], page: Page | None = None
) -> str:
    """A citation a reporter can paste: agency, title, date, production, page, Bates, link."""
    parts: list[str] = []
    agencies = list(dict.fromkeys(p.agency.name for p in productions))
    if agencies:
        parts.append("; ".join(agencies) + ".")
    parts.append(f"“{document.title}.”")
    if document.document_date:
        parts.append(_human_date(document.document_date) + ".")
    for production in productions[:3]:
        released = (
            f", released {_human_date(production.release_date)}" if production.release_date else ""
        )
        request = (
            f" (FOIA request {production.request.tracking_number})" if production.request else ""
        )
        parts.append(f"{production.title}{request}{released}.")
    if page is not None:
        stamp = f", Bates {page.bates_number}" if page.bates_number else ""
        parts.append(f"Page {page.number}{stamp}.")
        link = page_path(document.id, document.slug, page.number)
    else:
        if document.bates_start:
            end = document.bates_end
            span = (
                f"{document.bates_start}\N{EN DASH}{end}"
                if end and end != document.bates_start
                else document.bates_start
            )
            parts.append(f"Bates {span}.")
        link = document_path(document.id, document.slug)
    parts.append(absolute_url(base_url, link))
    return " ".join(parts)


def count_public(session: Session) -> tuple[int, int]:
    """Numbers of public documents and of their pages."""
    documents = session.scalar(select(func.count()).select_from(Document).where(public_documents()))
    pages = session.scalar(
        select(func.count()).select_from(Page).join(Document).where(public_documents())
    )
    return documents or 0, pages or 0
