"""Limits every process shares through the database: a token bucket per key (a user's
command rate: `SharedRateLimiter`, the shared `RateLimiter` of bot/storage/rate_limits.py)
and the memory of Slack request signatures already served (a replay to any process is
refused). Each call is one short transaction holding the row it changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.db import DatabaseRunner
from bot.storage.engine import insert_unless_present
from bot.storage.models import RateBucketRow, SeenSignatureRow
from bot.storage.rate_limits import RateLimit, refill

_BUCKETS = cast(Table, RateBucketRow.__table__)
_SEEN = cast(Table, SeenSignatureRow.__table__)


class SharedLimits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def take_token(self, key: str, rate: RateLimit, *, now: datetime, within: float = 0.0) -> float:
        """Take one token of `key`'s bucket (bot/storage/rate_limits.refill): 0 when taken,
        a wait up to `within` when reserved, else the seconds until one would be (nothing
        taken then)."""
        with self.engine.connect() as connection:
            if self._sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            query = select(_BUCKETS.c.tokens, _BUCKETS.c.updated_at).where(_BUCKETS.c.key == key)
            if not self._sqlite:
                query = query.with_for_update()
            row = connection.execute(query).first()
            if row is None:
                tokens, wait = refill(rate, rate.capacity, 0.0, within=within)
                try:
                    connection.execute(insert(_BUCKETS).values(key=key, tokens=tokens, updated_at=now))
                    connection.commit()
                    return wait
                except IntegrityError:  # another process made it first: take from theirs
                    connection.rollback()
                    return self.take_token(key, rate, now=now, within=within)
            tokens, wait = refill(rate, row.tokens, (now - row.updated_at).total_seconds(), within=within)
            connection.execute(
                update(_BUCKETS).where(_BUCKETS.c.key == key).values(tokens=tokens, updated_at=now)
            )
            connection.commit()
        return wait

    def give_back(self, key: str, capacity: float) -> None:
        """A reserved token not used after all goes back to `key`'s bucket (at most full)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(_BUCKETS)
                .where(_BUCKETS.c.key == key)
                .values(
                    tokens=func.least(_BUCKETS.c.tokens + 1.0, capacity)
                    if not self._sqlite
                    else func.min(_BUCKETS.c.tokens + 1.0, capacity)
                )
            )

    def first_sight(self, signature: str, stamp: int, *, now: float, window: int = 300) -> bool:
        """True the first time any process sees `signature`; False for a replay."""
        return signature[:80] in self.first_sights([(signature, stamp)], now=now, window=window)

    def first_sights(self, seen: Sequence[tuple[str, int]], *, now: float, window: int = 300) -> set[str]:
        """Of the (signature, timestamp) pairs, the signatures no process had seen before
        (each cut to 80 characters): one transaction for all of them, however many
        requests came in together. The memory forgets what is older than `window`."""
        rows = {signature[:80]: stamp for signature, stamp in seen}
        if not rows:
            return set()
        with self.engine.begin() as connection:
            connection.execute(delete(_SEEN).where(_SEEN.c.stamp < int(now) - window))
            new = connection.execute(
                insert_unless_present(connection.dialect.name, _SEEN, "signature")
                .values([{"signature": signature, "stamp": stamp} for signature, stamp in rows.items()])
                .returning(_SEEN.c.signature)
            ).scalars()
            return set(new)

    def forget_buckets(self, *, now: datetime, idle: timedelta = timedelta(hours=1)) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(_BUCKETS).where(_BUCKETS.c.updated_at < now - idle))


class SharedRateLimiter:
    """A bucket per key in the database: every process sharing it takes from the same row."""

    def __init__(
        self,
        rate: RateLimit,
        limits: SharedLimits,
        database: DatabaseRunner,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rate = rate
        self.limits = limits
        self.database = database
        self.clock = clock

    async def take(self, key: str, *, within: float = 0.0) -> float:
        return await self.database.run(
            self.limits.take_token, key, self.rate, now=self.clock(), within=within
        )

    async def give_back(self, key: str) -> None:
        await self.database.run(self.limits.give_back, key, self.rate.capacity)
