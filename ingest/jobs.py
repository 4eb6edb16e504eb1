"""The job queue in the database: enqueue, claim fairly, lease, retry with backoff, sweep.

The database is the queue's truth whichever dispatcher runs the jobs (the in-process pool or
Celery workers): a job is claimed by a conditional UPDATE (only one worker can move it from
``queued`` to ``running``), holds a lease that its worker renews while it runs, and goes back
to the queue when a worker dies and its lease expires. Claims are fair across productions: the
production whose jobs were served least recently goes first, so a 10,000-page production
split into page ranges does not starve a five-page upload.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, false, func, or_, select, update
from sqlalchemy.orm import QueryableAttribute, Session

from app.models import Document, DocumentState, Job, JobKind, JobState

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (5, 30, 120)  # after the 1st, 2nd, 3rd failed attempt


def worker_name() -> str:
    """Who holds a lease: host and pid, enough to find the process that died."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def enqueue_document(
    session: Session,
    document: Document,
    *,
    production_id: int | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """Queue the processing of ``document`` (a plan job); dispatch it after the commit."""
    document.state = DocumentState.QUEUED
    document.state_reason = None
    job = Job(
        document_id=document.id,
        production_id=production_id
        if production_id is not None
        else (document.productions[0].id if document.productions else None),
        kind=JobKind.PLAN,
        options=options or {},
        state=JobState.QUEUED,
    )
    session.add(job)
    session.flush()
    return job


def enqueue_ranges(session: Session, plan: Job, page_count: int, pages_per_job: int) -> list[Job]:
    """Split a document into page-range jobs that several workers can share."""
    jobs = []
    for first in range(1, page_count + 1, pages_per_job):
        job = Job(
            document_id=plan.document_id,
            production_id=plan.production_id,
            kind=JobKind.PAGES,
            first_page=first,
            last_page=min(first + pages_per_job - 1, page_count),
            options=dict(plan.options),
            state=JobState.QUEUED,
        )
        session.add(job)
        jobs.append(job)
    session.flush()
    return jobs


@dataclass(frozen=True)
class Claim:
    job_id: int
    document_id: int
    kind: JobKind


# Past this many separate runs of ids, ``among`` falls back to an IN list.
MAX_ID_RANGES = 20


def among(column: QueryableAttribute[int], ids: Collection[int]) -> ColumnElement[bool]:
    """SQL condition: ``column`` is one of ``ids``, exactly.

    The documents of one ingest are mostly consecutive ids: as ranges the condition is a
    few comparisons, where an IN list of 2,000 ids cost more to build, send and compile
    than the query's own work, on every claim of the ingest.
    """
    ordered = sorted(set(ids))
    if not ordered:
        return false()
    ranges: list[tuple[int, int]] = []
    start = end = ordered[0]
    for value in ordered[1:]:
        if value != end + 1:
            ranges.append((start, end))
            start = value
        end = value
    ranges.append((start, end))
    if len(ranges) > MAX_ID_RANGES:
        return column.in_(ordered)
    return or_(*(column == a if a == b else column.between(a, b) for a, b in ranges))


def _next_candidate(session: Session, now: dt.datetime, only: set[int] | None) -> Job | None:
    ready = (Job.state == JobState.QUEUED) & ((Job.not_before.is_(None)) | (Job.not_before <= now))
    if only is not None:
        ready &= among(Job.document_id, only)
    # The productions with a ready job, each with its first one (usually one or two rows).
    firsts = session.execute(
        select(Job.production_id, func.min(Job.id)).where(ready).group_by(Job.production_id)
    ).all()
    if not firsts:
        return None

    def fairness(row: Row[tuple[int | None, int]]) -> tuple[bool, dt.datetime, int]:
        # The production whose jobs started least recently (or never) goes first; its
        # latest start is one seek in ix_jobs_production_started.
        pid, first_job = row
        same = Job.production_id.is_(None) if pid is None else Job.production_id == pid
        served = session.scalar(select(func.max(Job.started_at)).where(same))
        return served is not None, served or dt.datetime.min, first_job

    _, job_id = min(firsts, key=fairness)
    return session.get(Job, job_id)


