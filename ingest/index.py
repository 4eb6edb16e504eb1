"""The derived search index: one Meilisearch record per page and one per document.

Records are built from the database after its commit, so the index never shows what the
database does not hold. Only public (published, not taken down) documents are written; every
query also filters on ``published = true`` as a separate filter element. Settings are declared
here and applied idempotently. ``rebuild`` fills a fresh index aside and swaps it in, so search
never goes down during a full reindex.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session, selectinload

from app.config import Settings
from app.meili import MeiliClient, MeiliError, MeiliUnavailableError
from app.models import Document, Page, PageState, Production
from ingest.continuity import join_hyphenated, seam
from ingest.versions.search_fields import NO_VERSIONS, VersionFields, version_fields

log = logging.getLogger(__name__)

BATCH_PAGES = 500

PAGES_SETTINGS: dict[str, Any] = {
    # "seam" last: a page's own text ranks before the words it shares with its neighbour.
    "searchableAttributes": ["text", "document_title", "bates", "original_filename", "seam"],
    "filterableAttributes": [
        "published",
        "document_id",
        "page",
        "agency_slugs",
        "request_numbers",
        "production_ids",
        "document_type",
        "document_year",
        "document_date",
        "release_date",
        "exemptions",
        "has_redactions",
        "bates",
        # Issue 11: the versions of a page (ingest.versions.search_fields).
        "version_group",
        "released_differently",
        "document_released_differently",
        # Facets of the grouped results: document-level, so that counts under `distinct` are
        # exact (a page-level value is only counted on the one page that represents its
        # document). The *_labels fields pair a filter value with its display name.
        "document_exemptions",
        "document_has_redactions",
        "agency_labels",
        "production_labels",
    ],
    # Lists and typo settings in the form Meilisearch returns them (sorted, defaults spelled
    # out), so that applying the settings at start finds nothing to change.
    "sortableAttributes": ["document_date", "document_id", "page", "published_at", "release_date"],
    "displayedAttributes": ["*"],
    # "sort" first: a reader who sorts by date wants date order, with relevance only breaking
    # ties (by default Meilisearch sorts only among equally relevant hits). Without a sort
    # parameter the rule does nothing and relevance decides as before.
    "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
    "proximityPrecision": "byWord",
    # Releases are English and Spanish (the OCR languages). Naming them spares Meilisearch a
    # language detection on every page text it crops or highlights: the snippets call of
    # bench/search.py took 35-40% less time, for about 10% slower indexing. Accents still
    # fold and other Latin-script languages tokenise the same way; a CJK release would need
    # its locale added here.
    "localizedAttributes": [{"attributePatterns": ["*"], "locales": ["eng", "spa"]}],
    "separatorTokens": ["<", ">"],
    "stopWords": [],
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": ["bates", "original_filename"],
        "disableOnNumbers": True,
    },
    "pagination": {"maxTotalHits": 100_000},
    # Facet values are listed, never searched: skip building the facet-search structures.
    "facetSearch": False,
    # Sorted by count so that the 200 values kept are the most frequent, not the first A-Z.
    "faceting": {"maxValuesPerFacet": 200, "sortFacetValuesBy": {"*": "count"}},
}

DOCUMENTS_SETTINGS: dict[str, Any] = {
    "searchableAttributes": [
        "title",
        "original_filename",
        "email_subject",
        "email_from",
        "email_to",
        "bates_start",
        "bates_end",
        "description",
    ],
    "filterableAttributes": ["published", "agency_slugs", "production_ids", "document_type"],
    "sortableAttributes": ["document_date", "release_date"],
    "proximityPrecision": "byWord",
    "separatorTokens": ["<", ">"],
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": ["bates_end", "bates_start"],
        "disableOnNumbers": True,
    },
}


def page_record_id(document_id: int, number: int) -> str:
    """The index id of a page: ``<document id>-<page number, zero-padded>``."""
    return f"{document_id}-{number:05d}"


def _timestamp(value: dt.date | None) -> int | None:
    if value is None:
        return None
    return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())


def _datetime_timestamp(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; they were written in UTC.
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return int(aware.timestamp())


def _page_markings(document: Document) -> tuple[list[str], bool]:
    """Exemption codes claimed anywhere in the document, and whether any page is redacted."""
    session = object_session(document)
    if session is None:
        pages: Iterable[tuple[list[str] | None, int]] = (
            (p.exemptions, p.redaction_count) for p in document.pages
        )
    else:
        # Two columns only: a 2,000-page document's text stays out of memory here.
        pages = session.execute(
            select(Page.exemptions, Page.redaction_count).where(Page.document_id == document.id)
        ).tuples()
    codes: set[str] = set()
    redacted = False
    for exemptions, redaction_count in pages:
        codes.update(exemptions or [])
        redacted = redacted or (redaction_count or 0) > 0
    return sorted(codes), redacted


def versions_of(document: Document) -> dict[int, VersionFields]:
    """The version fields of the document's pages that have versions, by page number."""
    session = object_session(document)
    return version_fields(session, document.id) if session is not None else {}


