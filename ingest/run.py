"""Ingest paths into a production: intake every file, then process and index each document.

Inputs may be files or folders (walked recursively); a ZIP is stored as an original too, then
unpacked safely and each member taken in as its own document. Every file is stored and
recorded before any processing starts, so nothing is lost if a later step fails. Pages are
pushed to the index after each document's commit, so a long production becomes searchable as
it goes; if Meilisearch cannot be reached the pages wait as ``pending_index``.

Nothing waits that need not: the PDF reader, the forkserver, the helper processes and the
search engine (a managed Meilisearch to start, indexes to create) come up beside the intake,
and the last pages go to the index the moment the last job ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient, MeiliError, SearchEngine, open_search_engine
from app.meili.managed import ManagedMeiliError
from app.models import Document, DocumentState, Production
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
    resolve_concurrently,
)
from ingest.archive import extract_zip
from ingest.blobstore import get_blobstore
from ingest.errors import IngestError
from ingest.index import ensure_indexes, index_documents, pending_document_ids
from ingest.intake import IntakeOutcome, intake_file
from ingest.jobs import (
    among,
    enqueue_document,
    open_jobs_among,
    ready_jobs_among,
    sweep_expired,
    worker_name,
)
from ingest.pages import Progress
from ingest.pdfopen import prestart_helper
from ingest.process import ProcessOptions
from ingest.procs import forkserver_context, warm_forkserver
from ingest.sniff import Kind, sniff
from ingest.storage import store_file
from ingest.tasks import WorkerContext, work_once

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestTarget:
    agency: str
    production: str
    request: str | None = None
    release_date: dt.date | None = None
    languages: str = "eng"
    published: bool = True


@dataclass(frozen=True)
class FileOutcome:
    name: str
    document_id: int
    state: str
    reason: str | None
    pages: int


@dataclass(frozen=True)
class Taken:
    """One file taken in: its name, its document, and whether it was new."""

    name: str
    document_id: int
    outcome: IntakeOutcome


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files named directly, and every file below a named folder, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink())
        elif path.is_file():
            files.append(path)
    return files


def _intake_zip(
    session: Session, settings: Settings, path: Path, production: Production, name: str
) -> list[Taken]:
    # The archive as the agency sent it is kept too (an upload is stored already; this is a
    # no-op for it): its members alone would not show how the production was delivered.
    store_file(
        path,
        settings.files_dir,
        max_bytes=settings.max_upload_bytes,
        blobstore=get_blobstore(settings),
    )
    scratch = Path(tempfile.mkdtemp(dir=settings.files_dir / "tmp", prefix="unzip-"))
    try:
        try:
            members = extract_zip(path, scratch)
        except IngestError as exc:
            # The archive itself becomes the record of what went wrong, kept like any upload.
            result = intake_file(
                session,
                settings,
                path,
                production,
                original_name=name,
                media_type="application/zip",
            )
            document = result.document
            if result.outcome is IntakeOutcome.NEW:
                document.state = DocumentState(exc.state)
                document.state_reason = exc.reason
                document.retryable = exc.retryable
            session.commit()
            return [
                Taken(
                    name,
                    document.id,
                    IntakeOutcome.DUPLICATE
                    if result.outcome is IntakeOutcome.DUPLICATE
                    else IntakeOutcome.NEW,
                )
            ]
        taken = []
        for member in members:
            member_name = f"{name}/{member.original_name}"
            taken.extend(intake_path(session, settings, member.path, production, member_name))
        return taken
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def resolve_production(session: Session, target: IngestTarget) -> Production:
    """The target's agency, request and production, created if new; committed.

    Two first ingests into the same agency may run at once (two CLI runs, the CLI and an
    upload, two machines); ``resolve_concurrently`` makes both end with the same rows.
    """
    production = resolve_concurrently(session, lambda s: _get_or_create_target(s, target))
    session.commit()
    return production


def _get_or_create_target(session: Session, target: IngestTarget) -> Production:
    agency = get_or_create_agency(session, target.agency)
    request = get_or_create_request(session, target.request, agency) if target.request else None
    return get_or_create_production(
        session,
        agency,
        target.production,
        request=request,
        release_date=target.release_date,
        ocr_languages=target.languages,
        published=target.published,
    )


def intake_path(
    session: Session, settings: Settings, path: Path, production: Production, name: str
) -> list[Taken]:
    """Store and record one file (for a ZIP, each of its members), committing per file."""
    if sniff(path) is Kind.ZIP:
        return _intake_zip(session, settings, path, production, name)
    result = intake_file(session, settings, path, production, original_name=name)
    # Commit per file: a stored original is recorded even if a later file fails.
    session.commit()
    return [Taken(name, result.document.id, result.outcome)]


@contextlib.contextmanager
def _search_engine(settings: Settings) -> Iterator[SearchEngine | None]:
    try:
        with open_search_engine(settings) as engine:
            yield engine
    except ManagedMeiliError as exc:
        log.warning("search engine unavailable, pages stay pending_index: %s", exc)
        yield None


@contextlib.contextmanager
def _search_engine_ahead(settings: Settings) -> Iterator[Callable[[], SearchEngine | None]]:
    """Open the search engine on a thread; yield a function that waits for it.

    Starting the managed Meilisearch, and creating and setting up the indexes of a fresh
    installation, are several Meilisearch round trips and tasks: done while the files are
    taken in, they no longer stand between the intake and the first page read. The indexes
    are set up again (a no-op) before each send, so a failure here only logs.
    """
    stack = contextlib.ExitStack()
    opened: list[SearchEngine | None] = []
    failed: list[BaseException] = []

    def open_engine() -> None:
        try:
            engine = stack.enter_context(_search_engine(settings))
        except BaseException as exc:  # handed to the caller by ready()
            failed.append(exc)
            return
        opened.append(engine)
        if engine is not None:
            try:
                ensure_indexes(engine.client, settings)
            except MeiliError as exc:
                log.warning("search indexes not set up ahead (tried again on send): %s", exc)

    thread = threading.Thread(target=open_engine, name="readingroom-search-open", daemon=True)
    thread.start()

    def ready() -> SearchEngine | None:
        thread.join()
        if failed:
            raise failed[0]
        return opened[0]

    try:
        yield ready
    finally:
        thread.join()
        stack.close()


def ingest_paths(
    settings: Settings,
    paths: Sequence[Path],
    target: IngestTarget,
    *,
    options: ProcessOptions | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
    progress: Progress | None = None,
) -> list[FileOutcome]:
    """Take every file in, process it, index it; return one outcome per document."""
    options = options or ProcessOptions()
    report = progress or (lambda _event, _n: None)
    files = expand_paths(paths)
    # The PDF reader starts on another core while the files are taken in.
    prestart_helper()
    (settings.files_dir / "tmp").mkdir(parents=True, exist_ok=True)
    taken: list[Taken] = []
    # Run here (no task queue, no password that must stay in this process): each file's job
    # is queued as soon as the file is in, and helper processes read the first documents
    # while later files are still stored and hashed, which is mostly waiting on the disk.
    early = (
        _Helpers(settings, set(), {}, progress)
        if not settings.broker_url and not options.password
        else None
    )
    queued: list[int] = []
    with _search_engine_ahead(settings) as search_engine:
        try:
            with session_scope(settings) as session:
                production = resolve_production(session, target)
                for path in files:
                    new = intake_path(session, settings, path, production, path.name)
                    taken.extend(new)
                    if early is not None:
                        ids = [t.document_id for t in new if t.outcome is IntakeOutcome.NEW]
                        ids = _enqueue(session, ids, options)
                        queued.extend(ids)
                        early.add(ids)
        except BaseException:
            if early is not None:
                early.stop(wait=False)
            raise
        if early is not None:
            # From here helpers end on their own once every job is done, whatever happens.
            early.close_intake()
        report("files_total", len(taken))
        outcomes = _process_taken(settings, taken, queued, options, early, search_engine, report)
    for outcome in outcomes:
        report("file_done", 1)
        if on_file:
            on_file(outcome)
    return outcomes


def _process_taken(
    settings: Settings,
    taken: Sequence[Taken],
    queued: Sequence[int],
    options: ProcessOptions,
    early: _Helpers | None,
    search_engine: Callable[[], SearchEngine | None],
    report: Progress,
) -> list[FileOutcome]:
    """Process and index the files taken in (their jobs queued already with ``early``)."""
    new_ids = [t.document_id for t in taken if t.outcome is IntakeOutcome.NEW]
    duplicate_ids = [t.document_id for t in taken if t.outcome is IntakeOutcome.DUPLICATE]
    try:
        engine = search_engine()
    except BaseException:
        if early is not None:
            early.stop(wait=False)
        raise
    client = engine.client if engine is not None else None
    if early is None:
        _process(settings, new_ids, options, client, report)
    elif queued:
        run_queued_jobs(settings, new_ids, client=client, progress=report, helpers=early)
    with session_scope(settings) as session:
        # A duplicate joined this production: its records now name it too.
        if client is not None and duplicate_ids:
            index_documents(client, settings, session, duplicate_ids)
        return [_outcome(session, t.name, t.document_id, t.outcome) for t in taken]


def _outcome(session: Session, name: str, document_id: int, how: IntakeOutcome) -> FileOutcome:
    document = session.get(Document, document_id)
    if document is None:
        raise LookupError(f"document {document_id} vanished during ingest")
    return FileOutcome(
        name or document.original_filename,
        document.id,
        "duplicate" if how is IntakeOutcome.DUPLICATE else document.state.value,
        document.state_reason,
        document.page_count,
    )


def _enqueue(session: Session, document_ids: Sequence[int], options: ProcessOptions) -> list[int]:
    """Queue a processing job for each document not final yet; commit; return their ids."""
    job_options = {"force_ocr": options.force_ocr, "languages": options.languages}
    queued = []
    for document_id in document_ids:
        document = session.get(Document, document_id)
        if document is None or document.state.is_final:
            continue  # e.g. a ZIP that could not be unpacked is final at intake
        enqueue_document(session, document, options=job_options)
        queued.append(document_id)
    session.commit()
    return queued


def _process(
    settings: Settings,
    document_ids: Sequence[int],
    options: ProcessOptions,
    client: MeiliClient | None,
    report: Progress,
) -> None:
    """Queue the documents' processing and see it through to final states."""
    job_options = {"force_ocr": options.force_ocr, "languages": options.languages}
    job_ids = []
    with session_scope(settings) as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            if document is None or document.state.is_final:
                continue  # e.g. a ZIP that could not be unpacked is final at intake
            job_ids.append(enqueue_document(session, document, options=job_options).id)
    if not job_ids:
        return
    passwords = dict.fromkeys(document_ids, options.password) if options.password else {}
    if settings.broker_url and not passwords:
        from ingest.dispatch import CeleryDispatcher

        CeleryDispatcher(settings).submit(job_ids)
        wait_for_jobs(settings, document_ids)
    else:
        run_queued_jobs(settings, document_ids, client=client, progress=report, passwords=passwords)


