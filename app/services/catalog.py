"""Agencies, FOIA requests and productions: looked up or created by their natural keys."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.models import Agency, FoiaRequest, Production, ProductionStatus
from app.slugs import slugify

# Agencies that FOIA productions most often come from, with their parents, so that
# `--agency ICE` files the production under "U.S. Immigration and Customs Enforcement" (DHS).
KNOWN_AGENCIES: dict[str, tuple[str, str | None]] = {
    "DHS": ("U.S. Department of Homeland Security", None),
    "ICE": ("U.S. Immigration and Customs Enforcement", "DHS"),
    "CBP": ("U.S. Customs and Border Protection", "DHS"),
    "USCIS": ("U.S. Citizenship and Immigration Services", "DHS"),
    "TSA": ("Transportation Security Administration", "DHS"),
    "DOJ": ("U.S. Department of Justice", None),
    "FBI": ("Federal Bureau of Investigation", "DOJ"),
    "DEA": ("Drug Enforcement Administration", "DOJ"),
    "USMS": ("U.S. Marshals Service", "DOJ"),
}


log = logging.getLogger(__name__)
T = TypeVar("T")
_RESOLVE_ATTEMPTS = 8


def resolve_concurrently(session: Session, look_or_create: Callable[[Session], T]) -> T:
    """Run a get-or-create of catalog rows that another process may be creating at once.

    Two first ingests or uploads into the same agency (two CLI runs, the CLI and an upload,
    two machines) both look, find nothing and insert; the unique agency, request or
    production lets one through. The loser's inserts run under a savepoint: on the
    ``IntegrityError`` it rolls back to it and looks again, finding the winner's rows. SQLite
    may instead refuse the loser's write ("database is locked": its snapshot predates the
    winner's commit); a fresh transaction then looks again. Nothing else may be pending in
    ``session`` (a SQLite retry rolls the session back). The caller commits.
    """
    for attempt in range(_RESOLVE_ATTEMPTS):
        last = attempt == _RESOLVE_ATTEMPTS - 1
        try:
            with session.begin_nested():
                return look_or_create(session)
        except IntegrityError:
            # The savepoint is rolled back; the winner's rows are committed: look again.
            if last:
                raise
            log.info("catalog rows created concurrently; looking again")
        except OperationalError as exc:
            if session.get_bind().dialect.name != "sqlite" or "locked" not in str(exc) or last:
                raise
            # SQLite answers at once while the winner still writes: give its short
            # transaction time to commit, then look again in a fresh snapshot.
            session.rollback()
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def get_or_create_agency(session: Session, name_or_abbreviation: str) -> Agency:
    """The agency with this abbreviation or name; created (with its parent if known) if new."""
    wanted = name_or_abbreviation.strip()
    if not wanted:
        raise ValueError("an agency name or abbreviation is required")
    found = session.scalars(
        select(Agency).where((Agency.abbreviation == wanted.upper()) | (Agency.name == wanted))
    ).first()
    if found is not None:
        return found
    abbreviation = wanted.upper()
    known = KNOWN_AGENCIES.get(abbreviation)
    if known is not None:
        name, parent_abbreviation = known
        parent = get_or_create_agency(session, parent_abbreviation) if parent_abbreviation else None
    else:
        name, parent = wanted, None
        abbreviation = (
            wanted.upper()
            if len(wanted) <= 12 and " " not in wanted
            else "".join(w[0] for w in wanted.split() if w[0].isalnum()).upper()[:40]
        )
    # Different names can share a derived abbreviation ("Foo Bar", "Fizz Buzz": FB) or slug
    # ("A.B." and "AB"); both columns are unique, so the newcomer gets a numbered variant.
    slug = _unused(session, Agency.slug, slugify(abbreviation), 120)
    abbreviation = _unused(session, Agency.abbreviation, abbreviation or slug.upper(), 40)
    agency = Agency(slug=slug, name=name, abbreviation=abbreviation, parent=parent)
    session.add(agency)
    session.flush()
    return agency


def _unused(session: Session, column: InstrumentedAttribute[str], wanted: str, limit: int) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``… (within ``limit`` characters) if taken."""
    candidate = wanted[:limit]
    for number in itertools.count(2):
        if session.scalars(select(column).where(column == candidate)).first() is None:
            return candidate
        suffix = f"-{number}"
        candidate = wanted[: limit - len(suffix)] + suffix
    raise AssertionError("unreachable: itertools.count never ends")


def get_or_create_request(
    session: Session,
    tracking_number: str,
    agency: Agency,
    *,
    requester: str | None = None,
    subject: str | None = None,
) -> FoiaRequest:
    """The FOIA request with this tracking number, created under ``agency`` if new."""
    found = session.scalars(
        select(FoiaRequest).where(FoiaRequest.tracking_number == tracking_number)
    ).first()
    if found is not None:
        return found
    request = FoiaRequest(
        tracking_number=tracking_number, agency=agency, requester=requester, subject=subject
    )
    session.add(request)
    session.flush()
    return request


def get_or_create_production(
    session: Session,
    agency: Agency,
    title: str,
    *,
    request: FoiaRequest | None = None,
    release_date: dt.date | None = None,
    ocr_languages: str = "eng",
    published: bool = False,
) -> Production:
    """The production of ``agency`` with this title, created if new."""
    found = session.scalars(
        select(Production).where(Production.agency_id == agency.id, Production.title == title)
    ).first()
    if found is not None:
        return found
    production = Production(
        agency=agency,
        title=title,
        request=request,
        release_date=release_date,
        ocr_languages=ocr_languages,
        status=ProductionStatus.PUBLISHED if published else ProductionStatus.DRAFT,
        published_at=dt.datetime.now(dt.UTC) if published else None,
    )
    session.add(production)
    session.flush()
    return production
