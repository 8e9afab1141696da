"""The composition root: the only place that builds concrete classes from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.alerts.delivery.mail import SmtpMailer
from bot.alerts.delivery.misp import MispReceiver
from bot.alerts.delivery.outbox import OutboxWorker
from bot.alerts.delivery.receivers import Receiver, ReceiverWorker
from bot.alerts.delivery.thehive import TheHiveReceiver
from bot.alerts.delivery.webhooks import WebhookReceiver, WebhookTargets
from bot.alerts.pipeline import AlertPolicy
from bot.alerts.store.receivers import MISP, THEHIVE, WEBHOOK, ReceiverRoute
from bot.commands.flows import MonitorFlows
from bot.config import Settings
from bot.core.access import AccessPolicy
from bot.core.errors import ConfigError
from bot.core.metrics import Metrics
from bot.core.transport import Transport
from bot.digests.service import DigestService
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.datasets.registry import build_datasets
from bot.monitoring.dns import DnsClient
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.quota import QuotaGate
from bot.monitoring.requested_checks import CheckRunner, RequestedChecks, requested_check_job
from bot.monitoring.resolver_check import CheckedDnsClient, SharedResolverVerdicts
from bot.monitoring.runner import Runner, utc_now
from bot.monitoring.scheduler import CheckDispatcher
from bot.monitoring.source_notices import SourceHealthJob
from bot.monitoring.sources.misp import MispClient
from bot.monitoring.store.check_requests import CheckRequestStore, ClaimedCheck
from bot.monitoring.store.quotas import OutageStore, QuotaStore
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from bot.storage.handovers import HandoverJob
from bot.storage.rate_limits import LocalRateLimiter, RateLimit
from bot.storage.shared_limits import SharedLimits, SharedRateLimiter
from bot.storage.slash_commands import SlashCommandQueue
from bot.surfaces.api.app import ApiDeps
from bot.surfaces.slack.handover import CommandHandover
from bot.surfaces.slack.listeners import SlackDeps
from bot.surfaces.slack.responses import ResponseUrls
from bot.triage.flows.deliveries import TriageFlows
from bot.watches.ct.certstream import CertstreamReader
from bot.watches.ct.follower import CtFollower
from bot.watches.ct.http import ct_http_client
from bot.watches.ct.positions import StoredPositions
from bot.watches.delivery import LookalikeMessages
from bot.watches.enrich import DomainFactsLookup
from bot.watches.service import CtPollJob, FindingRouter, LookalikeWatcher, PermutationResolver


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
    receivers: ReceiverWorker | None = None  # None: no HTTP receiver configured
    triage: TriageFlows | None = None
    slack_team_id: str | None = None  # the bot's workspace, once Slack said (auth.test)
    quotas: QuotaStore | None = None
    gate: QuotaGate | None = None
    requested_checks: HandoverJob[ClaimedCheck] | None = None  # a worker's: checks people asked for
    shared_limits: SharedLimits | None = None  # replay memory and rate buckets of every process
    source_health: SourceHealthJob | None = None  # a worker's: outage notices, health gauges
    resolver: CheckedDnsClient | None = None  # None: no resolver check (or datasets given)
    # The resolver check's verdicts of every process, in the database (None: no check).
    shared_resolver: SharedResolverVerdicts | None = None
    checks_elsewhere: bool = False  # this process runs no check: worker processes do
    # Lookalike and keyword watches: the CT sink, their alerts' delivery, the daily DNS
    # of permutations (None without a usable DNS client).
    lookalikes: LookalikeWatcher | None = None
    permutations: PermutationResolver | None = None
    ct: CtPollJob | None = None  # None: WATCHPOST_CT_LOG_LIST_URL and WATCHPOST_CERTSTREAM_URL empty
    replies: ResponseUrls = field(default_factory=ResponseUrls)  # replies to response_urls
    slash_commands: SlashCommandQueue | None = None  # commands answered here, run by a worker
    # A web process with workers: the slash commands it answers go to them through this.
    handover: CommandHandover | None = None

    def slack_deps(self) -> SlackDeps:
        return SlackDeps(self.flows, self.transport, self.replies, self.triage, handover=self.handover)

    def api_deps(self) -> ApiDeps:
        return ApiDeps(
            self.settings,
            self.flows,
            self.db,
            self.metrics,
            lambda: self.slack_team_id,
            triage=self.triage,
        )

    async def backlog(self) -> dict[str, int]:
        """Undelivered alerts per queue, for /metrics."""
        counts = {"slack": await self.db.run(self.db.outbox.undelivered_count)}
        if self.receivers is not None:
            for name in self.receivers.receivers:
                counts[name] = await self.db.run(self.db.receiver_queue.backlog, name)
        return counts

    async def aclose(self) -> None:
        self.dispatcher.close()
        await self.dispatcher.drain()
        if self.requested_checks is not None:
            await self.requested_checks.drain(grace=None)  # the checks in flight finish
        for close in self.closers:
            await close()
        await self.replies.aclose()
        if self.handover is not None:
            self.handover.close()
        self.db.close()


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
    routes = receiver_routes(settings)
    db = Database(
        engine,
        receivers=routes,
        follow_up_window=timedelta(seconds=settings.alert_thread_window),
        shared_host_names=settings.shared_host_names,
        share_scope=settings.share_scope,
    )
    checking = _checking(settings, db, datasets, clock=clock, metrics=metrics)
    watches = _watches(settings, db, checking, clock=clock)
    receivers = (
        ReceiverWorker(db, build_receivers(settings), clock=clock, metrics=metrics) if routes else None
    )
    commands = _commands(
        settings,
        db,
        transport,
        checking,
        watches,
        clock=clock,
        metrics=metrics,
        checks_elsewhere=checks_elsewhere,
    )
    return Services(
        settings=settings,
        db=db,
        datasets=checking.datasets,
        runner=checking.runner,
        flows=commands.flows,
        dispatcher=CheckDispatcher(checking.runner),
        outbox=OutboxWorker(db, transport, clock=clock, metrics=metrics, lookalikes=watches.messages),
        digests=commands.digests,
        transport=transport,
        metrics=metrics,
        # Closed in this order: the lookups', the receivers', MISP's, the CT reader's.
        closers=[
            *checking.closers,
            *([receivers.aclose] if receivers is not None else []),
            *commands.closers,
            *watches.closers,
        ],
        receivers=receivers,
        lookalikes=watches.watcher,
        ct=watches.ct,
        permutations=watches.permutations,
        resolver=checking.resolver,
        shared_resolver=checking.shared_resolver,
        checks_elsewhere=checks_elsewhere,
        triage=commands.triage,
        quotas=checking.quotas,
        gate=checking.gate,
        requested_checks=requested_check_job(checking.runner, commands.check_requests),
        slash_commands=commands.slash_commands,
        handover=CommandHandover(commands.slash_commands, clock=clock) if checks_elsewhere else None,
        shared_limits=commands.shared_limits,
        source_health=_source_health(settings, db, transport, checking, clock=clock, metrics=metrics),
    )


def _source_health(
    settings: Settings,
    db: Database,
    transport: Transport,
    checking: _Checking,
    *,
    clock: Callable[[], datetime],
    metrics: Metrics,
) -> SourceHealthJob:
    """A worker's job of outage notices and health gauges."""
    return SourceHealthJob(
        db,
        checking.quotas,
        OutageStore(db.engine),
        transport,
        limits=settings.quotas,
        notice_after=timedelta(seconds=settings.source_outage_notice),
        clock=clock,
        metrics=metrics,
        resolver=checking.shared_resolver,
    )


