"""The data model holds what a FOIA archive needs, on both database backends."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.db import session_scope
from app.models import Agency, Document, DocumentState, Page, Production
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
)


def _document(sha: str = "a" * 64) -> Document:
    return Document(title="Memo", slug="memo", original_filename="memo.pdf", sha256=sha, bytes=10)


def test_agency_hierarchy_and_a_document_in_two_productions(migrated_settings: Settings) -> None:
    with session_scope(migrated_settings) as session:
        ice = get_or_create_agency(session, "ice")
        request = get_or_create_request(session, "2021-ICFO-21457", ice, requester="A newsroom")
        first = get_or_create_production(session, ice, "Interim Release 1", request=request)
        second = get_or_create_production(session, ice, "Interim Release 2", request=request)
        document = _document()
        document.productions.extend([first, second])
        session.add(document)
    with session_scope(migrated_settings) as session:
        ice = session.scalars(select(Agency).where(Agency.abbreviation == "ICE")).one()
        assert ice.name == "U.S. Immigration and Customs Enforcement"
        assert ice.parent is not None
        assert ice.parent.abbreviation == "DHS"
        assert get_or_create_agency(session, "ICE").id == ice.id
        document = session.scalars(select(Document)).one()
        assert sorted(p.title for p in document.productions) == [
            "Interim Release 1",
            "Interim Release 2",
        ]
        assert document.state is DocumentState.QUEUED
        assert all(
            p.request and p.request.tracking_number == "2021-ICFO-21457"
            for p in session.scalars(select(Production))
        )


def test_a_page_number_exists_once_per_document(migrated_settings: Settings) -> None:
    with session_scope(migrated_settings) as session:
        document = _document()
        session.add(document)
        session.flush()
        session.add(Page(document_id=document.id, number=1, exemptions=["b6", "b7C"]))
    with session_scope(migrated_settings) as session:
        document_id = session.scalars(select(Document.id)).one()
    with pytest.raises(IntegrityError), session_scope(migrated_settings) as session:
        session.add(Page(document_id=document_id, number=1))
    with session_scope(migrated_settings) as session:
        page = session.scalars(select(Page)).one()
        assert page.exemptions == ["b6", "b7C"]


def test_the_same_bytes_are_one_document(migrated_settings: Settings) -> None:
    with session_scope(migrated_settings) as session:
        session.add(_document())
    with pytest.raises(IntegrityError), session_scope(migrated_settings) as session:
        session.add(_document())
