"""Monitors in bulk for the benchmarks: `host<i>.<zone>` domain monitors in one channel,
all due at the benchmark's start time, written with multi-row inserts (adding 100,000
through `/monitor` would measure the command, not the checks)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select

from bot.storage.engine import create_database_engine, migrate
from bot.storage.models import Monitor, Subject


def seed_monitors(
    database_url: str, names: list[str], *, now: datetime, channels: int = 1, team_id: str = "T0BENCH"
) -> None:
    engine = create_database_engine(database_url)
    migrate(engine)
    subjects = cast(Table, Subject.__table__)
    monitors = cast(Table, Monitor.__table__)
    with engine.begin() as connection:
        for start in range(0, len(names), 10_000):
            chunk = names[start : start + 10_000]
            connection.execute(
                insert(subjects),
                [{"indicator": n, "kind": "domain", "created_at": now, "next_check_at": now} for n in chunk],
            )
        ids = dict(connection.execute(select(subjects.c.indicator, subjects.c.id)).tuples().all())
        rows = [
            {
                "subject_id": ids[name],
                "team_id": team_id,
                "channel_id": f"C0BENCH{index % channels:03d}",
                "created_by": "U0BENCH",
                "created_at": now,
            }
            for index, name in enumerate(names)
        ]
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(monitors), rows[start : start + 10_000])
    engine.dispose()
