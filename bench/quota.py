"""Quota-aware scheduling against a loopback source with a quota of its own: `--monitors`
domain monitors, all new and due at once, whose `subdomains` dataset asks a crt.sh-like
loopback source that allows `--quota` requests a minute (it answers 429 past that, in any
sliding minute, and counts those). The real check dispatcher, runner, quota gate and
database; time is scaled by `--scale` (60: a minute lasts one second, the check interval
of an hour one minute, the dispatcher's tick likewise). Prints JSON:

- peak requests the source received in any (scaled) minute, and the quota;
- requests refused by the source for quota (429), and checks that failed for a source;
- promises: a new monitor that finds no free slot is told when its slot is expected (a
  place in the source's queue); the first such time of each monitor is recorded. Monitors
  whose turn never came: that time plus `--grace` minutes passed before the end of the
  run and the monitor still has no baseline; served late: it had one, but only after
  that time plus the grace; never checked: no check at all (no promise, no baseline);
- monitors served by the 10th minute and by the end, not yet served at the end;
- requests per (scaled) minute while new monitors waited (until the last one was served,
  or the end), as a share of the quota, and each minute's count.

    .venv/bin/python -m bench.quota [--monitors 5000] [--quota 100] [--minutes 60] [--scale 10]
        [--grace 1] [--database-url sqlite:////tmp/quota.db] [--processes 1]

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
from bot.monitoring.store.quotas import Deferred, Granted, QuotaStore
from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from bot.storage.models import DatasetState, SourceFailureRow, Subject


class PromiseLog(QuotaStore):
    """The real store, noting the first time the source promised each indicator a slot."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.promised: dict[str, float] = {}

    def take_slot(self, source: str, limits: Any, **kwargs: Any) -> Granted | Deferred:
        result = super().take_slot(source, limits, **kwargs)
        indicator = kwargs.get("indicator")
        if isinstance(result, Deferred) and result.queued and indicator is not None:
            self.promised.setdefault(indicator, result.until.timestamp())
        return result


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


async def dispatch(
    database_url: str, source_url: str, quota: int, scale: float, seconds: float, until: float | None = None
) -> dict[str, float]:
    """One process's checks: the dispatcher ticking as `watchpost worker` does, scaled.
    Returns the first promise of each indicator (a POSIX time)."""
    engine = create_database_engine(database_url)
    store = Database(engine)
    interval = timedelta(seconds=3600 / scale)
    quotas = PromiseLog(engine)
    gate = QuotaGate(quotas, store, {"crtsh": (QuotaLimit(quota, 60 / scale),)}, check_interval=interval)
    crtsh = CrtShClient(source_url, cache_ttl=0, gate=gate)
    runner = Runner([SubdomainsDataset(crtsh)], store, interval=interval, concurrency=50)
    dispatcher = CheckDispatcher(runner)
    tick = 30 / scale  # the worker's tick at the default interval (30 s), scaled
    deadline = time.time() + seconds if until is None else until  # one end for every process
    await asyncio.sleep(max(0.0, deadline - seconds - time.time()))  # and one start
    while time.time() < deadline:
        await dispatcher.tick()
        await asyncio.sleep(tick)
    dispatcher.close()
    await dispatcher.drain()
    await crtsh.close()
    store.close()
    engine.dispose()
    return quotas.promised


def _dispatch_process(
    database_url: str, source_url: str, quota: int, scale: float, seconds: float, until: float, out: str
) -> None:
    promised = asyncio.run(dispatch(database_url, source_url, quota, scale, seconds, until))
    Path(out).write_text(json.dumps(promised))


