"""A check that cannot have a quota slot waits for one: the dataset's last state stands,
nothing goes stale, no change is inferred, and a new monitor's baseline is "pending" with
the time its slot is expected, said in the reply (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from sqlalchemy import func, select

from bot.commands.flows import MonitorFlows
from bot.config import QuotaLimit
from bot.core.results import Caller
from bot.core.text import render_text
from bot.monitoring.datasets.subdomains import SubdomainsDataset
from bot.monitoring.quota import QuotaGate
from bot.monitoring.runner import Runner
from bot.monitoring.sources.crtsh import CrtShClient
from bot.monitoring.store.quotas import QuotaStore, window_margin
from bot.storage.db import Database
from bot.storage.models import ChangeRow, SourceFailureRow, Subject
from tests.fakes.clock import FakeClock
from tests.fakes.http_sources import LETS_ENCRYPT_R3, FakeHttpSources, _crtsh_row

ONE_AN_HOUR = (QuotaLimit(1, 3600.0),)
CALLER = Caller("T1", "C0INTEL", "U0ANALYST")
FIRST, SECOND = "evil-example.com", "second-example.com"


@pytest_asyncio.fixture
async def bot(
    store: Database, http_sources: FakeHttpSources
) -> AsyncIterator[tuple[MonitorFlows, FakeClock]]:
    http_sources.crtsh_rows[SECOND] = copy.deepcopy(http_sources.crtsh_rows[FIRST])
    clock = FakeClock()
    database = store
    quotas = QuotaStore(store.engine)
    gate = QuotaGate(
        quotas, database, {"crtsh": ONE_AN_HOUR}, check_interval=timedelta(hours=1), clock=clock, plan_ttl=0
    )
    crtsh = CrtShClient(http_sources.url("crtsh"), cache_ttl=0, gate=gate)
    runner = Runner([SubdomainsDataset(crtsh)], database, clock=clock, interval=timedelta(hours=1))
    yield MonitorFlows(database, runner, clock=clock, quotas=quotas, gate=gate), clock
    await crtsh.close()
    database.close()


async def say(flows: MonitorFlows, text: str) -> str:
    result = await flows.execute(text, CALLER)
    shown = [result.reply, *(await result.follow_up() if result.follow_up else [])]
    return "\n".join(render_text(message) for message in shown)


async def test_a_deferred_check_changes_nothing_and_a_new_baseline_is_pending(
    bot: tuple[MonitorFlows, FakeClock], store: Database, http_sources: FakeHttpSources
) -> None:
    flows, clock = bot
    first = await say(flows, FIRST)
    assert "subdomains" in first and "pending" not in first  # the hour's one slot
    requests = len(http_sources.requests_for("crtsh"))
    slot_frees = clock.now + timedelta(hours=1) + window_margin(ONE_AN_HOUR[0])

    # The second monitor's baseline has no slot: pending, with when, and checked again then.
    second = await say(flows, SECOND)
    assert "baseline pending, waiting for a quota slot" in second
    assert f"crtsh at {slot_frees:%Y-%m-%d %H:%M} UTC" in second
    subject = store.monitors.subject(SECOND)
    assert subject is not None
    with store.engine.connect() as connection:
        next_check = connection.execute(
            select(Subject.next_check_at).where(Subject.id == subject.id)
        ).scalar_one()
    assert next_check.replace(tzinfo=slot_frees.tzinfo) <= slot_frees

    # crt.sh now lists a new subdomain of the first, but its next check is not its turn:
    # nothing is asked, nothing changes, nothing goes stale.
    http_sources.crtsh_rows[FIRST].append(
        _crtsh_row(
            5,
            LETS_ENCRYPT_R3,
            183267,
            "vpn.evil-example.com",
            "0f",
            "2026-11-01T00:00:00",
            "2027-01-30T00:00:00",
        )
    )
    clock.advance(minutes=20)
    monitored = store.monitors.subject(FIRST)
    assert monitored is not None
    report = await flows.runner.check(monitored)
    assert report.changes == []
    [outcome] = report.outcomes
    assert outcome.observation.failed and not outcome.observation.stale
    health = {h.dataset: h for h in store.checks.dataset_health(monitored.id)}
    assert health["subdomains"].stale is False and health["subdomains"].last_error is None
    assert health["subdomains"].facts  # the baseline stands
    status = await say(flows, f"status {FIRST}")
    assert "stale" not in status
    # 2 monitors on 90 % of 1 an hour (the rest is kept for new monitors and manual checks).
    assert "certificates and subdomains (crt.sh) every 2 h 13 min" in status
    assert "crt.sh allows 1 an hour for 2 monitors" in status
    assert len(http_sources.requests_for("crtsh")) == requests  # the source was not asked
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ChangeRow)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(SourceFailureRow)).scalar() == 0

    # When the slot frees, the queued baseline takes it before any routine lookup.
    clock.now = slot_frees + timedelta(seconds=1)
    subject = store.monitors.subject(SECOND)
    assert subject is not None
    report = await flows.runner.check(subject)
    assert report.baseline and not report.outcomes[0].observation.failures
    assert "pending" not in await say(flows, f"status {SECOND}")
