"""Quota-aware scheduling against a loopback source with a quota of its own: `--monitors`
domain monitors, all new and due at once, whose `subdomains` dataset asks a crt.sh-like
loopback source that allows `--quota` requests a minute (it answers 429 past that, in any
sliding minute, and counts those). The real check dispatcher, runner, quota gate and
database; time is scaled by `--scale` (60: a minute lasts one second, the check interval
of an hour one minute, the dispatcher's tick likewise). Prints JSON:

- peak requests the source received in any (scaled) minute, and the quota;
- requests refused by the source for quota (429), and checks that failed for quota;
- monitors whose turn never came (no baseline at the end), and how many had theirs by
  the 10th minute;
- requests per (scaled) minute, on average over the run.

    .venv/bin/python -m bench.quota [--monitors 5000] [--quota 100] [--minutes 60] [--scale 60]
        [--database-url sqlite:////tmp/quota.db] [--processes 1]

With `--processes 2`, two processes run dispatchers on the same database (as two workers
would), and the source counts what both send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bench.seed import seed_monitors
from bot.config import QuotaLimit
from bot.monitoring.datasets.subdomains import SubdomainsDataset
from bot.monitoring.quota import QuotaGate
from bot.monitoring.runner import Runner
from bot.monitoring.scheduler import CheckDispatcher
from bot.monitoring.sources.crtsh import CrtShClient
from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from bot.storage.models import DatasetState, SourceFailureRow
from bot.storage.quotas import QuotaStore


class QuotaSource:
    """crt.sh's JSON shape for any domain (no certificates), with a sliding-window quota."""

    def __init__(self, quota: int, window: float) -> None:
        self.quota = quota
        self.window = window
        self.times: list[float] = []
        self.refused = 0
        self._recent: deque[float] = deque()
        self.root = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        self.times.append(now)
        if len(self._recent) >= self.quota:
            self.refused += 1
            return web.json_response({"error": "quota"}, status=429, headers={"Retry-After": "1"})
        self._recent.append(now)
        return web.json_response([])

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.root = f"http://127.0.0.1:{self._runner.addresses[0][1]}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def dispatch(database_url: str, source_url: str, quota: int, scale: float, seconds: float) -> None:
    """One process's checks: the dispatcher ticking as `watchpost worker` does, scaled."""
    engine = create_database_engine(database_url)
    store = Database(engine)
    interval = timedelta(seconds=3600 / scale)
    gate = QuotaGate(
        QuotaStore(engine), store, {"crtsh": (QuotaLimit(quota, 60 / scale),)}, check_interval=interval
    )
    crtsh = CrtShClient(source_url, cache_ttl=0, gate=gate)
    runner = Runner([SubdomainsDataset(crtsh)], store, interval=interval, concurrency=50)
    dispatcher = CheckDispatcher(runner)
    tick = 30 / scale  # the worker's tick at the default interval (30 s), scaled
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await dispatcher.tick()
        await asyncio.sleep(tick)
    dispatcher.close()
    await dispatcher.drain()
    await crtsh.close()
    store.close()
    engine.dispose()


def _dispatch_process(database_url: str, source_url: str, quota: int, scale: float, seconds: float) -> None:
    asyncio.run(dispatch(database_url, source_url, quota, scale, seconds))


async def run(
    monitors: int, quota: int, minutes: float, scale: float, database_url: str, processes: int
) -> dict[str, Any]:
    minute = 60 / scale
    source = QuotaSource(quota, minute)
    await source.start()
    started_at = datetime.now(UTC)
    seed_monitors(database_url, [f"host{i}.quota-bench.net" for i in range(monitors)], now=started_at)
    seconds = minutes * minute
    started = time.monotonic()
    try:
        if processes == 1:
            await dispatch(database_url, source.root, quota, scale, seconds)
        else:
            context = multiprocessing.get_context("spawn")
            children = [
                context.Process(
                    target=_dispatch_process, args=(database_url, source.root, quota, scale, seconds)
                )
                for _ in range(processes)
            ]
            for child in children:
                child.start()
            while any(child.is_alive() for child in children):
                await asyncio.sleep(0.2)
    finally:
        await source.stop()
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        served = connection.execute(
            select(func.count())
            .select_from(DatasetState)
            .where(DatasetState.dataset == "subdomains", DatasetState.baseline_at.is_not(None))
        ).scalar_one()
        by_ten = connection.execute(
            select(func.count())
            .select_from(DatasetState)
            .where(
                DatasetState.dataset == "subdomains",
                DatasetState.baseline_at <= started_at + timedelta(seconds=10 * minute),
            )
        ).scalar_one()
        quota_failures = connection.execute(select(func.count()).select_from(SourceFailureRow)).scalar_one()
    engine.dispose()
    times = [t - started for t in source.times]
    peak = _peak(times, minute)
    return {
        "monitors": monitors,
        "quota_per_minute": quota,
        "minutes": minutes,
        "scale": scale,
        "processes": processes,
        "requests": len(times),
        "peak_requests_in_any_minute": peak,
        "refused_for_quota_by_source": source.refused,
        "checks_failed_for_a_source": quota_failures,
        "monitors_never_served": monitors - served,
        "monitors_served_by_minute_10": by_ten,
        "mean_requests_per_minute": round(len(times) / minutes, 1),
    }


def _peak(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=5000)
    parser.add_argument("--quota", type=int, default=100, help="requests a minute the source allows")
    parser.add_argument("--minutes", type=float, default=60.0, help="(scaled) minutes to run")
    parser.add_argument("--scale", type=float, default=60.0, help="how much faster than real time")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'quota.db'}"
        result = asyncio.run(run(args.monitors, args.quota, args.minutes, args.scale, url, args.processes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