@dataclass
class _Checking:
    """What checks run on: the datasets over one DNS client, the quota gate every source's
    requests pass, the alert policy and the runner."""

    datasets: list[Dataset]
    closers: list[Callable[[], Awaitable[None]]]
    quotas: QuotaStore
    gate: QuotaGate
    policy: AlertPolicy
    runner: Runner
    dns: DnsClient | None = None  # None: no nameserver known (datasets given)
    resolver: CheckedDnsClient | None = None  # None: no resolver check (or datasets given)
    # The resolver check's verdicts of every process, in the database (None: no check).
    shared_resolver: SharedResolverVerdicts | None = None


def _checking(
    settings: Settings,
    db: Database,
    datasets: list[Dataset] | None,
    *,
    clock: Callable[[], datetime],
    metrics: Metrics,
) -> _Checking:
    """The datasets of the settings, or `datasets` as given (with a DNS client of their own
    for lookalikes when a nameserver is known), and what checks them."""
    closers: list[Callable[[], Awaitable[None]]] = []
    resolver: CheckedDnsClient | None = None
    dns: DnsClient | None = None
    where = ", ".join(str(ns) for ns in settings.dns_nameservers) or "the system resolver"
    # Written by the processes that check the resolver, read by those that do not.
    shared_resolver = SharedResolverVerdicts(db, where=where, clock=clock) if settings.dns_canary else None
    # The alert policy's stages say which fields the datasets collect for them.
    policy = AlertPolicy.from_settings(summarise_same_asn=settings.summarise_same_asn)
    quotas = QuotaStore(db.engine)
    # Every HTTP request of every source passes the gate: quota slots shared through the
    # database by every process, and the request log behind /monitor health.
    gate = QuotaGate(
        quotas,
        db,
        settings.quotas,
        check_interval=timedelta(seconds=settings.check_interval),
        clock=clock,
        metrics=metrics,
    )
    if datasets is None:
        # Long-lived multiplexed UDP sockets, no cache (bot/monitoring/dns_mux.py).
        mux = MultiplexedDnsClient(settings.dns_nameservers, timeout=settings.dns_timeout)
        dns = mux
        if settings.dns_canary:
            # Checked before believed: a resolver that lies fails every DNS dataset.
            dns = resolver = CheckedDnsClient(
                mux, where=where, canary=settings.dns_canary, book=shared_resolver
            )
        registry = build_datasets(settings, dns, gate=gate, needs=policy.needs)
        datasets, closers = registry.datasets, [*registry.closers, mux.aclose]
    else:
        try:
            own = MultiplexedDnsClient(settings.dns_nameservers, timeout=settings.dns_timeout)
        except ConfigError:
            own = None  # no nameserver known: lookalikes without DNS facts or permutations
        if own is not None:
            dns = own
            closers.append(own.aclose)
    runner = Runner(
        datasets,
        db,
        clock=clock,
        interval=timedelta(seconds=settings.check_interval),
        concurrency=settings.check_concurrency,
        policy=policy,
        metrics=metrics,
    )
    return _Checking(datasets, closers, quotas, gate, policy, runner, dns, resolver, shared_resolver)


