"""APScheduler jobs: claim due checks, deliver the outbox, post digests. The jobs only
trigger work; what is due lives in the database, so a restart or a second process picks
up from there."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from time import monotonic
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import OperationalError

from bot.monitoring.runner import Runner
from bot.storage.views import SubjectView

log = logging.getLogger(__name__)


class CheckDispatcher:
    """Claims due subjects and runs their checks as independent tasks, at most
    `runner.concurrency` at once: a slow subject never holds up the next claims.

    A tick claims up to twice the concurrency. When it took all it asked for, more may
    be due: the next claim comes as soon as half of those are done, not at the next tick
    (30 s apart at the default interval), so a cycle over 100,000 monitors runs at the
    speed of the checks. Claims stay small, so several processes share a cycle.

    A check that a quota-limited source told to come back (it holds a place in the
    source's queue) is claimed again at that time, not at the next tick, and before
    anything else that is due: a slot not taken when it frees up is gone, and behind
    thousands of new monitors waiting to queue the slot would pass unused."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._gate = asyncio.Semaphore(runner.concurrency)
        # Checks back for a slot a source holds for them have places of their own: behind
        # the new ones in flight, their slot would pass before they ask for it.
        self._returns_gate = asyncio.Semaphore(runner.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._claiming = asyncio.Lock()
        self._more_due = False
        self._refill: asyncio.Task[None] | None = None
        self._closed = False
        # The current run of back-to-back claims, for one log line when it ends.
        self._run_started: float | None = None
        self._run_checks = 0
        self._run_changed = 0
        # Subjects told to come back: (when, subject id), earliest first; `_returning`
        # holds each one's current time (a later entry for an id replaces an earlier one).
        self._returns: list[tuple[datetime, int]] = []
        self._returning: dict[int, datetime] = {}
        self._wake: asyncio.TimerHandle | None = None
        self._wake_at: datetime | None = None
        self._back: set[asyncio.Task[None]] = set()  # the checks of those (a part of `_tasks`)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def tick(self) -> int:
        async with self._claiming:
            if self._closed:
                return 0
            db = self.runner.db
            now = self.runner.clock()
            # Those a source holds a slot for now go first, with room of their own.
            back = self._take_returns(now, self.runner.concurrency * 2 - len(self._back))
            returning = (
                await db.run(
                    db.checks.claim_due, now=now, interval=self.runner.interval, limit=len(back), among=back
                )
                if back
                else []
            )
            room = self.runner.concurrency * 2 - (len(self._tasks) - len(self._back))
            found = []
            if room > 0:
                found = await db.run(db.checks.claim_due, now=now, interval=self.runner.interval, limit=room)
                self._more_due = len(found) == room
            if (found or returning) and self._run_started is None:
                self._run_started = monotonic()
            for subject in returning:
                task = asyncio.create_task(
                    self._check(subject, self._returns_gate), name=f"check {subject.indicator}"
                )
                self._tasks.add(task)
                self._back.add(task)
                task.add_done_callback(self._finished)
                task.add_done_callback(self._back_finished)
            for subject in found:
                task = asyncio.create_task(
                    self._check(subject, self._gate), name=f"check {subject.indicator}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._finished)
            self._schedule_wake()
            return len(found) + len(returning)

    def _back_finished(self, task: asyncio.Task[None]) -> None:
        self._back.discard(task)
        if len(self._back) == self.runner.concurrency * 2 - 1:  # room again for those waiting
            self._schedule_wake()

    def come_back(self, subject_id: int, at: datetime) -> None:
        """Claim this subject again at `at` (a source keeps a place for it then)."""
        if self._closed:
            return
        self._returning[subject_id] = at
        heapq.heappush(self._returns, (at, subject_id))
        self._schedule_wake()

    def _returns_due(self, now: datetime) -> bool:
        self._drop_replaced()
        return bool(self._returns) and self._returns[0][0] <= now

    def _take_returns(self, now: datetime, limit: int) -> list[int]:
        """Up to `limit` subjects whose time to come back has come, earliest first."""
        taken: list[int] = []
        while len(taken) < limit and self._returns_due(now):
            _, subject_id = heapq.heappop(self._returns)
            del self._returning[subject_id]
            taken.append(subject_id)
        return taken

    def _drop_replaced(self) -> None:
        while self._returns and self._returning.get(self._returns[0][1]) != self._returns[0][0]:
            heapq.heappop(self._returns)

    def _schedule_wake(self) -> None:
        """A claim at the earliest come-back time (the scheduled tick may be far off)."""
        self._drop_replaced()
        if self._closed or not self._returns or len(self._back) >= self.runner.concurrency * 2:
            return
        at = self._returns[0][0]
        if self._wake is not None and self._wake_at is not None and self._wake_at <= at:
            return
        if self._wake is not None:
            self._wake.cancel()
        delay = max(0.0, (at - self.runner.clock()).total_seconds())
        self._wake_at = at
        self._wake = asyncio.get_running_loop().call_later(delay, self._woken)

    def _woken(self) -> None:
        self._wake, self._wake_at = None, None
        if self._closed:
            return
        if self._refill is None or self._refill.done():  # (a claim on its way wakes it again)
            self._refill = asyncio.create_task(self._claim_more(), name="claim returning checks")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._run_checks += 1
        if self._closed:
            return
        if self._more_due and len(self._tasks) <= self.runner.concurrency:
            if self._refill is None or self._refill.done():
                self._more_due = False
                self._refill = asyncio.create_task(self._claim_more(), name="claim due checks")
        else:
            self._end_run_if_done()

    def _end_run_if_done(self) -> None:
        """One log line when a run of back-to-back claims is over: nothing in flight,
        nothing more due, and no claim still on its way (a slow one, waiting for the
        database, must not make the middle of a cycle look like its end)."""
        refilling = self._refill is not None and not self._refill.done()
        if self._tasks or self._more_due or refilling or self._run_started is None:
            return
        elapsed = monotonic() - self._run_started
        log.info(
            "checked %d subjects in %.1f s (%d with changes)",
            self._run_checks,
            elapsed,
            self._run_changed,
        )
        self._run_started, self._run_checks, self._run_changed = None, 0, 0

    async def _claim_more(self) -> None:
        try:
            await self.tick()
        except Exception:
            # The database may be briefly away: the next scheduled tick claims again.
            log.exception("claiming due checks failed")
        finally:
            if not self._closed:
                asyncio.get_running_loop().call_soon(self._end_run_if_done)

    async def _check(self, subject: SubjectView, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                report = await self.runner.check(subject)
            except OperationalError as exc:  # not recorded; checked again when next due
                log.warning("check of %s: database unavailable (%s)", subject.indicator, _reason(exc))
                return
            except Exception:
                log.exception("check of %s failed", subject.indicator)
                return
        if report.come_back_at is not None:
            self.come_back(subject.id, report.come_back_at)
        if report.changes:
            self._run_changed += 1
            log.info("%s: %d changes", subject.indicator, len(report.changes))

    def close(self) -> None:
        """Claim nothing more (shutdown): what is not claimed stays due in the database."""
        self._closed = True
        if self._wake is not None:
            self._wake.cancel()
            self._wake, self._wake_at = None, None

    async def drain(self) -> None:
        """Wait for the checks in flight, and for those claimed meanwhile unless closed
        (used at shutdown and by tests)."""
        while self._tasks or (self._refill is not None and not self._refill.done()):
            pending: list[asyncio.Task[None]] = list(self._tasks)
            if self._refill is not None and not self._refill.done():
                pending.append(self._refill)
            await asyncio.gather(*pending, return_exceptions=True)


def check_tick_seconds(interval_seconds: float) -> float:
    """How often to look for due checks: a tenth of the interval, between 1 s and 30 s."""
    return min(30.0, max(1.0, interval_seconds / 10))


# How long a process stopped by SIGTERM lets its running jobs finish (serve gives a worker
# 20 s before SIGKILL).
STOP_GRACE = 10.0


class JobScheduler(AsyncIOScheduler):  # type: ignore[misc]
    """APScheduler's asyncio scheduler, and `stop`: its shutdown leaves running jobs going,
    which would then meet the database and clients closed after it."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.job_tasks: set[asyncio.Task[object]] = set()

    async def stop(self, *, grace: float = 0.0) -> None:
        """Start no job again; give the running ones `grace` seconds to finish (a check in
        flight is worth finishing on SIGTERM; Ctrl-C wants out at once), cancel the rest
        (what they had not done stays due in the database) and wait for them."""
        self.pause()
        # A job submitted just now starts at the next turn of the loop: let it start, so
        # it is cancelled inside its own handler, not in APScheduler's (a traceback there).
        await asyncio.sleep(0)
        running = [task for task in self.job_tasks if not task.done()]
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self.shutdown(wait=False)


def build_scheduler(
    dispatcher: CheckDispatcher,
    outbox: DeliveryJob,
    *,
    outbox_tick: float = 1.0,
    digests: DigestJob | None = None,
    digest_retry: float = 300.0,
    receivers: DeliveryJob | None = None,
    permutations: PermutationJob | None = None,
    ct: CtJob | None = None,
    jobs: Mapping[str, tuple[float, Callable[[], Awaitable[object]]]] | None = None,
) -> JobScheduler:
    """Must be started inside the running event loop. With `digests`: a run at the digest
    time in the team's zone, one at start (catch-up after downtime) and one every
    `digest_retry` seconds (digests that failed or whose poster died). What is due and
    what is done lives in the database, so extra runs post nothing twice."""
    scheduler = JobScheduler(timezone=UTC)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}

    def every(seconds: float, job: Callable[[], Awaitable[object]], job_id: str) -> None:
        """An interval job that also runs at once, never twice at a time."""
        scheduler.add_job(
            _logged(job, scheduler.job_tasks),
            "interval",
            seconds=seconds,
            id=job_id,
            next_run_time=datetime.now(UTC),
            **common,
        )

    every(check_tick_seconds(dispatcher.runner.interval.total_seconds()), dispatcher.tick, "checks")
    every(outbox_tick, outbox.deliver_due, "outbox")
    if receivers is not None:  # webhooks, MISP, TheHive: one queue
        every(outbox_tick, receivers.deliver_due, "receivers")
    if ct is not None:
        every(ct.interval.total_seconds(), ct.poll, "ct")
    if permutations is not None:
        # Spread over the interval, each run within its share of the budget (the resolver's).
        runs = permutations.interval.total_seconds() / permutations.runs_per_interval
        every(max(60.0, runs), permutations.run_due, "permutations")
    for job_id, (seconds, job) in (jobs or {}).items():
        every(seconds, job, job_id)
    if digests is not None:
        scheduler.add_job(
            _logged(digests.run_due, scheduler.job_tasks), digest_trigger(digests), id="digest", **common
        )
        every(digest_retry, digests.run_due, "digest-catch-up")
    return scheduler


class DeliveryJob(Protocol):
    async def deliver_due(self) -> object: ...


class CtJob(Protocol):
    interval: timedelta

    async def poll(self) -> object: ...


class PermutationJob(Protocol):
    interval: timedelta
    runs_per_interval: int

    async def run_due(self) -> object: ...


class DigestJob(Protocol):
    timezone: ZoneInfo
    digest_time: time

    async def run_due(self) -> object: ...


def digest_trigger(digests: DigestJob) -> CronTrigger:
    """Every day at the digest time on the team's wall clock (DST included)."""
    at = digests.digest_time
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=digests.timezone)


def _logged(
    job: Callable[[], Awaitable[object]], running: set[asyncio.Task[object]] | None = None
) -> Callable[[], Awaitable[None]]:
    """`job` with its failures logged in one line; while it runs its task is in `running`
    (JobScheduler.stop waits for those)."""

    async def run() -> None:
        task = asyncio.current_task()
        if task is not None and running is not None:
            running.add(task)
            task.add_done_callback(running.discard)
        try:
            await job()
        except asyncio.CancelledError:
            return  # the scheduler is shutting down; what was not done stays due in the database
        except OperationalError as exc:
            # The database is briefly away (down, unreachable, locked): one line, no
            # traceback every second of an outage; the next tick tries again.
            name = getattr(job, "__qualname__", job)
            log.warning("scheduled job %s: database unavailable (%s)", name, _reason(exc))
        except Exception:
            log.exception("scheduled job %s failed", getattr(job, "__qualname__", job))

    return run


def _reason(exc: OperationalError) -> str:
    """The first line of the driver's message: "database is locked", "connection refused"."""
    lines = str(exc.orig or exc).strip().splitlines()
    return lines[0][:300] if lines else exc.__class__.__name__
