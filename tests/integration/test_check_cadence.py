"""The routine cadence's SQL (bot/storage/cadence.py) computes on PostgreSQL what the
Python function does, to the microsecond."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from bot.storage.cadence import NEXT_ROUTINE_CHECK_PG, interval_microseconds, next_routine_check

NOW = datetime(2026, 11, 20, 9, 0, 0, 123_457, tzinfo=UTC)
INTERVAL = timedelta(seconds=20)


def test_cadence_sql_agrees_with_python(postgres_admin: Engine) -> None:
    picked = random.Random(20261120)
    ids = [*range(1, 1_001), *picked.sample(range(1_001, 2**31 - 1), 300), 2**31 - 1]
    nows = [
        NOW,
        NOW + timedelta(microseconds=1),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2099, 7, 1, 12, 0, 0, 500_000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 58, 250_001, tzinfo=UTC),  # before the epoch: negative seconds
        *(NOW + timedelta(microseconds=picked.randrange(10**12)) for _ in range(5)),
    ]
    intervals = [
        timedelta(seconds=1),
        INTERVAL,
        timedelta(seconds=7, microseconds=1),
        timedelta(minutes=5, microseconds=333_333),
        timedelta(hours=1),
        timedelta(days=1),
    ]
    query = text(f"SELECT id, {NEXT_ROUTINE_CHECK_PG} FROM unnest(CAST(:ids AS integer[])) AS v(id)")
    with postgres_admin.connect() as connection:
        for now in nows:
            for interval in intervals:
                found = connection.execute(
                    query, {"ids": ids, "now": now, "interval_us": interval_microseconds(interval)}
                ).all()
                wrong = [
                    (subject_id, now, interval, moment)
                    for subject_id, moment in found
                    if moment != next_routine_check(subject_id, now, interval)
                ]
                assert len(found) == len(ids) and wrong == []
