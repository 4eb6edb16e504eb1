"""Browsing the archive: agencies, their FOIA requests, productions and documents.

The public only ever sees published productions and public documents (see
:func:`app.services.documents.public_documents`). A production also says how many of its files
are *not* shown and why, by state ("encrypted: this file is password-protected"), because a
reader deserves to know that a release had 40 files when 38 are listed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.base import ExecutableOption

from app.errors import InvalidInputError, NotFoundError
from app.models import (
    Agency,
    Document,
    DocumentState,
    FoiaRequest,
    Production,
    ProductionStatus,
    production_documents,
)
from app.services.documents import VIEWABLE_STATES, count_public, public_documents
from app.urls import agency_path, document_path, production_path, request_path

LATEST_PRODUCTIONS = 10
DOCUMENTS_PER_PAGE = 100
MAX_LISTING_PAGE = 10_000
REASONS_PER_STATE = 3

_PUBLISHED = Production.status == ProductionStatus.PUBLISHED

# What a reader is told about a file that is not listed, by why it is not.
STATE_LABELS: dict[str, str] = {
    DocumentState.QUEUED.value: "waiting to be processed",
    DocumentState.PROCESSING.value: "being processed",
    DocumentState.ENCRYPTED.value: "password-protected",
    DocumentState.UNSUPPORTED.value: "in a format the archive cannot read",
    DocumentState.FAILED.value: "could not be read",
    "taken_down": "taken down",
    "withheld": "not published",
}


@dataclass(frozen=True)
class ProductionSummary:
    production: Production
    documents: int  # public documents
    pages: int  # pages of those documents


@dataclass(frozen=True)
class AgencySummary:
    agency: Agency
    depth: int  # 0 for a department, 1 for a component under it (ICE under DHS)…
    productions: int
    documents: int


@dataclass(frozen=True)
class RequestSummary:
    request: FoiaRequest
    productions: int


@dataclass(frozen=True)
class Home:
    documents: int
    pages: int
    productions: int
    latest: list[ProductionSummary]


@dataclass(frozen=True)
class AgencyView:
    agency: Agency
    parent: Agency | None
    children: list[AgencySummary]
    requests: list[RequestSummary]
    productions: list[ProductionSummary]


@dataclass(frozen=True)
class RequestView:
    request: FoiaRequest
    productions: list[ProductionSummary]


@dataclass(frozen=True)
class UnavailableGroup:
    """Files of a production that are not shown, for one reason."""

    state: str  # a document state, or "taken_down" / "withheld"
    label: str
    count: int
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Listing:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class ProductionView:
    summary: ProductionSummary
    documents: list[Document]
    listing: Listing
    unavailable: list[UnavailableGroup]


def _summaries(session: Session, productions: Sequence[Production]) -> list[ProductionSummary]:
    ids = [p.id for p in productions]
    counts: dict[int, tuple[int, int]] = {}
    if ids:
        rows = session.execute(
            select(
                production_documents.c.production_id,
                func.count(Document.id),
                func.coalesce(func.sum(Document.page_count), 0),
            )
            .join(Document, Document.id == production_documents.c.document_id)
            .where(production_documents.c.production_id.in_(ids), public_documents())
            .group_by(production_documents.c.production_id)
        )
        counts = {pid: (int(docs), int(pages)) for pid, docs, pages in rows}
    return [ProductionSummary(p, *counts.get(p.id, (0, 0))) for p in productions]


def _productions_query() -> tuple[ExecutableOption, ...]:
    return (
        selectinload(Production.agency).selectinload(Agency.parent),
        selectinload(Production.request),
    )


def _latest_first() -> tuple[ColumnElement[Any], ...]:
    return (
        Production.release_date.desc().nulls_last(),
        Production.published_at.desc().nulls_last(),
        Production.id.desc(),
    )


def show_home(session: Session) -> Home:
    """Totals and the latest published productions."""
    documents, pages = count_public(session)
    productions = session.scalar(select(func.count()).select_from(Production).where(_PUBLISHED))
    latest = session.scalars(
        select(Production)
        .where(_PUBLISHED)
        .options(*_productions_query())
        .order_by(
            Production.published_at.desc().nulls_last(),
            Production.id.desc(),
        )
        .limit(LATEST_PRODUCTIONS)
    ).all()
    return Home(documents, pages, productions or 0, _summaries(session, latest))


def _counts_by_agency(session: Session) -> tuple[dict[int, int], dict[int, int]]:
    productions: dict[int, int] = dict(
        session.execute(
            select(Production.agency_id, func.count())
            .where(_PUBLISHED)
            .group_by(Production.agency_id)
        )
        .tuples()
        .all()
    )
    documents: dict[int, int] = dict(
        session.execute(
            select(Production.agency_id, func.count(func.distinct(Document.id)))
            .join(production_documents, production_documents.c.production_id == Production.id)
            .join(Document, Document.id == production_documents.c.document_id)
            .where(_PUBLISHED, public_documents())
            .group_by(Production.agency_id)
        )
        .tuples()
        .all()
    )
    return productions, documents


def _tree(
    agencies: Sequence[Agency], productions: dict[int, int], documents: dict[int, int]
) -> Iterator[AgencySummary]:
    children: dict[int | None, list[Agency]] = defaultdict(list)
    for agency in agencies:
        children[agency.parent_id].append(agency)
    known = {a.id for a in agencies}
    roots = [a for a in agencies if a.parent_id is None or a.parent_id not in known]

    def walk(agency: Agency, depth: int) -> Iterator[AgencySummary]:
        yield AgencySummary(
            agency, depth, productions.get(agency.id, 0), documents.get(agency.id, 0)
        )
        for child in sorted(children[agency.id], key=lambda a: a.name):
            yield from walk(child, depth + 1)

    for root in sorted(roots, key=lambda a: a.name):
        yield from walk(root, 0)


def _with_ancestors(session: Session, agency_ids: set[int]) -> list[Agency]:
    wanted = set(agency_ids)
    found: dict[int, Agency] = {}
    while wanted - found.keys():
        batch = session.scalars(select(Agency).where(Agency.id.in_(wanted - found.keys()))).all()
        if not batch:
            break
        for agency in batch:
            found[agency.id] = agency
            if agency.parent_id is not None:
                wanted.add(agency.parent_id)
    return list(found.values())


def list_agencies(session: Session) -> list[AgencySummary]:
    """Agencies with published productions (and their parents), as a tree in reading order."""
    productions, documents = _counts_by_agency(session)
    agencies = _with_ancestors(session, {a for a, n in productions.items() if n})
    return list(_tree(agencies, productions, documents))


def show_agency(session: Session, slug: str) -> AgencyView:
    """One agency: its sub-agencies, FOIA requests and published productions."""
    agency = session.scalars(
        select(Agency).where(Agency.slug == slug).options(selectinload(Agency.parent))
    ).first()
    if agency is None:
        raise NotFoundError(f"there is no agency {slug!r}")
    productions, documents = _counts_by_agency(session)
    subagencies = session.scalars(select(Agency).where(Agency.parent_id == agency.id)).all()
    children = [
        AgencySummary(a, 1, productions.get(a.id, 0), documents.get(a.id, 0))
        for a in sorted(subagencies, key=lambda a: a.name)
        if productions.get(a.id)
    ]
    own = session.scalars(
        select(Production)
        .where(Production.agency_id == agency.id, _PUBLISHED)
        .options(*_productions_query())
        .order_by(*_latest_first())
    ).all()
    if not own and not children:
        # Agencies exist only through ingest; one with nothing published is not public yet.
        raise NotFoundError(f"agency {slug!r} has no published productions")
    by_request: dict[int, int] = defaultdict(int)
    for production in own:
        if production.request_id is not None:
            by_request[production.request_id] += 1
    requests = session.scalars(
        select(FoiaRequest)
        .where(FoiaRequest.id.in_(list(by_request)))
        .order_by(FoiaRequest.tracking_number)
    ).all()
    return AgencyView(
        agency,
        agency.parent,
        children,
        [RequestSummary(r, by_request[r.id]) for r in requests],
        _summaries(session, own),
    )


def show_request(session: Session, request_id: int) -> RequestView:
    """One FOIA request and its published productions."""
    request = session.scalars(
        select(FoiaRequest)
        .where(FoiaRequest.id == request_id)
        .options(selectinload(FoiaRequest.agency))
    ).first()
    productions = (
        session.scalars(
            select(Production)
            .where(Production.request_id == request_id, _PUBLISHED)
            .options(*_productions_query())
            .order_by(*_latest_first())
        ).all()
        if request is not None
        else []
    )
    if request is None or not productions:
        raise NotFoundError(f"there is no FOIA request {request_id} with published productions")
    return RequestView(request, _summaries(session, productions))


def _unavailable(session: Session, production_id: int) -> list[UnavailableGroup]:
    rows = session.execute(
        select(
            Document.state,
            Document.state_reason,
            Document.taken_down_at.is_not(None),
            Document.published,
            func.count(),
        )
        .join(production_documents, production_documents.c.document_id == Document.id)
        .where(production_documents.c.production_id == production_id, ~public_documents())
        .group_by(
            Document.state,
            Document.state_reason,
            Document.taken_down_at.is_not(None),
            Document.published,
        )
    ).all()
    counts: dict[str, int] = defaultdict(int)
    reasons: dict[str, list[str]] = defaultdict(list)
    for state, reason, taken_down, published, count in rows:
        if taken_down:
            key = "taken_down"
        elif state in VIEWABLE_STATES and not published:
            key = "withheld"
        else:
            key = DocumentState(state).value
        counts[key] += count
        # Takedown and withholding reasons are the publisher's to give on the document itself.
        if (
            reason
            and key not in ("taken_down", "withheld")
            and len(reasons[key]) < REASONS_PER_STATE
        ):
            reasons[key].append(reason)
    return [
        UnavailableGroup(key, STATE_LABELS.get(key, key), counts[key], reasons[key])
        for key in sorted(counts, key=lambda k: (-counts[k], k))
    ]


def show_production(session: Session, production_id: int, *, page: int = 1) -> ProductionView:
    """A published production: its public documents (paged), counts, and what is missing."""
    if not 1 <= page <= MAX_LISTING_PAGE:
        raise InvalidInputError(f"page must be between 1 and {MAX_LISTING_PAGE}")
    production = session.scalars(
        select(Production)
        .where(Production.id == production_id, _PUBLISHED)
        .options(*_productions_query())
    ).first()
    if production is None:
        raise NotFoundError(f"there is no published production {production_id}")
    summary = _summaries(session, [production])[0]
    listing = Listing(page, DOCUMENTS_PER_PAGE, summary.documents)
    if page > listing.pages:
        raise InvalidInputError(f"this production has {listing.pages} page(s) of documents")
    documents = session.scalars(
        public_documents_of(production.id)
        .offset((page - 1) * DOCUMENTS_PER_PAGE)
        .limit(DOCUMENTS_PER_PAGE)
    ).all()
    return ProductionView(summary, list(documents), listing, _unavailable(session, production.id))


def public_documents_of(production_id: int) -> Select[tuple[Document]]:
    """The query of a production's public documents in its order: Bates range, then id."""
    return (
        select(Document)
        .join(production_documents, production_documents.c.document_id == Document.id)
        .where(production_documents.c.production_id == production_id, public_documents())
        .order_by(Document.bates_start.asc().nulls_last(), Document.id)
    )


