"""The job queue: fair claims across productions, leases that expire, page-range splitting."""

from __future__ import annotations

import random
import time
from pathlib import Path

from sqlalchemy import select, update

from app.config import Settings
from app.db import session_scope
from app.models import Document, DocumentState, Job, JobKind, JobState, Page, PageState
from app.services.catalog import get_or_create_agency, get_or_create_production
from ingest.jobs import (
    MAX_ATTEMPTS,
    MAX_ID_RANGES,
    among,
    claim_next,
    enqueue_document,
    sweep_expired,
)
from ingest.run import IngestTarget, ingest_paths
from tests.pdfs import make_text_pdf


def _queue(settings: Settings, production: str, documents: int) -> None:
    with session_scope(settings) as session:
        agency = get_or_create_agency(session, "ICE")
        prod = get_or_create_production(session, agency, production)
        for i in range(documents):
            doc = Document(
                title=f"{production} {i}",
                slug="d",
                original_filename="d.pdf",
                sha256=f"{production}-{i}-".ljust(64, "0"),
                bytes=1,
            )
            doc.productions.append(prod)
            session.add(doc)
            session.flush()
            enqueue_document(session, doc, production_id=prod.id)


def _claimed_production(settings: Settings) -> str:
    with session_scope(settings) as session:
        claim = claim_next(session, lease_seconds=60, worker="test")
        assert claim is not None
        document = session.get(Document, claim.document_id)
        assert document is not None
        return document.title.split()[0]


def test_a_small_upload_is_not_starved_by_a_big_production(migrated_settings: Settings) -> None:
    _queue(migrated_settings, "big", 6)
    assert _claimed_production(migrated_settings) == "big"
    _queue(migrated_settings, "small", 1)
    # The big production was just served; the small one, never: it goes next.
    assert _claimed_production(migrated_settings) == "small"
    assert _claimed_production(migrated_settings) == "big"


def test_a_dead_workers_job_returns_to_the_queue_then_fails_out_of_attempts(
    migrated_settings: Settings,
) -> None:
    _queue(migrated_settings, "p", 1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with session_scope(migrated_settings) as session:
            claim = claim_next(session, lease_seconds=0.01, worker="doomed")
            assert claim is not None
            # Only one worker can hold it: a second claim finds nothing.
            assert claim_next(session, lease_seconds=60, worker="other") is None
        time.sleep(0.05)
        with session_scope(migrated_settings) as session:
            requeued = sweep_expired(session)
            job = session.scalars(select(Job)).one()
            assert job.attempts == attempt
            assert job.last_error is not None
            assert "doomed" in job.last_error
            if attempt < MAX_ATTEMPTS:
                assert requeued == 1
                assert job.state is JobState.QUEUED
            else:
                assert job.state is JobState.FAILED


def test_a_long_document_is_split_into_page_ranges_and_finished_once(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    settings = migrated_settings.model_copy(update={"pages_per_job": 2})
    pdf = make_text_pdf(tmp_path / "long.pdf", [f"Page {n} of the ledger" for n in range(1, 6)])
    [outcome] = ingest_paths(settings, [pdf], IngestTarget(agency="ICE", production="P"))
    assert outcome.state == "indexed"
    with session_scope(settings) as session:
        jobs = session.scalars(select(Job).order_by(Job.id)).all()
        # The finished document is then compared with the archive, once (issue 11).
        assert [(j.kind, j.first_page, j.last_page) for j in jobs] == [
            (JobKind.PLAN, 1, None),
            (JobKind.PAGES, 1, 2),
            (JobKind.PAGES, 3, 4),
            (JobKind.PAGES, 5, 5),
            (JobKind.VERSIONS, 1, None),
        ]
        assert all(j.state is JobState.DONE for j in jobs)
        pages = session.scalars(select(Page).order_by(Page.number)).all()
        assert [p.number for p in pages] == [1, 2, 3, 4, 5]
        assert all(p.state is PageState.INDEXED for p in pages)
        document = session.scalars(select(Document)).one()
        assert document.state is DocumentState.INDEXED


def test_among_selects_exactly_the_given_ids_as_ranges_or_a_list(
    migrated_settings: Settings,
) -> None:
    _queue(migrated_settings, "p", 80)
    with session_scope(migrated_settings) as session:
        existing = set(session.scalars(select(Job.document_id)))
        rng = random.Random(3)
        cases: list[set[int]] = [
            set(),
            {min(existing)},
            set(existing),  # one range
            {i for i in existing if i % 2},  # 40 ranges: an IN list
            {i for i in existing if i % 10 < 3},  # 8 ranges of 3
            {*range(-5, 3), *range(max(existing) - 2, max(existing) + 50)},  # beyond the table
        ] + [set(rng.sample(sorted(existing), rng.randint(1, 60))) for _ in range(20)]
        for ids in cases:
            found = set(session.scalars(select(Job.document_id).where(among(Job.document_id, ids))))
            assert found == ids & existing, sorted(ids)
    assert MAX_ID_RANGES < 40  # the odd ids above do take the IN-list path


def test_claims_stay_fair_among_many_finished_jobs(migrated_settings: Settings) -> None:
    # Each production's latest start is now looked up through an index, not by grouping every
    # job: the production served least recently must still go first.
    _queue(migrated_settings, "old", 300)
    with session_scope(migrated_settings) as session:
        for _ in range(299):
            claim = claim_next(session, lease_seconds=60, worker="test")
            assert claim is not None
        session.execute(
            update(Job).where(Job.state == JobState.RUNNING).values(state=JobState.DONE)
        )
    _queue(migrated_settings, "new", 2)
    assert _claimed_production(migrated_settings) == "new"  # never served
    assert _claimed_production(migrated_settings) == "old"  # served before "new" was
    assert _claimed_production(migrated_settings) == "new"
