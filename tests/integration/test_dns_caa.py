"""The `dns_caa` dataset (the "Add a dataset" recipe's worked example) against a real DNS
server on loopback: its records, the climb to the registered domain, a failure, and a new
CA alerted through the runner and storage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import HostPort
from bot.core.observations import Fact, IndicatorKind
from bot.monitoring.datasets.dns_caa import DnsCaaDataset, climb
from bot.monitoring.datasets.model import BY_NAME
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from tests.fakes.clock import FakeClock
from tests.fakes.dns_server import FakeDnsServer

DOMAIN = IndicatorKind.DOMAIN
LETS_ENCRYPT = '0 issue "letsencrypt.org"'
IODEF = '0 iodef "mailto:security@evil.example"'


@pytest.fixture(params=["resolver", "multiplexed"])
def dataset(request: pytest.FixtureRequest, dns_server: FakeDnsServer) -> DnsCaaDataset:
    kind = ResolverDnsClient if request.param == "resolver" else MultiplexedDnsClient
    return DnsCaaDataset(kind([HostPort(dns_server.host, dns_server.port)], timeout=0.6))


def test_dns_caa_climb_stops_at_the_registered_domain() -> None:
    assert climb("a.login.evil.example") == ["a.login.evil.example", "login.evil.example", "evil.example"]
    assert climb("evil.co.uk") == ["evil.co.uk"]
    assert BY_NAME["dns_caa"].kinds == frozenset({DOMAIN})


async def test_dns_caa_reads_the_records_of_the_name(
    dns_server: FakeDnsServer, dataset: DnsCaaDataset
) -> None:
    dns_server.set("evil.example", "CAA", [LETS_ENCRYPT, IODEF])
    observation = await dataset.collect("Evil.Example.", DOMAIN)
    assert observation.failures == ()
    assert observation.known_fields == frozenset({"CAA"})
    assert observation.facts == {Fact("CAA", LETS_ENCRYPT, "dns"), Fact("CAA", IODEF, "dns")}


async def test_dns_caa_a_subdomain_inherits_its_parents_records(
    dns_server: FakeDnsServer, dataset: DnsCaaDataset
) -> None:
    dns_server.set("evil.example", "CAA", [LETS_ENCRYPT])
    dns_server.set("login.evil.example", "A", ["192.0.2.1"])
    observation = await dataset.collect("login.evil.example", DOMAIN)
    assert observation.facts == {Fact("CAA", LETS_ENCRYPT, "dns")}
    assert dns_server.query_count("login.evil.example", "CAA") >= 1
    assert dns_server.query_count("example", "CAA") == 0  # never above the registered domain


async def test_dns_caa_none_anywhere_is_known_and_empty(
    dns_server: FakeDnsServer, dataset: DnsCaaDataset
) -> None:
    dns_server.set("evil.example", "A", ["192.0.2.1"])
    observation = await dataset.collect("evil.example", DOMAIN)
    assert (observation.facts, observation.known_fields, observation.failures) == (
        frozenset(),
        frozenset({"CAA"}),
        (),
    )


async def test_dns_caa_failure_keeps_the_last_state(
    dns_server: FakeDnsServer, dataset: DnsCaaDataset
) -> None:
    dns_server.set("evil.example", "CAA", [LETS_ENCRYPT])
    dns_server.set_fault("servfail", name="evil.example", rdtype="CAA")
    observation = await dataset.collect("evil.example", DOMAIN)
    assert observation.facts == frozenset() and observation.known_fields == frozenset()
    assert [(f.source, f.fields) for f in observation.failures] == [("dns", frozenset({"CAA"}))]
    assert "CAA of evil.example" in observation.failures[0].message
    assert not dataset.applies_to(IndicatorKind.IP)


async def test_dns_caa_a_newly_allowed_ca_alerts(store: Database, dns_server: FakeDnsServer) -> None:
    dns_server.set("evil.example", "CAA", [LETS_ENCRYPT])
    dns = ResolverDnsClient([HostPort(dns_server.host, dns_server.port)], timeout=0.6)
    clock = FakeClock()
    runner = Runner([DnsCaaDataset(dns)], store, clock=clock)
    store.monitors.add(
        team_id="T", channel_id="C", user_id="U", indicators=[("evil.example", DOMAIN)], now=clock.now
    )
    subject = store.monitors.subject("evil.example")
    assert subject is not None
    assert (await runner.check(subject)).changes == []  # baseline
    dns_server.set("evil.example", "CAA", [LETS_ENCRYPT, '0 issue "sectigo.com"'])
    clock.advance(hours=1)
    report = await runner.check(subject)
    assert [(c.dataset, c.kind.value, c.field, c.new_value) for c in report.changes] == [
        ("dns_caa", "added", "CAA", '0 issue "sectigo.com"')
    ]
    alerts = store.outbox.claim(now=clock.now, lease=timedelta(minutes=1), limit=5)
    assert len(alerts) == 1