@dataclass
class _Watches:
    """Lookalike and keyword watches: the CT sink, their alerts' words, the daily DNS of
    permutations (None without a usable DNS client), the CT reader (None: no CT source)."""

    watcher: LookalikeWatcher
    messages: LookalikeMessages
    closers: list[Callable[[], Awaitable[None]]]
    ct: CtPollJob | None = None
    permutations: PermutationResolver | None = None


def _watches(
    settings: Settings, db: Database, checking: _Checking, *, clock: Callable[[], datetime]
) -> _Watches:
    """The watches' parts, over the checks' DNS client and policy."""
    dns = checking.dns
    closers: list[Callable[[], Awaitable[None]]] = []
    whois = next((d for d in checking.datasets if d.name == "whois"), None)
    lookalike_messages = LookalikeMessages(DomainFactsLookup(dns, whois) if dns is not None else None)
    # Findings pass the same policy as changes: its mute and snooze stages, per watch.
    router = FindingRouter(db, db.watch_suppressions, checking.policy)
    watcher = LookalikeWatcher(db, db.lookalikes, router, clock=clock)
    ct = None
    if settings.certstream_url:
        stream = CertstreamReader(settings.certstream_url, clock=clock)
        ct = CtPollJob(None, watcher, interval=timedelta(seconds=settings.ct_poll_seconds), stream=stream)
        closers.append(ct.aclose)
    elif settings.ct_log_list_url:
        ct_http = ct_http_client(settings.ct_log_list_url)
        closers.append(ct_http.close)
        follower = CtFollower(
            ct_http, StoredPositions(db, db.ct_positions), log_list_url=settings.ct_log_list_url, clock=clock
        )
        ct = CtPollJob(follower, watcher, interval=timedelta(seconds=settings.ct_poll_seconds))
    permutations = None
    if dns is not None:
        permutations = PermutationResolver(
            db,
            db.lookalikes,
            dns,
            router,
            clock=clock,
            interval=timedelta(seconds=settings.lookalike_resolve_seconds),
            budget=settings.lookalike_query_budget,
        )
    return _Watches(watcher, lookalike_messages, closers, ct, permutations)


@dataclass
class _Commands:
    """What the commands run on: the monitor and triage flows, digests, the queues that
    hand commands and checks to workers, the limits every process shares."""

    flows: MonitorFlows
    triage: TriageFlows
    digests: DigestService
    check_requests: CheckRequestStore
    slash_commands: SlashCommandQueue
    closers: list[Callable[[], Awaitable[None]]]
    shared_limits: SharedLimits | None = None  # replay memory and rate buckets of every process


