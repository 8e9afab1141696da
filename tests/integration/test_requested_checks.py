"""Checks people asked for go through the one handover (bot/storage/handovers.py), as slash
commands do (SQLite and PostgreSQL): requested, claimed by one worker at a time, completed
with the summary the asker reads, forgotten a day later."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.observations import IndicatorKind, Observation
from bot.monitoring.requested_checks import RequestedChecks, requested_check_job
from bot.monitoring.runner import CheckReport, Runner
from bot.monitoring.store.check_requests import KEPT, CheckRequestStore
from bot.storage.db import Database
from bot.storage.views import SubjectView
from tests.fakes.clock import FakeClock

LEASE = timedelta(minutes=5)


class Resolves:
    name = "resolutions"

    def applies_to(self, kind: IndicatorKind) -> bool:
        return True

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        return Observation(self.name, frozenset(), frozenset({"A 192.0.2.1"}))


class BrokenRunner(Runner):
    async def check(self, subject: SubjectView, *, manual: bool = False) -> CheckReport:
        raise RuntimeError("this check's own failure")


def subject_ids(store: Database, clock: FakeClock, *indicators: str) -> list[int]:
    added = store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[(indicator, IndicatorKind.DOMAIN) for indicator in indicators],
        now=clock(),
    )
    return [monitor.subject_id for monitor in added]


def test_a_requested_check_is_claimed_once_and_its_result_read_back(store: Database) -> None:
    clock = FakeClock()
    requests = CheckRequestStore(store.engine)
    first, second = subject_ids(store, clock, "one.example", "two.example")
    asked = [requests.request(first, now=clock()), requests.request(second, now=clock())]
    [claimed] = requests.claim(now=clock(), lease=LEASE, limit=1)
    assert claimed.subject.indicator == "one.example" and claimed.claim_id == asked[0]  # oldest first
    [other] = requests.claim(now=clock(), lease=LEASE, limit=5)
    assert other.subject.indicator == "two.example"
    assert requests.claim(now=clock(), lease=LEASE, limit=5) == []
    requests.complete({claimed.claim_id: {"baseline": True}}, now=clock())
    assert requests.result(asked[0]) == (True, {"baseline": True})
    assert requests.results(asked) == {asked[0]: {"baseline": True}}  # the other still runs
    assert requests.open_count() == 1
    # The worker holding the other died: past the lease another takes it.
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert [c.claim_id for c in requests.claim(now=clock(), lease=LEASE, limit=5)] == [asked[1]]
    clock.advance(seconds=KEPT.total_seconds() + 1)
    requests.complete({}, now=clock())
    assert requests.result(asked[0]) == (True, None)  # forgotten: read as done


async def test_the_worker_runs_what_was_asked_and_the_asker_reads_its_changes(store: Database) -> None:
    clock = FakeClock()
    runner = Runner([Resolves()], store, clock=clock)
    requests = CheckRequestStore(store.engine)
    job = requested_check_job(runner, requests)
    asker = RequestedChecks(runner, requests, store, poll=0.01, patience=10)
    [subject_id] = subject_ids(store, clock, "asked.example")
    subject = store.monitors.subject("asked.example")
    assert subject is not None and subject.id == subject_id

    async def worker() -> None:
        while True:
            await job.run_due()
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(worker())
    try:
        report = await asker.check(subject)
        assert report.baseline and [o.observation.dataset for o in report.outcomes] == ["resolutions"]
    finally:
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        await job.drain(grace=None)
    assert requests.open_count() == 0


async def test_a_requested_check_that_fails_is_completed_as_failed(store: Database) -> None:
    clock = FakeClock()
    requests = CheckRequestStore(store.engine)
    job = requested_check_job(BrokenRunner([Resolves()], store, clock=clock), requests)
    [subject_id] = subject_ids(store, clock, "broken.example")
    failed = requests.request(subject_id, now=clock())
    assert await job.run_due() == 1
    await job.drain(grace=None)  # ended: marked done with what the asker shows
    assert requests.result(failed) == (True, {"error": True})
