"""Compare the database (the truth) with the search index and the stored originals; repair.

What ``readingroom check`` looks for:

- **missing**: a record the database says should be searchable (a readable page, or the
  metadata record, of a published document that is not taken down) that the index lacks;
- **extra**: a record in the index that must not be there: its document is unpublished, taken
  down or deleted, or the page is not readable (OCR failed, never extracted);
- **stale**: a record whose fields differ from what the database would write now (new text
  after a re-extraction, a new title, a production added). Each side is reduced to a
  fingerprint (sha256 of the canonical JSON), so comparing costs one pass over each;
- **pending**: pages of public documents that wait in ``pending_index`` (Meilisearch was down
  when they were read). Pending pages of documents the public cannot see are only counted:
  nothing waits for them, since publishing a document indexes every readable page;
- **originals** missing from storage, or whose bytes no longer hash to their sha256.

``repair`` re-indexes the documents with missing, stale or pending records (through
``ingest.index.index_documents``, the one code path that writes records) and deletes the
extras. Originals cannot be repaired from here; they stay as
problems for a person (restore them from a backup).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.meili import MeiliClient, MeiliError
from app.models import Document, Page, PageState
from ingest.blobstore import file_sha256, get_blobstore

# The record builders of the index module: a check must compare against exactly what indexing
# writes, so it reuses them rather than describing records a second time.
from ingest.index import (
    _document_fields,
    _load_documents,
    document_record,
    index_documents,
    page_record,
    page_record_id,
    pages_with_next_text,
    versions_of,
)
from ingest.storage import original_path
from ingest.versions.search_fields import NO_VERSIONS

FETCH_BATCH = 1000
DOCUMENT_BATCH = 200
# Lists in the report keep this many examples; the counts are always complete.
EXAMPLES = 20


def fingerprint(record: dict[str, Any]) -> str:
    """A digest of a record's content, independent of key order."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Discrepancies:
    """Records of one index that differ from the database."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra_reasons: Counter[str] = field(default_factory=Counter)
    indexed: int = 0  # records found in the index
    expected: int = 0  # records the database says should be there

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.stale)

    def summary(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "indexed": self.indexed,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "stale": len(self.stale),
            "extra_reasons": dict(self.extra_reasons),
            "examples": {
                "missing": self.missing[:EXAMPLES],
                "extra": self.extra[:EXAMPLES],
                "stale": self.stale[:EXAMPLES],
            },
        }


@dataclass
class CheckReport:
    """What ``check`` found; ``consistent`` when there is nothing left to do."""

    pages: Discrepancies = field(default_factory=Discrepancies)
    documents: Discrepancies = field(default_factory=Discrepancies)
    pending_index: list[str] = field(default_factory=list)  # of public documents
    pending_hidden: int = 0  # pending pages of documents the public cannot see: no problem
    missing_originals: list[int] = field(default_factory=list)
    corrupt_originals: list[int] = field(default_factory=list)
    originals_checked: int = 0
    index_error: str | None = None

    @property
    def consistent(self) -> bool:
        return (
            self.index_error is None
            and self.pages.problems == 0
            and self.documents.problems == 0
            and not self.pending_index
            and not self.missing_originals
            and not self.corrupt_originals
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "index_error": self.index_error,
            "pages": self.pages.summary(),
            "documents": self.documents.summary(),
            "pending_index": len(self.pending_index),
            "pending_hidden": self.pending_hidden,
            "originals": {
                "checked": self.originals_checked,
                "missing": self.missing_originals[:EXAMPLES],
                "missing_count": len(self.missing_originals),
                "corrupt": self.corrupt_originals[:EXAMPLES],
                "corrupt_count": len(self.corrupt_originals),
            },
        }


@dataclass
class RepairReport:
    """What ``repair`` did."""

    documents_reindexed: int = 0
    pages_indexed: int = 0
    page_records_deleted: int = 0
    document_records_deleted: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _fetch_fingerprints(client: MeiliClient, uid: str) -> dict[str, str]:
    """Every record of an index as id -> fingerprint (an absent index is an empty one)."""
    if client.get_index(uid) is None:
        return {}
    found: dict[str, str] = {}
    offset = 0
    while True:
        answer = client.request(
            "POST", f"/indexes/{uid}/documents/fetch", {"offset": offset, "limit": FETCH_BATCH}
        )
        results: list[dict[str, Any]] = answer["results"]
        for record in results:
            found[str(record["id"])] = fingerprint(record)
        offset += len(results)
        if not results or offset >= int(answer["total"]):
            return found


def _document_batches(session: Session) -> Iterator[list[Document]]:
    ids = list(session.scalars(select(Document.id).order_by(Document.id)))
    for start in range(0, len(ids), DOCUMENT_BATCH):
        yield _load_documents(session, ids[start : start + DOCUMENT_BATCH])
        # Page texts of the batch are not needed any more: keep memory flat on big archives.
        session.expunge_all()


def _compare(
    expected_id: str, expected: str, indexed: dict[str, str], found: Discrepancies
) -> None:
    found.expected += 1
    actual = indexed.pop(expected_id, None)
    if actual is None:
        found.missing.append(expected_id)
    elif actual != expected:
        found.stale.append(expected_id)


def _extra_reason(session: Session, document_id: int | None) -> str:
    document = session.get(Document, document_id) if document_id is not None else None
    if document is None:
        return "document deleted"
    if document.taken_down_at is not None:
        return "document taken down"
    if not document.published:
        return "document not published"
    return "page not readable"


def _record_document_id(record_id: str) -> int | None:
    head = record_id.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _check_index(
    client: MeiliClient, settings: Settings, session: Session, report: CheckReport
) -> None:
    indexed_pages = _fetch_fingerprints(client, settings.pages_index)
    indexed_docs = _fetch_fingerprints(client, settings.documents_index)
    report.pages.indexed, report.documents.indexed = len(indexed_pages), len(indexed_docs)
    for documents in _document_batches(session):
        for document in documents:
            if not document.is_public:
                continue
            record = document_record(document)
            _compare(str(document.id), fingerprint(record), indexed_docs, report.documents)
            versions = versions_of(document)
            base = _document_fields(document, versions)
            for page, next_text in pages_with_next_text(session, document.id):
                fields = versions.get(page.number, NO_VERSIONS)
                page_rec = page_record(document, page, base, next_text, fields)
                _compare(page_rec["id"], fingerprint(page_rec), indexed_pages, report.pages)
    # What is left in the index was not expected by the database.
    for leftovers, found, to_id in (
        (indexed_pages, report.pages, _record_document_id),
        (indexed_docs, report.documents, _record_document_id),
    ):
        for record_id in sorted(leftovers):
            found.extra.append(record_id)
            found.extra_reasons[_extra_reason(session, to_id(record_id))] += 1


def _check_originals(
    settings: Settings, session: Session, report: CheckReport, verify_hashes: bool
) -> None:
    store = get_blobstore(settings) if settings.storage_url else None
    for document_id, sha256 in session.execute(
        select(Document.id, Document.sha256).order_by(Document.id)
    ).tuples():
        report.originals_checked += 1
        path = original_path(settings.files_dir, sha256)
        if path.is_file():
            if verify_hashes and file_sha256(path) != sha256:
                report.corrupt_originals.append(document_id)
        # With shared storage the local folder is only a cache: the store must hold it.
        elif store is None or not store.exists(sha256):
            report.missing_originals.append(document_id)


def check(
    client: MeiliClient,
    settings: Settings,
    session: Session,
    *,
    verify_hashes: bool = True,
) -> CheckReport:
    """Compare the database with both indexes and the stored originals; change nothing.

    ``verify_hashes`` re-reads every original to compare its sha256 (the slow part on a big
    archive); without it only their presence is checked. An unreachable index is reported in
    ``index_error`` rather than raised, so the originals are still checked.
    """
    report = CheckReport()
    try:
        _check_index(client, settings, session, report)
    except MeiliError as exc:
        report.index_error = str(exc)
    for document_id, number, published, taken_down_at in session.execute(
        select(Page.document_id, Page.number, Document.published, Document.taken_down_at)
        .join(Document, Document.id == Page.document_id)
        .where(Page.state == PageState.PENDING_INDEX)
        .order_by(Page.document_id, Page.number)
    ).tuples():
        if published and taken_down_at is None:
            report.pending_index.append(page_record_id(document_id, number))
        else:
            # Nothing waits for these: publishing a document indexes all its readable pages.
            report.pending_hidden += 1
    _check_originals(settings, session, report, verify_hashes)
    return report


def _delete_records(client: MeiliClient, uid: str, ids: Sequence[str]) -> int:
    tasks = [
        client.delete_documents(uid, list(ids[start : start + FETCH_BATCH]))
        for start in range(0, len(ids), FETCH_BATCH)
    ]
    for task in tasks:
        client.wait(task, timeout=600)
    return len(ids)


def repair(
    client: MeiliClient, settings: Settings, session: Session, report: CheckReport
) -> RepairReport:
    """Act on a ``check`` report: re-index what is missing, stale or pending, delete extras.

    Raises ``MeiliError`` when the index cannot be reached (nothing to repair against).
    Run ``check`` again afterwards to see what, if anything, is left.
    """
    if report.index_error is not None:
        raise MeiliError(f"the index cannot be repaired now: {report.index_error}")
    done = RepairReport()
    done.page_records_deleted = _delete_records(client, settings.pages_index, report.pages.extra)
    done.document_records_deleted = _delete_records(
        client, settings.documents_index, report.documents.extra
    )
    wanted = {
        _record_document_id(record_id)
        for found in (report.pages, report.documents)
        for record_id in (*found.missing, *found.stale, *report.pending_index)
    }
    ids = sorted(i for i in wanted if i is not None)
    public = set(
        session.scalars(
            select(Document.id).where(
                Document.id.in_(ids),
                Document.published.is_(True),
                Document.taken_down_at.is_(None),
            )
        )
    )
    for start in range(0, len(ids), DOCUMENT_BATCH):
        batch = [i for i in ids[start : start + DOCUMENT_BATCH] if i in public]
        if batch:
            done.pages_indexed += index_documents(client, settings, session, batch)
            done.documents_reindexed += len(batch)
    return done
