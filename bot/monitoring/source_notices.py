"""Source health in the worker: a source failing for longer than the notice delay
(WATCHPOST_SOURCE_OUTAGE_NOTICE, 30 min) gets one notice in each channel that depends on
it, and one more when it answers again — never one per monitor, and once whatever the
number of processes (the notices are claimed in the database). Also refreshes the health
gauges (sources, the resolver's shared verdict, CT log positions) and prunes the request log."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from bot.config import QuotaLimit
from bot.core.metrics import Metrics
from bot.core.transport import Transport
from bot.monitoring.messages.health import build_outage_notice, build_recovery_notice, short_log_name
from bot.monitoring.quota import BOTH_KINDS, SOURCE_FEEDS, SOURCE_KINDS, SOURCE_LABELS
from bot.monitoring.resolver_check import SharedResolverVerdicts
from bot.monitoring.store.quotas import OutageStore, QuotaStore, SourceUsage
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.storage.db import Database
from bot.watches.ct.store import CtPosition

log = logging.getLogger(__name__)


class SourceHealthJob:
    tick_seconds = 60.0

    def __init__(
        self,
        db: Database,
        quotas: QuotaStore,
        outages: OutageStore,
        transport: Transport,
        *,
        limits: Mapping[str, Sequence[QuotaLimit]] | None = None,
        notice_after: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        resolver: SharedResolverVerdicts | None = None,
    ) -> None:
        self.db = db
        self.quotas = quotas
        self.outages = outages
        self.transport = transport
        self.limits = limits or {}
        self.notice_after = notice_after
        self.clock = clock
        self.metrics = metrics
        self.resolver = resolver

    async def run(self) -> list[tuple[str, str]]:
        """One look at every source; the (kind, source) of each notice posted."""
        now = self.clock()
        sources = await self.db.run(self.quotas.known_sources, now=now)
        open_outages = await self.db.run(self.outages.open_outages)
        usage = await self.db.run(
            self.quotas.usage,
            {s: self.limits.get(s, ()) for s in {*sources, *open_outages}},
            now=now,
        )
        posted: list[tuple[str, str]] = []
        for item in usage:
            if self.metrics is not None:
                record_usage(self.metrics, item)
            if item.failing_since is not None and now - item.failing_since >= self.notice_after:
                claimed = await self.db.run(
                    self.outages.claim_outage_notice, item.source, started_at=item.failing_since, now=now
                )
                if claimed:
                    await self._notify(item.source, "outage", item.failing_since, now)
                    posted.append(("outage", item.source))
            elif item.failing_since is None and item.source in open_outages:
                since = await self.db.run(self.outages.claim_recovery_notice, item.source, now=now)
                if since is not None:
                    await self._notify(item.source, "recovery", since, now)
                    posted.append(("recovery", item.source))
        await self.db.run(self.quotas.prune, now=now)
        if self.metrics is not None:
            status = await self.resolver.current() if self.resolver is not None else None
            record_resolver(self.metrics, status)
            record_ct_positions(self.metrics, (await self.db.run(self.db.ct_positions.positions)).values())
        return posted

    async def _notify(self, source: str, kind: str, since: datetime, now: datetime) -> None:
        label = SOURCE_LABELS.get(source, source)
        feeds = SOURCE_FEEDS.get(source, source)
        channels = await self.db.run(self.outages.channels_for, SOURCE_KINDS.get(source, BOTH_KINDS))
        message = (
            build_outage_notice(label, since, feeds)
            if kind == "outage"
            else build_recovery_notice(label, since, now)
        )
        log.warning("%s %s: telling %d channels", source, kind, len(channels))
        for _, channel_id in channels:
            try:
                await self.transport.post(channel_id, message)
            except Exception as exc:  # one channel's failure never costs the others their notice
                log.warning("%s notice to %s failed (%s)", kind, channel_id, exc.__class__.__name__)


def record_usage(metrics: Metrics, item: SourceUsage) -> None:
    """The health gauges of one source, from every process's requests."""
    source = item.source
    metrics.source_requests_window.labels(source, "hour").set(item.requests_hour)
    metrics.source_requests_window.labels(source, "day").set(item.requests_day)
    for limit, used in item.limits:
        metrics.source_quota_used.labels(source, f"{limit.window_seconds:g}").set(
            used / max(limit.requests, 1)
        )
    for kind, count in item.errors_day.items():
        metrics.source_errors_day.labels(source, kind).set(count)
    if item.last_success_at is not None:
        metrics.source_last_success.labels(source).set(item.last_success_at.timestamp())
    if item.latency_p50_ms is not None:
        metrics.source_latency_quantile.labels(source, "0.5").set(item.latency_p50_ms)
        metrics.source_latency_quantile.labels(source, "0.95").set(item.latency_p95_ms or 0)


def record_resolver(metrics: Metrics, status: ResolverStatus | None) -> None:
    """The resolver gauges from the shared verdict (left unset before any check)."""
    if status is None:
        return
    metrics.resolver_ok.set(1 if status.ok else 0)
    metrics.resolver_checked.set(status.checked_at.timestamp())


def record_ct_positions(metrics: Metrics, positions: Iterable[CtPosition]) -> None:
    """One set of gauges per CT log, labelled with its short public name."""
    for position in positions:
        name = short_log_name(position.log)
        metrics.ct_log_position.labels(name).set(position.position)
        metrics.ct_log_tree_size.labels(name).set(position.tree_size)
        metrics.ct_log_lag.labels(name).set(max(0, position.tree_size - position.position))
        metrics.ct_log_advanced.labels(name).set(position.updated_at.timestamp())
