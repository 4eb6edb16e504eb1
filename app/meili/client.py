"""A small typed Meilisearch client over HTTPX.

We talk to Meilisearch directly rather than through the official client so that every call has
one timeout, one error type and one connection pool (FIELD.md: a client that splits headers
and body into two packets added 40 ms stalls per call).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx


class MeiliError(Exception):
    """Meilisearch answered with an error, or a task it ran failed."""


class MeiliUnavailableError(MeiliError):
    """Meilisearch could not be reached at all."""


JSON = dict[str, Any]

# Longest pause between two looks at tasks being waited for.
WAIT_POLL_SECONDS = 0.05


class MeiliClient:
    """Calls one Meilisearch server with one API key."""

    def __init__(self, url: str, key: str | None, *, timeout: float = 30.0) -> None:
        # Uncompressed answers: Meilisearch sends a gzip answer as chunks in several writes,
        # and on a kept-alive connection each such answer then stalled about 40 ms (Nagle's
        # algorithm against delayed ACKs), 10x the search itself. Compression buys nothing
        # between neighbours.
        headers = {"Accept-Encoding": "identity"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One HTTP call; returns the decoded JSON answer or raises a ``MeiliError``."""
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise MeiliUnavailableError(f"Meilisearch at {self.url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", response.text)
            except ValueError:
                detail = response.text
            raise MeiliError(f"Meilisearch {method} {path}: {response.status_code} {detail}")
        if not response.content:
            return None
        return response.json()

    def is_healthy(self) -> bool:
        try:
            answer = self.request("GET", "/health")
        except MeiliError:
            return False
        return isinstance(answer, dict) and answer.get("status") == "available"

    def wait_for_task(self, task_uid: int, *, timeout: float = 60.0) -> JSON:
        """Block until a task ends; raise if it failed or did not end within ``timeout``."""
        return self.wait_for_tasks([task_uid], timeout=timeout)[0]

    def wait_for_tasks(self, task_uids: Sequence[int], *, timeout: float = 60.0) -> list[JSON]:
        """Block until every task ends, asking for all of them in one call per look.

        Raises if one failed or was canceled, or if they have not all ended within
        ``timeout``. Looks come 5 ms apart at first, then at most WAIT_POLL_SECONDS apart:
        a look costs Meilisearch next to nothing, and the last one is how late the caller
        hears that its pages are searchable (each task waited in turn, with a quarter of a
        second between looks, had added up to seconds on a small production).
        """
        uids = sorted(set(task_uids))
        if not uids:
            return []
        deadline = time.monotonic() + timeout
        delay = 0.005
        done: dict[int, JSON] = {}
        while True:
            waiting = [uid for uid in uids if uid not in done]
            answer: JSON = self.request(
                "GET", f"/tasks?uids={','.join(map(str, waiting))}&limit={len(waiting)}"
            )
            for task in answer["results"]:
                if task["status"] in {"failed", "canceled"}:
                    error = (task.get("error") or {}).get("message", task["status"])
                    raise MeiliError(f"Meilisearch task {task['uid']} {task['status']}: {error}")
                if task["status"] == "succeeded":
                    done[int(task["uid"])] = task
            if len(done) == len(uids):
                return [done[uid] for uid in uids]
            if time.monotonic() > deadline:
                missing = ", ".join(str(uid) for uid in uids if uid not in done)
                raise MeiliError(f"Meilisearch task(s) {missing} not ended after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, WAIT_POLL_SECONDS)

    def wait(self, answer: JSON, *, timeout: float = 60.0) -> JSON:
        return self.wait_for_task(int(answer["taskUid"]), timeout=timeout)

    def wait_all(self, answers: Sequence[JSON], *, timeout: float = 60.0) -> list[JSON]:
        """Wait for the tasks of several enqueue answers at once (see wait_for_tasks)."""
        return self.wait_for_tasks([int(a["taskUid"]) for a in answers], timeout=timeout)

    def get_index(self, uid: str) -> JSON | None:
        try:
            index: JSON = self.request("GET", f"/indexes/{uid}")
        except MeiliUnavailableError:
            raise
        except MeiliError as exc:
            if " 404 " in str(exc):
                return None
            raise
        return index

    def create_index(self, uid: str, primary_key: str) -> JSON:
        task: JSON = self.request("POST", "/indexes", {"uid": uid, "primaryKey": primary_key})
        return task

    def delete_index(self, uid: str) -> JSON:
        task: JSON = self.request("DELETE", f"/indexes/{uid}")
        return task

    def list_indexes(self) -> list[JSON]:
        answer: JSON = self.request("GET", "/indexes?limit=1000")
        results: list[JSON] = answer["results"]
        return results

    def get_settings(self, uid: str) -> JSON:
        answer: JSON = self.request("GET", f"/indexes/{uid}/settings")
        return answer

    def update_settings(self, uid: str, settings: JSON) -> JSON:
        task: JSON = self.request("PATCH", f"/indexes/{uid}/settings", settings)
        return task

    def add_documents(self, uid: str, documents: Sequence[JSON]) -> JSON:
        task: JSON = self.request("POST", f"/indexes/{uid}/documents", list(documents))
        return task

    def delete_documents(self, uid: str, ids: Sequence[str]) -> JSON:
        task: JSON = self.request("POST", f"/indexes/{uid}/documents/delete-batch", list(ids))
        return task

    def delete_by_filter(self, uid: str, filter_: str | list[Any]) -> JSON:
        task: JSON = self.request("POST", f"/indexes/{uid}/documents/delete", {"filter": filter_})
        return task

    def get_document(self, uid: str, doc_id: str) -> JSON | None:
        try:
            document: JSON = self.request("GET", f"/indexes/{uid}/documents/{doc_id}")
        except MeiliUnavailableError:
            raise
        except MeiliError as exc:
            if " 404 " in str(exc):
                return None
            raise
        return document

    def count_documents(self, uid: str) -> int:
        stats: JSON = self.request("GET", f"/indexes/{uid}/stats")
        return int(stats["numberOfDocuments"])

    def search(self, uid: str, body: JSON) -> JSON:
        answer: JSON = self.request("POST", f"/indexes/{uid}/search", body)
        return answer

    def multi_search(self, queries: Sequence[JSON]) -> list[JSON]:
        answer: JSON = self.request("POST", "/multi-search", {"queries": list(queries)})
        results: list[JSON] = answer["results"]
        return results

    def swap_indexes(self, pairs: Sequence[tuple[str, str]]) -> JSON:
        body = [{"indexes": [a, b]} for a, b in pairs]
        task: JSON = self.request("POST", "/swap-indexes", body)
        return task