# How long an ingest waits for a database that stopped answering between two jobs.
DATABASE_OUTAGE_SECONDS = 120.0
# How often a worker with nothing to claim looks whether the jobs of its run are all done.
# The last job's end is noticed this late, by this process and by each helper, so it is
# short: a look is one indexed query.
POLL_SECONDS = 0.1


def run_queued_jobs(
    settings: Settings,
    document_ids: Sequence[int],
    *,
    client: MeiliClient | None,
    progress: Progress | None = None,
    passwords: dict[int, str] | None = None,
    helpers: _Helpers | None = None,
) -> None:
    """Run the queued jobs of these documents until none is left, on every core; index them.

    This process works through the jobs. As soon as other jobs wait beside the one it takes
    (several documents, or a long one split into page ranges), helper processes join in, one
    per further core (``settings.workers``; 0 means one per core): born-digital pages are read
    in Python, so one process uses one core. Jobs are claimed from the database, so no page is
    read twice.

    Workers only mark committed pages ``pending_index``; a thread of this process indexes
    the documents that have reached their final state, in large batches (see
    INDEX_BATCH_PAGES). Waiting for Meilisearch to apply a task took longer than reading a
    short document, and the readers no longer wait for it. Everything is indexed when this
    returns; if Meilisearch is unreachable (``client`` is None) the pages stay ``pending_index``.
    ``helpers`` are those started during intake (see ingest_paths), if any.
    """
    ctx = WorkerContext(settings, None, worker_name(), progress=progress, passwords=passwords or {})
    only = set(document_ids)
    helpers = helpers or _Helpers(settings, only, passwords or {}, progress)
    indexer = _Indexer(settings, client, only) if client is not None else None
    outage_since: float | None = None
    try:
        # Several jobs waiting already (several documents): the helpers start now, beside this
        # process's first job, not after it.
        helpers.start_if_work_waits(beyond=1)
        while True:
            try:
                claimed = work_once(ctx, only=only)
                if indexer is not None:
                    indexer.set_drained(not claimed)  # see _Indexer.set_drained
                if claimed:
                    # The indexer looks on its own every second: sends are batched anyway,
                    # and a look after every job cost two queries per document.
                    helpers.start_if_work_waits()
                    outage_since = None
                    continue
                if not _still_open(settings, only):
                    break
                outage_since = None
            except OperationalError:
                # The database went away between jobs (restart, failover, a killed session).
                # A job cut mid-way is retried through its lease; here only the claim or the
                # check was lost, so wait for the database rather than abandon the ingest,
                # up to a bound after which the caller hears of it.
                now = time.monotonic()
                outage_since = outage_since if outage_since is not None else now
                if now - outage_since > DATABASE_OUTAGE_SECONDS:
                    raise
                log.warning("database unreachable while claiming a job; retrying", exc_info=True)
            # Backoff pending, or another worker holds a job of these documents: the ingest
            # ends as soon as that job does, so look again soon (one query).
            time.sleep(POLL_SECONDS)
    except BaseException:
        helpers.stop(wait=False)
        if indexer is not None:
            indexer.stop()
        raise
    # The last job has ended: no page is coming any more. The last documents go to the index
    # now, here so that errors reach the caller, while the helpers exit (nothing is left for
    # them; their exit took up to a few tenths of a second that the index used to wait for).
    try:
        if indexer is not None:
            indexer.stop()
            indexer.index_finished()
    finally:
        helpers.stop(wait=True)
    # A helper may still have been finishing a document when no job was left open: its last
    # job's end is committed before the document's final state (ingest.tasks.run_claimed), so
    # the pass above did not see it final. The helpers have exited now: what they finished
    # is final and goes to the index here (one query when nothing is left).
    if indexer is not None:
        indexer.index_finished()


