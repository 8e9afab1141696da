"""Scheduled checks: a slow subject never holds up the others, a broken dataset never
stops a check, and every due subject is claimed once."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from bot.core.observations import Fact, IndicatorKind, Observation
from bot.monitoring.quota import current_lookup
from bot.monitoring.runner import Runner
from bot.monitoring.scheduler import CheckDispatcher, check_tick_seconds
from bot.storage.db import Database
from tests.fakes.clock import FakeClock


class StallingDataset:
    """Answers at once, except for `slow.com`, which waits until released."""

    name = "resolutions"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[str] = []

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        self.calls.append(indicator)
        if indicator == "slow.com":
            await self.release.wait()
        return Observation(self.name, frozenset({Fact("A", "45.77.10.20", "dns")}), frozenset({"A"}))


class BrokenDataset:
    name = "dns_records"

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        raise RuntimeError("a bug in a dataset")


def add_domains(store: Database, names: list[str], clock: FakeClock) -> None:
    """Domain monitors in one channel, due now."""
    store.monitors.add(
        team_id="T",
        channel_id="C",
        user_id="U",
        indicators=[(n, IndicatorKind.DOMAIN) for n in names],
        now=clock.now,
    )


async def wait_until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_dispatcher_slow_subject_does_not_block_others(store: Database) -> None:
    clock = FakeClock()
    stalling = StallingDataset()
    async_store = store
    runner = Runner(
        [stalling, BrokenDataset()], async_store, clock=clock, interval=timedelta(hours=1), concurrency=2
    )
    names = ["slow.com", "fast-one.com", "fast-two.com"]
    add_domains(store, names, clock)
    dispatcher = CheckDispatcher(runner)
    try:
        assert await dispatcher.tick() == 3
        assert await dispatcher.tick() == 0  # claimed once: nothing is due twice

        def checked(name: str) -> bool:
            subject = store.monitors.subject(name)
            return subject is not None and subject.last_checked_at is not None

        await wait_until(lambda: dispatcher.in_flight == 1)
        assert checked("fast-one.com") and checked("fast-two.com") and not checked("slow.com")
        stalling.release.set()
        await dispatcher.drain()
        assert checked("slow.com")
        subject = store.monitors.subject("fast-one.com")
        assert subject is not None
        health = {h.dataset: h for h in store.checks.dataset_health(subject.id)}
        assert health["resolutions"].baseline_at is not None  # the broken dataset did not stop it
        assert health["dns_records"].stale and "RuntimeError" in (health["dns_records"].last_error or "")
    finally:
        await dispatcher.drain()
        async_store.close()


def test_dispatcher_tick_follows_the_interval() -> None:
    assert [check_tick_seconds(s) for s in (1, 60, 3600)] == [1.0, 6.0, 30.0]


class QuickDataset:
    name = "resolutions"

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        await asyncio.sleep(0)
        return Observation(self.name, frozenset({Fact("A", "45.77.10.20", "dns")}), frozenset({"A"}))


async def test_dispatcher_claims_a_whole_cycle_without_waiting_for_ticks(store: Database) -> None:
    clock = FakeClock()
    async_store = store
    runner = Runner([QuickDataset()], async_store, clock=clock, interval=timedelta(hours=1), concurrency=3)
    names = [f"host{i}.example.com" for i in range(40)]
    add_domains(store, names, clock)
    dispatcher = CheckDispatcher(runner)
    try:
        assert await dispatcher.tick() == 6  # twice the concurrency per claim...
        await dispatcher.drain()  # ...and more claims as checks finish, until nothing is due
        assert all((s := store.monitors.subject(n)) is not None and s.last_checked_at for n in names)
        assert await dispatcher.tick() == 0
    finally:
        await dispatcher.drain()
        async_store.close()


async def test_dispatcher_closed_claims_nothing_more(store: Database) -> None:
    clock = FakeClock()
    async_store = store
    runner = Runner([QuickDataset()], async_store, clock=clock, interval=timedelta(hours=1), concurrency=2)
    names = [f"host{i}.example.com" for i in range(20)]
    add_domains(store, names, clock)
    dispatcher = CheckDispatcher(runner)
    try:
        assert await dispatcher.tick() == 4
        dispatcher.close()  # shutting down: the checks in flight finish, the rest stays due
        await dispatcher.drain()
        checked = [n for n in names if (s := store.monitors.subject(n)) is not None and s.last_checked_at]
        assert len(checked) == 4
        assert await dispatcher.tick() == 0
    finally:
        await dispatcher.drain()
        async_store.close()


class SlowLaterClaims(Database):
    """The same database, but every claim after the first waits a while, as one does
    behind another process's write lock."""

    def __init__(self, inner: Database) -> None:
        self.__dict__.update(inner.__dict__)
        self.claims = 0

    async def run(self, method, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        if method == self.checks.claim_due:
            self.claims += 1
            if self.claims > 1:
                await asyncio.sleep(0.2)
        return await super().run(method, *args, **kwargs)


async def test_a_slow_claim_in_the_middle_of_a_cycle_does_not_end_it_in_the_log(
    store: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    slow = SlowLaterClaims(store)
    runner = Runner([QuickDataset()], slow, clock=clock, interval=timedelta(hours=1), concurrency=3)
    names = [f"host{i}.example.com" for i in range(20)]
    add_domains(store, names, clock)
    caplog.set_level(logging.INFO, logger="bot.monitoring.scheduler")
    dispatcher = CheckDispatcher(runner)
    try:
        await dispatcher.tick()
        await dispatcher.drain()
        await asyncio.sleep(0.05)  # the last claim's end-of-run check runs soon after it
        ends = [r.getMessage() for r in caplog.records if "subjects in" in r.getMessage()]
        # Each claim's checks were done long before the next claim came back: one line
        # for the whole cycle all the same.
        assert slow.claims > 3
        assert len(ends) == 1 and ends[0].startswith("checked 20 subjects in"), ends
    finally:
        await dispatcher.drain()
        store.close()


class QueuedSourceDataset:
    """Stands in for a quota-limited source: `queued.com`'s first lookup is told to come
    back `wait` later (a place in the source's queue); every other lookup is answered."""

    name = "subdomains"

    def __init__(self, clock: FakeClock, wait: timedelta = timedelta(seconds=30)) -> None:
        self.clock = clock
        self.wait = wait
        self.calls: list[str] = []

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        self.calls.append(indicator)
        lookups = current_lookup()
        if indicator == "queued.com" and self.calls.count(indicator) == 1 and lookups is not None:
            until = self.clock.now + self.wait
            lookups.deferred["crtsh"] = lookups.come_back_at = until
            return Observation.error(self.name, "crtsh", "quota: next slot")
        return Observation(self.name, frozenset({Fact("A", "45.77.10.20", "dns")}), frozenset({"A"}))


async def test_a_check_told_to_come_back_is_claimed_then_before_everything_else_due(
    store: Database,
) -> None:
    clock = FakeClock()
    dataset = QueuedSourceDataset(clock)
    runner = Runner([dataset], store, clock=clock, interval=timedelta(hours=1), concurrency=2)
    add_domains(store, ["queued.com"], clock)
    dispatcher = CheckDispatcher(runner)
    try:
        assert await dispatcher.tick() == 1
        await dispatcher.drain()
        assert dataset.calls == ["queued.com"]
        # Meanwhile many more new monitors are due, older than the slot's time...
        names = [f"new{i}.example.com" for i in range(20)]
        add_domains(store, names, clock)
        clock.advance(seconds=30)
        # ...yet the claim at the slot's time takes the one a source waits for first.
        assert await dispatcher.tick() == 5  # it, and the room of two checks twice over
        await dispatcher.drain()
        assert dataset.calls[1] == "queued.com"
        subject = store.monitors.subject("queued.com")
        assert subject is not None and subject.last_checked_at == clock.now
    finally:
        await dispatcher.drain()
        store.close()


async def test_a_check_due_to_come_back_now_needs_no_tick(store: Database) -> None:
    clock = FakeClock()
    dataset = QueuedSourceDataset(clock, wait=timedelta(0))  # its slot frees at once
    runner = Runner([dataset], store, clock=clock, interval=timedelta(hours=1), concurrency=2)
    add_domains(store, ["queued.com"], clock)
    dispatcher = CheckDispatcher(runner)
    try:
        assert await dispatcher.tick() == 1
        # One tick only: the dispatcher claims it again at the time the source said.
        await wait_until(lambda: dataset.calls.count("queued.com") == 2)
        await dispatcher.drain()
        assert await dispatcher.tick() == 0  # served: not due again for an interval
    finally:
        dispatcher.close()
        await dispatcher.drain()
        store.close()
