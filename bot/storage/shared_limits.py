"""Limits every process shares through the database: a token bucket per key (a user's
command rate) and the memory of Slack request signatures already served (a replay to any
process is refused). Each call is one short transaction holding the row it changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.engine import insert_unless_present
from bot.storage.models import RateBucketRow, SeenSignatureRow

_BUCKETS = cast(Table, RateBucketRow.__table__)
_SEEN = cast(Table, SeenSignatureRow.__table__)


class SharedLimits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def take_token(self, key: str, per_minute: int, *, now: datetime) -> float:
        """Take one token of `key`'s bucket (`per_minute`, bursts of as many): 0 when taken,
        else the seconds until one would be (nothing taken then)."""
        rate = per_minute / 60.0
        with self.engine.connect() as connection:
            if self._sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            query = select(_BUCKETS.c.tokens, _BUCKETS.c.updated_at).where(_BUCKETS.c.key == key)
            if not self._sqlite:
                query = query.with_for_update()
            row = connection.execute(query).first()
            if row is None:
                try:
                    connection.execute(
                        insert(_BUCKETS).values(key=key, tokens=per_minute - 1.0, updated_at=now)
                    )
                    connection.commit()
                    return 0.0
                except IntegrityError:  # another process made it first: take from theirs
                    connection.rollback()
                    return self.take_token(key, per_minute, now=now)
            elapsed = max(0.0, (now - row.updated_at).total_seconds())
            tokens = min(float(per_minute), row.tokens + elapsed * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            connection.execute(
                update(_BUCKETS)
                .where(_BUCKETS.c.key == key)
                .values(tokens=tokens - 1.0 if wait == 0.0 else tokens, updated_at=now)
            )
            connection.commit()
        return wait

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
