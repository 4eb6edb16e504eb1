"""Distributed workers on the real Redis: two Celery workers, one killed mid-document.

Every page must end indexed exactly once: the killed worker's job comes back to the queue
when its lease expires and the surviving worker finishes it, redoing no committed page.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.models import Document, DocumentState, Job, JobKind, JobState, Page, PageState
from tests.cli import cli_env
from tests.scans import scan_pdf

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@pytest.fixture
def broker_url() -> Iterator[str]:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis is not answering on {REDIS_HOST}:{REDIS_PORT}: {exc}")
    # A database of its own, emptied before and after, so parallel runs do not meet.
    db = random.randint(1, 15)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killing it kills its OCR processes too
        )


def _running_job_of(settings: Settings, pid: int) -> Job | None:
    with session_scope(settings) as session:
        return session.scalars(
            select(Job).where(
                Job.state == JobState.RUNNING,
                Job.kind == JobKind.PAGES,
                Job.worker.like(f"%-{pid}"),
            )
        ).first()


@pytest.mark.slow
def test_killed_worker_loses_no_page_and_no_page_is_indexed_twice(
    migrated_settings: Settings, meili: MeiliClient, broker_url: str, tmp_path: Path
) -> None:
    settings = migrated_settings.model_copy(
        update={
            "broker_url": broker_url,
            "pages_per_job": 2,
            "job_lease_seconds": 6.0,
            "workers": 1,
        }
    )
    env = {
        **cli_env(settings),
        "READINGROOM_BROKER_URL": broker_url,
        "READINGROOM_PAGES_PER_JOB": "2",
        "READINGROOM_JOB_LEASE_SECONDS": "6",
        "READINGROOM_WORKERS": "1",
    }
    pdf = scan_pdf(
        tmp_path / "scan.pdf",
        [[f"Detention log sheet {n}", f"entry number {n * 111}"] for n in range(1, 9)],
    )
    workers = [_start_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        ingest = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "ingest",
                str(pdf),
                "--agency",
                "ICE",
                "--production",
                "Distributed",
                "--json",
            ],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            for worker in workers:
                if _running_job_of(settings, worker.pid) is not None:
                    victim = worker
                    break
            time.sleep(0.2)
        assert victim is not None, "no worker ever took a page-range job"
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)

        _stdout, stderr = ingest.communicate(timeout=300)
        assert ingest.returncode == 0, stderr.decode()[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)

    with session_scope(settings) as session:
        document = session.scalars(select(Document)).one()
        assert document.state is DocumentState.INDEXED
        pages = session.scalars(select(Page).order_by(Page.number)).all()
        assert [p.number for p in pages] == list(range(1, 9))
        assert all(p.state is PageState.INDEXED for p in pages)
        jobs = session.scalars(select(Job)).all()
        assert all(j.state is JobState.DONE for j in jobs)
        # The killed worker's job was taken up again by the other worker.
        assert any(j.attempts >= 2 for j in jobs)
        document_id = document.id
    answer = meili.search(
        settings.pages_index,
        {"q": "", "filter": [f"document_id = {document_id}"], "limit": 100},
    )
    ids = [hit["id"] for hit in answer["hits"]]
    assert len(ids) == len(set(ids)) == 8
