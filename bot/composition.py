"""The composition root: the only place that builds concrete classes from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.commands.access import AccessPolicy, CommandRateLimiter, SharedRateLimiter
from bot.commands.flows import MonitorFlows
from bot.config import Settings
from bot.delivery.mail import SmtpMailer
from bot.delivery.outbox import OutboxWorker
from bot.delivery.source_notices import SourceHealthJob
from bot.delivery.transport import Transport
from bot.delivery.webhooks import WebhookTargets, WebhookWorker
from bot.digests.service import DigestService
from bot.metrics import Metrics
from bot.monitoring.datasets import build_datasets
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.noise import summarise_same_asn_churn
from bot.monitoring.quota import QuotaGate
from bot.monitoring.requested_checks import Checks, RequestedCheckJob, RequestedChecks
from bot.monitoring.runner import Runner, utc_now
from bot.monitoring.scheduler import CheckDispatcher
from bot.storage.alerts import AlertStore
from bot.storage.check_requests import CheckRequestStore
from bot.storage.digests import DigestStore
from bot.storage.engine import create_database_engine, migrate
from bot.storage.history import HistoryStore
from bot.storage.quotas import OutageStore, QuotaStore
from bot.storage.repository import AsyncStore, Store, WebhookRouting
from bot.storage.shared_limits import SharedLimits


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
    alerts: AlertStore
    metrics: Metrics
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    webhooks: WebhookWorker | None = None  # None: no webhook configured
    slack_team_id: str | None = None  # the bot's workspace, once Slack said (auth.test)
    quotas: QuotaStore | None = None
    gate: QuotaGate | None = None
    requested_checks: RequestedCheckJob | None = None  # a worker's: checks people asked for
    shared_limits: SharedLimits | None = None  # replay memory and rate buckets of every process
    source_health: SourceHealthJob | None = None  # a worker's: outage notices, health gauges

    async def backlog(self) -> dict[str, int]:
        """Undelivered alerts per queue, for /metrics."""
        counts = {"slack": await self.store.run(self.store.store.undelivered_count)}
        if self.webhooks is not None:
            counts["webhook"] = await self.store.run(self.alerts.webhook_backlog)
        return counts

    async def aclose(self) -> None:
        self.dispatcher.close()
        await self.dispatcher.drain()
        if self.requested_checks is not None:
            await self.requested_checks.drain()
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
    metrics: Metrics | None = None,
    checks_elsewhere: bool = False,
) -> Services:
    """Everything the bot runs on, wired; the schema is migrated before anything reads it.
    `checks_elsewhere`: this process answers Slack and the API and runs no check; the
    checks people ask for go to worker processes (`watchpost worker`)."""
    engine = create_database_engine(settings.database_url)
    migrate(engine)
    metrics = metrics if metrics is not None else Metrics()
    webhook_channels = dict((channel, url.reveal()) for channel, url in settings.webhook_urls)
    routing = None
    if settings.webhook_url or webhook_channels:
        routing = WebhookRouting(bool(settings.webhook_url), frozenset(webhook_channels))
    store = AsyncStore(Store(engine, webhooks=routing))
    alerts = AlertStore(engine)
    closers: list[Callable[[], Awaitable[None]]] = []
    quotas = QuotaStore(engine)
    # Every HTTP request of every source passes the gate: quota slots shared through the
    # database by every process, and the request log behind /monitor health.
    gate = QuotaGate(
        quotas,
        store,
        settings.quotas,
        check_interval=timedelta(seconds=settings.check_interval),
        clock=clock,
        metrics=metrics,
    )
    if datasets is None:
        # Long-lived multiplexed UDP sockets, no cache (bot/monitoring/dns_mux.py).
        dns = MultiplexedDnsClient(settings.dns_nameservers, timeout=settings.dns_timeout)

        async def observed(ip: str) -> list[tuple[str, str, datetime]]:
            return await store.run(store.store.domains_resolving_to, ip)

        registry = build_datasets(settings, dns, observed=observed, gate=gate)
        datasets, closers = registry.datasets, [*registry.closers, dns.aclose]
    runner = Runner(
        datasets,
        store,
        clock=clock,
        interval=timedelta(seconds=settings.check_interval),
        concurrency=settings.check_concurrency,
        policy=summarise_same_asn_churn if settings.summarise_same_asn else None,
        metrics=metrics,
    )
    check_requests = CheckRequestStore(engine)
    # Several processes answer Slack only on PostgreSQL (behind a load balancer): there the
    # replay memory and the command rate are counted in the database, for all of them. On
    # SQLite one process answers Slack, so its own memory is everyone's, and the answer to
    # Slack never waits for SQLite's single writer.
    shared_limits = SharedLimits(engine) if engine.dialect.name == "postgresql" else None
    checks: Checks = RequestedChecks(runner, check_requests, store) if checks_elsewhere else runner
    digests = DigestService(
        store,
        HistoryStore(engine),
        DigestStore(engine),
        transport,
        settings=settings,
        clock=clock,
        mailer=SmtpMailer.from_settings(settings) if settings.digest_email else None,
        metrics=metrics,
    )
    webhooks = None
    if routing is not None:
        targets = WebhookTargets(settings.webhook_url.reveal(), webhook_channels)
        webhooks = WebhookWorker(
            store, alerts, targets, settings.webhook_secret.reveal(), clock=clock, metrics=metrics
        )
        closers.append(webhooks.aclose)
    return Services(
        settings=settings,
        store=store,
        datasets=datasets,
        runner=runner,
        flows=MonitorFlows(
            store,
            checks,
            clock=clock,
            timezone=settings.timezone,
            digests=digests,
            access=AccessPolicy(settings.admins, settings.channel_quota),
            # Counted in the database: a user's commands to every process together.
            rate_limit=(
                None
                if not settings.command_rate
                else CommandRateLimiter(settings.command_rate)
                if shared_limits is None
                else SharedRateLimiter(settings.command_rate, shared_limits, store, clock=clock)
            ),
            quotas=quotas,
            gate=gate,
        ),
        dispatcher=CheckDispatcher(runner),
        outbox=OutboxWorker(store, transport, clock=clock, metrics=metrics),
        digests=digests,
        transport=transport,
        alerts=alerts,
        metrics=metrics,
        closers=closers,
        webhooks=webhooks,
        quotas=quotas,
        gate=gate,
        requested_checks=RequestedCheckJob(runner, check_requests),
        shared_limits=shared_limits,
        source_health=SourceHealthJob(
            store,
            quotas,
            OutageStore(engine),
            transport,
            limits=settings.quotas,
            notice_after=timedelta(seconds=settings.source_outage_notice),
            clock=clock,
            metrics=metrics,
        ),
    )
