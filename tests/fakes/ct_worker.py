"""The worker's CT job on a fake clock, for tests: the real services and the scheduler's
own CT job (as `watchpost worker` builds it), run tick by tick over simulated hours, with
the commands people would send beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.composition import Services, build_services
from bot.config import Settings
from bot.core.results import Caller
from bot.core.text import render_text
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from bot.worker import build_worker_scheduler
from tests.fakes.clock import FakeClock

DAY = 86_400


@dataclass
class CtWorker:
    services: Services
    clock: FakeClock
    job: Callable[[], Awaitable[None]]  # the worker's scheduled CT job, as the scheduler runs it
    interval: float
    caller: Caller

    async def run_for(self, seconds: float) -> None:
        """The CT job at each of its ticks over `seconds` of the fake clock."""
        for _ in range(max(1, int(seconds // self.interval))):
            await self.job()
            self.clock.advance(seconds=self.interval)

    async def say(self, text: str) -> str:
        result = await self.services.flows.execute(text, self.caller)
        return render_text(result.reply)

    async def watch(self, text: str) -> tuple[str, str]:
        """A new watch: the reply at once, and the follow-up (CT's first look) after it."""
        result = await self.services.flows.execute(text, self.caller)
        assert result.follow_up is not None
        return render_text(result.reply), "\n".join(render_text(m) for m in await result.follow_up())

    async def deliver(self) -> int:
        return sum([(await self.services.outbox.deliver_due()).sent for _ in range(5)])


@asynccontextmanager
async def ct_worker(settings: Settings, caller: Caller) -> AsyncIterator[CtWorker]:
    # A simulated day that ends a few minutes before the real now: the loopback logs and
    # stream stamp entries with the real time, and a watch matches what came after it.
    clock = FakeClock(datetime.now(UTC) - timedelta(days=1, minutes=10))
    services = build_services(
        settings, SlackTransport(build_web_client(settings, timeout=5)), clock=clock, datasets=[]
    )
    try:
        job = build_worker_scheduler(services).get_job("ct")
        assert job is not None
        yield CtWorker(services, clock, job.func, job.trigger.interval.total_seconds(), caller)
    finally:
        await services.aclose()
