"""Source health: the request log every process writes, `/monitor health`, the API, and a
failing source's one notice per channel (and one on recovery), never one per monitor nor
one per process (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio

from bot.commands.flows import MonitorFlows
from bot.config import HostPort, QuotaLimit, Secret, Settings
from bot.core.errors import SourceError
from bot.core.indicators import parse_indicator
from bot.core.metrics import Metrics
from bot.core.observations import IndicatorKind
from bot.core.results import Caller
from bot.core.text import render_text
from bot.monitoring.quota import QuotaGate, lookup_context
from bot.monitoring.runner import Runner
from bot.monitoring.source_notices import SourceHealthJob
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.monitoring.sources.whois import WhoisClient
from bot.monitoring.store.quotas import Granted, OutageStore, QuotaStore
from bot.storage.db import Database
from tests.e2e.slack_bot import free_port
from tests.fakes.api import MakeApi
from tests.fakes.clock import FakeClock
from tests.fakes.http_sources import FakeHttpSources
from tests.fakes.transport import RecordingTransport
from tests.fakes.whois_server import FakeWhoisServer

LIMITS = {"mnemonic": (QuotaLimit(1000, 86400.0),)}
CHANNELS = ("C0ONE", "C0TWO")


class Harness:
    def __init__(self, store: Database, http_sources: FakeHttpSources) -> None:
        self.clock = FakeClock()
        self.database = store
        self.quotas = QuotaStore(store.engine)
        self.metrics = Metrics()
        self.gate = QuotaGate(
            self.quotas,
            self.database,
            LIMITS,
            check_interval=timedelta(hours=1),
            clock=self.clock,
            plan_ttl=0,
        )
        self.source = MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), gate=self.gate)
        self.transport = RecordingTransport()
        runner = Runner([], self.database, clock=self.clock)
        self.flows = MonitorFlows(self.database, runner, clock=self.clock, quotas=self.quotas, gate=self.gate)
        for index, channel in enumerate(CHANNELS):
            for n in range(3):  # several monitors per channel: still one notice per channel
                store.monitors.add(
                    team_id="T1",
                    channel_id=channel,
                    user_id="U1",
                    indicators=[(f"host{index}-{n}.example.com", IndicatorKind.DOMAIN)],
                    now=self.clock.now,
                )

    def job(self) -> SourceHealthJob:
        """One worker process's health job (each process builds its own)."""
        return SourceHealthJob(
            self.database,
            self.quotas,
            OutageStore(self.quotas.engine),
            self.transport,
            limits=LIMITS,
            notice_after=timedelta(minutes=30),
            clock=self.clock,
            metrics=self.metrics,
        )

    async def lookup(self, indicator: str = "cnn.com") -> bool:
        with lookup_context(None, manual=True, returns=False):
            try:
                await self.source.lookup(indicator, IndicatorKind.DOMAIN)
            except SourceError:
                return False
        return True


@pytest_asyncio.fixture
async def harness(store: Database, http_sources: FakeHttpSources) -> AsyncIterator[Harness]:
    made = Harness(store, http_sources)
    yield made
    await made.source.close()
    made.database.close()


async def test_an_outage_is_told_once_per_channel_and_so_is_the_recovery(
    harness: Harness, http_sources: FakeHttpSources
) -> None:
    assert await harness.lookup()
    http_sources.inject("mnemonic", "500")
    for _ in range(4):  # failing for 36 minutes, across many lookups
        assert not await harness.lookup()
        harness.clock.advance(minutes=12)
    first, second = harness.job(), harness.job()  # two worker processes
    assert await first.run() == [("outage", "mnemonic")]
    assert await second.run() == []
    assert await first.run() == []
    posted = [(post.channel_id, render_text(post.message)) for post in harness.transport.posts]
    assert sorted(channel for channel, _ in posted) == sorted(CHANNELS)
    assert all("Mnemonic has been failing since" in text for _, text in posted)

    health = render_text((await harness.flows.execute("health", Caller("T1", "C0ONE", "U1"))).reply)
    assert "Mnemonic" in health and "failing since" in health
    assert "quota: 5 of 1,000 this day" in health and "http_500 4" in health
    assert "every 1 h" in health  # 6 monitors: well within the day's 1,000
    assert (
        'watchpost_source_errors_day{kind="http_500",source="mnemonic"} 4.0'
        in harness.metrics.render().decode()
    )

    http_sources.clear("mnemonic")
    assert await harness.lookup()
    assert await second.run() == [("recovery", "mnemonic")]
    assert await first.run() == []
    recovered = [
        p for p in harness.transport.posts if "answers again (it failed from" in render_text(p.message)
    ]
    assert sorted(p.channel_id for p in recovered) == sorted(CHANNELS)
    assert len(harness.transport.posts) == 2 * len(CHANNELS)


