"""The resolver check against a real DNS server on loopback that tells the truth, then lies."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.config import HostPort
from bot.core.observations import IndicatorKind, Observation, Outcome
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.diff import diff_observation
from bot.monitoring.dns import DnsAnswer
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.resolver_check import CheckedDnsClient, judge_resolver
from tests.fakes.api import MakeApi
from tests.fakes.dns_server import FakeDnsServer

CANARY = "canary.watchpost.test"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def zone(dns_server: FakeDnsServer) -> FakeDnsServer:
    dns_server.set(CANARY, "A", ["192.0.2.53"])
    dns_server.set("evil.example", "A", ["198.51.100.7"])
    dns_server.set("evil.example", "NS", ["ns1.evil-dns.example."])
    return dns_server


def checked(server: FakeDnsServer, clock: Clock) -> tuple[CheckedDnsClient, MultiplexedDnsClient]:
    inner = MultiplexedDnsClient([HostPort(server.host, server.port)], timeout=1.0)
    return CheckedDnsClient(inner, where=server.nameserver, canary=CANARY, clock=clock), inner


async def observe(client: CheckedDnsClient) -> list[Observation]:
    return [
        await ResolutionsDataset(client).collect("evil.example", IndicatorKind.DOMAIN),
        await DnsRecordsDataset(client).collect("evil.example", IndicatorKind.DOMAIN),
    ]


async def test_an_honest_resolver_is_checked_once_and_believed(zone: FakeDnsServer) -> None:
    client, inner = checked(zone, Clock())
    try:
        for _ in range(3):
            resolutions, records = await observe(client)
            assert not resolutions.failures and not records.failures
            assert ("A", "198.51.100.7") in {(f.field, f.value) for f in resolutions.facts}
            assert ("NS", "ns1.evil-dns.example") in {(f.field, f.value) for f in records.facts}
        assert client.verdict is not None and client.verdict.ok
        # One check for six lookups: the verdict is kept.
        assert zone.query_count(CANARY, "A") == 1
        random_names = [name for (name, _, _) in zone.queries if name.endswith("." + CANARY)]
        assert len(random_names) == 1 and random_names[0].startswith("wp-")
    finally:
        await inner.aclose()


async def test_nxdomain_for_everything_fails_every_dns_dataset(
    zone: FakeDnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    zone.set_fault("nxdomain")
    client, inner = checked(zone, Clock())
    try:
        with caplog.at_level(logging.ERROR, logger="bot.monitoring.resolver_check"):
            first, second = await observe(client), await observe(client)
        expected = f"the resolver at {zone.nameserver} answers NXDOMAIN for everything"
        for observation in [*first, *second]:
            assert observation.failed, observation
            assert not observation.facts
            assert any(expected in failure.message for failure in observation.failures)
            # No baseline from a lying resolver.
            result = diff_observation(None, observation, now=NOW, previous_check_at=None)
            assert not result.baseline and not result.state and not result.changes
        assert len(caplog.records) == 1 and expected in caplog.records[0].getMessage()
        assert client.verdict is not None and client.verdict.problem is not None
        assert expected in client.verdict.problem
        # The datasets' own names were never asked: nothing a liar said was used.
        assert zone.query_count("evil.example") == 0
    finally:
        await inner.aclose()


async def test_an_address_for_every_name_is_nxdomain_rewriting(zone: FakeDnsServer) -> None:
    zone.set_fault("rewrite:203.0.113.99")
    client, inner = checked(zone, Clock())
    try:
        for observation in await observe(client):
            assert observation.failed
            message = " ".join(failure.message for failure in observation.failures)
            assert "answers an address for names that do not exist" in message
            assert "203.0.113.99" in message and "rewrites NXDOMAIN" in message
    finally:
        await inner.aclose()


async def test_the_verdict_is_checked_again_and_a_recovery_resumes_dns(zone: FakeDnsServer) -> None:
    clock = Clock()
    client, inner = checked(zone, clock)
    try:
        zone.set_fault("nxdomain")
        assert all(o.failed for o in await observe(client))
        zone.set_fault(None)
        clock.now += 10  # before the failing verdict's recheck: still off
        assert all(o.failed for o in await observe(client))
        assert zone.query_count(CANARY, "A") == 1
        clock.now += 30
        observations = await observe(client)
        assert not any(o.failures for o in observations)
        assert zone.query_count(CANARY, "A") == 2
        # A good verdict is kept longer, then checked again: a resolver that goes bad is caught.
        zone.set_fault("rewrite:203.0.113.99")
        clock.now += 200
        assert not any(o.failures for o in await observe(client))
        clock.now += 101
        assert all(o.failed for o in await observe(client))
        assert zone.query_count(CANARY, "A") == 3
    finally:
        await inner.aclose()


async def test_an_unreachable_resolver_cannot_be_checked_and_counts_for_nothing(zone: FakeDnsServer) -> None:
    zone.set_fault("timeout")
    inner = MultiplexedDnsClient([HostPort(zone.host, zone.port)], timeout=0.3)
    client = CheckedDnsClient(inner, where=zone.nameserver, canary=CANARY, clock=Clock())
    try:
        answer = await client.query("evil.example", "A")
        assert answer.outcome is Outcome.ERROR
        assert answer.error is not None and "could not be checked" in answer.error
    finally:
        await inner.aclose()


@pytest.mark.parametrize(
    ("canary", "random", "problem"),
    [
        (DnsAnswer(Outcome.RECORDS, ("192.0.2.1",)), DnsAnswer(Outcome.NXDOMAIN), None),
        (DnsAnswer(Outcome.NO_DATA), DnsAnswer(Outcome.NXDOMAIN), None),
        (DnsAnswer(Outcome.NXDOMAIN), DnsAnswer(Outcome.NXDOMAIN), "answers NXDOMAIN for everything"),
        (
            DnsAnswer(Outcome.NXDOMAIN),
            DnsAnswer(Outcome.RECORDS, ("192.0.2.1",)),
            "answers NXDOMAIN for example.com, which exists",
        ),
        (DnsAnswer(Outcome.RECORDS, ("192.0.2.1",)), DnsAnswer(Outcome.RECORDS, ("10.1.1.1",)), "10.1.1.1"),
        (DnsAnswer(Outcome.RECORDS, ("192.0.2.1",)), DnsAnswer(Outcome.NO_DATA), "rewrites NXDOMAIN"),
        (DnsAnswer(Outcome.ERROR, error="timeout"), DnsAnswer(Outcome.NXDOMAIN), "could not be checked"),
        (DnsAnswer(Outcome.RECORDS, ("192.0.2.1",)), DnsAnswer(Outcome.ERROR, error="x"), "could not be"),
    ],
)
def test_judge_resolver(canary: DnsAnswer, random: DnsAnswer, problem: str | None) -> None:
    verdict = judge_resolver("10.0.0.2:53", "example.com", canary, random)
    if problem is None:
        assert verdict is None
    else:
        assert verdict is not None and problem in verdict and "10.0.0.2:53" in verdict


async def test_healthz_reports_the_resolver_verdict(zone: FakeDnsServer, make_api: MakeApi) -> None:
    api = await make_api()
    async with api.client.get("/healthz") as response:
        assert "resolver" not in await response.json()  # no check configured here
    zone.set_fault("nxdomain")
    client, inner = checked(zone, Clock())
    api.services.resolver = client
    try:
        await client.query("evil.example", "A")
        async with api.client.get("/healthz") as response:
            body = await response.json()
        assert response.status == 200 and body["ok"] is True  # degraded, not down
        assert body["resolver"]["ok"] is False and body["resolver"]["where"] == zone.nameserver
        assert "answers NXDOMAIN for everything" in body["resolver"]["problem"]
    finally:
        await inner.aclose()
