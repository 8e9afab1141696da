"""CDN churn through the runner and storage, on loopback DNS: a domain moving between
Cloudflare's networks is recorded, not alerted; moving off Cloudflare alerts."""

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

ASNS = {"104.16.1.1": "AS13335", "172.66.1.1": "AS209242", "45.77.10.20": "AS20473"}


async def origin(ip: str) -> str | None:
    return ASNS.get(ip)


async def test_cdn_churn_is_history_not_alert(store: Database, dns_server: FakeDnsServer) -> None:
    dns_server.set("behind-cdn.com", "A", ["104.16.1.1"])
    dns = ResolverDnsClient([HostPort(dns_server.host, dns_server.port)], timeout=0.6)
    clock = FakeClock()
    policy = AlertPolicy.from_settings(summarise_same_asn=True)
    runner = Runner([ResolutionsDataset(dns, origin_asn=origin)], store, clock=clock, policy=policy)
    store.monitors.add(
        team_id="T",
        channel_id="C",
        user_id="U",
        indicators=[("behind-cdn.com", IndicatorKind.DOMAIN)],
        now=clock.now,
    )
    subject = store.monitors.subject("behind-cdn.com")
    assert subject is not None
    await runner.check(subject)
    dns_server.set("behind-cdn.com", "A", ["172.66.1.1"])
    for _ in range(2):  # a removal is confirmed on the next check
        clock.advance(hours=1)
        await runner.check(subject)
    assert store.outbox.claim(now=clock.now, lease=timedelta(minutes=1), limit=5) == []
    history = sorted(
        (r.change.field, r.change.kind.value, r.change.value, r.change.alert)
        for r in store.history.history(subject.id)
    )
    assert history == [
        ("A", "added", "172.66.1.1", False),
        ("A", "removed", "104.16.1.1", False),
        ("asn", "added", "AS209242", False),
        ("asn", "removed", "AS13335", False),
    ]

    dns_server.set("behind-cdn.com", "A", ["45.77.10.20"])
    for _ in range(2):
        clock.advance(hours=1)
        await runner.check(subject)
    alerts = store.outbox.claim(now=clock.now, lease=timedelta(minutes=1), limit=5)
    assert len(alerts) >= 1
    alerted = {(r.change.field, r.change.value) for r in store.history.history(subject.id) if r.change.alert}
    assert {("A", "45.77.10.20"), ("asn", "AS20473")} <= alerted