# Meilisearch pays a large cost per indexing batch besides its cost per record: 2,000 page
# records took 3.7 s of its CPU sent at once and 6.6 s sent 50 at a time (measured with the
# pipeline's index settings). On a small machine that CPU is taken from the page readers, so
# the indexer sends pages in large batches: once this many are waiting, or once the oldest
# final document has waited INDEX_DELAY_SECONDS (slow OCR'd pages still become searchable
# as they go), and at the end of the run. Once no job is left to claim (the last jobs are
# running), it sends what is final without waiting for either: no reader is left to take
# that CPU from, and a small production no longer waits for its whole index at the end.
INDEX_BATCH_PAGES = 2_000
INDEX_DELAY_SECONDS = 10.0


class _Indexer:
    """A thread that indexes documents of this run once they are final (see above)."""

    def __init__(self, settings: Settings, client: MeiliClient, only: set[int]) -> None:
        self._settings, self._client, self._only = settings, client, only
        self._sent: set[int] = set()  # final documents indexed once already
        self._drained = False  # no job left to claim: send what is final at once
        self._waiting_since: dict[int, float] = {}  # final documents not sent yet
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="readingroom-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def set_drained(self, drained: bool) -> None:
        """Whether no job of the run is left to claim (the last ones are running).

        While drained, final documents are sent at once; a job that becomes claimable again
        (a page range planned, a backoff passed) brings back the batching.
        """
        if drained and not self._drained:
            self._wake.set()
        self._drained = drained

    def _loop(self) -> None:
        while not self._stopping.is_set():
            # Helpers finish documents without telling this process: look every second too.
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.index_finished(everything=False)
            # A database hiccup must not end the thread; the final pass runs in the caller.
            except Exception:
                log.exception("indexing during ingest failed; retried at the end")

    def index_finished(self, *, everything: bool = True) -> None:
        """Index the final documents not indexed yet, and final ones with pages pending.

        Unless ``everything``, only once a batch is worth sending (see INDEX_BATCH_PAGES) or
        the run is drained (see :meth:`set_drained`).
        """
        with session_scope(self._settings) as session:
            final = {
                document_id: pages
                for document_id, state, pages in session.execute(
                    select(Document.id, Document.state, Document.page_count).where(
                        among(Document.id, self._only)
                    )
                )
                if state.is_final
            }
            waiting = set(pending_document_ids(session))
            if everything and waiting - final.keys():
                # The versions jobs of this run re-index documents of earlier runs whose
                # version groups they changed (issue 11): those wait for the index too.
                final.update(
                    (document_id, pages)
                    for document_id, state, pages in session.execute(
                        select(Document.id, Document.state, Document.page_count).where(
                            among(Document.id, waiting - final.keys())
                        )
                    )
                    if state.is_final
                )
            pending = waiting & final.keys()
            todo = sorted((final.keys() - self._sent) | pending)
            if not todo:
                return
            now = time.monotonic()
            for document_id in todo:
                self._waiting_since.setdefault(document_id, now)
            waited = now - min(self._waiting_since[d] for d in todo)
            pages = sum(final[d] or 0 for d in todo)
            worth_it = pages >= INDEX_BATCH_PAGES or waited >= INDEX_DELAY_SECONDS
            if not (everything or self._drained or worth_it):
                return
            index_documents(self._client, self._settings, session, todo)
            self._sent.update(todo)
            for document_id in todo:
                self._waiting_since.pop(document_id, None)


