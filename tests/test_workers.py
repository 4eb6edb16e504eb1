"""What a worker keeps when it dies, on SQLite and PostgreSQL.

- Pages are committed as they are read: an OCR'd page at once, born-digital pages in batches
  (``ingest.process.COMMIT_EVERY_PAGES``), seen from another connection while the job reads.
- Two workers holding one page range (a lease given away while its worker still ran) never
  both write a page: each page's ``write_count`` says how often its content was committed.
- Two real Celery workers on the real Redis, one killed (SIGKILL) in the middle of a page-range
  job after it committed some pages: the job comes back when its lease expires, the other
  worker finishes it, every page ends committed exactly once, the pages committed before the
  kill are kept as they were (same row, same write time), and every page is found by search.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili import MeiliClient
from app.models import Document, DocumentState, Job, JobKind, JobState, Page, PageState
from app.services.catalog import get_or_create_agency, get_or_create_production
from ingest.intake import intake_file
from ingest.process import COMMIT_EVERY_PAGES, ProcessOptions, process_pages, start_document
from ingest.source import readable_pdf_path
from tests.cli import cli_env
from tests.conftest import require
from tests.pdfs import make_text_pdf
from tests.scans import scan_pdf

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# One word per page, each read by tesseract without fail at the scans' 44-point size, so
# that a search for it finds exactly its page; none of them a given name, which the safety
# scan would mask as personal data (ingest/screening.py).
TREES = (
    "alder",
    "birch",
    "cedar",
    "dogwood",
    "elm",
    "fir",
    "ginkgo",
    "hickory",
    "poplar",
    "larch",
    "maple",
    "oak",
)


@pytest.fixture
def broker_url() -> Iterator[str]:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2)
    try:
        client.ping()
        trouble = None
    except redis.ConnectionError as exc:
        trouble = f"Redis is not answering on {REDIS_HOST}:{REDIS_PORT}: {exc}"
    finally:
        client.close()
    require(trouble is None, trouble or "")  # skipped on a developer's machine, failed in CI
    # A database of its own, emptied before and after, so parallel runs do not meet.
    db = random.randint(1, 15)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


def _document(settings: Settings, pdf: Path) -> int:
    """``pdf`` taken in and opened (as a plan job does), ready for its pages to be read."""
    with session_scope(settings) as session:
        agency = get_or_create_agency(session, "ICE")
        production = get_or_create_production(session, agency, "Release", published=True)
        document = intake_file(session, settings, pdf, production).document
        session.commit()
        assert start_document(session, settings, document, ProcessOptions()) is not None
        return document.id


def _read(
    settings: Settings,
    document_id: int,
    numbers: range,
    progress: Callable[[str, int], None] | None = None,
) -> list[int]:
    """Run the pages of ``numbers`` the way a page-range job does, with its own session."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        pdf = readable_pdf_path(settings, document.sha256)
        return process_pages(
            session, settings, document, pdf, None, numbers, ProcessOptions(), progress
        )


def _committed(settings: Settings, document_id: int) -> dict[int, int]:
    """Page number -> write count, as another connection sees the database now."""
    with session_scope(settings) as session:
        rows = session.execute(
            select(Page.number, Page.write_count).where(Page.document_id == document_id)
        )
        return dict(rows.tuples().all())


