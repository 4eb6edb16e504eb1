"""Documents are read while later files are still taken in, by helper processes.

ingest_paths queues each file's job as soon as the file is stored, and helper processes start
on the first ones; documents queued after a helper started reach it through its queue. Run on
SQLite and PostgreSQL: helpers claim jobs from the database like any worker.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.models import Document, DocumentState, Job, JobKind, JobState, Page, PageState
from ingest.process import ProcessOptions
from ingest.run import (
    IngestTarget,
    _enqueue,
    _Helpers,
    _take_updates,
    ingest_paths,
    intake_path,
    resolve_production,
)

TARGET = IngestTarget(agency="Office of Streamed Releases", production="Release 1")


def _memo(path: Path, number: int, pages: int = 2) -> Path:
    canvas = Canvas(str(path), pagesize=letter, invariant=True)
    for page in range(1, pages + 1):
        canvas.drawString(72, 700, f"Memorandum {number} about culvert inspections, page {page}.")
        canvas.drawString(72, 680, "The inspection schedule was withheld under (b)(5).")
        canvas.drawRightString(570, 32, f"DHS {number * 100 + page:06d}")
        canvas.showPage()
    canvas.save()
    return path


def _wait_until_done(settings: Settings, document_id: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(settings) as session:
            states = session.scalars(select(Job.state).where(Job.document_id == document_id))
            if set(states) == {JobState.DONE}:
                return
        time.sleep(0.05)
    raise AssertionError(f"the helper did not read document {document_id}")


def test_updates_carry_ids_until_the_intake_is_over() -> None:
    updates = multiprocessing.get_context("spawn").Queue()
    only = {1}
    assert _take_updates(updates, only, 0.05) is True  # nothing yet: still open
    updates.put([2, 3])
    updates.put([4])
    updates.put(None)
    deadline = time.monotonic() + 5
    open_ = True
    while open_ and time.monotonic() < deadline:
        open_ = _take_updates(updates, only, 0.1)
    assert open_ is False
    assert only == {1, 2, 3, 4}


def test_helpers_take_documents_queued_after_they_started(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    settings = migrated_settings.model_copy(update={"workers": 2})  # this process and a helper
    files = [_memo(tmp_path / f"memo-{n}.pdf", n) for n in range(1, 6)]
    helpers = _Helpers(settings, set(), {}, None)
    ids: list[int] = []
    try:
        with session_scope(settings) as session:
            production = resolve_production(session, TARGET)
            for path in files:
                [taken] = intake_path(session, settings, path, production, path.name)
                queued = _enqueue(session, [taken.document_id], ProcessOptions())
                ids.extend(queued)
                helpers.add(queued)
                if len(ids) == 1:
                    # The helper has started and read the first file before the others
                    # arrive: they can only reach it through its queue.
                    _wait_until_done(settings, ids[0])
        helpers.close_intake()
    finally:
        helpers.stop(wait=True)  # this process reads nothing: the helper must do it all

    with session_scope(settings) as session:
        jobs = session.scalars(select(Job).where(Job.document_id.in_(ids))).all()
        # A plan job per document, and the comparison of the finished document (issue 11).
        assert sorted(job.kind for job in jobs) == sorted(
            [JobKind.PLAN, JobKind.VERSIONS] * len(files)
        )
        assert {job.state for job in jobs} == {JobState.DONE}
        documents = session.scalars(select(Document).where(Document.id.in_(ids))).all()
        assert {d.state for d in documents} == {DocumentState.INDEXED}
        pages = session.scalars(select(Page).where(Page.document_id.in_(ids))).all()
        assert len(pages) == 2 * len(files)
        assert {p.state for p in pages} == {PageState.PENDING_INDEX}
        assert {p.bates_number for p in pages} == {
            f"DHS {n * 100 + page:06d}" for n in range(1, 6) for page in (1, 2)
        }


def test_ingest_reads_every_file_once_on_every_core(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    settings = migrated_settings.model_copy(update={"workers": 2})
    folder = tmp_path / "release"
    folder.mkdir()
    for n in range(1, 9):
        _memo(folder / f"memo-{n}.pdf", n, pages=1 + n % 3)

    outcomes = ingest_paths(settings, [folder], TARGET)

    assert [o.state for o in outcomes] == ["indexed"] * 8
    with session_scope(settings) as session:
        ids = [o.document_id for o in outcomes]
        jobs = session.scalars(
            select(Job).where(Job.document_id.in_(ids), Job.kind == JobKind.PLAN)
        ).all()
        # One plan job per document, each run once: no document was queued twice.
        assert sorted(job.document_id for job in jobs) == sorted(ids)
        jobs = session.scalars(select(Job).where(Job.document_id.in_(ids))).all()
        assert {(job.state, job.attempts) for job in jobs} == {(JobState.DONE, 1)}
        pages = session.scalars(select(Page).where(Page.document_id.in_(ids))).all()
        assert len(pages) == sum(1 + n % 3 for n in range(1, 9))
        assert {p.state for p in pages} == {PageState.INDEXED}
        assert all(p.exemptions == ["b5"] for p in pages)