class _Helpers:
    """Helper processes that run jobs of the same documents beside this one (see above)."""

    def __init__(
        self,
        settings: Settings,
        only: set[int],
        passwords: dict[int, str],
        progress: Progress | None,
    ) -> None:
        self._args = (settings, only, passwords)
        self._wanted = max(0, (settings.workers or os.cpu_count() or 1) - 1)
        self._progress = progress
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._events: multiprocessing.queues.Queue[tuple[str, int] | None] | None = None
        self._forwarder: threading.Thread | None = None
        # While files are still taken in: one queue per helper, carrying the ids of the
        # documents queued since it started, then None once the intake is over.
        self._intake_open = False
        self._updates: list[multiprocessing.queues.Queue[list[int] | None]] = []
        self._starter: threading.Thread | None = None
        # Guards _updates against the starting thread: an id sent to no helper queue is in
        # the set a helper starts with, and one sent to a queue is read from it.
        self._lock = threading.Lock()
        if self._wanted:
            # Its imports run on the idle core while this process reads its first document.
            warm_forkserver()

    def add(self, document_ids: Sequence[int]) -> None:
        """Documents just queued while the intake goes on; start the helpers on them."""
        self._intake_open = True
        if not document_ids:
            return
        with self._lock:
            self._args[1].update(document_ids)
            for updates in self._updates:
                updates.put(list(document_ids))
        self.start_if_work_waits()

    def close_intake(self) -> None:
        """No more documents: helpers may end once every job of theirs is done."""
        with self._lock:
            self._intake_open = False
            for updates in self._updates:
                updates.put(None)

    def start_if_work_waits(self, *, beyond: int = 0) -> None:
        """Start the helpers if more than ``beyond`` jobs of these documents are ready.

        They are started from a thread: starting one waits for the forkserver, which may
        still be importing the pipeline (see ingest.procs), and this process has pages
        or files to read meanwhile.
        """
        if self._starter is not None or not self._wanted:
            return
        settings, only = self._args[0], self._args[1]
        with session_scope(settings) as session:
            if _ready_jobs(session, only) <= beyond:
                return
        self._starter = threading.Thread(
            target=self._start, name="readingroom-helper-start", daemon=True
        )
        self._starter.start()

    def _start(self) -> None:
        settings = self._args[0]
        context = forkserver_context()
        if self._progress is not None:
            self._events = context.Queue()
            self._forwarder = threading.Thread(
                target=self._forward, name="readingroom-progress", daemon=True
            )
            self._forwarder.start()
        for _ in range(self._wanted):
            updates: multiprocessing.queues.Queue[list[int] | None] | None = None
            with self._lock:
                # The ids known now; later ones come through the queue.
                only = set(self._args[1])
                if self._intake_open:
                    updates = context.Queue()
                    self._updates.append(updates)
            process = context.Process(
                target=_helper_main,
                args=(settings, only, self._args[2], self._events, updates),
                name="readingroom-helper",
            )
            process.start()
            self._processes.append(process)

    def _forward(self) -> None:
        # The progress callback (a progress bar) lives here; helpers send it their events.
        if self._events is None or self._progress is None:
            return
        for event in iter(self._events.get, None):
            self._progress(*event)

    def stop(self, *, wait: bool) -> None:
        """Wait for the helpers to run out of work (or end them now), then stop forwarding."""
        if self._starter is not None:
            self._starter.join()
        for process in self._processes:
            if not wait:
                process.terminate()  # its leased job is taken up again after the lease
            process.join()
        for updates in self._updates:
            updates.cancel_join_thread()  # what a helper did not read is of no use now
            updates.close()
        if self._events is not None:
            self._events.put(None)
            if self._forwarder is not None:
                self._forwarder.join()
            self._events.close()


