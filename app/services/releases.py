"""What each release added, re-released or withheld, and the exemptions claimed over time.

- **Release history** (:func:`release_history`): for each published production, its pages that
  are versions of pages released *earlier* (in another public production, ordered by release
  date, else by publication), split by whether the later release shows more (fewer
  redaction boxes, or words the earlier one hid) or less; the pages new to the archive; and
  the pages withheld in full by slip-sheet. The Atom feeds say it too (``app.services.feeds``).
- **Exemption statistics** (:func:`exemption_stats`): per production of a request, or per
  year of release for an agency (and the agencies under it), the pages on which each
  exemption is claimed, the redaction boxes, and the pages withheld in full.

Only public documents of published productions count, as everywhere the public looks.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from app.models import Document, Page, Production, ProductionStatus
from app.models import production_documents as pd
from app.page_versions import FingerprintStatus, PageFingerprint, PageMatch
from app.services.documents import public_documents

_IDS_PER_QUERY = 900  # within every database's limit of bound parameters


def _chunks(values: Sequence[int]) -> list[Sequence[int]]:
    return [values[i : i + _IDS_PER_QUERY] for i in range(0, len(values), _IDS_PER_QUERY)]


def release_key(production: Production) -> tuple[dt.date, int]:
    """The order of releases: the agency's release date, else the day it was published here."""
    day = production.release_date
    if day is None:
        stamp = production.published_at or production.created_at
        day = stamp.date() if stamp else dt.date.max
    return day, production.id


@dataclass(frozen=True)
class ReleaseChange:
    """One production measured against the releases before it."""

    production: Production
    pages: int  # pages of its public documents
    new_pages: int  # no version of them was released before
    rereleased: int  # versions of pages released before
    fewer_redactions: int  # of those, shown with fewer boxes or more words than before
    more_redactions: int  # of those, shown with more boxes or fewer words than before
    withheld_pages: int  # pages its slip-sheets stand for
    earlier: list[Production] = field(default_factory=list)  # the releases it re-releases


def _public_documents_of(session: Session, production_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Document.id)
            .join(pd, pd.c.document_id == Document.id)
            .where(pd.c.production_id == production_id, public_documents())
        )
    )


def _first_release(session: Session, document_ids: set[int]) -> dict[int, Production]:
    """The earliest published production of each document."""
    first: dict[int, Production] = {}
    for chunk in _chunks(sorted(document_ids)):
        for document_id, production in session.execute(
            select(pd.c.document_id, Production)
            .join(Production, Production.id == pd.c.production_id)
            .where(pd.c.document_id.in_(chunk), Production.status == ProductionStatus.PUBLISHED)
        ).tuples():
            known = first.get(document_id)
            if known is None or release_key(production) < release_key(known):
                first[document_id] = production
    return first


def release_change(session: Session, production: Production) -> ReleaseChange:
    """How ``production`` compares with the public releases before it (see the module doc)."""
    documents = _public_documents_of(session, production.id)
    here_key = release_key(production)
    pages = slips = withheld = 0
    page_ids: list[int] = []
    for chunk in _chunks(documents):
        for page_id, status, slip_pages in session.execute(
            select(Page.id, PageFingerprint.status, PageFingerprint.withheld_pages)
            .outerjoin(PageFingerprint, PageFingerprint.page_id == Page.id)
            .where(Page.document_id.in_(chunk))
        ).tuples():
            pages += 1
            page_ids.append(page_id)
            if status is FingerprintStatus.WITHHELD:
                slips += 1
                withheld += slip_pages or 1
    a_page, b_page = aliased(Page), aliased(Page)
    rows: list[tuple[int, int, int, int, int, int]] = []
    for chunk in _chunks(page_ids):
        inside = set(chunk)
        for match, a_boxes, b_boxes, a_doc, b_doc in session.execute(
            select(
                PageMatch,
                a_page.redaction_count,
                b_page.redaction_count,
                a_page.document_id,
                b_page.document_id,
            )
            .join(a_page, a_page.id == PageMatch.page_a_id)
            .join(b_page, b_page.id == PageMatch.page_b_id)
            .where(or_(PageMatch.page_a_id.in_(chunk), PageMatch.page_b_id.in_(chunk)))
        ).tuples():
            # Seen from this production's page: (page, its boxes, the other's boxes, words
            # only here, words only there, the other page's document).
            if match.page_a_id in inside:
                rows.append((match.page_a_id, a_boxes, b_boxes, match.only_a, match.only_b, b_doc))
            if match.page_b_id in inside:
                rows.append((match.page_b_id, b_boxes, a_boxes, match.only_b, match.only_a, a_doc))
    own = set(documents)
    others = {row[5] for row in rows} - own
    public_others: set[int] = set()
    for chunk in _chunks(sorted(others)):
        public_others.update(
            session.scalars(select(Document.id).where(Document.id.in_(chunk), public_documents()))
        )
    first = _first_release(session, public_others)
    earlier: dict[int, Production] = {}
    fewer: set[int] = set()
    more: set[int] = set()
    rereleased: set[int] = set()
    for page_id, boxes_here, boxes_there, only_here, only_there, other_doc in rows:
        release = first.get(other_doc)
        if release is None or release.id == production.id or release_key(release) >= here_key:
            continue
        rereleased.add(page_id)
        earlier[release.id] = release
        if boxes_here < boxes_there or only_here > 0:
            fewer.add(page_id)
        if boxes_here > boxes_there or only_there > 0:
            more.add(page_id)
    return ReleaseChange(
        production=production,
        pages=pages,
        new_pages=pages - len(rereleased) - slips,
        rereleased=len(rereleased),
        fewer_redactions=len(fewer),
        more_redactions=len(more - fewer),
        withheld_pages=withheld,
        earlier=sorted(earlier.values(), key=release_key),
    )


