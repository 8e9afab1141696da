"""Detection latency: from a change appearing at a loopback source to its alert at the
Slack fake, through the real `watchpost serve` (and the worker it starts), with a scaled
down check interval. `--monitors` domain monitors on a loopback DNS server (the tests'
fake, in this process); once their baseline cycle is done, `--changes` of them get a new
A record at random moments over two intervals, and each one's time until the alert that
names it is posted is recorded. Prints JSON: p50, p99, max, and the interval.

    .venv/bin/python -m bench.detection [--monitors 200] [--changes 40] [--interval 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.ack_latency import CYCLE_DONE, percentile
from bench.seed import seed_monitors
from bot.core.mrkdwn import defang
from bot.storage.engine import create_database_engine
from bot.storage.models import SourceFailureRow
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi


def name_of(index: int) -> str:
    return f"host{index}.detect-bench.net"


async def run(monitors: int, changes: int, interval: int) -> dict[str, Any]:
    dns = FakeDnsServer()
    dns.start()
    slack_api = FakeSlackApi()
    await slack_api.start()
    names = [name_of(i) for i in range(monitors)]
    for index, name in enumerate(names):
        dns.set(name, "A", [f"192.0.2.{index % 250 + 1}"])
    latencies: list[float] = []
    failed_lookups = 0
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'detect.db'}"
        seed_monitors(url, names, now=datetime.now(UTC))
        env = serve_env(
            dns,
            slack_api,
            url,
            free_port(),
            WATCHPOST_CHECK_INTERVAL=str(interval),
            WATCHPOST_LOG_LEVEL="INFO",
        )
        bot = ServeProcess(env, Path(tmp) / "serve.log")
        await bot.start(timeout=120)
        try:
            deadline = time.monotonic() + 120
            while not CYCLE_DONE.search(bot.log()) and time.monotonic() < deadline:  # the baselines
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # their writes
            chosen = random.sample(range(monitors), changes)
            alerted: dict[str, float] = {}  # name -> when its alert was first seen
            wanted = {f"Change on {defang(names[i])}": names[i] for i in chosen}

            async def watch() -> None:
                # One reader: the fake DNS server answers from a thread of this process,
                # and twenty pollers rescanning every post every 50 ms took the GIL from it
                # until the bot's lookups timed out (no answer in 1 s: seen a check later).
                while True:
                    for message in slack_api.posted():
                        text = message.all_text()
                        for line, name in wanted.items():
                            if name not in alerted and line in text:
                                alerted[name] = time.monotonic()
                    await asyncio.sleep(0.1)

            async def one(index: int, delay: float) -> None:
                await asyncio.sleep(delay)
                name = names[index]
                dns.set(name, "A", [f"192.0.2.{index % 250 + 1}", "198.51.100.77"])
                started = time.monotonic()
                while time.monotonic() - started < interval * 3 + 60:
                    if name in alerted:
                        latencies.append(alerted[name] - started)
                        return
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            await asyncio.gather(*(one(i, random.uniform(0, 2 * interval)) for i in chosen))
            watcher.cancel()
            failed_lookups = _failed_dns_lookups(url)
            missed = sorted(names[i] for i in chosen if names[i] not in alerted)
        finally:
            await bot.stop(timeout=60)
            if os.environ.get("BENCH_KEEP_LOG"):
                Path(os.environ["BENCH_KEEP_LOG"]).write_text(bot.log())
            await slack_api.stop()
            dns.stop()
    return {
        "monitors": monitors,
        "interval_s": interval,
        "changes": changes,
        "alerted": len(latencies),
        "p50_s": round(percentile(latencies, 0.5), 2) if latencies else None,
        "p99_s": round(percentile(latencies, 0.99), 2) if latencies else None,
        "max_s": round(max(latencies), 2) if latencies else None,
        "target_s": interval + 10,
        "dns_lookups_failed": failed_lookups,  # a failed lookup reports nothing: seen a check later
        "not_alerted": missed,  # changed, yet no alert naming them within the wait
    }


def _failed_dns_lookups(database_url: str) -> int:
    """Failed lookups of the DNS datasets recorded during the run (timeouts of the fake)."""
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        found = connection.execute(
            select(func.count())
            .select_from(SourceFailureRow)
            .where(SourceFailureRow.dataset.in_(("resolutions", "dns_records")))
        ).scalar_one()
    engine.dispose()
    return int(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=200)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--interval", type=int, default=20, help="check interval, seconds")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.monitors, args.changes, args.interval))))


if __name__ == "__main__":
    main()