async def test_a_short_failure_is_no_outage(harness: Harness, http_sources: FakeHttpSources) -> None:
    http_sources.inject("mnemonic", "500")
    assert not await harness.lookup()
    harness.clock.advance(minutes=10)
    assert await harness.job().run() == []
    http_sources.clear("mnemonic")
    assert await harness.lookup()
    assert await harness.job().run() == []
    assert harness.transport.posts == []


async def test_the_api_reports_every_source(make_api: MakeApi) -> None:
    api = await make_api()
    quotas = api.services.quotas
    assert quotas is not None
    slot = quotas.take_slot("mnemonic", LIMITS["mnemonic"], now=api.clock.now)
    assert isinstance(slot, Granted)
    quotas.finish(slot.request_id, outcome="ok", latency_ms=120)
    quotas.log_request("rdap", at=api.clock.now, outcome="timeout", latency_ms=20_000)
    status, body = await api.call("GET", "/api/v1/health")
    assert status == 200
    by_source = {item["source"]: item for item in body["sources"]}
    assert by_source["mnemonic"]["requests_last_hour"] == 1
    assert by_source["mnemonic"]["quota"] == [{"window_seconds": 86400.0, "allowed": 1000, "used": 1}]
    assert by_source["mnemonic"]["latency_ms"] == {"p50": 120, "p95": 120}
    assert by_source["mnemonic"]["effective_interval_seconds"] == 3600.0
    assert by_source["rdap"]["errors_last_day"] == {"timeout": 1}
    assert by_source["rdap"]["failing_since"] is not None
    # Quota-limited but without a key: off, and said so, not listed with a schedule.
    assert "virustotal" not in by_source
    assert body["sources_off"]["virustotal"] == "no key: WATCHPOST_VIRUSTOTAL_KEY is unset"


async def test_health_says_a_source_the_settings_turned_off_is_off_and_why(harness: Harness) -> None:
    """VirusTotal without a key: off, no key; never a green dot with a schedule."""
    limits = {**LIMITS, "virustotal": (QuotaLimit(500, 86400.0),)}
    gate = QuotaGate(harness.quotas, harness.database, limits, check_interval=timedelta(hours=1))
    off = Settings.from_env({}).sources_off()
    flows = MonitorFlows(
        harness.database,
        Runner([], harness.database, clock=harness.clock),
        clock=harness.clock,
        quotas=harness.quotas,
        gate=gate,
        sources_off=off,
    )
    health = render_text((await flows.execute("health", Caller("T1", "C0ONE", "U1"))).reply)
    [virustotal] = [line for line in health.splitlines() if "VirusTotal" in line]
    assert virustotal == "⚪ VirusTotal: off · no key: WATCHPOST_VIRUSTOTAL_KEY is unset"
    assert "VirusTotal allows" not in health
    # Nor does a status reply give it a schedule (its passive DNS plans).
    plans = await flows.health.plans(parse_indicator("host0-0.example.com"), {"resolutions"})
    assert [line.split(":")[0] for line in plans] == ["passive DNS (Mnemonic) every 1 h"]


async def test_health_shows_port_43_whois_that_fails(
    harness: Harness, whois_server: Callable[..., FakeWhoisServer]
) -> None:
    """WHOIS is no HTTP API, yet its failures are health's to show (the digest lists them)."""
    server = whois_server({"example.com": "Domain Name: EXAMPLE.COM\nRegistrar: Good Registrar\n"})
    answering = WhoisClient(server.address, timeout=5, gate=harness.gate)
    refused = WhoisClient(HostPort("127.0.0.1", free_port()), timeout=5, gate=harness.gate)
    await answering.lookup("example.com")
    with pytest.raises(SourceError):
        await refused.lookup("example.com")
    health = render_text((await harness.flows.execute("health", Caller("T1", "C0ONE", "U1"))).reply)
    assert "WHOIS (port 43): 2 requests in the last hour" in health
    assert "errors today: connection 1" in health
