"""End-to-end check cycles: N domain monitors, the two DNS datasets against a loopback DNS
server, diff and storage included, run the way `watchpost serve` runs them (the check
dispatcher claiming due subjects, the runner, batched writes). Prints JSON.

    .venv/bin/python -m bench.checks --nameserver 127.0.0.1:5353 --monitors 10000 \\
        --database-url sqlite:///tmp/bench.db [--no-change-cycles 1] [--dns mux|resolver]

The database must already hold the monitors (`bench.seed`): seeding is not what this
process measures, so its peak RSS is that of the checks alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import parse_host_port
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import DnsAnswer, DnsClient, ResolverDnsClient
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.runner import Runner
from bot.monitoring.scheduler import CheckDispatcher
from bot.storage.db import Database
from bot.storage.engine import create_database_engine

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class CountingDns:
    """Counts the queries a cycle asks (Knot keeps no per-client counter we could read)."""

    def __init__(self, inner: DnsClient) -> None:
        self.inner = inner
        self.queries = 0
        self.errors = 0

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        return (await self.query_many(name, (rdtype,)))[0]

    async def query_many(self, name: str, rdtypes: Sequence[str]) -> list[DnsAnswer]:
        self.queries += len(rdtypes)
        if isinstance(self.inner, MultiplexedDnsClient):
            answers = await self.inner.query_many(name, rdtypes)
        else:
            answers = list(await asyncio.gather(*(self.inner.query(name, t) for t in rdtypes)))
        self.errors += sum(answer.error is not None for answer in answers)
        return answers


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def cycle(dispatcher: CheckDispatcher, clock: Clock, dns: CountingDns, label: str) -> dict[str, Any]:
    """Make every monitor due, then claim and check until nothing is due."""
    clock.now += INTERVAL * 1.5  # past every next_check_at: at most 1.5 intervals after a claim
    queries, errors = dns.queries, dns.errors
    started, cpu = time.perf_counter(), time.process_time()
    while await dispatcher.tick():
        await dispatcher.drain()  # claims the rest as checks finish
    await dispatcher.drain()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    asked = dns.queries - queries
    return {
        "cycle": label,
        "seconds": elapsed,
        "checks": asked // 7,  # seven questions per domain check
        "queries": asked,
        "errors": dns.errors - errors,
        "cpu_seconds": cpu,  # this process, every thread
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    nameserver = parse_host_port(args.nameserver, 53)
    if args.dns == "mux":
        inner: DnsClient = MultiplexedDnsClient([nameserver], timeout=5, max_in_flight=args.in_flight)
    else:
        inner = ResolverDnsClient([nameserver], timeout=5, max_in_flight=50)
    dns = CountingDns(inner)
    engine = create_database_engine(args.database_url)
    store = Database(engine)
    clock = Clock()
    runner = Runner(
        [ResolutionsDataset(dns), DnsRecordsDataset(dns)],
        store,
        clock=clock,
        interval=INTERVAL,
        concurrency=args.concurrency,
    )
    dispatcher = CheckDispatcher(runner)
    results = []
    try:
        results.append(await cycle(dispatcher, clock, dns, "baseline"))
        for number in range(args.no_change_cycles):
            results.append(await cycle(dispatcher, clock, dns, f"no change {number + 1}"))
    finally:
        if isinstance(inner, MultiplexedDnsClient):
            await inner.aclose()
        store.close()
        engine.dispose()
    resent = inner.resent if isinstance(inner, MultiplexedDnsClient) else None
    return {"cycles": results, "peak_rss_mb": peak_rss_mb(), "dns_resent": resent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nameserver", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--monitors", type=int, required=True)
    parser.add_argument("--no-change-cycles", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--in-flight", type=int, default=64, help="DNS lookups in flight (the client's default)"
    )
    parser.add_argument("--dns", choices=["mux", "resolver"], default="mux")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
