"""Every dataset beyond DNS collects, diffs and alerts through the runner and storage,
against its loopback source: WHOIS, crt.sh (certificates, subdomains), InternetDB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.certificates import CertificatesDataset
from bot.monitoring.datasets.services import ServicesDataset
from bot.monitoring.datasets.subdomains import SubdomainsDataset
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.runner import Runner
from bot.monitoring.sources.crtsh import CrtShClient
from bot.monitoring.sources.internetdb import InternetDbClient
from bot.monitoring.sources.whois import WhoisClient
from bot.storage.db import Database
from bot.storage.views import SubjectView
from tests.fakes.clock import FakeClock
from tests.fakes.http_sources import LETS_ENCRYPT_R3, FakeHttpSources, _crtsh_row
from tests.fakes.whois_server import FakeWhoisServer, registry_text

DOMAIN = "evil-example.com"
IP = "98.126.38.107"
Changes = list[tuple[str, str, str, str | None, str | None]]


@pytest.fixture
async def setup(
    store: Database, http_sources: FakeHttpSources, whois_server: Callable[..., FakeWhoisServer]
) -> AsyncIterator[tuple[Runner, FakeWhoisServer]]:
    whois = whois_server({DOMAIN: registry_text(DOMAIN)})
    crtsh = CrtShClient(http_sources.url("crtsh"), cache_ttl=0)
    internetdb = InternetDbClient(http_sources.url("internetdb"))
    datasets = [
        WhoisDataset(WhoisClient(whois.address, 1.0), None, None),
        CertificatesDataset(crtsh, None),
        SubdomainsDataset(crtsh),
        ServicesDataset(internetdb),
    ]
    async_store = store
    yield Runner(datasets, async_store, clock=FakeClock()), whois
    await crtsh.close()
    await internetdb.close()
    async_store.close()


def subject(store: Database, indicator: str, kind: IndicatorKind) -> SubjectView:
    store.monitors.add(
        team_id="T", channel_id="C", user_id="U", indicators=[(indicator, kind)], now=FakeClock().now
    )
    found = store.monitors.subject(indicator)
    assert found is not None
    return found


async def check(runner: Runner, monitored: SubjectView) -> Changes:
    assert isinstance(runner.clock, FakeClock)
    runner.clock.advance(hours=1)
    report = await runner.check(monitored)
    assert not any(o.observation.failures for o in report.outcomes), report.outcomes
    return sorted((c.dataset, c.kind.value, c.field, c.old_value, c.new_value) for c in report.changes)


async def test_domain_datasets_alert_on_registrar_certificate_and_subdomain(
    setup: tuple[Runner, FakeWhoisServer], store: Database, http_sources: FakeHttpSources
) -> None:
    runner, whois = setup
    monitored = subject(store, DOMAIN, IndicatorKind.DOMAIN)
    assert await check(runner, monitored) == []  # baseline
    whois.replies[DOMAIN] = registry_text(
        DOMAIN, registrar="Bulletproof Names Ltd", updated="2026-11-01T00:00:00Z"
    )
    http_sources.crtsh_rows[DOMAIN].append(
        _crtsh_row(
            44444,
            LETS_ENCRYPT_R3,
            183267,
            "vpn.evil-example.com",
            "beef01",
            "2026-11-20T00:00:00",
            "2027-02-18T00:00:00",
        )
    )
    first = await check(runner, monitored)
    assert [c[:3] for c in first] == [
        ("certificates", "added", "certificate"),
        ("subdomains", "added", "subdomain"),
    ]  # the registrar change waits for confirmation
    assert first[1][4] == "vpn.evil-example.com"
    assert await check(runner, monitored) == [
        ("whois", "changed", "registrar", "Evil Registrar, LLC", "Bulletproof Names Ltd"),
    ]
    alerts = store.outbox.claim(now=runner.clock(), lease=timedelta(minutes=1), limit=5)
    assert {c.dataset for a in alerts for c in a.changes} == {
        "certificates",
        "subdomains",
    }  # head of the queue


async def test_ip_services_alert_and_no_information_changes_nothing(
    setup: tuple[Runner, FakeWhoisServer], store: Database, http_sources: FakeHttpSources
) -> None:
    runner, _ = setup
    runner.datasets = [d for d in runner.datasets if d.name == "services"]
    monitored = subject(store, IP, IndicatorKind.IP)
    assert await check(runner, monitored) == []
    http_sources.internetdb_hosts[IP]["ports"].append(8443)
    assert await check(runner, monitored) == [("services", "added", "port", None, "8443")]
    del http_sources.internetdb_hosts[IP]  # 404 "No information available": not "all closed"
    assert isinstance(runner.clock, FakeClock)
    for _ in range(2):
        runner.clock.advance(hours=1)
        report = await runner.check(monitored)
        assert report.changes == [] and report.outcomes[0].observation.stale
