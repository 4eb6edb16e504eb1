"""Meilisearch housekeeping shared by the tests: each test's indexes go when it ends."""

from __future__ import annotations

from app.meili import MeiliClient
from app.meili.managed import Endpoint


def drop_indexes(target: MeiliClient | Endpoint, prefix: str) -> None:
    """Delete every index whose name starts with ``prefix``, waiting for each deletion."""
    client = target if isinstance(target, MeiliClient) else MeiliClient(target.url, target.key)
    try:
        for index in client.list_indexes():
            if index["uid"].startswith(prefix):
                client.wait(client.delete_index(index["uid"]))
    finally:
        if client is not target:
            client.close()