def release_history(session: Session, productions: Sequence[Production]) -> list[ReleaseChange]:
    """Each published production of ``productions`` against the releases before it, oldest
    first: what a request's page calls its release history."""
    published = [p for p in productions if p.status is ProductionStatus.PUBLISHED]
    return [release_change(session, p) for p in sorted(published, key=release_key)]


# --- exemption statistics -------------------------------------------------------------------


@dataclass(frozen=True)
class StatsRow:
    """One period: a production (per request) or a year of release (per agency)."""

    label: str
    day: dt.date | None  # the release date (the first day of the year, per agency)
    pages: int
    redaction_boxes: int
    withheld_pages: int
    exemptions: dict[str, int]  # code -> pages on which it is claimed


@dataclass(frozen=True)
class ExemptionStats:
    rows: list[StatsRow]
    codes: list[str]  # every code claimed, most claimed first

    @property
    def empty(self) -> bool:
        return not any(r.pages for r in self.rows)

    @property
    def totals(self) -> dict[str, int]:
        found: dict[str, int] = defaultdict(int)
        for row in self.rows:
            for code, n in row.exemptions.items():
                found[code] += n
        return dict(found)


@dataclass
class _Tally:
    pages: int = 0
    boxes: int = 0
    withheld: int = 0
    exemptions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _tally(session: Session, production_ids: Sequence[int]) -> dict[int, _Tally]:
    """Per production: pages, boxes, slip-sheet pages, and pages per exemption code."""
    tallies: dict[int, _Tally] = defaultdict(_Tally)
    for chunk in _chunks(list(production_ids)):
        for production_id, exemptions, boxes, status, slip_pages in session.execute(
            select(
                pd.c.production_id,
                Page.exemptions,
                Page.redaction_count,
                PageFingerprint.status,
                PageFingerprint.withheld_pages,
            )
            .join(Document, Document.id == pd.c.document_id)
            .join(Page, Page.document_id == Document.id)
            .outerjoin(PageFingerprint, PageFingerprint.page_id == Page.id)
            .where(pd.c.production_id.in_(chunk), public_documents())
        ).tuples():
            tally = tallies[production_id]
            tally.pages += 1
            tally.boxes += boxes or 0
            if status is FingerprintStatus.WITHHELD:
                tally.withheld += slip_pages or 1
            for code in set(exemptions or []):
                tally.exemptions[code] += 1
    return tallies


def _stats(rows: list[StatsRow]) -> ExemptionStats:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        for code, n in row.exemptions.items():
            totals[code] += n
    codes = sorted(totals, key=lambda c: (-totals[c], c))
    return ExemptionStats(rows, codes)


def _published(productions: Sequence[Production]) -> list[Production]:
    return sorted(
        (p for p in productions if p.status is ProductionStatus.PUBLISHED), key=release_key
    )


def exemption_stats_by_production(
    session: Session, productions: Sequence[Production]
) -> ExemptionStats:
    """One row per published production (a request's releases), oldest first."""
    published = _published(productions)
    tallies = _tally(session, [p.id for p in published])
    rows = []
    for production in published:
        tally = tallies.get(production.id, _Tally())
        rows.append(
            StatsRow(
                production.title,
                production.release_date,
                tally.pages,
                tally.boxes,
                tally.withheld,
                dict(tally.exemptions),
            )
        )
    return _stats(rows)


def exemption_stats_by_year(session: Session, productions: Sequence[Production]) -> ExemptionStats:
    """One row per year of release of the published productions (an agency's), oldest first."""
    published = _published(productions)
    tallies = _tally(session, [p.id for p in published])
    years: dict[int, _Tally] = {}
    for production in published:
        year = release_key(production)[0].year
        into = years.setdefault(year, _Tally())
        tally = tallies.get(production.id, _Tally())
        into.pages += tally.pages
        into.boxes += tally.boxes
        into.withheld += tally.withheld
        for code, n in tally.exemptions.items():
            into.exemptions[code] += n
    rows = [
        StatsRow(str(year), dt.date(year, 1, 1), t.pages, t.boxes, t.withheld, dict(t.exemptions))
        for year, t in sorted(years.items())
    ]
    return _stats(rows)
