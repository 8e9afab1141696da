"""End-to-end check throughput: N domain monitors, DNS datasets against a loopback DNS
server, diff and storage included. Prints a table; nothing leaves the machine.

    .venv/bin/python -m bench.checks [--monitors 1000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import HostPort
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.runner import Runner
from bot.observations import IndicatorKind
from bot.storage.engine import create_database_engine, migrate
from bot.storage.repository import AsyncStore, Store
from tests.fakes.dns_server import FakeDnsServer


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def run(monitors: int, database_url: str, concurrency: int) -> None:
    with FakeDnsServer() as server:
        names = [f"host{i}.bench-infra.com" for i in range(monitors)]
        for i, name in enumerate(names):
            server.set(name, "A", [f"45.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"])
            server.set(name, "NS", ["ns1.bench-host.net."])
        engine = create_database_engine(database_url)
        migrate(engine)
        store = Store(engine)
        clock = Clock()
        store.add_monitors(
            team_id="T",
            channel_id="C",
            user_id="U",
            indicators=[(n, IndicatorKind.DOMAIN) for n in names],
            now=clock.now,
        )
        dns = ResolverDnsClient([HostPort(server.host, server.port)], timeout=5, max_in_flight=concurrency)
        async_store = AsyncStore(store)
        runner = Runner(
            [ResolutionsDataset(dns), DnsRecordsDataset(dns)],
            async_store,
            clock=clock,
            interval=timedelta(hours=1),
            concurrency=concurrency,
        )
        print("| cycle | monitors | seconds | checks/s | DNS queries/s | changes |")
        print("|---|---|---|---|---|---|")
        for cycle, label in enumerate(["baseline", "no change", "10% changed"]):
            if cycle == 2:
                for name in names[::10]:
                    server.set(name, "A", ["98.126.38.107"])
            clock.now += timedelta(hours=1, minutes=10)
            queries_before = server.query_count()
            started = time.perf_counter()
            reports = await runner.run_due(limit=monitors)
            elapsed = time.perf_counter() - started
            queries = server.query_count() - queries_before
            changes = sum(len(r.changes) for r in reports)
            print(
                f"| {label} | {len(reports)} | {elapsed:.2f} | {len(reports) / elapsed:.0f} "
                f"| {queries / elapsed:.0f} | {changes} |"
            )
        async_store.close()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/watchpost_test")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.database == "sqlite" else args.postgres_url
        asyncio.run(run(args.monitors, url, args.concurrency))


if __name__ == "__main__":
    main()
