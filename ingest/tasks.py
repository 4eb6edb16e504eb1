"""The task functions: what a worker does with a claimed job, whichever dispatcher runs it.

- a **plan** job opens the file (convert, repair, decrypt), reads its metadata and page count,
  then either reads every page itself (small documents) or splits the document into page-range
  jobs that several workers share;
- a **pages** job reads one page range, committing its pages as they are read (so a killed
  worker loses only the page it was on), and indexes them;
- whoever finishes a document's last job describes the document, gives it its final state and
  indexes it again (now with its date, type and Bates range on every page record).

Every step is idempotent: pages already done at this pipeline version are skipped, so a job
taken up again after its worker died redoes nothing that was committed, and writes are
conditional, so two workers holding one job (a lease given away too early) never both write a
page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.models import Document, DocumentState, Job, JobKind
from ingest.index import index_documents, mark_pending
from ingest.jobs import (
    Claim,
    claim_next,
    enqueue_ranges,
    fail_job,
    failed_jobs,
    finish_job,
    open_jobs,
    renew_lease,
)
from ingest.pages import Progress
from ingest.process import ProcessOptions, finish_document, process_pages, start_document
from ingest.source import readable_pdf_path
from ingest.versions.job import compare_document, enqueue_versions

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """What a worker needs to run jobs: settings, an index client, and how to hand out jobs."""

    settings: Settings
    client: MeiliClient | None
    worker: str
    submit: Callable[[Sequence[int]], None] = lambda _ids: None
    progress: Progress | None = None
    # Passwords given on the command line for this run only: never written to the database.
    passwords: dict[int, str] = field(default_factory=dict)


class _LeaseKeeper:
    """Renews a job's lease while its pages are read, and forwards progress events."""

    def __init__(self, ctx: WorkerContext, job_id: int) -> None:
        self.ctx, self.job_id = ctx, job_id
        self.every = ctx.settings.job_lease_seconds / 3
        self.last = time.monotonic()

    def __call__(self, event: str, n: int) -> None:
        if self.ctx.progress:
            self.ctx.progress(event, n)
        if time.monotonic() - self.last >= self.every:
            with session_scope(self.ctx.settings) as session:
                renew_lease(session, self.job_id, self.ctx.settings.job_lease_seconds)
            self.last = time.monotonic()


def _options(job: Job, ctx: WorkerContext) -> ProcessOptions:
    return ProcessOptions(
        password=ctx.passwords.get(job.document_id),
        force_ocr=bool(job.options.get("force_ocr", False)),
        languages=job.options.get("languages"),
    )


def _index(
    ctx: WorkerContext,
    session: Session,
    document_id: int,
    pages: list[int] | None,
    *,
    commit: bool = True,
) -> None:
    """Index the document's pages, or mark them pending when this worker has no index.

    Marking pending joins the caller's transaction when ``commit`` is false; indexing always
    commits first, as the index must never show what the database does not hold.
    """
    if ctx.client is None:
        mark_pending(session, [document_id], commit=commit)
        return
    session.commit()
    index_documents(ctx.client, ctx.settings, session, [document_id], pages=pages)


def _plan(ctx: WorkerContext, session: Session, job: Job, document: Document) -> None:
    options = _options(job, ctx)
    source = start_document(session, ctx.settings, document, options, commit_final=False)
    if source is None:  # encrypted, unsupported, broken: in its final state, uncommitted
        # The final state and the job's end in one commit: a document shown final with its
        # job still running could not be retried (the retry button waits for the job).
        finish_job(session, job.id)
        _index(ctx, session, document.id, [])
        return
    count = source.pdf.page_count
    # A password given for this run cannot travel with queued jobs: read it all here.
    if count <= ctx.settings.pages_per_job or options.password:
        keeper = _LeaseKeeper(ctx, job.id)
        # Pages are committed as they are read, the last batch with the job's end
        # (run_claimed): a short document is still one write transaction.
        process_pages(
            session,
            ctx.settings,
            document,
            source.pdf.path,
            source.pdf.password,
            range(1, count + 1),
            options,
            keeper,
            commit=False,
        )
        return
    ranges = enqueue_ranges(session, job, count, ctx.settings.pages_per_job)
    session.commit()
    ctx.submit([r.id for r in ranges])


