"""APScheduler jobs: claim due checks, deliver the outbox, post digests. The jobs only
trigger work; what is due lives in the database, so a restart or a second process picks
up from there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.delivery import OutboxWorker
from bot.monitoring.runner import Runner
from bot.storage.repository import SubjectView

log = logging.getLogger(__name__)


class CheckDispatcher:
    """Claims due subjects each tick and runs their checks as independent tasks, at most
    `runner.concurrency` at once: a slow subject never holds up the next tick's claims."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._gate = asyncio.Semaphore(runner.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def tick(self) -> int:
        room = self.runner.concurrency * 2 - len(self._tasks)
        if room <= 0:
            return 0
        store = self.runner.store
        subjects = await store.run(
            store.store.claim_due_subjects, now=self.runner.clock(), interval=self.runner.interval, limit=room
        )
        for subject in subjects:
            task = asyncio.create_task(self._check(subject), name=f"check {subject.indicator}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(subjects)

    async def _check(self, subject: SubjectView) -> None:
        async with self._gate:
            try:
                report = await self.runner.check(subject)
            except Exception:
                log.exception("check of %s failed", subject.indicator)
                return
        if report.changes:
            log.info("%s: %d changes", subject.indicator, len(report.changes))

    async def drain(self) -> None:
        """Wait for the checks in flight (used at shutdown and by tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def check_tick_seconds(interval_seconds: float) -> float:
    """How often to look for due checks: a tenth of the interval, between 1 s and 30 s."""
    return min(30.0, max(1.0, interval_seconds / 10))


def build_scheduler(
    dispatcher: CheckDispatcher,
    outbox: OutboxWorker,
    *,
    outbox_tick: float = 1.0,
    digests: DigestJob | None = None,
    digest_retry: float = 300.0,
) -> AsyncIOScheduler:
    """Must be started inside the running event loop. With `digests`: a run at the digest
    time in the team's zone, one at start (catch-up after downtime) and one every
    `digest_retry` seconds (digests that failed or whose poster died). What is due and
    what is done lives in the database, so extra runs post nothing twice."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    tick = check_tick_seconds(dispatcher.runner.interval.total_seconds())
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        _logged(dispatcher.tick),
        "interval",
        seconds=tick,
        id="checks",
        next_run_time=datetime.now(UTC),
        **common,
    )
    scheduler.add_job(
        _logged(outbox.deliver_due),
        "interval",
        seconds=outbox_tick,
        id="outbox",
        next_run_time=datetime.now(UTC),
        **common,
    )
    if digests is not None:
        scheduler.add_job(_logged(digests.run_due), digest_trigger(digests), id="digest", **common)
        scheduler.add_job(
            _logged(digests.run_due),
            "interval",
            seconds=digest_retry,
            id="digest-catch-up",
            next_run_time=datetime.now(UTC),
            **common,
        )
    return scheduler


class DigestJob(Protocol):
    timezone: ZoneInfo
    digest_time: time

    async def run_due(self) -> object: ...


def digest_trigger(digests: DigestJob) -> CronTrigger:
    """Every day at the digest time on the team's wall clock (DST included)."""
    at = digests.digest_time
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=digests.timezone)


def _logged(job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:
            return  # the scheduler is shutting down; what was not done stays due in the database
        except Exception:
            # The database may be briefly away; the next tick tries again.
            log.exception("scheduled job %s failed", getattr(job, "__qualname__", job))

    return run
