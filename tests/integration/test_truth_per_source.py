"""Truth per source: one failing, waiting or distrusted source never blinds the others,
and its late first answer is its baseline, never a change. Real DNS and HTTP servers on
loopback, the real runner and both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands.flows import MonitorFlows
from bot.config import HostPort, QuotaLimit, Secret
from bot.core.observations import IndicatorKind, SourcePending
from bot.core.results import Caller
from bot.core.text import render_text
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.quota import QuotaGate
from bot.monitoring.resolver_check import CheckedDnsClient
from bot.monitoring.runner import Runner
from bot.monitoring.sources.circl import CirclPassiveDns
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.monitoring.sources.rdap_domains import RdapDomainClient
from bot.monitoring.sources.whois import WhoisClient
from bot.monitoring.store.quotas import QuotaStore
from bot.storage.db import Database
from bot.storage.views import SubjectView
from tests.fakes.clock import FakeClock
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import CIRCL_PASSWORD, CIRCL_USER, FakeHttpSources, _mnemonic_row
from tests.fakes.whois_server import FakeWhoisServer, Mode

IP = "98.126.38.107"
DOMAIN = "evil-infra.example"
WEEK = 7 * 24
SEED = "www.interfaxru.com"


@dataclass
class World:
    store: Database
    dns_server: FakeDnsServer
    http: FakeHttpSources
    clock: FakeClock
    make_runner: Callable[..., Runner]


@pytest.fixture
async def world(
    store: Database, dns_server: FakeDnsServer, http_sources: FakeHttpSources
) -> AsyncIterator[World]:
    clock = FakeClock()
    closers = []

    def make_runner(
        *, checked: bool = False, circl: bool = False, datasets: tuple[object, ...] = ()
    ) -> Runner:
        dns: ResolverDnsClient | CheckedDnsClient = ResolverDnsClient(
            [HostPort(dns_server.host, dns_server.port)], timeout=0.6
        )
        if checked:
            dns = CheckedDnsClient(dns, where="the test resolver", canary="canary.example")
        mnemonic = MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), timeout=2.0)
        passive: list[object] = [mnemonic]
        closers.append(mnemonic.close)
        if circl:
            source = CirclPassiveDns(
                http_sources.url("circl"), CIRCL_USER, Secret(CIRCL_PASSWORD), timeout=2.0
            )
            passive.append(source)
            closers.append(source.close)
        resolutions = ResolutionsDataset(dns, passive)  # type: ignore[arg-type]
        return Runner([resolutions, *datasets], store, clock=clock, dataset_timeout=3.0)  # type: ignore[list-item]

    http_sources.mnemonic_rows[IP] = [_mnemonic_row("old-site.com.", IP, "a", 1704067200, 1706745600)]
    http_sources.circl_lines[IP] = []
    yield World(store, dns_server, http_sources, clock, make_runner)
    for close in closers:
        await close()


def monitor(world: World, indicator: str, kind: IndicatorKind = IndicatorKind.IP) -> SubjectView:
    world.store.monitors.add(
        team_id="T1", channel_id="C1", user_id="U1", indicators=[(indicator, kind)], now=world.clock.now
    )
    subject = world.store.monitors.subject(indicator)
    assert subject is not None
    return subject


async def check(
    world: World, runner: Runner, subject: SubjectView, hours: float = 1
) -> list[tuple[str, str]]:
    world.clock.advance(hours=hours)
    report = await runner.check(subject)
    return sorted((c.field, c.value) for c in report.changes if c.alert)


def new_seed_row() -> dict[str, object]:
    return _mnemonic_row(SEED + ".", IP, "a", 1709251200, 1709251200)


def baselined_sources(world: World, subject: SubjectView, dataset: str = "resolutions") -> set[str]:
    health = {h.dataset: h for h in world.store.checks.dataset_health(subject.id)}
    sources = health[dataset].sources
    assert sources is not None
    return set(sources.sources)


async def test_seed_story_alerted_while_the_reverse_zone_is_lame(world: World) -> None:
    world.dns_server.set_fault("servfail", "107.38.126.98.in-addr.arpa")
    runner = world.make_runner()
    subject = monitor(world, IP)

    assert await check(world, runner, subject) == []  # baseline from passive DNS alone
    assert baselined_sources(world, subject) == {"mnemonic"}
    world.http.mnemonic_rows[IP].append(new_seed_row())

    assert await check(world, runner, subject, hours=WEEK) == [("domain", SEED)]
    health = {h.dataset: h for h in world.store.checks.dataset_health(subject.id)}
    assert health["resolutions"].baseline_at is not None
    pending = health["resolutions"].sources.pending  # type: ignore[union-attr]
    assert [(p.source, p.why) for p in pending] == [("dns", SourcePending.FAILED)]


async def test_seed_story_alerted_while_the_resolver_is_distrusted(world: World) -> None:
    # The canary does not exist at the fake server: the resolver check fails, DNS is off.
    runner = world.make_runner(checked=True)
    subject = monitor(world, IP)

    assert await check(world, runner, subject) == []
    world.http.mnemonic_rows[IP].append(new_seed_row())
    assert await check(world, runner, subject, hours=WEEK) == [("domain", SEED)]
    health = {h.dataset: h for h in world.store.checks.dataset_health(subject.id)}
    pending = health["resolutions"].sources.pending  # type: ignore[union-attr]
    assert [(p.source, p.why) for p in pending] == [("dns", SourcePending.DISTRUSTED)]


async def test_seed_story_alerted_with_one_of_two_passive_providers_failing(world: World) -> None:
    world.dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["mail.bad-host.net."])
    world.http.inject("circl", "500")
    runner = world.make_runner(circl=True)
    subject = monitor(world, IP)

    assert await check(world, runner, subject) == []
    world.http.mnemonic_rows[IP].append(new_seed_row())
    assert await check(world, runner, subject, hours=WEEK) == [("domain", SEED)]
    assert baselined_sources(world, subject) == {"dns", "mnemonic"}


async def test_a_source_recovering_after_a_week_reads_its_first_answer_as_its_baseline(world: World) -> None:
    """CIRCL was down when the monitor was set and for a week: what it then knows (old
    rows nobody alerted on) is its baseline; what it sees after that is news."""
    world.dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["mail.bad-host.net."])
    world.http.inject("circl", "500")
    runner = world.make_runner(circl=True)
    subject = monitor(world, IP)
    assert await check(world, runner, subject) == []
    for _ in range(7):
        assert await check(world, runner, subject, hours=24) == []

    world.http.clear("circl")
    world.http.circl_lines[IP] = [_circl_line("years-old.example", IP)]
    assert await check(world, runner, subject, hours=24) == []  # its first read: silent
    assert "circl" in baselined_sources(world, subject)

    world.http.circl_lines[IP].append(_circl_line("brand-new.example", IP))
    assert await check(world, runner, subject) == [("domain", "brand-new.example")]


async def test_45_monitors_on_a_20_a_minute_quota_never_alert_what_was_there_before(
    store: Database, dns_server: FakeDnsServer, http_sources: FakeHttpSources
) -> None:
    """Mnemonic, the only passive-DNS source, allows 20 lookups a minute: most of 45 new
    IP monitors get their baseline without it, and its long-known record of each, read
    later at its slot, is its baseline — never "new". A record that appears after that is."""
    clock = FakeClock()
    gate = QuotaGate(
        QuotaStore(store.engine),
        store,
        {"mnemonic": (QuotaLimit(20, 60.0),)},
        check_interval=timedelta(hours=1),
        clock=clock,
        plan_ttl=0,
    )
    mnemonic = MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), timeout=2.0, gate=gate)
    dns = ResolverDnsClient([HostPort(dns_server.host, dns_server.port)], timeout=0.6)
    runner = Runner(
        [ResolutionsDataset(dns, [mnemonic])], store, clock=clock, interval=timedelta(hours=1), concurrency=10
    )
    ips = [f"198.51.100.{number}" for number in range(1, 46)]
    for number, ip in enumerate(ips, 1):
        host = f"old-{number}.example-hosting.net."
        http_sources.mnemonic_rows[ip] = [_mnemonic_row(host, ip, "a", 1704067200, 1706745600)]
    store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[(ip, IndicatorKind.IP) for ip in ips],
        now=clock.now,
    )
    try:
        alerted = []
        deferred = 0
        for _ in range(90):  # an hour and a half, a minute at a time
            for report in await runner.run_due():
                alerted += [(c.field, c.value) for c in report.changes if c.alert]
                deferred += any(f.deferred_until for o in report.outcomes for f in o.observation.failures)
            clock.advance(minutes=1)
        assert deferred > 0  # the quota really held lookups back
        assert alerted == []
        waiting = [
            subject.indicator
            for ip in ips
            if (subject := store.monitors.subject(ip)) is not None
            and "mnemonic"
            not in {s for h in store.checks.dataset_health(subject.id) for s in h.sources.sources}  # type: ignore[union-attr]
        ]
        assert waiting == []

        http_sources.mnemonic_rows[ips[7]].append(
            _mnemonic_row(SEED + ".", ips[7], "a", 1709251200, 1709251200)
        )
        for _ in range(90):
            for report in await runner.run_due():
                alerted += [(c.field, c.value) for c in report.changes if c.alert]
            clock.advance(minutes=1)
        assert alerted == [("domain", SEED)]
    finally:
        await mnemonic.close()


async def test_a_changed_address_is_alerted_while_whois_and_rdap_hang(
    world: World, whois_server: Callable[..., FakeWhoisServer]
) -> None:
    hanging = whois_server({})
    hanging.mode = Mode.HANG
    world.http.inject("rdapdns", "hang")
    rdap = RdapDomainClient(world.http.url("rdapdns"), timeout=1.0)
    whois = WhoisDataset(WhoisClient(hanging.address, timeout=1.0), None, None, rdap_domains=rdap)
    runner = world.make_runner(datasets=(whois,))
    world.dns_server.set(DOMAIN, "A", ["192.0.2.10"])
    subject = monitor(world, DOMAIN, IndicatorKind.DOMAIN)

    assert await check(world, runner, subject) == []
    world.dns_server.set(DOMAIN, "A", ["192.0.2.99"])
    changes = await check(world, runner, subject)
    assert ("A", "192.0.2.99") in changes
    assert all(field != "registrar" for field, _ in changes)
    health = {h.dataset: h for h in world.store.checks.dataset_health(subject.id)}
    assert health["whois"].baseline_at is None and health["whois"].stale
    await rdap.close()


def _circl_line(name: str, ip: str) -> str:
    stamp = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    return json.dumps(
        {"count": 3, "time_first": stamp, "time_last": stamp, "rrtype": "A", "rrname": name, "rdata": ip}
    )


async def test_status_says_which_sources_have_a_baseline_and_which_wait_and_why(world: World) -> None:
    world.dns_server.set_fault("servfail", "107.38.126.98.in-addr.arpa")
    world.http.inject("circl", "500")
    runner = world.make_runner(circl=True)
    subject = monitor(world, IP)
    await check(world, runner, subject)

    flows = MonitorFlows(world.store, runner, clock=world.clock)
    result = await flows.execute(f"status {IP}", Caller("T1", "C1", "U1"))
    text = render_text(result.reply)
    assert "sources baselined: mnemonic · pending: circl (failed: " in text
    assert "dns (failed: PTR: " in text
