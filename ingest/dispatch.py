"""Who runs the jobs: an in-process pool (the embedded default) or Celery workers over Redis.

Both run the same task functions (``ingest.tasks``) against the same queue in the database;
only how a worker learns that there is work differs. With Celery, a message says "there is a
job": the worker that takes it claims the next job fairly from the database, so duplicated or
lost messages cannot duplicate or lose work (the sweeper re-announces what is waiting).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from ingest.jobs import ready_job_ids, sweep_expired, worker_name
from ingest.tasks import WorkerContext, work_once

log = logging.getLogger(__name__)

WORK_TASK = "readingroom.work"
QUEUE = "readingroom"


class Dispatcher(Protocol):
    def submit(self, job_ids: Sequence[int]) -> None:
        """Announce jobs that were committed to the queue."""


class LocalPool:
    """Threads in this process that run queued jobs (OCR still fans out to processes)."""

    def __init__(self, settings: Settings, client: MeiliClient | None, threads: int = 1) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ctx = WorkerContext(settings, client, worker_name(), submit=self.submit)
        self._threads = [
            threading.Thread(target=self._loop, name=f"readingroom-worker-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self._wake.set()  # pick up whatever was queued before this process started

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def submit(self, job_ids: Sequence[int]) -> None:
        self._wake.set()

    def _loop(self) -> None:
        sweep_every = self._ctx.settings.job_lease_seconds / 2
        while not self._stop.is_set():
            try:
                if work_once(self._ctx):
                    continue
                with session_scope(self._ctx.settings) as session:
                    if sweep_expired(session):
                        continue
            except Exception:  # a broken database connection must not kill the pool thread
                log.exception("worker loop error; retrying")
            self._wake.wait(timeout=min(sweep_every, 5.0))
            self._wake.clear()


class CeleryDispatcher:
    """Sends one "there is work" message per job to the Celery workers."""

    def __init__(self, settings: Settings) -> None:
        from ingest.celery_app import make_celery

        self._app = make_celery(settings)

    def submit(self, job_ids: Sequence[int]) -> None:
        for _ in job_ids:
            self._app.send_task(WORK_TASK, queue=QUEUE)


def announce_waiting(settings: Settings, dispatcher: Dispatcher) -> int:
    """Requeue jobs of dead workers and announce every ready job again; return how many."""
    with session_scope(settings) as session:
        sweep_expired(session)
        ids = ready_job_ids(session)
    if ids:
        dispatcher.submit(ids)
    return len(ids)