def _document_fields(
    document: Document, versions: Mapping[int, VersionFields] | None = None
) -> dict[str, Any]:
    productions: list[Production] = sorted(document.productions, key=lambda p: p.id)
    release_dates = [p.release_date for p in productions if p.release_date]
    published = [p.published_at for p in productions if p.published_at]
    exemptions, redacted = _page_markings(document)
    if versions is None:
        versions = versions_of(document)
    return {
        "document_id": document.id,
        "document_slug": document.slug,
        "document_title": document.title,
        "original_filename": document.original_filename,
        "production_ids": [p.id for p in productions],
        "production_titles": [p.title for p in productions],
        "request_numbers": sorted({p.request.tracking_number for p in productions if p.request}),
        "agency_slugs": sorted({p.agency.slug for p in productions}),
        "agency_names": sorted({p.agency.name for p in productions}),
        "release_date": _timestamp(min(release_dates)) if release_dates else None,
        "document_date": _timestamp(document.document_date),
        "document_year": document.document_date.year if document.document_date else None,
        "document_type": document.document_type or "other",
        "published": document.is_public,
        "page_count": document.page_count,
        "document_exemptions": exemptions,
        "document_has_redactions": redacted,
        # Some page has a version in another release that shows or hides other words
        # (ingest.versions.search_fields): the "released differently" facet.
        "document_released_differently": any(v.released_differently for v in versions.values()),
        # "<filter value>|<display name>": facet counts and their labels in one distribution.
        "agency_labels": sorted({f"{p.agency.slug}|{p.agency.name}" for p in productions}),
        "production_labels": [f"{p.id}|{p.title} ({p.agency.abbreviation})" for p in productions],
        # When the public first could see it: what a feed of a search is ordered by.
        "published_at": _datetime_timestamp(min(published)) if published else None,
    }


def page_record(
    document: Document,
    page: Page,
    base: dict[str, Any],
    next_text: str | None = None,
    versions: VersionFields = NO_VERSIONS,
) -> dict[str, Any]:
    """The search record of one page, with its document's fields copied onto it.

    The text is indexed with words hyphenated across line breaks joined, and ``seam`` holds
    the page's last words with the next page's first (``next_text``), so that a phrase
    running onto the next page is found on this one (:mod:`ingest.continuity`).
    """
    return {
        **base,
        "id": page_record_id(document.id, page.number),
        "page": page.number,
        "text": join_hyphenated(page.text),
        "seam": seam(page.text, next_text),
        "bates": page.bates_number,
        "exemptions": list(page.exemptions or []),
        "redaction_count": page.redaction_count,
        "has_redactions": page.redaction_count > 0,
        **versions.record(),
    }


def document_record(document: Document) -> dict[str, Any]:
    """The metadata record of one document."""
    fields = _document_fields(document)
    headers = document.email_headers or {}
    return {
        **fields,
        "id": document.id,
        "title": document.title,
        "page_count": document.page_count,
        "bates_start": document.bates_start,
        "bates_end": document.bates_end,
        "email_subject": headers.get("subject"),
        "email_from": headers.get("from"),
        "email_to": headers.get("to"),
        "description": None,
    }


def ensure_indexes(client: MeiliClient, settings: Settings) -> None:
    """Create both indexes if missing and apply the declared settings (idempotent)."""
    apply_index_settings(client, settings.pages_index, settings.documents_index)


def apply_index_settings(client: MeiliClient, pages_uid: str, documents_uid: str) -> None:
    tasks = []
    for uid, index_settings in ((pages_uid, PAGES_SETTINGS), (documents_uid, DOCUMENTS_SETTINGS)):
        if client.get_index(uid) is None:
            client.wait(client.create_index(uid, "id"))
        current = client.get_settings(uid)
        if any(current.get(key) != value for key, value in index_settings.items()):
            tasks.append(client.update_settings(uid, index_settings))
    for task in tasks:
        client.wait(task, timeout=300)


def _load_documents(session: Session, document_ids: Iterable[int]) -> list[Document]:
    return list(
        session.scalars(
            select(Document)
            .where(Document.id.in_(list(document_ids)))
            .options(
                selectinload(Document.productions).selectinload(Production.agency),
                selectinload(Document.productions).selectinload(Production.request),
            )
        )
    )


_INDEXABLE_STATES = (PageState.EXTRACTED, PageState.INDEXED, PageState.PENDING_INDEX)


def _indexable_pages(
    session: Session, document_id: int, numbers: Collection[int] | None = None
) -> Sequence[Page]:
    query = select(Page).where(Page.document_id == document_id, Page.state.in_(_INDEXABLE_STATES))
    if numbers is not None:
        query = query.where(Page.number.in_(list(numbers)))
    return session.scalars(query.order_by(Page.number)).all()


