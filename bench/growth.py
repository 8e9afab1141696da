"""Does the database grow with checks? `--monitors` monitors, a baseline cycle, then
`--cycles` cycles in which nothing changes; rows per table and bytes on disk after the
first and after the last no-change cycle. Prints JSON.

    .venv/bin/python -m bench.growth --nameserver 127.0.0.1:5353 \\
        --database-url sqlite:////tmp/bench.db --monitors 1000 [--cycles 100]

Bytes are measured twice: as the files are (below), and compacted (SQLite VACUUM,
PostgreSQL VACUUM FULL: the data itself, without free space inside the files).
What "bytes" means, per engine:
- SQLite: the database file after a WAL checkpoint (page_count x page_size). A check
  updates times in place; rows keep their size, so pages are rewritten, never added.
- PostgreSQL: sum of pg_total_relation_size (heap, indexes, TOAST) over Watchpost's
  tables, after a plain VACUUM that follows every cycle. An UPDATE writes a new row
  version and leaves the old one dead until VACUUM makes its space reusable; autovacuum
  does that within a minute, far sooner than the next hourly cycle, so a VACUUM per
  cycle is the steady state of a real deployment. Without it the heap would hold one
  dead version per update until autovacuum ran: that is PostgreSQL's MVCC, not data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench.checks import INTERVAL, Clock, CountingDns, cycle
from bot.config import parse_host_port
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.runner import Runner
from bot.monitoring.scheduler import CheckDispatcher
from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from bot.storage.models import Base


def measure(engine: Engine) -> dict[str, Any]:
    tables = sorted(Base.metadata.tables)
    with engine.connect() as connection:
        rows = {
            name: int(connection.scalar(select(func.count()).select_from(Base.metadata.tables[name])) or 0)
            for name in tables
        }
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = int(connection.exec_driver_sql("PRAGMA page_count").scalar() or 0)
            size = int(connection.exec_driver_sql("PRAGMA page_size").scalar() or 0)
        total = pages * size
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            sizes = {
                name: int(
                    connection.execute(text("SELECT pg_total_relation_size(:t)"), {"t": name}).scalar() or 0
                )
                for name in tables
            }
        total = sum(sizes.values())
        return {"rows": sum(rows.values()), "rows_by_table": rows, "bytes": total, "bytes_by_table": sizes}
    return {"rows": sum(rows.values()), "rows_by_table": rows, "bytes": total}


def compacted_bytes(engine: Engine) -> int:
    """What the data itself takes: the database rewritten compactly (SQLite VACUUM,
    PostgreSQL VACUUM FULL), so free space left by B-tree and heap churn is not counted."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("VACUUM")
        else:
            connection.exec_driver_sql("VACUUM FULL")
    measured: int = measure(engine)["bytes"]
    return measured


def vacuum(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    dns = CountingDns(MultiplexedDnsClient([parse_host_port(args.nameserver, 53)], timeout=5))
    engine = create_database_engine(args.database_url)
    store = Database(engine)
    clock = Clock()
    runner = Runner(
        [ResolutionsDataset(dns), DnsRecordsDataset(dns)],
        store,
        clock=clock,
        interval=INTERVAL,
        concurrency=100,
    )
    dispatcher = CheckDispatcher(runner)
    result: dict[str, Any] = {"monitors": args.monitors, "cycles": args.cycles}
    try:
        await cycle(dispatcher, clock, dns, "baseline")
        vacuum(engine)
        errors = 0
        for number in range(1, args.cycles + 1):
            done = await cycle(dispatcher, clock, dns, f"no change {number}")
            errors += done["errors"]
            vacuum(engine)
            if number == 1:
                result["after_first"] = measure(engine)
                result["after_first"]["compacted_bytes"] = compacted_bytes(engine)
        result["after_last"] = measure(engine)
        result["after_last"]["compacted_bytes"] = compacted_bytes(engine)
        result["dns_errors"] = errors
    finally:
        await dns.inner.aclose()  # type: ignore[attr-defined]
        store.close()
        engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nameserver", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