def test_born_digital_pages_are_committed_in_batches_while_the_job_reads(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    total = 2 * COMMIT_EVERY_PAGES + 10
    pdf = make_text_pdf(
        tmp_path / "ledger.pdf",
        [f"Ledger page {n} of the release, entry {n * 7}" for n in range(1, total + 1)],
    )
    document_id = _document(migrated_settings, pdf)
    seen: list[tuple[int, int]] = []  # (pages read, pages committed) at each page read

    def look(event: str, n: int) -> None:
        if event == "page_read":
            seen.append((len(seen) + 1, len(_committed(migrated_settings, document_id))))

    _read(migrated_settings, document_id, range(1, total + 1), look)

    # Never a full batch read and left uncommitted: a job killed at any point would have
    # kept all but the last few pages it read. (The half-second rule may commit sooner.)
    assert len(seen) == total
    for read, committed in seen:
        assert read - committed < COMMIT_EVERY_PAGES, (read, committed)
    assert _committed(migrated_settings, document_id) == dict.fromkeys(range(1, total + 1), 1)


def test_each_ocrd_page_is_committed_as_soon_as_it_is_read(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    pdf = scan_pdf(tmp_path / "scan.pdf", [[f"Intake sheet {t}"] for t in TREES[:3]])
    document_id = _document(migrated_settings, pdf)
    done: list[int] = []  # pages committed when each OCR'd page is reported done

    def look(event: str, n: int) -> None:
        if event == "ocr_done":
            done.append(len(_committed(migrated_settings, document_id)))

    _read(migrated_settings, document_id, range(1, 4), look)
    assert done == [1, 2, 3]


def test_two_workers_on_one_page_range_never_both_write_a_page(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    # Worker A has looked at the range and is reading it when worker B (given the same job
    # after A's lease ran out) reads and commits the whole range. A must then write nothing.
    pdf = make_text_pdf(tmp_path / "memo.pdf", [f"Memo page {n} of four" for n in range(1, 5)])
    document_id = _document(migrated_settings, pdf)
    numbers = range(1, 5)

    def b_runs_meanwhile(event: str, n: int) -> None:
        if event == "page_read" and not _committed(migrated_settings, document_id):
            assert _read(migrated_settings, document_id, numbers) == [1, 2, 3, 4]

    _read(migrated_settings, document_id, numbers, b_runs_meanwhile)  # new rows: INSERT
    assert _committed(migrated_settings, document_id) == {1: 1, 2: 1, 3: 1, 4: 1}

    # The same for an existing row (the retry of a failed page): OCR that timed out, then
    # two retries at once, B finishing first. The page is rewritten once, by B alone.
    scan = scan_pdf(tmp_path / "scan.pdf", [["Retry sheet of the alder unit"]])
    failing = migrated_settings.model_copy(update={"ocr_timeout_seconds": 0.01})
    scan_id = _document(failing, scan)
    _read(failing, scan_id, range(1, 2))
    with session_scope(migrated_settings) as session:
        state = session.scalar(select(Page.state).where(Page.document_id == scan_id))
        assert state is PageState.OCR_FAILED
    retrying = migrated_settings

    def b_retries_meanwhile(event: str, n: int) -> None:
        if event == "ocr_planned" and _committed(retrying, scan_id) == {1: 1}:
            _read(retrying, scan_id, range(1, 2))

    _read(retrying, scan_id, range(1, 2), b_retries_meanwhile)
    assert _committed(migrated_settings, scan_id) == {1: 2}
    with session_scope(migrated_settings) as session:
        page = session.scalars(select(Page).where(Page.document_id == scan_id)).one()
        assert page.state is PageState.EXTRACTED
        assert "alder" in page.text


# --- two Celery workers, one killed mid-job ----------------------------------------------


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killing it kills its OCR processes too
        )


@dataclass(frozen=True)
class _Kept:
    """A page as it was committed before the kill."""

    id: int
    write_count: int
    written_at: dt.datetime | None


def _mid_job(settings: Settings, pids: list[int]) -> tuple[int, Job] | None:
    """A worker running a page-range job that has committed some pages but not all."""
    with session_scope(settings) as session:
        for pid in pids:
            job = session.scalars(
                select(Job).where(
                    Job.state == JobState.RUNNING,
                    Job.kind == JobKind.PAGES,
                    Job.worker.like(f"%-{pid}"),
                )
            ).first()
            if job is None or job.last_page is None:
                continue
            committed = session.scalar(
                select(func.count())
                .select_from(Page)
                .where(
                    Page.document_id == job.document_id,
                    Page.number.between(job.first_page, job.last_page),
                )
            )
            if 2 <= (committed or 0) < job.last_page - job.first_page + 1:
                return pid, job
    return None


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


@pytest.mark.slow
def test_killed_worker_keeps_its_committed_pages_and_no_page_is_written_twice(
    migrated_settings: Settings, meili: MeiliClient, broker_url: str, tmp_path: Path
) -> None:
    pages, per_job, lease = len(TREES), len(TREES) // 2, 10
    settings = migrated_settings.model_copy(
        update={
            "broker_url": broker_url,
            "pages_per_job": per_job,
            "job_lease_seconds": float(lease),
        }
    )
    env = {
        **cli_env(settings),
        "READINGROOM_BROKER_URL": broker_url,
        "READINGROOM_PAGES_PER_JOB": str(per_job),
        "READINGROOM_JOB_LEASE_SECONDS": str(lease),
    }
    pdf = scan_pdf(
        tmp_path / "scan.pdf",
        [[f"Detention log sheet {n}", f"cell block {tree}"] for n, tree in enumerate(TREES, 1)],
    )
    workers = [_start_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        ingest = subprocess.Popen(
            [
                *(sys.executable, "-m", "app.cli", "ingest", str(pdf)),
                *("--agency", "ICE", "--production", "Distributed", "--json"),
            ],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        found = None
        deadline = time.monotonic() + 180
        while found is None and time.monotonic() < deadline:
            found = _mid_job(settings, [w.pid for w in workers])
            time.sleep(0.1)
        # Fails if pages were committed only at the job's end: no job is ever seen mid-way.
        assert found is not None, "no worker was ever seen with a job half committed"
        pid, job = found
        victim = next(w for w in workers if w.pid == pid)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = dt.datetime.now(dt.UTC)
        with session_scope(settings) as session:
            # Killed mid-job: its job is still running, and what it committed is kept.
            assert session.scalar(select(Job.state).where(Job.id == job.id)) is JobState.RUNNING
            kept = {
                p.number: _Kept(p.id, p.write_count, p.written_at)
                for p in session.scalars(select(Page).where(Page.document_id == job.document_id))
            }
        assert job.last_page is not None
        victim_range = range(job.first_page, job.last_page + 1)
        assert 2 <= len(kept.keys() & set(victim_range)) < len(victim_range)

        _stdout, stderr = ingest.communicate(timeout=300)
        assert ingest.returncode == 0, stderr.decode()[-2000:]
    finally:
        _stop(workers)

    with session_scope(settings) as session:
        document = session.scalars(select(Document)).one()
        assert document.state is DocumentState.INDEXED
        rows = session.scalars(select(Page).order_by(Page.number)).all()
        assert [p.number for p in rows] == list(range(1, pages + 1))
        assert all(p.state is PageState.INDEXED for p in rows)
        # Every page committed exactly once, by whichever worker read it.
        assert {p.number: p.write_count for p in rows} == dict.fromkeys(range(1, pages + 1), 1)
        # The pages committed before the kill were not redone: same row, same write.
        after = {p.number: _Kept(p.id, p.write_count, p.written_at) for p in rows}
        assert {n: after[n] for n in kept} == kept
        # The rest of the killed job was read after the kill, by the other worker.
        for n in set(victim_range) - kept.keys():
            written = after[n].written_at
            assert written is not None
            assert (written if written.tzinfo else written.replace(tzinfo=dt.UTC)) > killed_at
        redone = session.get(Job, job.id)
        assert redone is not None
        assert redone.state is JobState.DONE
        assert redone.attempts >= 2
        assert all(j.state is JobState.DONE for j in session.scalars(select(Job)))
        document_id = document.id

    answer = meili.search(
        settings.pages_index, {"q": "", "filter": [f"document_id = {document_id}"], "limit": 100}
    )
    ids = [hit["id"] for hit in answer["hits"]]
    assert len(ids) == len(set(ids)) == pages
    with TestClient(create_app(settings)) as web:
        for n, tree in enumerate(TREES, 1):
            body = web.get("/search.json", params={"q": tree, "document": document_id}).json()
            [hit] = body["documents"]
            assert [p["number"] for p in hit["pages"]] == [n], tree
