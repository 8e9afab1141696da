"""The request gate every HTTP source passes: quota slots shared through the database,
the planned interval of each quota-limited source, and the request log for health.

A check runs inside a `LookupContext` (set by the runner): which indicator it is about,
whether a person asked for it, and which sources deferred it. A source that cannot have
a slot raises `SourceDeferred`; the runner then marks that source's failures as deferred
(`mark_deferred`), so the dataset's last state stands, nothing goes stale and no change
is inferred, and it brings the check back when the slot is expected.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from bot.config import QuotaLimit
from bot.core.errors import SourceError
from bot.core.metrics import Metrics
from bot.core.observations import IndicatorKind, Observation
from bot.monitoring.datasets.model import source_datasets
from bot.monitoring.store.quotas import (
    MANUAL,
    ROUTINE,
    WAIT_GRACE,
    Deferred,
    Granted,
    QuotaPlan,
    QuotaStore,
    plan_interval,
)
from bot.storage.db import DatabaseRunner

# Which indicators each source is asked about (its share of the monitors).
SOURCE_KINDS: Mapping[str, frozenset[str]] = {
    "crtsh": frozenset({IndicatorKind.DOMAIN.value}),
    "rdap": frozenset({IndicatorKind.IP.value}),  # networks of IPs (domains go to WHOIS)
    "internetdb": frozenset({IndicatorKind.IP.value}),
}
BOTH_KINDS = frozenset({IndicatorKind.DOMAIN.value, IndicatorKind.IP.value})
# The datasets each source feeds, and what it is to a reader.
SOURCE_DATASETS: Mapping[str, tuple[str, ...]] = {
    source: source_datasets(source)
    for source in ("mnemonic", "circl", "virustotal", "crtsh", "rdap", "internetdb")
}
SOURCE_FEEDS = {
    "mnemonic": "passive DNS (Mnemonic)",
    "circl": "passive DNS (CIRCL)",
    "virustotal": "passive DNS (VirusTotal)",
    "crtsh": "certificates and subdomains (crt.sh)",
    "rdap": "network registration (RDAP)",
    "internetdb": "services (Shodan InternetDB)",
}
SOURCE_LABELS = {
    "mnemonic": "Mnemonic",
    "circl": "CIRCL",
    "virustotal": "VirusTotal",
    "crtsh": "crt.sh",
    "rdap": "RDAP",
    "internetdb": "Shodan InternetDB",
    # Not HTTP APIs, no quota: logged for health all the same (sources/http.py `gated`).
    "whois": "WHOIS (port 43)",
    "asn": "ASN (Team Cymru, over DNS)",
    "rdap_bootstrap": "RDAP bootstrap (IANA)",
    "tls probe": "TLS probe (active)",
}


class SourceDeferred(SourceError):
    """No slot for this request now: not a failure, the lookup waits for `until`."""

    def __init__(self, source: str, until: datetime, reason: str) -> None:
        what = {"turn": "next turn", "off": "turned off"}.get(reason, "quota: next slot")
        super().__init__(source, f"{what} at {until:%Y-%m-%d %H:%M:%S} UTC")
        self.until = until
        self.reason = reason


@dataclass
class LookupContext:
    indicator: str | None
    manual: bool = False
    # The check is scheduled and can be brought back when told (not `watchpost check`).
    returns: bool = True
    deferred: dict[str, datetime] = field(default_factory=dict)
    come_back_at: datetime | None = None  # the earliest slot this check holds a place for
    asked: set[str] = field(default_factory=set)  # sources that gave this check a slot


_current: contextvars.ContextVar[LookupContext | None] = contextvars.ContextVar(
    "watchpost_lookup", default=None
)


@contextmanager
def lookup_context(
    indicator: str | None, *, manual: bool = False, returns: bool = True
) -> Iterator[LookupContext]:
    """The lookups of one check; tasks started inside share it."""
    context = LookupContext(indicator, manual=manual, returns=returns)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current_lookup() -> LookupContext | None:
    return _current.get()


def mark_deferred(observation: Observation, deferred: Mapping[str, datetime]) -> Observation:
    """The observation with the failures of deferred sources marked as waiting."""
    if not deferred or not any(f.source in deferred for f in observation.failures):
        return observation
    failures = tuple(
        replace(f, deferred_until=deferred[f.source]) if f.source in deferred else f
        for f in observation.failures
    )
    return replace(observation, failures=failures)


@dataclass(frozen=True)
class Ticket:
    source: str
    request_id: int | None
    started: float


class QuotaGate:
    """Implements `RequestGate` (bot/monitoring/sources/http.py) for every HTTP source."""

    def __init__(
        self,
        quotas: QuotaStore,
        database: DatabaseRunner,
        limits: Mapping[str, Sequence[QuotaLimit]],
        *,
        check_interval: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        plan_ttl: float = 60.0,
        log_unlimited: bool = True,
        lanes: int = 2,
    ) -> None:
        self.quotas = quotas
        self.database = database
        self.limits = {source: tuple(found) for source, found in limits.items()}
        self.check_interval = check_interval
        self.clock = clock
        self.metrics = metrics
        self._plan_ttl = plan_ttl
        self._plans: dict[str, tuple[float, QuotaPlan]] = {}
        self._log_unlimited = log_unlimited
        # Lookups this process was told to bring back, and when (source, indicator).
        self._promised: dict[tuple[str, str], datetime] = {}
        # Lookups without a place in a queue ask for a slot at most `lanes` at a time, so
        # one that holds a place, back at its slot, never waits behind thousands of new
        # monitors' first lookups in the database's queue: the slot would pass meanwhile.
        self._lanes = asyncio.Semaphore(lanes)

    async def plan(self, source: str) -> QuotaPlan | None:
        """The planned interval of a quota-limited source (None: it has no quota)."""
        limits = self.limits.get(source)
        if not limits:
            return None
        cached = self._plans.get(source)
        if cached is not None and time.monotonic() - cached[0] < self._plan_ttl:
            return cached[1]
        gone = self.clock() - WAIT_GRACE  # the queue has let these go (a removed monitor's)
        self._promised = {key: at for key, at in self._promised.items() if at >= gone}
        monitors = await self.database.run(self.quotas.monitored, SOURCE_KINDS.get(source, BOTH_KINDS))
        return self._remember(build_plan(source, limits, monitors, self.check_interval))

    async def plans(self, sources: Iterable[str]) -> dict[str, QuotaPlan]:
        """Fresh plans of `sources` (those with a quota), all from one count of the monitors
        per kind: one reply shows one plan, never a cached count beside a new one."""
        wanted = [source for source in dict.fromkeys(sources) if self.limits.get(source)]
        counts: dict[frozenset[str], int] = {}
        found = {}
        for source in wanted:
            kinds = SOURCE_KINDS.get(source, BOTH_KINDS)
            if frozenset(kinds) not in counts:
                counts[frozenset(kinds)] = await self.database.run(self.quotas.monitored, kinds)
            found[source] = self._remember(
                build_plan(source, self.limits[source], counts[frozenset(kinds)], self.check_interval)
            )
        return found

    def _remember(self, plan: QuotaPlan) -> QuotaPlan:
        self._plans[plan.source] = (time.monotonic(), plan)
        if self.metrics is not None:
            self.metrics.source_planned_interval.labels(plan.source).set(plan.interval.total_seconds())
        return plan

    async def admit(self, source: str) -> None:
        """Before the request waits for a connection: raises `SourceDeferred` if it would
        have to wait for a slot or its turn (queueing it as `before` would), so a lookup
        told to come back later never holds one of the source's few connections while
        others, back at their slots, wait behind it. Takes no slot: `before` does."""
        limits = self.limits.get(source)
        context = _current.get()
        if limits is None or context is None or source in context.asked:
            return
        promised = context.indicator is not None and (source, context.indicator) in self._promised
        async with nullcontext() if promised or context.manual else self._lanes:
            result = await self._ask(source, limits, context, probe=True)
        if isinstance(result, Deferred):
            self._deferred(source, result, context)

    async def before(self, source: str) -> Ticket:
        limits = self.limits.get(source)
        started = time.monotonic()
        if limits is None:
            return Ticket(source, None, started)
        context = _current.get()
        now = self.clock  # read by the store once it holds the source's row
        if context is None:  # a lookup outside any check (an investigation): no queue, no turn
            result = await self.database.run(self.quotas.take_slot, source, limits, now=now, priority=MANUAL)
        elif source in context.asked:  # a later page of a lookup that had its slot
            result = await self.database.run(self.quotas.take_slot, source, limits, now=now, priority=MANUAL)
        else:
            result = await self._ask(source, limits, context, probe=False)
        if isinstance(result, Deferred):
            self._deferred(source, result, context)
        if context is not None:
            context.asked.add(source)
        return Ticket(source, result.request_id, time.monotonic())

    async def _ask(
        self, source: str, limits: Sequence[QuotaLimit], context: LookupContext, *, probe: bool
    ) -> Granted | Deferred:
        plan = await self.plan(source)
        turn = _turn_interval(plan, self.check_interval) if plan is not None else None
        result = await self.database.run(
            self.quotas.take_slot,
            source,
            limits,
            now=self.clock,
            indicator=context.indicator,
            priority=MANUAL if context.manual else ROUTINE,
            queue=context.returns,
            turn_interval=turn,
            probe=probe,
        )
        if context.indicator is not None:
            if isinstance(result, Deferred) and result.queued:
                self._promised[(source, context.indicator)] = result.until
            elif not probe:
                self._promised.pop((source, context.indicator), None)
        return result

    def _deferred(self, source: str, result: Deferred, context: LookupContext | None) -> NoReturn:
        if self.metrics is not None:
            self.metrics.source_deferred.labels(source, result.reason).inc()
        if context is not None:
            context.deferred[source] = result.until
            if result.queued and (context.come_back_at is None or result.until < context.come_back_at):
                context.come_back_at = result.until
        raise SourceDeferred(source, result.until, result.reason)

    async def after(self, ticket: Any, outcome: str) -> None:
        assert isinstance(ticket, Ticket)
        latency = time.monotonic() - ticket.started
        if self.metrics is not None:
            self.metrics.source_requests.labels(ticket.source, outcome).inc()
            self.metrics.source_latency.labels(ticket.source).observe(latency)
        latency_ms = int(latency * 1000)
        if ticket.request_id is not None:
            await self.database.run(
                self.quotas.finish, ticket.request_id, outcome=outcome, latency_ms=latency_ms
            )
        elif self._log_unlimited:
            await self.database.run(
                self.quotas.log_request,
                ticket.source,
                at=self.clock(),
                outcome=outcome,
                latency_ms=latency_ms,
            )


def build_plan(
    source: str, limits: Sequence[QuotaLimit], monitors: int, check_interval: timedelta
) -> QuotaPlan:
    interval = plan_interval(limits, monitors, check_interval)
    per_day = min((limit.requests * 86400 / limit.window_seconds for limit in limits), default=0.0)
    return QuotaPlan(source, tuple(limits), monitors, interval, per_day)


def _turn_interval(plan: QuotaPlan, check_interval: timedelta) -> timedelta:
    """A turn comes at the first check after it is due: half a check interval early on
    average, so the effective interval is the planned one."""
    if plan.interval <= check_interval:
        return timedelta(0)
    return plan.interval - check_interval / 2


def describe_interval(interval: timedelta) -> str:
    """ "3 h 20 min", "45 min", "2 d 4 h"."""
    minutes = max(1, round(interval.total_seconds() / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts[:2])


def describe_budget(plan: QuotaPlan) -> str:
    """ "Mnemonic allows 1,000 a day for 460 monitors"."""
    label = SOURCE_LABELS.get(plan.source, plan.source)
    tightest = min(plan.limits, key=lambda limit: limit.requests / limit.window_seconds)
    unit = {1.0: "a second", 60.0: "a minute", 3600.0: "an hour", 86400.0: "a day"}.get(
        tightest.window_seconds, f"per {tightest.window_seconds:g} s"
    )
    monitors = f"{plan.monitors:,} monitor" + "s" * (plan.monitors != 1)
    return f"{label} allows {tightest.requests:,} {unit} for {monitors}"