def claim_next(
    session: Session, *, lease_seconds: float, worker: str, only: set[int] | None = None
) -> Claim | None:
    """Take the next job fairly and lease it to ``worker``; None when nothing is ready."""
    for _ in range(20):  # another worker may win the race for a candidate; try the next one
        now = _now()
        job = _next_candidate(session, now, only)
        if job is None:
            return None
        claimed = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == JobState.QUEUED)
            .values(
                state=JobState.RUNNING,
                worker=worker,
                attempts=Job.attempts + 1,
                started_at=now,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return Claim(job.id, job.document_id, job.kind)
    return None


def renew_lease(session: Session, job_id: int, lease_seconds: float) -> None:
    """Extend a running job's lease (its worker is alive and making progress)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.RUNNING)
        .values(lease_expires_at=_now() + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()


def finish_job(session: Session, job_id: int) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(state=JobState.DONE, finished_at=_now(), lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def fail_job(session: Session, job_id: int, error: str) -> bool:
    """Record a failed attempt; requeue with backoff, or fail for good. True if requeued."""
    job = session.get(Job, job_id)
    if job is None:
        return False
    job.last_error = error[:4000]
    job.lease_expires_at = None
    if job.attempts < MAX_ATTEMPTS:
        job.state = JobState.QUEUED
        delay = BACKOFF_SECONDS[min(job.attempts, len(BACKOFF_SECONDS)) - 1]
        job.not_before = _now() + dt.timedelta(seconds=delay)
        session.commit()
        return True
    job.state = JobState.FAILED
    job.finished_at = _now()
    session.commit()
    return False


def sweep_expired(session: Session) -> int:
    """Put jobs whose worker died (lease expired) back in the queue; fail those out of tries."""
    now = _now()
    expired = list(
        session.scalars(
            select(Job).where(Job.state == JobState.RUNNING, Job.lease_expires_at < now)
        )
    )
    requeued = 0
    for job in expired:
        reason = f"worker {job.worker} stopped answering (lease expired)"
        job.last_error = reason
        job.lease_expires_at = None
        if job.attempts < MAX_ATTEMPTS:
            job.state = JobState.QUEUED
            job.not_before = None
            requeued += 1
        else:
            job.state = JobState.FAILED
            job.finished_at = now
    session.commit()
    return requeued


def open_jobs(session: Session, document_id: int) -> int:
    """Jobs of a document still queued or running."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.document_id == document_id,
                Job.state.in_([JobState.QUEUED, JobState.RUNNING]),
            )
        )
        or 0
    )


def open_jobs_among(session: Session, document_ids: Collection[int]) -> int:
    """Jobs of any of these documents still queued or running, in one query."""
    return _count_jobs(session, document_ids, Job.state.in_([JobState.QUEUED, JobState.RUNNING]))


def ready_jobs_among(session: Session, document_ids: Collection[int]) -> int:
    """Queued jobs of these documents whose backoff has passed, in one query."""
    now = _now()
    return _count_jobs(
        session,
        document_ids,
        Job.state == JobState.QUEUED,
        (Job.not_before.is_(None)) | (Job.not_before <= now),
    )


def _count_jobs(
    session: Session, document_ids: Collection[int], *conditions: ColumnElement[bool]
) -> int:
    query = select(func.count()).select_from(Job).where(among(Job.document_id, document_ids))
    return session.scalar(query.where(*conditions)) or 0


def failed_jobs(session: Session, document_id: int) -> list[Job]:
    """Jobs of a document that ran out of attempts, with their last error."""
    return list(
        session.scalars(
            select(Job).where(Job.document_id == document_id, Job.state == JobState.FAILED)
        )
    )


def ready_job_ids(session: Session) -> list[int]:
    """Queued jobs whose backoff has passed."""
    now = _now()
    return list(
        session.scalars(
            select(Job.id).where(
                Job.state == JobState.QUEUED,
                (Job.not_before.is_(None)) | (Job.not_before <= now),
            )
        )
    )
