"""Health the web process cannot see for itself, shared through the database (SQLite and
PostgreSQL): the resolver check's verdict, reached in a worker, and how far each CT log
has been read. Shown by `/monitor health`, the App Home, /api/v1/health, /healthz and
/metrics of a process that runs no check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from bot.commands.flows import MonitorFlows
from bot.config import HostPort
from bot.core.message import Block, Message
from bot.core.metrics import Metrics
from bot.core.results import Caller
from bot.core.text import render_text
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.resolver_check import CheckedDnsClient, SharedResolverVerdicts
from bot.monitoring.runner import Runner
from bot.monitoring.source_notices import SourceHealthJob
from bot.monitoring.store.quotas import OutageStore, QuotaStore
from bot.storage.db import Database
from bot.watches.model import WatchKind
from tests.fakes.api import MakeApi
from tests.fakes.clock import FakeClock
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.transport import RecordingTransport

CANARY = "canary.watchpost.test"
ARGON = "https://ct.googleapis.com/logs/us1/argon2026h1/"
XENON = "https://ct.googleapis.com/logs/eu1/xenon2026h1/"
CALLER = Caller("T1", "C0ONE", "U1")


class MonotonicClock:
    """The resolver check's clock (seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Processes:
    """One worker that checks the resolver and one web process that reads what it found,
    each with its own SharedResolverVerdicts over the one database."""

    def __init__(self, store: Database, zone: FakeDnsServer) -> None:
        self.store = store
        self.clock = FakeClock()
        self.seconds = MonotonicClock()
        self.inner = MultiplexedDnsClient([HostPort(zone.host, zone.port)], timeout=1.0)
        worker_book = SharedResolverVerdicts(store, where=zone.nameserver, clock=self.clock)
        self.worker = CheckedDnsClient(
            self.inner, where=zone.nameserver, canary=CANARY, clock=self.seconds, book=worker_book
        )
        self.web = SharedResolverVerdicts(store, where=zone.nameserver, clock=self.clock)
        self.flows = MonitorFlows(
            store, Runner([], store, clock=self.clock), clock=self.clock, resolver=self.web
        )

    async def health(self) -> str:
        return render_text((await self.flows.execute("health", CALLER)).reply)

    def advance(self, seconds: float) -> None:
        self.seconds.now += seconds
        self.clock.advance(seconds=seconds)


@pytest.fixture
def zone(dns_server: FakeDnsServer) -> FakeDnsServer:
    dns_server.set(CANARY, "A", ["192.0.2.53"])
    dns_server.set("evil.example", "A", ["198.51.100.7"])
    return dns_server


@pytest_asyncio.fixture
async def processes(store: Database, zone: FakeDnsServer) -> AsyncIterator[Processes]:
    made = Processes(store, zone)
    yield made
    await made.inner.aclose()
    store.close()


async def test_a_workers_verdict_is_what_the_web_process_shows(
    processes: Processes, zone: FakeDnsServer
) -> None:
    assert await processes.web.current() is None
    assert "Resolver: not checked yet" in await processes.health()  # no process has checked it yet

    await processes.worker.query("evil.example", "A")
    shown = await processes.web.current()
    assert shown is not None and shown.ok and shown.resolver == zone.nameserver
    assert f"Resolver {zone.nameserver}: OK" in await processes.health()

    zone.set_fault("nxdomain")
    processes.advance(301)
    await processes.worker.query("evil.example", "A")
    failed_at = processes.clock.now
    processes.advance(31)
    await processes.worker.query("evil.example", "A")  # checked again, still failing
    shown = await processes.web.current()
    assert shown is not None and not shown.ok
    assert shown.failing_since == failed_at and shown.checked_at == processes.clock.now
    assert shown.problem is not None and "answers NXDOMAIN for everything" in shown.problem
    health = await processes.health()
    assert f"Resolver failing since {failed_at:%Y-%m-%d %H:%M} UTC" in health
    assert "answers NXDOMAIN for everything" in health and "last checked" in health
    assert (await processes.flows.execute("health", CALLER)).reply.text.startswith(
        "Source health: the resolver failing"
    )

    zone.set_fault(None)
    processes.advance(31)
    await processes.worker.query("evil.example", "A")
    shown = await processes.web.current()
    assert shown is not None and shown.ok and shown.failing_since is None


async def test_an_older_verdict_never_overwrites_a_newer_one(store: Database) -> None:
    clock = FakeClock()
    newer = store.resolver_verdicts.record("10.0.0.2:53", "it lies", now=clock.advance(minutes=5))
    older = store.resolver_verdicts.record("10.0.0.2:53", None, now=clock.now - timedelta(minutes=1))
    assert older == newer and not older.ok
    store.resolver_verdicts.record("10.0.0.3:53", None, now=clock.advance(minutes=1))
    assert [s.resolver for s in store.resolver_verdicts.statuses()] == ["10.0.0.3:53", "10.0.0.2:53"]
    # Each process prefers the resolver it is configured with; else the latest checked.
    own = await SharedResolverVerdicts(store, where="10.0.0.2:53", clock=clock).current()
    other = await SharedResolverVerdicts(store, where="192.0.2.1:53", clock=clock).current()
    assert own is not None and own.resolver == "10.0.0.2:53"
    assert other is not None and other.resolver == "10.0.0.3:53"
    store.close()


