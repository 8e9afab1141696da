"""One rate limiter abstraction: `RateLimiter` takes a permit for a key under a `RateLimit`
(so many a window, in bursts of up to so many) and answers how long to wait for it.

Two implementations share one bucket's arithmetic (`refill`): `LocalRateLimiter` counts
in memory, per process (the API's per-token rate, a source's client-side bucket), and
`SharedRateLimiter` (bot/storage/shared_limits.py, beside its rows) counts in the
database, for every process together (a user's command rate). The quota gate is not one of them: its
budgets are several windows over a request log, with priorities and a queue of lookups
told when to come back (bot/monitoring/quota.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateLimit:
    """`limit` permits a `window` (seconds), refilled evenly, in bursts of up to `burst`
    (`limit` when not given)."""

    limit: float
    window: float = 60.0
    burst: float | None = None

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.window <= 0 or self.capacity < 1:
            raise ValueError("a rate limit needs a positive rate and room for one at a time")

    @property
    def capacity(self) -> float:
        return self.limit if self.burst is None else self.burst

    @property
    def per_second(self) -> float:
        return self.limit / self.window

    @property
    def per_minute(self) -> float:
        """As people read it: 3, not 3.0."""
        found = self.limit * 60.0 / self.window
        return int(found) if found.is_integer() else found


def refill(rate: RateLimit, tokens: float, elapsed: float, *, within: float = 0.0) -> tuple[float, float]:
    """One take from a bucket that held `tokens` `elapsed` seconds ago: (tokens left, seconds
    to wait). A permit that comes within `within` seconds is reserved (tokens may go below
    zero: the deficit is the queue of callers already holding one); past it, nothing is
    taken and the wait says when one would come."""
    tokens = min(rate.capacity, tokens + max(0.0, elapsed) * rate.per_second)
    wait = max(0.0, (1.0 - tokens) / rate.per_second)
    if wait > within:
        return tokens, wait
    return tokens - 1.0, wait


class RateLimiter(Protocol):
    """Permits for keys (a user, a token, a source) under one `RateLimit`."""

    @property
    def rate(self) -> RateLimit: ...

    async def take(self, key: str, *, within: float = 0.0) -> float:
        """Take a permit of `key`: 0 when taken now; a wait up to `within` when one is
        reserved for then; beyond `within`, nothing is taken and the answer is the wait."""
        ...

    async def give_back(self, key: str) -> None:
        """A reserved permit not used after all (its caller was cancelled while waiting)."""
        ...


class LocalRateLimiter:
    """A bucket per key in memory: each process counts on its own. Buckets that have been
    quiet long enough to be full again are dropped, so memory follows active keys."""

    def __init__(
        self, rate: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # tokens, updated at

    def reserve(self, key: str, *, within: float = 0.0) -> float:
        """`take`, without waiting for anything (in memory, it never has to)."""
        now = self._clock()
        tokens, updated = self._buckets.get(key, (self.rate.capacity, now))
        tokens, wait = refill(self.rate, tokens, now - updated, within=within)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._forget_full(now)
        return wait

    async def take(self, key: str, *, within: float = 0.0) -> float:
        return self.reserve(key, within=within)

    async def give_back(self, key: str) -> None:
        if key in self._buckets:
            tokens, updated = self._buckets[key]
            self._buckets[key] = (tokens + 1.0, updated)

    def _forget_full(self, now: float) -> None:
        full = self.rate.capacity / self.rate.per_second  # seconds for an empty bucket to fill
        self._buckets = {
            key: (tokens, updated) for key, (tokens, updated) in self._buckets.items() if now - updated < full
        }