def _pages(ctx: WorkerContext, session: Session, job: Job, document: Document) -> None:
    options = _options(job, ctx)
    last = job.last_page or document.page_count
    keeper = _LeaseKeeper(ctx, job.id)
    # Fetches the original and rebuilds a converted copy if this machine did not plan it.
    path = readable_pdf_path(ctx.settings, document.sha256, password=options.password)
    done = process_pages(
        session,
        ctx.settings,
        document,
        path,
        options.password,
        range(job.first_page, last + 1),
        options,
        keeper,
        commit=False,
    )
    if done:  # searchable as soon as they are read; the finish re-indexes with all fields
        _index(ctx, session, document.id, done, commit=False)
    # Without an index client, the last pages and the pending mark are committed with the
    # job's end (run_claimed).


def _versions(ctx: WorkerContext, session: Session, job: Job, document: Document) -> None:
    """Compare the document with the archive (issue 11), then re-index the documents whose
    pages joined or left a group: their records say so (version group, released differently)."""
    result = compare_document(session, document.id, tick=_LeaseKeeper(ctx, job.id))
    for document_id in sorted(result.reindex):
        _index(ctx, session, document_id, None)


def _finish_if_last(ctx: WorkerContext, session: Session, document_id: int) -> None:
    document = session.get(Document, document_id)
    if document is None or open_jobs(session, document_id):
        return
    if document.state is not DocumentState.PROCESSING and document.state.is_final:
        return  # ended at the plan step, or another worker finished it already
    lost = failed_jobs(session, document_id)
    if document.state is DocumentState.QUEUED or not document.page_count:
        # The plan job itself ran out of attempts: nothing is known about the pages.
        errors = "; ".join(j.last_error or "" for j in lost)[:500]
        document.state = DocumentState.FAILED
        document.state_reason = f"processing failed after several attempts: {errors}"
        document.retryable = True
        session.commit()
        return
    # The final state and the pages' index state are committed together by _index.
    finish_document(
        session,
        document,
        lost_ranges=[
            (j.first_page, j.last_page or document.page_count, j.last_error or "")
            for j in lost
            if j.kind is JobKind.PAGES
        ],
        commit=False,
    )
    versions = enqueue_versions(session, document)  # issue 11: compare with the archive
    _index(ctx, session, document_id, None)
    if versions is not None:
        ctx.submit([versions.id])


def run_claimed(ctx: WorkerContext, claim: Claim) -> None:
    """Run one claimed job to its end; a failure is recorded, retried or reported, never lost."""
    with session_scope(ctx.settings) as session:
        job = session.get(Job, claim.job_id)
        document = session.get(Document, claim.document_id)
        if job is None or document is None:
            return
        try:
            if job.kind is JobKind.PLAN:
                _plan(ctx, session, job, document)
            elif job.kind is JobKind.VERSIONS:
                _versions(ctx, session, job, document)
            else:
                _pages(ctx, session, job, document)
        # Any failure, whatever its type, must end in a recorded state: nothing is dropped.
        except Exception as exc:
            session.rollback()
            log.exception("job %s failed", claim.job_id)
            requeued = fail_job(session, claim.job_id, f"{type(exc).__name__}: {exc}")
            if requeued:
                ctx.submit([claim.job_id])
            elif job.kind is not JobKind.VERSIONS:
                _finish_if_last(ctx, session, claim.document_id)
            return
        # Commits the job's pages with its end; the count of open jobs in _finish_if_last
        # then runs after that commit, so that of two workers ending a document's last two
        # jobs at once, the later one sees both done (on PostgreSQL too).
        finish_job(session, claim.job_id)
        # A versions job runs after its document was finished: finishing it again would mark
        # its pages pending once more, after the index had them (a run's pages left pending).
        if job.kind is not JobKind.VERSIONS:
            _finish_if_last(ctx, session, claim.document_id)


def work_once(ctx: WorkerContext, *, only: set[int] | None = None) -> bool:
    """Claim the next job fairly and run it; False when nothing was ready."""
    with session_scope(ctx.settings) as session:
        claim = claim_next(
            session, lease_seconds=ctx.settings.job_lease_seconds, worker=ctx.worker, only=only
        )
    if claim is None:
        return False
    run_claimed(ctx, claim)
    return True
