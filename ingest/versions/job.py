"""The ``versions`` job: one document's pages compared with the whole archive.

Queued when a document reaches its final state (``ingest.tasks``), run by whichever worker
claims it (the in-process pool or Celery), in three steps that each commit:

1. **Fingerprint** every page whose fingerprint is missing or stale (another text, another
   method version): slip-sheets and pages with too little text are recorded as such and get
   no bands; the others get a MinHash signature and 32 band keys.
2. **Compare** the pages not compared yet, in chunks: the band keys find the pages of the
   archive that share a band, this document's own included (one e-mail printed in two
   threads): indexed look-ups, never a scan of the archive. The signatures drop unlikely
   candidates, an alignment confirms the rest (:func:`ingest.versions.align.align`). A band
   shared by more than ``MAX_BUCKET`` pages is boilerplate and is not followed; a page that
   matches more than ``MAX_MATCHES`` pages, or a page already known as boilerplate, is
   boilerplate too and stays out of every group.
3. **Group**, under the one-row lock: the connected versions of each page touched get one
   group id (the smallest page id among them), and the documents sharing pages get their
   relation (versions of one record when most pages of both match in order).

Steps 1 and 2 of two jobs may run at once. The fingerprint is committed before its page looks
for candidates, so of two documents compared at the same time the later one always finds
the earlier one: a pair is never missed, at worst found twice (the second insert is ignored).
The cost of a job is its own pages times a bounded number of look-ups and alignments: it
grows with the pages compared, not with the archive.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import Document, DocumentState, Job, JobKind, JobState, Page, PageState
from app.page_versions import (
    DocumentRelation,
    DocumentVersion,
    FingerprintStatus,
    PageBand,
    PageFingerprint,
    PageMatch,
    VersionsLock,
)
from ingest.versions import METHOD_VERSION
from ingest.versions.align import Token, align_tokens, tokens
from ingest.versions.fingerprint import (
    BANDS,
    estimated_jaccard,
    fingerprint,
    from_bytes,
    to_bytes,
)
from ingest.versions.withheld import slip_sheet

CHUNK_PAGES = 500  # pages compared per transaction: bounds memory and the IN lists
MAX_BUCKET = 200  # pages sharing one band key before the key counts as boilerplate
MAX_MATCHES = 12  # versions of one page before the page counts as boilerplate
MAX_GROUP = 16  # pages in one group before the group counts as boilerplate
MAX_DEPTH = 6  # matches followed from a page to find its group
MIN_ESTIMATE = 0.25  # estimated Jaccard below which a candidate is not aligned
MAX_CANDIDATES = 20  # per page, the most similar by signature are aligned
# Two pages of one document are versions only when nearly the same (one e-mail printed in
# two threads): an e-mail thread quotes its earlier messages, and its pages overlap without
# being versions of each other (seen on FOIA 15-3569, tests/test_versions_corpus.py).
SAME_DOCUMENT = 0.9
# A page printed this many more times in its own document is a notice (a law firm's
# disclaimer page after every message of a thread), not a record: boilerplate.
MAX_REPEATS = 3
# Documents are versions of each other when this share of the comparable pages of both (or
# of the shorter one, for "contained in") match in order.
DOCUMENT_SHARE = 0.6
_COMPARABLE_STATES = (PageState.EXTRACTED, PageState.INDEXED, PageState.PENDING_INDEX)
_FETCH = 900  # ids per IN list (SQLite allows 32,766 variables, PostgreSQL 65,535)

Tick = Callable[[str, int], None]


@dataclass
class CompareResult:
    """What one run did, for logs, tests and the benchmark."""

    fingerprinted: int = 0
    compared: int = 0
    candidates: int = 0
    aligned: int = 0
    matches: int = 0
    boilerplate: int = 0
    groups: set[int] = field(default_factory=set)
    # Documents whose search records show version fields that changed (ingest.index).
    reindex: set[int] = field(default_factory=set)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()


def enqueue_versions(session: Session, document: Document) -> Job | None:
    """Queue the comparison of ``document``'s pages; dispatch it after the commit.

    Nothing is queued for a document without readable pages (failed, encrypted...).
    """
    if document.state not in (DocumentState.INDEXED, DocumentState.PARTIAL):
        return None
    job = Job(
        document_id=document.id,
        production_id=document.productions[0].id if document.productions else None,
        kind=JobKind.VERSIONS,
        state=JobState.QUEUED,
    )
    session.add(job)
    session.flush()
    return job


def _chunks(values: Sequence[Any], size: int = _FETCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).on_conflict_do_nothing(), rows)


def forget_pages(session: Session, page_ids: Sequence[int]) -> set[int]:
    """Drop what was derived for these pages; return the pages they were matched with."""
    partners: set[int] = set()
    for chunk in _chunks(page_ids):
        for a, b in session.execute(
            select(PageMatch.page_a_id, PageMatch.page_b_id).where(
                or_(PageMatch.page_a_id.in_(chunk), PageMatch.page_b_id.in_(chunk))
            )
        ):
            partners.update((a, b))
        session.execute(
            delete(PageMatch).where(
                or_(PageMatch.page_a_id.in_(chunk), PageMatch.page_b_id.in_(chunk))
            )
        )
        session.execute(delete(PageBand).where(PageBand.page_id.in_(chunk)))
        session.execute(delete(PageFingerprint).where(PageFingerprint.page_id.in_(chunk)))
    return partners - set(page_ids)


def _fingerprint_pages(session: Session, document_id: int) -> tuple[int, set[int]]:
    """Step 1: fingerprints of the pages that lack a current one. Returns how many were made
    and the former partners of pages whose text changed (their groups are redone)."""
    page_ids = list(
        session.scalars(
            select(Page.id)
            .where(Page.document_id == document_id, Page.state.in_(_COMPARABLE_STATES))
            .order_by(Page.id)
        )
    )
    current = dict(
        session.execute(
            select(PageFingerprint.page_id, PageFingerprint.text_hash).where(
                PageFingerprint.document_id == document_id,
                PageFingerprint.method_version == METHOD_VERSION,
            )
        )
        .tuples()
        .all()
    )
    made = 0
    partners: set[int] = set()
    for chunk in _chunks(page_ids, CHUNK_PAGES):
        texts = _texts(session, set(chunk))
        stale = [(pid, texts.get(pid, "")) for pid in chunk]
        stale = [(pid, text) for pid, text in stale if current.get(pid) != text_hash(text)]
        if not stale:
            continue
        partners |= forget_pages(session, [pid for pid, _ in stale])
        prints: list[dict[str, Any]] = []
        bands: list[dict[str, Any]] = []
        for pid, text in stale:
            made_print = fingerprint(text)
            slip = slip_sheet(text)
            if slip is not None:
                status = FingerprintStatus.WITHHELD
            elif made_print.signature is not None:
                status = FingerprintStatus.COMPARED
            else:
                status = FingerprintStatus.SHORT
            comparable = status is FingerprintStatus.COMPARED and made_print.signature is not None
            prints.append(
                {
                    "page_id": pid,
                    "document_id": document_id,
                    "method_version": METHOD_VERSION,
                    "text_hash": text_hash(text),
                    "words": made_print.words,
                    "status": status,
                    "signature": to_bytes(made_print.signature)
                    if comparable and made_print.signature is not None
                    else None,
                    # Pages that will not be compared are done with.
                    "compared": not comparable,
                    "exemptions": slip.exemptions if slip else [],
                    "withheld_pages": slip.pages if slip else 0,
                    "group_id": None,
                    "computed_at": _now(),
                }
            )
            if comparable:
                bands.extend(
                    {"page_id": pid, "band": band, "key": key, "document_id": document_id}
                    for band, key in enumerate(made_print.bands)
                )
        session.execute(insert(PageFingerprint), prints)
        if bands:
            session.execute(insert(PageBand), bands)
        made += len(stale)
    return made, partners - set(page_ids)


@dataclass(frozen=True)
class _Candidate:
    page_id: int
    document_id: int
    estimate: float
    status: FingerprintStatus


def _bands_of(session: Session, page_ids: Sequence[int]) -> dict[int, list[int]]:
    bands: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(page_ids):
        for pid, key in session.execute(
            select(PageBand.page_id, PageBand.key).where(PageBand.page_id.in_(chunk))
        ):
            bands[pid].append(key)
    return bands


def _buckets(
    session: Session, keys: Sequence[int]
) -> tuple[dict[int, list[tuple[int, int]]], set[int]]:
    """The pages under each key, and the keys too crowded to follow. Pages of the document
    itself are members too: the same e-mail printed in two threads of one production is two
    versions of one page (a page is never its own candidate)."""
    crowded: set[int] = set()
    members: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for chunk in _chunks(keys):
        sizes = session.execute(
            select(PageBand.key, func.count()).where(PageBand.key.in_(chunk)).group_by(PageBand.key)
        ).all()
        crowded.update(key for key, size in sizes if size > MAX_BUCKET)
        wanted = [key for key, size in sizes if 1 < size <= MAX_BUCKET]
        for sub in _chunks(wanted):
            for key, pid, did in session.execute(
                select(PageBand.key, PageBand.page_id, PageBand.document_id).where(
                    PageBand.key.in_(sub)
                )
            ):
                members[key].append((pid, did))
    return members, crowded


def _compare_chunk(
    session: Session, document_id: int, chunk: Sequence[int], result: CompareResult
) -> None:
    """Step 2 for some pages of the document: candidates, alignment, matches."""
    bands = _bands_of(session, chunk)
    keys = sorted({key for page_keys in bands.values() for key in page_keys})
    members, crowded = _buckets(session, keys)
    by_page: dict[int, dict[int, int]] = {}
    for pid in chunk:
        found: dict[int, int] = {}
        for key in bands.get(pid, []):
            for other, other_doc in members.get(key, []):
                if other != pid:
                    found[other] = other_doc
        by_page[pid] = found
    others = sorted({o for found in by_page.values() for o in found})
    known: dict[int, tuple[bytes | None, FingerprintStatus]] = {}
    for sub in _chunks([*chunk, *others]):
        for pid, raw, status in session.execute(
            select(
                PageFingerprint.page_id, PageFingerprint.signature, PageFingerprint.status
            ).where(PageFingerprint.page_id.in_(sub))
        ):
            known[pid] = (raw, status)
    plans: dict[int, list[_Candidate]] = {}
    boilerplate: set[int] = set()
    for pid in chunk:
        own = known.get(pid, (None, FingerprintStatus.SHORT))[0]
        if own is None:
            continue
        if sum(1 for key in bands.get(pid, []) if key in crowded) * 2 > BANDS:
            boilerplate.add(pid)  # most of its bands are shared by hundreds of pages
            continue
        sig = from_bytes(own)
        candidates = []
        for other, other_doc in by_page[pid].items():
            raw, status = known.get(other, (None, FingerprintStatus.SHORT))
            if raw is None:
                continue
            estimate = estimated_jaccard(sig, from_bytes(raw))
            if estimate >= MIN_ESTIMATE:
                candidates.append(_Candidate(other, other_doc, estimate, status))
        candidates.sort(key=lambda c: -c.estimate)
        plans[pid] = candidates[:MAX_CANDIDATES]
        result.candidates += len(plans[pid])
    texts = _texts(session, set(plans) | {c.page_id for cs in plans.values() for c in cs})
    cut: dict[int, list[Token]] = {}

    def tokens_of(page_id: int) -> list[Token]:
        if page_id not in cut:
            cut[page_id] = tokens(texts.get(page_id, ""))
        return cut[page_id]

    rows: list[dict[str, Any]] = []
    for pid, candidates in plans.items():
        confirmed = []
        for candidate in candidates:
            result.aligned += 1
            alignment = align_tokens(tokens_of(pid), tokens_of(candidate.page_id))
            same_document = candidate.document_id == document_id
            if alignment.is_version and (
                not same_document or alignment.similarity >= SAME_DOCUMENT
            ):
                confirmed.append((candidate, alignment))
        repeats = sum(1 for c, _ in confirmed if c.document_id == document_id)
        if (
            len(confirmed) > MAX_MATCHES
            or repeats >= MAX_REPEATS
            or any(c.status is FingerprintStatus.BOILERPLATE for c, _ in confirmed)
        ):
            # Its versions are the same boilerplate: they leave the groups with it.
            boilerplate.add(pid)
            boilerplate.update(c.page_id for c, _ in confirmed)
            continue
        for candidate, alignment in confirmed:
            first, second = sorted((pid, candidate.page_id))
            flipped = first != pid
            rows.append(
                {
                    "page_a_id": first,
                    "page_b_id": second,
                    "document_a_id": candidate.document_id if flipped else document_id,
                    "document_b_id": document_id if flipped else candidate.document_id,
                    "similarity": round(alignment.similarity, 4),
                    "only_a": alignment.only_b if flipped else alignment.only_a,
                    "only_b": alignment.only_a if flipped else alignment.only_b,
                    "ocr_words": alignment.ocr_words,
                    "method_version": METHOD_VERSION,
                }
            )
    _insert_ignoring_duplicates(session, PageMatch, rows)
    result.matches += len(rows)
    if boilerplate:
        result.boilerplate += len(boilerplate)
        _mark_boilerplate(session, sorted(boilerplate))
    session.execute(
        update(PageFingerprint).where(PageFingerprint.page_id.in_(chunk)).values(compared=True)
    )
    result.compared += len(chunk)


def _mark_boilerplate(session: Session, page_ids: Sequence[int]) -> None:
    """These pages are boilerplate: out of every group, their matches dropped."""
    for sub in _chunks(page_ids):
        session.execute(
            update(PageFingerprint)
            .where(PageFingerprint.page_id.in_(sub))
            .values(status=FingerprintStatus.BOILERPLATE, group_id=None)
        )
        session.execute(
            delete(PageMatch).where(or_(PageMatch.page_a_id.in_(sub), PageMatch.page_b_id.in_(sub)))
        )


def _texts(session: Session, page_ids: set[int]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for sub in _chunks(sorted(page_ids)):
        texts.update(
            (pid, text or "")
            for pid, text in session.execute(select(Page.id, Page.text).where(Page.id.in_(sub)))
        )
    return texts


def _take_lock(session: Session) -> None:
    """Hold the group lock until the commit (the first statement of the transaction)."""
    taken = session.execute(
        update(VersionsLock).where(VersionsLock.id == 1).values(runs=VersionsLock.runs + 1)
    )
    if taken.rowcount == 0:  # type: ignore[attr-defined]
        session.add(VersionsLock(id=1, runs=1))
        session.flush()


def _edges(session: Session, page_ids: Sequence[int]) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for chunk in _chunks(page_ids):
        found.update(
            session.execute(
                select(PageMatch.page_a_id, PageMatch.page_b_id).where(
                    or_(PageMatch.page_a_id.in_(chunk), PageMatch.page_b_id.in_(chunk))
                )
            )
            .tuples()
            .all()
        )
    return found


def _boilerplate_among(session: Session, page_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(page_ids):
        found.update(
            session.scalars(
                select(PageFingerprint.page_id).where(
                    PageFingerprint.page_id.in_(chunk),
                    PageFingerprint.status == FingerprintStatus.BOILERPLATE,
                )
            )
        )
    return found


def _components(session: Session, start: Sequence[int]) -> list[set[int]]:
    """The connected versions of the start pages through matches between non-boilerplate
    pages, followed MAX_DEPTH matches deep (groups are small; a long chain is boilerplate)."""
    nodes = set(start)
    edges: set[tuple[int, int]] = set()
    frontier = sorted(nodes)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        new_edges = _edges(session, frontier) - edges
        edges |= new_edges
        reached = {n for edge in new_edges for n in edge} - nodes
        nodes |= reached
        frontier = sorted(reached)
    boiler = _boilerplate_among(session, sorted(nodes))
    parent = {n: n for n in nodes if n not in boiler}

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    grouped: dict[int, set[int]] = defaultdict(set)
    for n in parent:
        grouped[root(n)].add(n)
    return list(grouped.values())


def _regroup(session: Session, pages: Sequence[int], result: CompareResult) -> set[int]:
    """Step 3a: group ids of the components of ``pages``; returns the documents touched."""
    touched: set[int] = set()
    alone: list[int] = []
    by_group: dict[int | None, list[int]] = defaultdict(list)
    for component in _components(session, pages):
        members = sorted(component)
        if len(members) == 1:
            alone.extend(members)
            continue
        touched.update(members)
        if len(members) > MAX_GROUP:
            result.boilerplate += len(members)
            _mark_boilerplate(session, members)
            continue
        by_group[members[0]].extend(members)
        result.groups.add(members[0])
    for group, members in by_group.items():
        for sub in _chunks(members):
            session.execute(
                update(PageFingerprint)
                .where(
                    PageFingerprint.page_id.in_(sub),
                    PageFingerprint.group_id.is_distinct_from(group),
                )
                .values(group_id=group)
            )
    ungrouped: list[int] = []
    for sub in _chunks(alone):
        ungrouped.extend(
            session.scalars(
                select(PageFingerprint.page_id).where(
                    PageFingerprint.page_id.in_(sub), PageFingerprint.group_id.is_not(None)
                )
            )
        )
    for sub in _chunks(ungrouped):
        session.execute(
            update(PageFingerprint).where(PageFingerprint.page_id.in_(sub)).values(group_id=None)
        )
    documents: set[int] = set()
    for sub in _chunks(sorted(touched | set(pages))):
        documents.update(
            session.scalars(select(Page.document_id).where(Page.id.in_(sub)).distinct())
        )
    # The search records of pages in a group, or just out of one, carry stale fields.
    for sub in _chunks(sorted(touched | set(ungrouped))):
        result.reindex.update(
            session.scalars(select(Page.document_id).where(Page.id.in_(sub)).distinct())
        )
    return documents


def _longest_increasing(values: Sequence[int]) -> int:
    """Length of the longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []
    for value in values:
        at = bisect.bisect_left(tails, value)
        if at == len(tails):
            tails.append(value)
        else:
            tails[at] = value
    return len(tails)