def pages_with_next_text(
    session: Session, document_id: int, numbers: Collection[int] | None = None
) -> Iterator[tuple[Page, str | None]]:
    """The document's indexable pages (``numbers`` only, if given), each with the text of
    the page after it (None if that page is missing or unreadable), in page order.

    With ``numbers``, the page before each given one is included too: its seam with the
    given page could not be built before that page was read.
    """
    wanted = None if numbers is None else set(numbers) | {n - 1 for n in numbers if n > 1}
    looked_up = None if wanted is None else wanted | {n + 1 for n in wanted}
    pages = _indexable_pages(session, document_id, looked_up)
    texts = {page.number: page.text for page in pages}
    for page in pages:
        if wanted is None or page.number in wanted:
            yield page, texts.get(page.number + 1)


def _write_documents(
    client: MeiliClient,
    session: Session,
    documents: Sequence[Document],
    pages_uid: str,
    documents_uid: str,
    numbers: Collection[int] | None = None,
) -> list[Page]:
    """Send records for public documents and deletions for the others; return the pages sent.

    ``numbers`` limits the pages sent (a page-range job indexes only what it read).
    """
    tasks: list[dict[str, Any]] = []
    sent: list[Page] = []
    batch: list[dict[str, Any]] = []
    doc_records: list[dict[str, Any]] = []
    for document in documents:
        if not document.is_public:
            tasks.append(client.delete_by_filter(pages_uid, f"document_id = {document.id}"))
            tasks.append(client.delete_documents(documents_uid, [str(document.id)]))
            continue
        versions = versions_of(document)
        base = _document_fields(document, versions)
        doc_records.append(document_record(document))
        for page, next_text in pages_with_next_text(session, document.id, numbers):
            fields = versions.get(page.number, NO_VERSIONS)
            batch.append(page_record(document, page, base, next_text, fields))
            sent.append(page)
            if len(batch) >= BATCH_PAGES:
                # Batches go out without waiting for each task: waiting halves throughput.
                tasks.append(client.add_documents(pages_uid, batch))
                batch = []
    if batch:
        tasks.append(client.add_documents(pages_uid, batch))
    if doc_records:
        tasks.append(client.add_documents(documents_uid, doc_records))
    client.wait_all(tasks, timeout=600)
    return sent


def index_documents(
    client: MeiliClient,
    settings: Settings,
    session: Session,
    document_ids: Iterable[int],
    *,
    pages: Collection[int] | None = None,
) -> int:
    """Push the given documents' pages to the index after their commit; return pages indexed.

    ``pages`` limits which page numbers are sent (default: every readable page).

    If Meilisearch cannot take them, their pages are marked ``pending_index`` (and committed)
    so that ``readingroom reindex --pending`` picks them up later; nothing is lost.
    """
    documents = _load_documents(session, document_ids)
    if not documents:
        return 0
    try:
        ensure_indexes(client, settings)
        sent = _write_documents(
            client, session, documents, settings.pages_index, settings.documents_index, pages
        )
    except (MeiliUnavailableError, MeiliError) as exc:
        log.warning("indexing deferred for %d documents: %s", len(documents), exc)
        mark_pending(session, [d.id for d in documents])
        return 0
    for page in sent:
        page.state = PageState.INDEXED
    session.commit()
    return len(sent)


def mark_pending(session: Session, document_ids: Iterable[int], *, commit: bool = True) -> None:
    """Mark the documents' readable pages as waiting for the index, and commit.

    With ``commit`` false the caller commits, with its own writes.
    """
    # One UPDATE: loading every page (and its text) only to change its state cost more
    # than reading a short document.
    ids = list(document_ids)
    if ids:
        session.execute(
            update(Page)
            .where(Page.document_id.in_(ids), Page.state.in_(_INDEXABLE_STATES))
            .values(state=PageState.PENDING_INDEX)
        )
    if commit:
        session.commit()


def pending_document_ids(session: Session) -> list[int]:
    """Documents with at least one page waiting for the index."""
    return list(
        session.scalars(
            select(Page.document_id).where(Page.state == PageState.PENDING_INDEX).distinct()
        )
    )


def rebuild(client: MeiliClient, settings: Settings, session: Session) -> int:
    """Build fresh indexes aside from the database, swap them in, drop the old ones."""
    new_pages, new_docs = f"{settings.pages_index}_rebuild", f"{settings.documents_index}_rebuild"
    for uid in (new_pages, new_docs):
        if client.get_index(uid) is not None:
            client.wait(client.delete_index(uid))
    apply_index_settings(client, new_pages, new_docs)
    ensure_indexes(client, settings)
    ids = list(session.scalars(select(Document.id).order_by(Document.id)))
    total = 0
    for start in range(0, len(ids), 200):
        documents = _load_documents(session, ids[start : start + 200])
        sent = _write_documents(client, session, documents, new_pages, new_docs)
        for page in sent:
            page.state = PageState.INDEXED
        total += len(sent)
    client.wait(
        client.swap_indexes(
            [(settings.pages_index, new_pages), (settings.documents_index, new_docs)]
        )
    )
    session.commit()
    for uid in (new_pages, new_docs):
        client.wait(client.delete_index(uid))
    return total
