"""Connecting to Meilisearch: an external server, or the managed child process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.config import Settings
from app.meili.client import MeiliClient, MeiliError, MeiliUnavailableError
from app.meili.managed import ManagedMeilisearch

__all__ = [
    "MeiliClient",
    "MeiliError",
    "MeiliUnavailableError",
    "SearchEngine",
    "open_search_engine",
]


@dataclass
class SearchEngine:
    """A client plus, in the embedded mode, the managed process it talks to."""

    client: MeiliClient
    managed: ManagedMeilisearch | None

    def ensure_running(self) -> None:
        """Restart a crashed managed instance (no-op for an external server)."""
        if self.managed is not None:
            self.managed.ensure_running()


@contextmanager
def open_search_engine(settings: Settings) -> Iterator[SearchEngine]:
    """Connect for the duration of a command, starting/joining the managed instance if needed."""
    if settings.meili_url:
        key = settings.meili_key.get_secret_value() if settings.meili_key else None
        client = MeiliClient(settings.meili_url, key)
        try:
            yield SearchEngine(client, None)
        finally:
            client.close()
        return
    managed = ManagedMeilisearch(settings)
    endpoint = managed.acquire()
    client = MeiliClient(endpoint.url, endpoint.key)
    try:
        yield SearchEngine(client, managed)
    finally:
        client.close()
        managed.release()
