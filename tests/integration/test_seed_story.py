"""The seed story through the runner: a monitored IP, a new domain resolving to it a week
later (passive DNS), and the alert that pivots to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.alerts.messages.alerts import build_alert_message
from bot.config import HostPort, Secret
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.runner import Runner
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.storage.db import Database
from bot.storage.views import SubjectView
from tests.fakes.clock import FakeClock
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import FakeHttpSources, _mnemonic_row

IP = "98.126.38.107"
WEEK = 7 * 24


@pytest.fixture
async def runner(
    store: Database, dns_server: FakeDnsServer, http_sources: FakeHttpSources
) -> AsyncIterator[Runner]:
    http_sources.mnemonic_rows[IP] = [_mnemonic_row("old-site.com.", IP, "a", 1704067200, 1706745600)]
    dns = ResolverDnsClient([HostPort(dns_server.host, dns_server.port)], timeout=0.6)
    mnemonic = MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), timeout=0.5)
    async_store = store
    dataset = ResolutionsDataset(dns, [mnemonic])
    yield Runner([dataset], async_store, clock=FakeClock())
    await mnemonic.close()
    async_store.close()


def monitor(store: Database, indicator: str, kind: IndicatorKind) -> SubjectView:
    store.monitors.add(
        team_id="T1", channel_id="C1", user_id="U1", indicators=[(indicator, kind)], now=FakeClock().now
    )
    subject = store.monitors.subject(indicator)
    assert subject is not None
    return subject


async def check(runner: Runner, subject: SubjectView, hours: int = 1) -> list[tuple[str, str | None, str]]:
    assert isinstance(runner.clock, FakeClock)
    runner.clock.advance(hours=hours)
    report = await runner.check(subject)
    return [(c.field, c.new_value, c.source) for c in report.changes]


async def test_seed_new_domain_on_a_monitored_ip_alerts_with_a_pivot(
    runner: Runner, store: Database, http_sources: FakeHttpSources
) -> None:
    subject = monitor(store, IP, IndicatorKind.IP)
    assert await check(runner, subject) == []  # baseline: old-site.com
    http_sources.mnemonic_rows[IP].append(
        _mnemonic_row("www.interfaxru.com.", IP, "a", 1709251200, 1709251200)
    )
    assert await check(runner, subject, hours=WEEK) == [("domain", "www.interfaxru.com", "mnemonic")]

    alerts = store.outbox.claim(now=runner.clock(), lease=timedelta(minutes=1), limit=10)
    assert [a.channel_id for a in alerts] == ["C1"]
    message = build_alert_message(
        alerts[0].indicator, alerts[0].kind, alerts[0].changes, detected_at=alerts[0].created_at
    )
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert {"action_id": "investigate_0", "value": "www.interfaxru.com"}.items() <= buttons[0].items()
    assert "www.interfaxru.com" in message.text


async def test_seed_pdns_outage_changes_nothing_and_history_never_shrinks(
    runner: Runner, store: Database, http_sources: FakeHttpSources
) -> None:
    subject = monitor(store, IP, IndicatorKind.IP)
    await check(runner, subject)
    http_sources.inject("mnemonic", "500")
    assert await check(runner, subject) == []
    assert store.checks.dataset_health(subject.id)[0].stale
    http_sources.clear()
    http_sources.mnemonic_rows[IP] = []  # an answer cut short is not a removal
    assert await check(runner, subject) == []
    assert await check(runner, subject) == []
    assert [f.value for f in store.checks.dataset_health(subject.id)[0].facts if f.field == "domain"] == [
        "old-site.com"
    ]