def _ready_jobs(session: Session, only: set[int]) -> int:
    """How many jobs of these documents wait for a worker now (queued, backoff passed)."""
    return ready_jobs_among(session, only)


def open_jobs_of(session: Session, document_ids: set[int]) -> bool:
    """Whether any of these documents has a job still queued or running (one query)."""
    return open_jobs_among(session, document_ids) > 0


def _take_updates(
    updates: multiprocessing.queues.Queue[list[int] | None], only: set[int], wait: float
) -> bool:
    """Add the documents queued meanwhile to ``only``; False once the intake is over.

    Waits up to ``wait`` seconds for the first message (a helper with nothing to do).
    """
    timeout: float | None = wait
    while True:
        try:
            message = updates.get(timeout=timeout) if timeout else updates.get_nowait()
        except queue.Empty:
            return True
        if message is None:
            return False
        only.update(message)
        timeout = None


def _helper_main(
    settings: Settings,
    only: set[int],
    passwords: dict[int, str],
    events: multiprocessing.queues.Queue[tuple[str, int] | None] | None,
    updates: multiprocessing.queues.Queue[list[int] | None] | None = None,
) -> None:
    """Entry point of a helper process: claim and run jobs of ``only`` until none is open.

    With ``updates``, documents are still being taken in: their ids arrive there, and the
    helper stays until the intake is over (None) and every job is done. Its pages are left
    ``pending_index``: the process that started it indexes them.
    """
    prestart_helper()  # its PDF reader comes up while the first job is claimed
    ctx = WorkerContext(
        settings,
        None,
        worker_name(),
        progress=(lambda event, n: events.put((event, n))) if events is not None else None,
        passwords=passwords,
    )
    intake_open = updates is not None
    while True:
        if updates is not None and intake_open:
            intake_open = _take_updates(updates, only, 0)
        if work_once(ctx, only=only):
            continue
        if updates is not None and intake_open:
            intake_open = _take_updates(updates, only, POLL_SECONDS)
            continue
        if not _still_open(settings, only):
            return
        time.sleep(POLL_SECONDS)


