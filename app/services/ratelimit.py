"""A per-client token bucket for search, kept in this process.

Meilisearch has no rate limiting of its own (FIELD.md), so the app keeps one client from
taking every search slot: each client (its IP address) has a bucket of ``burst`` tokens that
refills at ``rate`` tokens per second; a search takes one token, and an empty bucket answers 429
with the seconds until the next token. The state is per process: with several web processes
each one limits on its own, which is the intent (a cheap guard, not an accounting system).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# 30 searches at once, then 3 a second: a person typing with results-as-you-type stays well
# under it; a scraper looping over queries does not.
DEFAULT_BURST = 30
DEFAULT_PERIOD_SECONDS = 10.0
# Buckets kept at most; the least recently seen client is forgotten first (a full bucket).
MAX_CLIENTS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client; thread-safe (sync routes run in a thread pool)."""

    def __init__(
        self,
        burst: int = DEFAULT_BURST,
        period_seconds: float = DEFAULT_PERIOD_SECONDS,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or period_seconds <= 0:
            raise ValueError("a rate limit needs a burst of at least 1 and a positive period")
        self.burst = burst
        self.rate = burst / period_seconds  # tokens per second
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float | None:
        """Take a token for ``client``: ``None`` if allowed, else seconds until one is free."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(client, None)
            if bucket is None:
                bucket = _Bucket(float(self.burst), now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            self._buckets[client] = bucket  # most recently seen last
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / self.rate


class Unlimited(RateLimiter):
    """A limiter that never refuses: for benchmarks that measure the engine, not the guard."""

    def acquire(self, client: str) -> float | None:
        return None