async def test_ct_positions_show_once_lookalikes_are_watched(store: Database) -> None:
    clock = FakeClock()
    metrics = Metrics()
    flows = MonitorFlows(store, Runner([], store, clock=clock), clock=clock)
    assert await flows.readers.ct_log_positions() is None
    assert "Certificate Transparency" not in render_text((await flows.execute("health", CALLER)).reply)

    store.lookalikes.add_watches(
        team_id="T1",
        channel_id="C0ONE",
        user_id="U1",
        kind=WatchKind.LOOKALIKE,
        terms=["acme.com"],
        now=clock.now,
    )
    assert await flows.readers.ct_log_positions() == []
    assert "No CT log has been read yet" in render_text((await flows.execute("health", CALLER)).reply)

    store.ct_positions.save(ARGON, 1_000, 1_000, clock.now)
    store.ct_positions.save(XENON, 5_000, 250_000, clock.advance(minutes=3))
    health = render_text((await flows.execute("health", CALLER)).reply)
    assert "2 logs, 245,000 entries behind in all" in health
    assert "`ct.googleapis.com/logs/eu1/xenon2026h1`: read to entry 5,000 of 250,000" in health
    assert "245,000 entries behind" in health and "caught up" in health
    assert health.index("xenon") < health.index("argon")  # the furthest behind first
    home = render_text_blocks(await flows.pivots.home_blocks(team_id="T1", user_id="U1", channel_ids=None))
    assert "Certificate Transparency: 2 logs, 1 lagging, 245,000 entries behind" in home

    job = SourceHealthJob(
        store,
        QuotaStore(store.engine),
        OutageStore(store.engine),
        RecordingTransport(),
        clock=clock,
        metrics=metrics,
    )
    await job.run()
    exposition = metrics.render().decode()
    assert 'watchpost_ct_log_lag_entries{log="ct.googleapis.com/logs/eu1/xenon2026h1"} 245000.0' in exposition
    assert 'watchpost_ct_log_position{log="ct.googleapis.com/logs/us1/argon2026h1"} 1000.0' in exposition
    assert 'watchpost_ct_log_tree_size{log="ct.googleapis.com/logs/eu1/xenon2026h1"} 250000.0' in exposition
    store.close()


def render_text_blocks(blocks: list[Block]) -> str:
    return render_text(Message("home", blocks))


async def test_the_api_and_the_metrics_of_a_process_that_runs_no_check(make_api: MakeApi) -> None:
    api = await make_api()
    services = api.services
    services.checks_elsewhere = True  # as in `watchpost serve`: the workers check
    status, body = await api.call("GET", "/api/v1/health")
    assert status == 200 and body["resolver"] is None and body["ct_logs"] == []

    db = services.db
    failed_at = api.clock.now
    db.resolver_verdicts.record("10.0.0.2:53", "the resolver at 10.0.0.2:53 answers NXDOMAIN", now=failed_at)
    db.resolver_verdicts.record(
        "10.0.0.2:53", "the resolver at 10.0.0.2:53 answers NXDOMAIN", now=api.clock.advance(minutes=1)
    )
    db.ct_positions.save(ARGON, 900, 1_000, api.clock.now)
    status, body = await api.call("GET", "/api/v1/health")
    assert status == 200
    assert body["resolver"] == {
        "where": "10.0.0.2:53",
        "ok": False,
        "problem": "the resolver at 10.0.0.2:53 answers NXDOMAIN",
        "checked_at": api.clock.now.isoformat().replace("+00:00", "Z"),
        "failing_since": failed_at.isoformat().replace("+00:00", "Z"),
    }
    assert body["ct_logs"] == [
        {
            "log": ARGON,
            "position": 900,
            "tree_size": 1_000,
            "lag": 100,
            "advanced_at": api.clock.now.isoformat().replace("+00:00", "Z"),
        }
    ]

    async with api.client.get("/healthz") as response:
        healthz = await response.json()
    assert response.status == 200 and healthz["ok"] is True
    assert healthz["resolver"]["ok"] is False and healthz["resolver"]["where"] == "10.0.0.2:53"
    # The same form as the API's (one builder for both).
    assert healthz["resolver"] == body["resolver"]

    assert services.source_health is not None
    await services.source_health.run()
    exposition = services.metrics.render().decode()
    assert "watchpost_resolver_ok 0.0" in exposition
    assert 'watchpost_ct_log_lag_entries{log="ct.googleapis.com/logs/us1/argon2026h1"} 100.0' in exposition