def wait_for_jobs(settings: Settings, document_ids: Sequence[int], timeout: float = 86_400) -> None:
    """Wait until workers elsewhere have finished every job of these documents."""
    deadline = time.monotonic() + timeout
    while _still_open(settings, set(document_ids)) and time.monotonic() < deadline:
        time.sleep(1.0)


def _still_open(settings: Settings, document_ids: set[int]) -> bool:
    with session_scope(settings) as session:
        sweep_expired(session)
        return open_jobs_of(session, document_ids)


# A document still `processing` this long after it started is taken to have died with its
# process (killed, machine restarted) and may be retried.
STUCK_AFTER = dt.timedelta(hours=1)


def retryable_document_ids(session: Session, only: Sequence[int] | None = None) -> list[int]:
    """Documents a retry can help: marked retryable, or stuck in processing/queued."""
    stuck_before = dt.datetime.now(dt.UTC) - STUCK_AFTER
    ids = []
    query = select(Document).order_by(Document.id)
    if only:
        query = query.where(Document.id.in_(list(only)))
    for document in session.scalars(query):
        started = document.processing_started_at
        if started is not None and started.tzinfo is None:  # SQLite drops the zone
            started = started.replace(tzinfo=dt.UTC)
        stuck = document.state is DocumentState.QUEUED or (
            document.state is DocumentState.PROCESSING
            and (started is None or started < stuck_before)
        )
        if document.retryable or stuck:
            ids.append(document.id)
    return ids


def retry_documents(
    settings: Settings,
    document_ids: Sequence[int],
    options: ProcessOptions | None = None,
    progress: Progress | None = None,
) -> list[FileOutcome]:
    """Process the given documents again (finished pages are kept) and index them."""
    options = options or ProcessOptions()
    report = progress or (lambda _event, _n: None)
    with session_scope(settings) as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            if document is not None:
                # Reopen: a final state must not stop the retry from being queued.
                document.state = DocumentState.QUEUED
        session.commit()
    with _search_engine(settings) as engine:
        _process(settings, document_ids, options, engine.client if engine else None, report)
    with session_scope(settings) as session:
        return [
            _outcome(session, "", document_id, IntakeOutcome.NEW) for document_id in document_ids
        ]
