"""The claim sets each subject's next check to its routine time (bot/monitoring/store/cadence.py):
the SQL of the one-statement PostgreSQL claim computes what the Python function does, to
the microsecond, and subjects due together come apart after one claim (SQLite and
PostgreSQL)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, text

from bot.monitoring.store.cadence import NEXT_ROUTINE_CHECK_PG, interval_microseconds, next_routine_check
from bot.storage.db import Database
from bot.storage.models import Subject

NOW = datetime(2026, 11, 20, 9, 0, 0, 123_457, tzinfo=UTC)
INTERVAL = timedelta(seconds=20)


def seed(store: Database, count: int, *, ids: list[int] | None = None) -> list[int]:
    """`count` domain subjects all due at NOW (as a bulk import leaves them); their ids."""
    rows = [
        {"indicator": f"host{n}.bulk.example", "kind": "domain", "created_at": NOW, "next_check_at": NOW}
        | ({} if ids is None else {"id": ids[n]})
        for n in range(count)
    ]
    with store.engine.begin() as connection:
        connection.execute(insert(Subject), rows)
        return list(connection.execute(select(Subject.id).order_by(Subject.id)).scalars())


def next_checks(store: Database) -> dict[int, datetime]:
    with store.engine.connect() as connection:
        return {
            subject_id: moment.astimezone(UTC)
            for subject_id, moment in connection.execute(select(Subject.id, Subject.next_check_at))
        }


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


def test_claim_sets_each_claimed_subject_its_routine_time(store: Database) -> None:
    picked = random.Random(7)
    ids = sorted(picked.sample(range(1, 2**31 - 1), 60))
    seed(store, len(ids), ids=ids)
    claimed = store.checks.claim_due(now=NOW, interval=INTERVAL, limit=40)
    assert len(claimed) == 40
    after = next_checks(store)
    for subject in claimed:
        assert after[subject.id] == next_routine_check(subject.id, NOW, INTERVAL)
    untouched = set(ids) - {subject.id for subject in claimed}
    assert all(after[subject_id] == NOW for subject_id in untouched)

    # A subject a source told to come back: the same routine time from when it is claimed.
    back = sorted(untouched)[:3]
    later = NOW + timedelta(seconds=3, microseconds=5)
    returned = store.checks.claim_due(now=later, interval=INTERVAL, limit=10, among=back)
    assert sorted(subject.id for subject in returned) == back
    after = next_checks(store)
    assert all(after[subject_id] == next_routine_check(subject_id, later, INTERVAL) for subject_id in back)


def test_claim_spreads_subjects_due_together_over_the_interval(store: Database) -> None:
    """200 monitors added together, claimed at one instant: their next checks fill the
    interval about evenly (10 a second; the old 10 % jitter put all 200 in 2 s), and each
    later check, claimed on time, comes exactly one interval after the one before."""
    ids = seed(store, 200)
    assert len(store.checks.claim_due(now=NOW, interval=INTERVAL, limit=500)) == 200
    first = next_checks(store)
    per_second = Counter(int((first[subject_id] - NOW).total_seconds()) for subject_id in ids)
    assert sorted(per_second) == list(range(10, 30)) and max(per_second.values()) <= 12

    # The next cycle, claimed by a tick every second: each subject at most a second late.
    for tick in range(10, 31):
        store.checks.claim_due(now=NOW + timedelta(seconds=tick), interval=INTERVAL, limit=500)
    second = next_checks(store)
    assert {second[subject_id] - first[subject_id] for subject_id in ids} == {INTERVAL}
