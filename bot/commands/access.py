"""Who may do what: a monitor is removed or muted by whoever added it or by a Watchpost
admin; a channel holds at most so many monitors; one user sends at most so many commands
a minute. `SharedRateLimiter` counts in the database, for every process together;
`CommandRateLimiter` counts in memory, per process (the API's per-token limit)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.storage.db import DatabaseRunner
from bot.storage.shared_limits import SharedLimits


@dataclass(frozen=True)
class AccessPolicy:
    """`admins`: Slack user ids that may change any monitor (WATCHPOST_ADMINS);
    `channel_quota`: the most monitors one channel may hold (WATCHPOST_CHANNEL_QUOTA)."""

    admins: frozenset[str] = frozenset()
    channel_quota: int | None = None

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def owner_filter(self, user_id: str) -> str | None:
        """Whose monitors `user_id` may change: only their own (their id), or anyone's (None)."""
        return None if self.is_admin(user_id) else user_id


class CommandRateLimiter:
    """A token bucket per user: `per_minute` commands, in bursts of up to as many.

    In memory: each Watchpost process counts on its own. Buckets of users who have been
    quiet long enough to be full again are dropped, so memory follows active users."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_users: int = 10_000
    ) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit needs at least one command a minute")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_users = max_users
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, updated at

    def wait_time(self, team_id: str, user_id: str) -> float:
        """Take one command's token: 0 when the command may run now, otherwise the seconds
        until it could (nothing is taken then)."""
        now = self._clock()
        key = (team_id, user_id)
        tokens, updated = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - updated) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self._max_users:
            self._forget_full(now)
        return 0.0

    async def wait_for(self, team_id: str, user_id: str) -> float:
        return self.wait_time(team_id, user_id)

    def _forget_full(self, now: float) -> None:
        full = self.per_minute / self._rate  # seconds for an empty bucket to fill
        self._buckets = {
            key: (tokens, updated) for key, (tokens, updated) in self._buckets.items() if now - updated < full
        }


class SharedRateLimiter:
    """`per_minute` commands per user, counted by every process sharing the database."""

    def __init__(
        self,
        per_minute: int,
        limits: SharedLimits,
        database: DatabaseRunner,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit needs at least one command a minute")
        self.per_minute = per_minute
        self.limits = limits
        self.database = database
        self.clock = clock

    async def wait_for(self, team_id: str, user_id: str) -> float:
        key = f"command:{team_id}:{user_id}"
        return await self.database.run(self.limits.take_token, key, self.per_minute, now=self.clock())
