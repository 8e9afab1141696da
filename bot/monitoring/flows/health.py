"""How the bot's sources stand: what `/monitor health`, the App Home and /api/v1/health
show (each source's requests, quota use, errors and latency, the sources turned off, the
resolver, CT, the HTTP receivers), and each quota-limited source's plan for one indicator
(`/monitor status`) and the lookups waiting for a slot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from bot.alerts.store.receivers import ReceiverHealth
from bot.commands.grammar import HealthCommand
from bot.core.indicators import Indicator
from bot.core.results import Caller, CommandResult
from bot.monitoring.messages.health import HealthReport, SourceHealthRow, build_health_message
from bot.monitoring.quota import (
    BOTH_KINDS,
    SOURCE_DATASETS,
    SOURCE_FEEDS,
    SOURCE_KINDS,
    SOURCE_LABELS,
    QuotaGate,
    describe_budget,
    describe_interval,
)
from bot.monitoring.store.quotas import QuotaPlan, QuotaStore, SourceUsage
from bot.storage.db import Database
from bot.watches.ct.flows import Readers


class HealthFlows:
    def __init__(
        self,
        db: Database,
        readers: Readers,
        *,
        clock: Callable[[], datetime],
        quotas: QuotaStore | None = None,
        gate: QuotaGate | None = None,
        sources_off: Mapping[str, str] | None = None,
        receivers: Mapping[str, str] | None = None,
    ) -> None:
        self.db = db
        self.readers = readers
        self.clock = clock
        # Quota-limited sources: which lookups wait for a slot, and each source's plan.
        self.quotas = quotas
        self.gate = gate
        # Sources the settings turned off, and why (Settings.sources_off): health says so.
        self.sources_off = dict(sources_off or {})
        # HTTP receivers (webhook, misp, thehive): "" when on, else why off; health says so.
        self.receivers = dict(receivers or {})

    async def handle_health_command(self, command: HealthCommand, caller: Caller) -> CommandResult:
        report = await self.report()
        return CommandResult(
            build_health_message(
                report.sources,
                resolver=report.resolver,
                ct_logs=report.ct_logs,
                ct_reading=report.ct_reading,
                resolver_off=report.resolver_off,
                receivers=report.receivers,
            )
        )

    async def report(self) -> HealthReport:
        """Sources, the resolver, CT and the HTTP receivers: what `/monitor health` and the
        App Home show."""
        readers = self.readers
        sources, resolver, ct_logs, receivers = await asyncio.gather(
            self.source_health(),
            readers.resolver_status(),
            readers.ct_log_positions(),
            self.receiver_health(),
        )
        return HealthReport(
            tuple(sources),
            resolver,
            None if ct_logs is None else tuple(ct_logs),
            readers.ct_reading(),
            resolver_off="" if readers.resolver is not None else "WATCHPOST_DNS_CANARY is off",
            receivers=tuple(receivers),
        )

    async def source_usage(self) -> list[tuple[SourceUsage, QuotaPlan | None]]:
        """Every source that is on and was asked in the last day, and every quota-limited
        one, with its plan (one count of the monitors for all): what `/monitor health` and
        /api/v1/health show, from every process's requests."""
        if self.quotas is None:
            return []
        now = self.clock()
        limits = dict(self.gate.limits) if self.gate is not None else {}
        known = await self.db.run(self.quotas.known_sources, now=now)
        wanted = {
            source: limits.get(source, ())
            for source in {*known, *(s for s, lim in limits.items() if lim)}
            # An off source has no plan and no state but off, whatever its default quota says.
            if source not in self.sources_off
        }
        usage = await self.db.run(self.quotas.usage, wanted, now=now)
        plans = await self.gate.plans(item.source for item in usage) if self.gate is not None else {}
        return [(item, plans.get(item.source)) for item in usage]

    async def source_health(self) -> list[SourceHealthRow]:
        """Health rows: the sources that are off (and why), then `source_usage`'s."""
        if self.quotas is None:
            return []
        rows = [
            SourceHealthRow(source=SOURCE_LABELS.get(source, source), off=why)
            for source, why in sorted(self.sources_off.items())
        ]
        for item, plan in await self.source_usage():
            interval = f"every {describe_interval(plan.interval)}: {describe_budget(plan)}" if plan else ""
            rows.append(
                SourceHealthRow(
                    source=SOURCE_LABELS.get(item.source, item.source),
                    requests_hour=item.requests_hour,
                    requests_day=item.requests_day,
                    quota=tuple(
                        (_window_name(limit.window_seconds), used, limit.requests)
                        for limit, used in item.limits
                    ),
                    errors_day=item.errors_day,
                    last_success_at=item.last_success_at,
                    latency_p50_ms=item.latency_p50_ms,
                    latency_p95_ms=item.latency_p95_ms,
                    interval=interval,
                    waiting=item.waiting,
                    failing_since=item.failing_since,
                )
            )
        return rows

    async def receiver_health(self) -> list[ReceiverHealth]:
        """Each HTTP receiver: off (and why), or its backlog, give-ups and last error."""
        on = [name for name, off in self.receivers.items() if not off]
        states = {s.receiver: s for s in await self.db.run(self.db.receiver_queue.health, on)} if on else {}
        return [states.get(name) or ReceiverHealth(name, off=off) for name, off in self.receivers.items()]

    async def plans(self, indicator: Indicator, datasets: Collection[str]) -> list[str]:
        """How often each quota-limited source of these datasets is asked about one indicator."""
        if self.gate is None:
            return []
        applies = [
            source
            for source in sorted(self.gate.limits)
            if source not in self.sources_off  # no schedule for a source that is off
            and indicator.kind.value in SOURCE_KINDS.get(source, BOTH_KINDS)
            and any(d in datasets for d in SOURCE_DATASETS.get(source, ()))
        ]
        return [
            f"{SOURCE_FEEDS.get(source, source)} every {describe_interval(plan.interval)}: "
            f"{describe_budget(plan)}"
            for source, plan in (await self.gate.plans(applies)).items()
        ]

    async def waits_for(self, indicator: str) -> dict[str, datetime]:
        """The sources the indicator's lookups wait in line for, and when each slot is expected."""
        return await self.db.run(self.quotas.waits_for, indicator) if self.quotas is not None else {}


def _window_name(seconds: float) -> str:
    return {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}.get(seconds, f"{seconds:g} s")
