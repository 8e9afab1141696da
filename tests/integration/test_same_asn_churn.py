"""WATCHPOST_SUMMARISE_SAME_ASN through the runner and storage: churn is recorded, not alerted."""

from __future__ import annotations

from datetime import timedelta

from bot.alerts.pipeline import AlertPolicy
from bot.config import HostPort
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from tests.fakes.clock import FakeClock
from tests.fakes.dns_server import FakeDnsServer

ASNS = {"45.77.10.20": "AS20473", "45.77.10.21": "AS20473", "104.16.1.1": "AS13335"}


async def origin(ip: str) -> str | None:
    return ASNS.get(ip)


async def test_same_asn_churn_is_history_not_alert(store: Database, dns_server: FakeDnsServer) -> None:
    dns_server.set("evil-infra.com", "A", ["45.77.10.20"])
    dns = ResolverDnsClient([HostPort(dns_server.host, dns_server.port)], timeout=0.6)
    clock = FakeClock()
    async_store = store
    runner = Runner(
        [ResolutionsDataset(dns, origin_asn=origin)],
        async_store,
        clock=clock,
        policy=AlertPolicy.from_settings(summarise_same_asn=True),
    )
    store.monitors.add(
        team_id="T",
        channel_id="C",
        user_id="U",
        indicators=[("evil-infra.com", IndicatorKind.DOMAIN)],
        now=clock.now,
    )
    subject = store.monitors.subject("evil-infra.com")
    assert subject is not None
    try:
        await runner.check(subject)
        dns_server.set("evil-infra.com", "A", ["45.77.10.21"])
        for _ in range(2):
            clock.advance(hours=1)
            await runner.check(subject)
        assert store.outbox.claim(now=clock.now, lease=timedelta(minutes=1), limit=5) == []
        history = store.history.history(subject.id)
        assert sorted((r.change.kind.value, r.change.value, r.change.alert) for r in history) == [
            ("added", "45.77.10.21", False),
            ("removed", "45.77.10.20", False),
        ]

        dns_server.set("evil-infra.com", "A", ["45.77.10.21", "104.16.1.1"])
        clock.advance(hours=1)
        await runner.check(subject)
        alerts = store.outbox.claim(now=clock.now, lease=timedelta(minutes=1), limit=5)
        assert sorted(c.value for a in alerts for c in a.changes) == ["104.16.1.1", "AS13335"]
    finally:
        async_store.close()