async def run(
    monitors: int, quota: int, minutes: float, scale: float, database_url: str, processes: int, grace: float
) -> dict[str, Any]:
    minute = 60 / scale
    source = QuotaSource(quota, minute)
    await source.start()
    names = [f"host{i}.quota-bench.net" for i in range(monitors)]
    seed_monitors(database_url, names, now=datetime.now(UTC))
    seconds = minutes * minute
    started_at = datetime.now(UTC)
    started = time.monotonic()
    promised: dict[str, float] = {}
    try:
        if processes == 1:
            promised = await dispatch(database_url, source.root, quota, scale, seconds)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                outs = [str(Path(tmp) / f"promised{i}.json") for i in range(processes)]
                # The processes start a few seconds apart (imports): the run's clock starts
                # once they are all up, and they all stop at its end.
                started_at = datetime.now(UTC) + timedelta(seconds=5)
                started = time.monotonic() + 5
                until = started_at.timestamp() + seconds
                context = multiprocessing.get_context("spawn")
                children = [
                    context.Process(
                        target=_dispatch_process,
                        args=(database_url, source.root, quota, scale, seconds, until, out),
                    )
                    for out in outs
                ]
                for child in children:
                    child.start()
                while any(child.is_alive() for child in children):
                    await asyncio.sleep(0.2)
                for out in outs:
                    for indicator, at in json.loads(Path(out).read_text()).items():
                        promised[indicator] = min(at, promised.get(indicator, at))
    finally:
        await source.stop()
    ended_at = started_at + timedelta(seconds=seconds)
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        baselines = {
            indicator: _aware(at).timestamp()
            for indicator, at in connection.execute(
                select(Subject.indicator, DatasetState.baseline_at)
                .join(DatasetState, DatasetState.subject_id == Subject.id)
                .where(DatasetState.dataset == "subdomains", DatasetState.baseline_at.is_not(None))
            ).tuples()
        }
        quota_failures = connection.execute(select(func.count()).select_from(SourceFailureRow)).scalar_one()
    engine.dispose()
    times = [t - started for t in source.times]
    late_after = grace * minute
    end = ended_at.timestamp()
    never_came = sum(1 for name, at in promised.items() if at + late_after <= end and name not in baselines)
    served_late = sum(
        1 for name, at in promised.items() if name in baselines and baselines[name] > at + late_after
    )
    never_checked = sum(1 for name in names if name not in promised and name not in baselines)
    by_ten = sum(1 for at in baselines.values() if at <= started_at.timestamp() + 10 * minute)
    # While new monitors waited: until the last baseline, or the end if some never had one.
    waited = seconds if len(baselines) < monitors else max(baselines.values()) - started_at.timestamp()
    while_waiting = sum(1 for t in times if t <= waited) / (waited / minute) if waited > 0 else 0.0
    per_minute = [sum(1 for t in times if i * minute <= t < (i + 1) * minute) for i in range(int(minutes))]
    return {
        "monitors": monitors,
        "quota_per_minute": quota,
        "minutes": minutes,
        "scale": scale,
        "processes": processes,
        "grace_minutes": grace,
        "requests": len(times),
        "peak_requests_in_any_minute": _peak(times, minute),
        "refused_for_quota_by_source": source.refused,
        "checks_failed_for_a_source": quota_failures,
        "monitors_promised_a_slot": len(promised),
        "monitors_whose_turn_never_came": never_came,
        "monitors_served_late": served_late,
        "monitors_never_checked": never_checked,
        "monitors_served_by_minute_10": by_ten,
        "monitors_served": len(baselines),
        "monitors_not_served_yet": monitors - len(baselines),
        "minutes_until_all_served": round(waited / minute, 1) if len(baselines) == monitors else None,
        "requests_per_minute_while_waiting": round(while_waiting, 1),
        "share_of_quota_used_while_waiting": round(while_waiting / quota, 3),
        "requests_per_minute": per_minute,
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    parser.add_argument("--scale", type=float, default=10.0, help="how much faster than real time")
    parser.add_argument("--grace", type=float, default=1.0, help="(scaled) minutes a promise may be late")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'quota.db'}"
        result = asyncio.run(
            run(args.monitors, args.quota, args.minutes, args.scale, url, args.processes, args.grace)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
