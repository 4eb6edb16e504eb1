"""The Celery application for distributed workers (``readingroom worker`` with a broker).

Late acknowledgement and ``reject_on_worker_lost`` make a message survive its worker being
killed; the work itself is protected by the database queue's leases (``ingest.jobs``), so a
message delivered twice only makes a second worker find nothing to claim.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from app.config import Settings, get_settings
from ingest.dispatch import QUEUE, WORK_TASK

# One context per worker process, built on its first task (it holds the index client).
_contexts: dict[str, Any] = {}


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to ``settings.broker_url``."""
    if not settings.broker_url:
        raise ValueError("READINGROOM_BROKER_URL is not set: there is no broker to talk to")
    app = Celery("readingroom", broker=settings.broker_url)
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Redis re-delivers an unacknowledged message after this long; the lease sweeper is
        # what really brings dead workers' jobs back, this is the second line.
        broker_transport_options={"visibility_timeout": max(60, settings.job_lease_seconds * 3)},
    )
    app.task(name=WORK_TASK, ignore_result=True)(_work)
    return app


def _work() -> bool:
    """Claim the next job fairly from the database and run it."""
    from ingest.tasks import work_once

    if "ctx" not in _contexts:
        _contexts["ctx"] = build_worker_context(get_settings())
    return work_once(_contexts["ctx"])


def build_worker_context(settings: Settings) -> Any:
    """The context a Celery worker process runs jobs with (its own index client)."""
    from app.meili import MeiliClient
    from ingest.dispatch import CeleryDispatcher
    from ingest.jobs import worker_name
    from ingest.tasks import WorkerContext

    if settings.meili_url:
        key = settings.meili_key.get_secret_value() if settings.meili_key else None
        client = MeiliClient(settings.meili_url, key)
    else:
        # Workers on one machine share the managed instance; the lease ends with the process.
        from app.meili.managed import ManagedMeilisearch

        endpoint = ManagedMeilisearch(settings).acquire()
        client = MeiliClient(endpoint.url, endpoint.key)
    return WorkerContext(settings, client, worker_name(), submit=CeleryDispatcher(settings).submit)
