"""Runner + DNS datasets + storage against a real DNS server on loopback: zone edits
become exactly the expected changes; server failures become none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.config import HostPort
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.runner import CheckReport, Runner
from bot.storage.db import Database
from bot.storage.views import SubjectView
from tests.fakes.clock import FakeClock
from tests.fakes.dns_server import FakeDnsServer

DOMAIN = "evil-infra.com"


@pytest.fixture(params=["resolver", "multiplexed"])
async def runner(
    store: Database, dns_server: FakeDnsServer, request: pytest.FixtureRequest
) -> AsyncIterator[Runner]:
    """Both DNS clients: dnspython's stock resolver and the multiplexed fast path."""
    kind = ResolverDnsClient if request.param == "resolver" else MultiplexedDnsClient
    dns = kind(
        [HostPort(dns_server.host, dns_server.port)], timeout=2.0
    )  # generous: a loaded machine answers late
    async_store = store
    yield Runner([ResolutionsDataset(dns), DnsRecordsDataset(dns)], async_store, clock=FakeClock())
    async_store.close()


async def check(runner: Runner, subject: SubjectView) -> list[tuple[str, str, str, str | None, str | None]]:
    """One check an hour later; its changes as (dataset, kind, field, old, new), sorted."""
    assert isinstance(runner.clock, FakeClock)
    runner.clock.advance(hours=1)
    report: CheckReport = await runner.check(subject)
    return sorted((c.dataset, c.kind.value, c.field, c.old_value, c.new_value) for c in report.changes)


def monitor(
    store: Database, indicator: str = DOMAIN, kind: IndicatorKind = IndicatorKind.DOMAIN
) -> SubjectView:
    store.monitors.add(
        team_id="T1", channel_id="C1", user_id="U1", indicators=[(indicator, kind)], now=FakeClock().now
    )
    subject = store.monitors.subject(indicator)
    assert subject is not None
    return subject


def serve_domain(dns_server: FakeDnsServer) -> None:
    dns_server.set(DOMAIN, "A", ["192.0.2.10"])
    dns_server.set(DOMAIN, "NS", ["ns1.host.net.", "ns2.host.net."])
    dns_server.set(DOMAIN, "MX", ["10 mail.evil-infra.com."])
    dns_server.set(DOMAIN, "SOA", ["ns1.host.net. admin.evil-infra.com. 1 7200 900 1209600 300"])


async def test_runner_zone_edits_give_exactly_the_expected_changes(
    runner: Runner, store: Database, dns_server: FakeDnsServer
) -> None:
    serve_domain(dns_server)
    subject = monitor(store)
    assert await check(runner, subject) == []  # baseline
    assert store.outbox.claim(now=runner.clock(), lease=timedelta(minutes=1), limit=10) == []

    dns_server.set(DOMAIN, "A", ["192.0.2.10", "198.51.100.7"])
    assert await check(runner, subject) == [("resolutions", "added", "A", None, "198.51.100.7")]

    dns_server.set(DOMAIN, "A", ["198.51.100.7"], ttl=60)  # TTL and order are not changes
    dns_server.set(DOMAIN, "NS", ["NS2.HOST.NET.", "ns1.host.net."])
    dns_server.set(
        DOMAIN, "SOA", ["ns1.host.net. admin.evil-infra.com. 2 7200 900 1209600 300"]
    )  # serial only
    assert await check(runner, subject) == []  # 192.0.2.10 missing once: not yet a removal
    assert await check(runner, subject) == [("resolutions", "removed", "A", "192.0.2.10", None)]

    dns_server.set(DOMAIN, "MX", ["20 mx.other-host.org."])
    assert await check(runner, subject) == [("dns_records", "added", "MX", None, "20 mx.other-host.org")]
    assert await check(runner, subject) == [("dns_records", "removed", "MX", "10 mail.evil-infra.com", None)]

    alerts = store.outbox.claim(now=runner.clock(), lease=timedelta(minutes=1), limit=10)
    assert len(alerts) == 1 and alerts[0].changes[0].new_value == "198.51.100.7"  # the channel's queue head


@pytest.mark.parametrize("fault", ["timeout", "servfail", "refused"])
async def test_runner_server_failure_changes_nothing_and_marks_stale(
    runner: Runner, store: Database, dns_server: FakeDnsServer, fault: str
) -> None:
    serve_domain(dns_server)
    subject = monitor(store)
    await check(runner, subject)
    dns_server.remove(DOMAIN)
    with dns_server.fault(fault):
        assert await check(runner, subject) == []
        assert await check(runner, subject) == []  # twice: no removal is confirmed by failures
    health = {h.dataset: h for h in store.checks.dataset_health(subject.id)}
    assert health["resolutions"].stale and health["dns_records"].stale
    assert {f.value for f in health["resolutions"].facts} == {"192.0.2.10", "exists"}
    serve_domain(dns_server)
    # The next check that reads clears it. On a loaded machine one lookup may still time
    # out (the fixture's timeout is short): wait for the event, a few checks at most.
    for _ in range(5):
        assert await check(runner, subject) == []
        if not any(h.stale for h in store.checks.dataset_health(subject.id)):
            break
    assert not any(h.stale for h in store.checks.dataset_health(subject.id))


async def test_runner_nxdomain_is_a_change_after_confirmation(
    runner: Runner, store: Database, dns_server: FakeDnsServer
) -> None:
    serve_domain(dns_server)
    subject = monitor(store)
    await check(runner, subject)
    dns_server.remove(DOMAIN)
    assert await check(runner, subject) == []
    changes = await check(runner, subject)
    assert ("resolutions", "changed", "status", "exists", "NXDOMAIN") in changes
    assert ("dns_records", "changed", "status", "exists", "NXDOMAIN") in changes
    assert ("resolutions", "removed", "A", "192.0.2.10", None) in changes
    assert ("dns_records", "removed", "NS", "ns1.host.net", None) in changes


async def test_runner_nxdomain_flap_is_silent(
    runner: Runner, store: Database, dns_server: FakeDnsServer
) -> None:
    serve_domain(dns_server)
    subject = monitor(store)
    await check(runner, subject)
    dns_server.remove(DOMAIN)
    assert await check(runner, subject) == []
    serve_domain(dns_server)
    assert await check(runner, subject) == []
    assert await check(runner, subject) == []


async def test_runner_ptr_of_a_monitored_ip(
    runner: Runner, store: Database, dns_server: FakeDnsServer
) -> None:
    dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["host-a.example-hosting.net."])
    subject = monitor(store, "98.126.38.107", IndicatorKind.IP)
    assert await check(runner, subject) == []
    dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["host-b.example-hosting.net."])
    assert await check(runner, subject) == [
        ("resolutions", "added", "PTR", None, "host-b.example-hosting.net")
    ]
