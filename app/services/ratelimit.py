"""A per-client token bucket for search and logins, kept in this process.

Meilisearch has no rate limiting of its own (FIELD.md), so the app keeps one client from
taking every search slot: each client has a bucket of ``burst`` tokens that refills at ``rate``
tokens per second; a search takes one token, and an empty bucket answers 429 with the seconds
until the next token. Who a client is (an address, found by ``app.client_address``, or an API
token) is the caller's business; this module only counts. The state is per process: with
several web processes each one limits on its own, which is the intent (a cheap guard, not an
accounting system).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# 30 searches at once, then 3 a second: a person typing with results-as-you-type stays well
# under it; a scraper looping over queries does not.
# READINGROOM_SEARCH_RATE_BURST and READINGROOM_SEARCH_RATE_PER_SECOND default to these.
DEFAULT_BURST = 30
DEFAULT_PERIOD_SECONDS = 10.0
DEFAULT_PER_SECOND = DEFAULT_BURST / DEFAULT_PERIOD_SECONDS
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

    @classmethod
    def per_second(cls, burst: int, rate: float) -> RateLimiter:
        """A limiter of ``burst`` tokens refilled at ``rate`` tokens a second (as settings say)."""
        if rate <= 0:
            raise ValueError("a rate limit needs a positive rate")
        return cls(burst, burst / rate)

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


def retry_after(wait: float) -> str:
    """The ``Retry-After`` value for a wait of ``wait`` seconds: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))


def shared_limiter(holder: object, attribute: str, build: Callable[[], RateLimiter]) -> RateLimiter:
    """The limiter kept on ``holder`` (an ``app.state``) as ``attribute``, built on first use.

    Tests and benchmarks may put their own there first. Two racing first requests may each
    build one; one wins and the other's single count is forgotten: harmless.
    """
    limiter: RateLimiter | None = getattr(holder, attribute, None)
    if limiter is None:
        limiter = build()
        setattr(holder, attribute, limiter)
    return limiter


class Unlimited(RateLimiter):
    """A limiter that never refuses: for benchmarks that measure the engine, not the guard."""

    def acquire(self, client: str) -> float | None:
        return None
