"""The daily digest of a busy day: `--changes` changes on `--indicators` indicators of one
channel, all in yesterday's window; one run of the digest job as the scheduler runs it
(claim, load the day's changes, build the summary, render one CSV per dataset, build the
messages, hand them to the transport, record progress). The transport keeps what it is
given in memory, so Slack's network time is not in the figure. Prints JSON.

    .venv/bin/python -m bench.digest --database-url sqlite:////tmp/bench.db [--changes 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select

from bot.config import Settings
from bot.digests.service import DigestService
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from bot.storage.models import ChangeRow, Monitor, Subject
from tests.fakes.transport import RecordingTransport

NOW = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)  # just after the 09:00 UTC digest time
DATASETS = ("resolutions", "dns_records", "whois", "certificates", "subdomains")


def seed(database_url: str, changes: int, indicators: int) -> None:
    engine = create_database_engine(database_url)
    migrate(engine)
    since = NOW - timedelta(days=3)
    subjects, monitors, rows = (cast(Table, m.__table__) for m in (Subject, Monitor, ChangeRow))
    with engine.begin() as connection:
        connection.execute(
            insert(subjects),
            [
                {
                    "indicator": f"busy{i}.digest-bench.net",
                    "kind": "domain",
                    "created_at": since,
                    "next_check_at": NOW + timedelta(hours=1),
                    "last_checked_at": NOW - timedelta(minutes=10),
                }
                for i in range(indicators)
            ],
        )
        ids = list(connection.scalars(select(subjects.c.id).order_by(subjects.c.id)))
        connection.execute(
            insert(monitors),
            [
                {
                    "subject_id": subject_id,
                    "team_id": "T0BENCH",
                    "channel_id": "C0BENCH",
                    "created_by": "U0BENCH",
                    "created_at": since,
                }
                for subject_id in ids
            ],
        )
        window_start = NOW.replace(minute=0) - timedelta(days=1)
        batch = [
            {
                "subject_id": ids[n % len(ids)],
                "batch_id": uuid.uuid4().hex,
                "dataset": DATASETS[n % len(DATASETS)],
                "kind": ("added", "removed", "changed")[n % 3],
                "field": "A",
                "old_value": None if n % 3 == 0 else f"198.51.{n // 250 % 250}.{n % 250}",
                "new_value": None if n % 3 == 1 else f"203.0.{n // 250 % 250}.{n % 250}",
                "source": "dns",
                "first_seen": window_start,
                "last_seen": None,
                "detected_at": window_start + timedelta(seconds=n * 86_000 // changes),
                "alerted": True,
            }
            for n in range(changes)
        ]
        for start in range(0, len(batch), 5000):
            connection.execute(insert(rows), batch[start : start + 5000])
    engine.dispose()


async def run(database_url: str, changes: int, indicators: int) -> dict[str, Any]:
    seed(database_url, changes, indicators)
    engine = create_database_engine(database_url)
    pool = Database(engine)
    transport = RecordingTransport()
    service = DigestService(
        pool,
        transport,
        settings=Settings(check_interval=3600),
        clock=lambda: NOW,
    )
    try:
        started = time.perf_counter()
        report = await service.run_due()
        seconds = time.perf_counter() - started
    finally:
        pool.close()
        engine.dispose()
    csv_rows = sum(
        len(list(csv.reader(io.StringIO(upload.content.decode("utf-8"))))) - 1 for upload in transport.uploads
    )
    return {
        "changes": changes,
        "indicators": indicators,
        "seconds": seconds,
        "posted": [day.isoformat() for _, day in report.posted],
        "csv_files": len(transport.uploads),
        "csv_rows": csv_rows,
        "csv_bytes": sum(len(upload.content) for upload in transport.uploads),
        "messages": len(transport.posts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--indicators", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.database_url, args.changes, args.indicators))))


if __name__ == "__main__":
    main()