def _comparable_pages(session: Session, document_ids: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for sub in _chunks(document_ids):
        counts.update(
            session.execute(
                select(PageFingerprint.document_id, func.count())
                .where(
                    PageFingerprint.document_id.in_(sub),
                    PageFingerprint.status == FingerprintStatus.COMPARED,
                )
                .group_by(PageFingerprint.document_id)
            )
            .tuples()
            .all()
        )
    return counts


def relate_documents(session: Session, document_id: int) -> None:
    """Step 3b: the relation of ``document_id`` with each document it shares pages with."""
    a_page, b_page = Page.__table__.alias("a_page"), Page.__table__.alias("b_page")
    boiler = select(PageFingerprint.page_id).where(
        PageFingerprint.status != FingerprintStatus.COMPARED
    )
    rows = session.execute(
        select(PageMatch.document_a_id, PageMatch.document_b_id, a_page.c.number, b_page.c.number)
        .join(a_page, a_page.c.id == PageMatch.page_a_id)
        .join(b_page, b_page.c.id == PageMatch.page_b_id)
        .where(
            or_(PageMatch.document_a_id == document_id, PageMatch.document_b_id == document_id),
            PageMatch.page_a_id.not_in(boiler),
            PageMatch.page_b_id.not_in(boiler),
        )
    ).all()
    pairs: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for doc_a, doc_b, number_a, number_b in rows:
        if doc_a == doc_b:
            continue  # a page repeated inside one document says nothing of other documents
        if doc_a > doc_b:
            doc_a, doc_b, number_a, number_b = doc_b, doc_a, number_b, number_a
        pairs[(doc_a, doc_b)].append((number_a, number_b))
    session.execute(
        delete(DocumentVersion).where(
            or_(
                DocumentVersion.document_a_id == document_id,
                DocumentVersion.document_b_id == document_id,
            )
        )
    )
    counts = _comparable_pages(session, sorted({d for pair in pairs for d in pair}))
    for (doc_a, doc_b), numbers in pairs.items():
        shared_a = len({a for a, _ in numbers})
        shared_b = len({b for _, b in numbers})
        # One page of A matching two of B (a duplicate inside B) counts once, in order.
        ordered = _longest_increasing([b for _, b in sorted(set(numbers))])
        ordered = min(ordered, shared_a, shared_b)
        pages_a, pages_b = counts.get(doc_a, 0), counts.get(doc_b, 0)
        covers_a = pages_a and ordered >= DOCUMENT_SHARE * pages_a
        covers_b = pages_b and ordered >= DOCUMENT_SHARE * pages_b
        if covers_a and covers_b:
            relation = DocumentRelation.SAME
        elif covers_a and pages_a <= pages_b:
            relation = DocumentRelation.A_IN_B
        elif covers_b and pages_b <= pages_a:
            relation = DocumentRelation.B_IN_A
        else:
            relation = DocumentRelation.SHARES
        session.add(
            DocumentVersion(
                document_a_id=doc_a,
                document_b_id=doc_b,
                relation=relation,
                shared_pages=min(shared_a, shared_b),
                ordered_pages=ordered,
                pages_a=pages_a,
                pages_b=pages_b,
                method_version=METHOD_VERSION,
            )
        )


def compare_document(
    session: Session, document_id: int, *, tick: Tick | None = None
) -> CompareResult:
    """Fingerprint, compare and group one document's pages (see the module docstring).

    Idempotent: pages already fingerprinted and compared at this method version are not
    compared again, so a job taken up again after its worker died picks up where it was.
    """
    result = CompareResult()
    result.fingerprinted, partners = _fingerprint_pages(session, document_id)
    session.commit()
    pending = list(
        session.scalars(
            select(PageFingerprint.page_id)
            .where(
                PageFingerprint.document_id == document_id,
                PageFingerprint.compared.is_(False),
            )
            .order_by(PageFingerprint.page_id)
        )
    )
    for chunk in _chunks(pending, CHUNK_PAGES):
        _compare_chunk(session, document_id, chunk, result)
        session.commit()
        if tick is not None:
            tick("versions_compared", len(chunk))
    _take_lock(session)
    own = list(
        session.scalars(
            select(PageFingerprint.page_id).where(PageFingerprint.document_id == document_id)
        )
    )
    documents = _regroup(session, sorted({*own, *partners}), result)
    for other in sorted(documents | {document_id}):
        relate_documents(session, other)
    session.commit()
    return result


def rebuild(session: Session) -> list[Job]:
    """Drop everything derived and queue a ``versions`` job for every document with pages."""
    for model in (DocumentVersion, PageMatch, PageBand, PageFingerprint):
        session.execute(delete(model))
    documents = session.scalars(
        select(Document)
        .where(Document.state.in_([DocumentState.INDEXED, DocumentState.PARTIAL]))
        .order_by(Document.id)
    ).all()
    jobs = [job for d in documents if (job := enqueue_versions(session, d)) is not None]
    session.commit()
    return jobs
