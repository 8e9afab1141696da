"""The composition root: the only place that builds concrete classes from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.api.app import ApiDeps
from bot.commands.access import AccessPolicy, CommandRateLimiter
from bot.commands.flows import MonitorFlows
from bot.commands.triage import TriageFlows
from bot.config import Settings
from bot.delivery.mail import SmtpMailer
from bot.delivery.outbox import OutboxWorker
from bot.delivery.transport import Transport
from bot.delivery.webhooks import WebhookTargets, WebhookWorker
from bot.digests.service import DigestService
from bot.metrics import Metrics
from bot.monitoring.datasets import build_datasets
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.policy import AlertPolicy
from bot.monitoring.runner import Runner, utc_now
from bot.monitoring.scheduler import CheckDispatcher
from bot.slack.listeners import SlackDeps
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from bot.storage.views import WebhookRouting


@dataclass
class Services:
    settings: Settings
    db: Database
    datasets: list[Dataset]
    runner: Runner
    flows: MonitorFlows
    dispatcher: CheckDispatcher
    outbox: OutboxWorker
    digests: DigestService
    transport: Transport
    metrics: Metrics
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    webhooks: WebhookWorker | None = None  # None: no webhook configured
    triage: TriageFlows | None = None
    slack_team_id: str | None = None  # the bot's workspace, once Slack said (auth.test)

    def slack_deps(self) -> SlackDeps:
        return SlackDeps(self.flows, self.transport, self.triage)

    def api_deps(self) -> ApiDeps:
        return ApiDeps(
            self.settings, self.flows, self.db, self.metrics, lambda: self.slack_team_id, triage=self.triage
        )

    async def backlog(self) -> dict[str, int]:
        """Undelivered alerts per queue, for /metrics."""
        counts = {"slack": await self.db.run(self.db.outbox.undelivered_count)}
        if self.webhooks is not None:
            counts["webhook"] = await self.db.run(self.db.webhook_outbox.backlog)
        return counts

    async def aclose(self) -> None:
        self.dispatcher.close()
        await self.dispatcher.drain()
        for close in self.closers:
            await close()
        self.db.close()


def build_services(
    settings: Settings,
    transport: Transport,
    *,
    clock: Callable[[], datetime] = utc_now,
    datasets: list[Dataset] | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Everything the bot runs on, wired; the schema is migrated before anything reads it."""
    engine = create_database_engine(settings.database_url)
    migrate(engine)
    metrics = metrics if metrics is not None else Metrics()
    webhook_channels = dict((channel, url.reveal()) for channel, url in settings.webhook_urls)
    routing = None
    if settings.webhook_url or webhook_channels:
        routing = WebhookRouting(bool(settings.webhook_url), frozenset(webhook_channels))
    db = Database(engine, webhooks=routing, follow_up_window=timedelta(seconds=settings.alert_thread_window))
    closers: list[Callable[[], Awaitable[None]]] = []
    if datasets is None:
        # Long-lived multiplexed UDP sockets, no cache (bot/monitoring/dns_mux.py).
        dns = MultiplexedDnsClient(settings.dns_nameservers, timeout=settings.dns_timeout)

        async def observed(ip: str) -> list[tuple[str, str, datetime]]:
            return await db.run(db.infrastructure.domains_resolving_to, ip)

        registry = build_datasets(settings, dns, observed=observed)
        datasets, closers = registry.datasets, [*registry.closers, dns.aclose]
    runner = Runner(
        datasets,
        db,
        clock=clock,
        interval=timedelta(seconds=settings.check_interval),
        concurrency=settings.check_concurrency,
        policy=AlertPolicy.from_settings(summarise_same_asn=settings.summarise_same_asn),
        metrics=metrics,
    )
    digests = DigestService(
        db,
        transport,
        settings=settings,
        clock=clock,
        mailer=SmtpMailer.from_settings(settings) if settings.digest_email else None,
        metrics=metrics,
    )
    webhooks = None
    if routing is not None:
        targets = WebhookTargets(settings.webhook_url.reveal(), webhook_channels)
        webhooks = WebhookWorker(db, targets, settings.webhook_secret.reveal(), clock=clock, metrics=metrics)
        closers.append(webhooks.aclose)
    access = AccessPolicy(settings.admins, settings.channel_quota)
    triage = TriageFlows(
        db, transport, clock=clock, access=access, suppression=timedelta(days=settings.false_positive_days)
    )
    return Services(
        settings=settings,
        db=db,
        datasets=datasets,
        runner=runner,
        flows=MonitorFlows(
            db,
            runner,
            clock=clock,
            timezone=settings.timezone,
            digests=digests,
            access=access,
            rate_limit=CommandRateLimiter(settings.command_rate) if settings.command_rate else None,
            on_lifted=triage.after_lift,
        ),
        dispatcher=CheckDispatcher(runner),
        outbox=OutboxWorker(db, transport, clock=clock, metrics=metrics),
        digests=digests,
        transport=transport,
        metrics=metrics,
        closers=closers,
        webhooks=webhooks,
        triage=triage,
    )