@dataclass(frozen=True)
class SitemapEntry:
    path: str
    lastmod: dt.date | None


def sitemap_listing_entries(session: Session) -> list[SitemapEntry]:
    """Home, agencies, requests and productions that the public can open."""
    entries = [SitemapEntry("/", None), SitemapEntry("/agencies", None)]
    entries += [SitemapEntry(agency_path(s.agency.slug), None) for s in list_agencies(session)]
    productions = session.execute(
        select(Production.id, Production.request_id, Production.published_at)
        .where(_PUBLISHED)
        .order_by(Production.id)
    ).all()
    request_ids = sorted({r for _, r, _ in productions if r is not None})
    entries += [SitemapEntry(request_path(r), None) for r in request_ids]
    entries += [
        SitemapEntry(production_path(pid), published.date() if published else None)
        for pid, _, published in productions
    ]
    return entries


def count_sitemap_documents(session: Session) -> int:
    """Public documents, for deciding whether the sitemap needs an index."""
    return session.scalar(select(func.count()).select_from(Document).where(public_documents())) or 0


def sitemap_document_entries(session: Session, *, offset: int, limit: int) -> list[SitemapEntry]:
    """One slice of the public documents, in id order."""
    rows = session.execute(
        select(Document.id, Document.slug, Document.updated_at)
        .where(public_documents())
        .order_by(Document.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        SitemapEntry(document_path(i, slug), updated.date() if updated else None)
        for i, slug, updated in rows
    ]