def _commands(
    settings: Settings,
    db: Database,
    transport: Transport,
    checking: _Checking,
    watches: _Watches,
    *,
    clock: Callable[[], datetime],
    metrics: Metrics,
    checks_elsewhere: bool,
) -> _Commands:
    """The flows behind the commands, buttons and API, and what they share."""
    engine = db.engine
    closers: list[Callable[[], Awaitable[None]]] = []
    check_requests = CheckRequestStore(engine)
    slash_commands = SlashCommandQueue(engine)
    # Several processes answer Slack only on PostgreSQL (behind a load balancer): there the
    # replay memory and the command rate are counted in the database, for all of them. On
    # SQLite one process answers Slack, so its own memory is everyone's, and the answer to
    # Slack never waits for SQLite's single writer.
    shared_limits = SharedLimits(engine) if engine.dialect.name == "postgresql" else None
    runner = checking.runner
    checks: CheckRunner = RequestedChecks(runner, check_requests, db) if checks_elsewhere else runner
    digests = DigestService(
        db,
        transport,
        settings=settings,
        clock=clock,
        mailer=SmtpMailer.from_settings(settings) if settings.digest_email else None,
        metrics=metrics,
        lookalikes=True,
        week_chart=True,
    )
    access = AccessPolicy(settings.admins, settings.channel_quota)
    misp = None
    if settings.misp_url and settings.misp_key:
        misp = MispClient(settings.misp_url, settings.misp_key.reveal(), verify_tls=settings.misp_verify_tls)
        closers.append(misp.close)
    triage = TriageFlows(
        db, transport, clock=clock, access=access, suppression=timedelta(days=settings.false_positive_days)
    )
    flows = MonitorFlows(
        db,
        checks,
        clock=clock,
        timezone=settings.timezone,
        digests=digests,
        access=access,
        # Counted in the database: a user's commands to every process together.
        rate_limit=(
            None
            if not settings.command_rate
            else LocalRateLimiter(RateLimit(settings.command_rate))
            if shared_limits is None
            else SharedRateLimiter(RateLimit(settings.command_rate), shared_limits, db, clock=clock)
        ),
        on_lifted=triage.after_lift,
        quotas=checking.quotas,
        gate=checking.gate,
        resolver=checking.shared_resolver,
        ct=watches.ct,
        sources_off=settings.sources_off(),
        misp=misp,
        receivers=receivers_state(settings),
    )
    return _Commands(flows, triage, digests, check_requests, slash_commands, closers, shared_limits)


def receiver_routes(settings: Settings) -> tuple[ReceiverRoute, ...]:
    """Which HTTP receivers get which alerts: the webhooks (the global URL every alert,
    a channel's URL its channel's), MISP and TheHive (their channels; none listed: all)."""
    routes = []
    if settings.webhook_url or settings.webhook_urls:
        channels = frozenset(channel for channel, _ in settings.webhook_urls)
        routes.append(ReceiverRoute(WEBHOOK, everything=bool(settings.webhook_url), channels=channels))
    if settings.misp_on:
        routes.append(ReceiverRoute(MISP, channels=frozenset(settings.misp_channels) or None))
    if settings.thehive_on:
        routes.append(ReceiverRoute(THEHIVE, channels=frozenset(settings.thehive_channels) or None))
    return tuple(routes)


def build_receivers(settings: Settings) -> list[Receiver]:
    """The receivers `receiver_routes` sends alerts to."""
    receivers: list[Receiver] = []
    if settings.webhook_url or settings.webhook_urls:
        channels = {channel: url.reveal() for channel, url in settings.webhook_urls}
        targets = WebhookTargets(settings.webhook_url.reveal(), channels)
        receivers.append(
            WebhookReceiver(targets, settings.webhook_secret.reveal(), body_format=settings.webhook_format)
        )
    if settings.misp_on:
        receivers.append(
            MispReceiver(settings.misp_url, settings.misp_key.reveal(), verify_tls=settings.misp_verify_tls)
        )
    if settings.thehive_on:
        receivers.append(TheHiveReceiver(settings.thehive_url, settings.thehive_key.reveal()))
    return receivers


def receivers_state(settings: Settings) -> dict[str, str]:
    """Each HTTP receiver: "" when on, else why it is off (what `/monitor health` says)."""
    return {
        WEBHOOK: "" if settings.webhook_url or settings.webhook_urls else "no WATCHPOST_WEBHOOK_URL(S)",
        MISP: "" if settings.misp_on else "WATCHPOST_MISP_URL and WATCHPOST_MISP_KEY are not both set",
        THEHIVE: ""
        if settings.thehive_on
        else "WATCHPOST_THEHIVE_URL and WATCHPOST_THEHIVE_KEY are not both set",
    }
