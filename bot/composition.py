"""The composition root: the only place that builds concrete classes from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.commands.flows import MonitorFlows
from bot.config import Settings
from bot.delivery import OutboxWorker, Transport
from bot.digests import DigestService
from bot.mail import SmtpMailer
from bot.monitoring.datasets import build_datasets
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.dns import ResolverDnsClient
from bot.monitoring.noise import summarise_same_asn_churn
from bot.monitoring.runner import Runner, utc_now
from bot.monitoring.scheduler import CheckDispatcher
from bot.storage.digests import DigestStore
from bot.storage.engine import create_database_engine, migrate
from bot.storage.history import HistoryStore
from bot.storage.repository import AsyncStore, Store


@dataclass
class Services:
    settings: Settings
    store: AsyncStore
    datasets: list[Dataset]
    runner: Runner
    flows: MonitorFlows
    dispatcher: CheckDispatcher
    outbox: OutboxWorker
    digests: DigestService
    transport: Transport
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.dispatcher.drain()
        for close in self.closers:
            await close()
        self.store.close()
        self.store.store.engine.dispose()


def build_services(
    settings: Settings,
    transport: Transport,
    *,
    clock: Callable[[], datetime] = utc_now,
    datasets: list[Dataset] | None = None,
) -> Services:
    """Everything the bot runs on, wired; the schema is migrated before anything reads it."""
    engine = create_database_engine(settings.database_url)
    migrate(engine)
    store = AsyncStore(Store(engine))
    closers: list[Callable[[], Awaitable[None]]] = []
    if datasets is None:
        dns = ResolverDnsClient(settings.dns_nameservers, timeout=settings.dns_timeout)

        async def observed(ip: str) -> list[tuple[str, str, datetime]]:
            return await store.run(store.store.domains_resolving_to, ip)

        registry = build_datasets(settings, dns, observed=observed)
        datasets, closers = registry.datasets, registry.closers
    runner = Runner(
        datasets,
        store,
        clock=clock,
        interval=timedelta(seconds=settings.check_interval),
        concurrency=settings.check_concurrency,
        policy=summarise_same_asn_churn if settings.summarise_same_asn else None,
    )
    digests = DigestService(
        store,
        HistoryStore(engine),
        DigestStore(engine),
        transport,
        settings=settings,
        clock=clock,
        mailer=SmtpMailer.from_settings(settings) if settings.digest_email else None,
    )
    return Services(
        settings=settings,
        store=store,
        datasets=datasets,
        runner=runner,
        flows=MonitorFlows(store, runner, clock=clock, timezone=settings.timezone, digests=digests),
        dispatcher=CheckDispatcher(runner),
        outbox=OutboxWorker(store, transport, clock=clock),
        digests=digests,
        transport=transport,
        closers=closers,
    )
