"""Source quotas shared by every process on one database, and the request log behind
source health.

A quota is a set of sliding windows (`QuotaLimit`: at most N requests in any W seconds).
`take_slot` is one transaction that holds the source's row in `source_quotas` (SELECT …
FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite), so claimers count one at a time:
it counts the requests of each window in `source_requests` and either logs a new one
(the slot) or says when a slot is expected. However many processes ask, a source never
gets more requests than its quota in any window (each window is also widened by a small
margin, for the time between taking a slot and the request leaving).

Who gets a slot when there are not enough: lookups that will come back when told (a new
monitor's first lookup, a manual check) queue in `source_waits` by priority and arrival;
a routine lookup gets a slot only when every queued one could have one too. A routine
lookup also waits its turn: one planned interval after the source last answered about
the same indicator (`source_turns`), half of one if the indicator changed in the last day.

Every request, quota or not, ends as a row of `source_requests` (outcome and latency),
which `usage` reads for `/monitor health`; rows older than a day are pruned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from bot.config import QuotaLimit
from bot.storage.engine import insert_unless_present
from bot.storage.models import (
    ChangeRow,
    Monitor,
    SourceOutageRow,
    SourceQuotaRow,
    SourceRequestRow,
    SourceTurnRow,
    SourceWaitRow,
    Subject,
)

_QUOTAS = cast(Table, SourceQuotaRow.__table__)
_REQUESTS = cast(Table, SourceRequestRow.__table__)
_WAITS = cast(Table, SourceWaitRow.__table__)
_TURNS = cast(Table, SourceTurnRow.__table__)
_SUBJECTS = cast(Table, Subject.__table__)
_CHANGES = cast(Table, ChangeRow.__table__)

# Priorities, lowest first served. A later page of a lookup that already had a slot
# comes first: the lookup is useless without it.
MANUAL = 0
NEW = 1
ROUTINE = 3

# A queued lookup that has not come back this long after the time it was told has gone
# (its monitor was removed, its process stopped): it no longer holds others up.
WAIT_GRACE = timedelta(minutes=2)
REQUEST_LOG_KEPT = timedelta(days=1)
# An indicator that changed this recently has its turn twice as often as the rest.
RECENT = timedelta(days=1)


def window_margin(limit: QuotaLimit) -> timedelta:
    """Slots are counted over a window this much wider than the quota's: the time between
    taking a slot and the request reaching the source never squeezes N+1 into a window."""
    width = limit.window_seconds
    return timedelta(seconds=min(1.0, max(width * 0.02, min(0.5, width * 0.1))))


@dataclass(frozen=True)
class Granted:
    request_id: int


@dataclass(frozen=True)
class Deferred:
    """No request now; `until` is when one is expected (a slot, or the indicator's turn)."""

    until: datetime
    reason: str  # "quota", "turn" or "off"
    queued: bool = False  # the lookup holds a place in the queue: come back at `until`


@dataclass(frozen=True)
class SourceUsage:
    """What `/monitor health` shows of a source (from the request log)."""

    source: str
    requests_hour: int
    requests_day: int
    limits: tuple[tuple[QuotaLimit, int], ...]  # each limit with its use in the window now
    errors_day: dict[str, int]
    last_success_at: datetime | None
    last_error_at: datetime | None
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    waiting: int
    failing_since: datetime | None  # every request since then failed (None: the last one worked)


@dataclass(frozen=True)
class QuotaPlan:
    """The interval a source's budget allows for the monitors it serves."""

    source: str
    limits: tuple[QuotaLimit, ...]
    monitors: int
    interval: timedelta
    per_day: float = field(default=0.0)  # the sustained budget, requests a day


def sustained_per_second(limits: Sequence[QuotaLimit]) -> float:
    """The rate the tightest window allows in the long run."""
    return min((limit.requests / limit.window_seconds for limit in limits), default=math.inf)


def plan_interval(
    limits: Sequence[QuotaLimit], monitors: int, check_interval: timedelta, *, share: float = 0.9
) -> timedelta:
    """How often each of `monitors` can be looked up on `share` of the budget (the rest is
    for new monitors and manual checks), never more often than the check interval."""
    rate = sustained_per_second(limits) * share
    if not limits or rate <= 0:
        return check_interval
    needed = timedelta(seconds=math.ceil(monitors / rate)) if math.isfinite(rate) else timedelta(0)
    return max(check_interval, needed)


class QuotaStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    # --- slots ------------------------------------------------------------------------

    def take_slot(
        self,
        source: str,
        limits: Sequence[QuotaLimit],
        *,
        now: datetime | Callable[[], datetime],
        indicator: str | None = None,
        priority: int = ROUTINE,
        queue: bool = False,
        turn_interval: timedelta | None = None,
        probe: bool = False,
    ) -> Granted | Deferred:
        """A slot for one request to `source`, or when to expect one. `priority` ROUTINE
        with an `indicator` is promoted to NEW if the source was never asked about it; a
        lookup of priority NEW or MANUAL with `queue` takes a place in the queue. `now` may
        be a clock: it is then read once the source's row is held, so a claimer that waited
        for the lock never logs its slot at a time before the previous one's. `probe`: a
        free slot is not taken (`Granted(0)`: the caller takes it once its request can
        leave); one that must wait is deferred and queued all the same."""
        clock = now if callable(now) else _fixed(now)
        started = clock()
        if not limits:
            return Deferred(started + timedelta(days=365), "off")
        with self.engine.connect() as connection:
            if indicator is not None:
                last = connection.execute(
                    select(_TURNS.c.last_at).where(_TURNS.c.source == source, _TURNS.c.indicator == indicator)
                ).scalar()
                if last is None and priority == ROUTINE:
                    priority = NEW
                elif last is not None and priority == ROUTINE and turn_interval is not None:
                    turn = last + turn_interval
                    if turn > started and self._changed_since(connection, indicator, started - RECENT):
                        turn = last + turn_interval / 2  # recently changed: looked at twice as often
                    if turn > started:
                        return Deferred(turn, "turn")
        queue = queue and priority < ROUTINE and indicator is not None
        with self.engine.connect() as connection:
            self._lock(connection, source, started)
            result = self._take(connection, source, limits, clock(), indicator, priority, queue, probe)
            connection.commit()
        return result

    @staticmethod
    def _changed_since(connection: Connection, indicator: str, since: datetime) -> bool:
        found = connection.execute(
            select(_CHANGES.c.id)
            .join(_SUBJECTS, _SUBJECTS.c.id == _CHANGES.c.subject_id)
            .where(_SUBJECTS.c.indicator == indicator, _CHANGES.c.detected_at > since)
            .limit(1)
        ).first()
        return found is not None

    def _lock(self, connection: Connection, source: str, now: datetime) -> None:
        """Hold the source's row until commit: one claimer at a time, in every process."""
        if self._sqlite:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.execute(
            insert_unless_present(connection.dialect.name, _QUOTAS, "source").values(
                source=source, updated_at=now
            )
        )
        if not self._sqlite:
            connection.execute(select(_QUOTAS.c.source).where(_QUOTAS.c.source == source).with_for_update())

    def _take(
        self,
        connection: Connection,
        source: str,
        limits: Sequence[QuotaLimit],
        now: datetime,
        indicator: str | None,
        priority: int,
        queue: bool,
        probe: bool = False,
    ) -> Granted | Deferred:
        """One claim, the source's row held: a slot now, or when one is expected (and the
        lookup queued for it when `queue`)."""
        times = _requests_in_widest_window(connection, source, limits, now)
        connection.execute(
            delete(_WAITS).where(_WAITS.c.source == source, _WAITS.c.expected_at < now - WAIT_GRACE)
        )
        mine = _own_wait(connection, source, indicator)
        if mine is not None:
            priority, since = min(priority, mine.priority), _aware(mine.since)
        else:
            since = now
        served_first = _served_before(priority, since, indicator)
        ahead = _due_ahead(connection, source, now, served_first, mine, priority)
        counts = [sum(1 for at in times if at > now - _window(limit)) for limit in limits]
        free = min(limit.requests - count for limit, count in zip(limits, counts, strict=True))
        if free > ahead and probe:
            return Granted(0)
        if free > ahead:
            return self._grant(connection, source, indicator, now)
        expected = _expected_slot(connection, source, limits, times, served_first, now)
        if queue and indicator is not None:
            _hold_place(connection, source, indicator, priority, now, expected, queued=mine is not None)
        return Deferred(expected, "quota", queued=queue)

    def _grant(self, connection: Connection, source: str, indicator: str | None, now: datetime) -> Granted:
        """Log the request (the slot); the indicator leaves the queue and has had its turn."""
        request_id = connection.execute(
            insert(_REQUESTS).values(source=source, at=now).returning(_REQUESTS.c.id)
        ).scalar_one()
        if indicator is not None:
            connection.execute(
                delete(_WAITS).where(_WAITS.c.source == source, _WAITS.c.indicator == indicator)
            )
            self._set_turn(connection, source, indicator, now)
        return Granted(request_id)

    def _set_turn(self, connection: Connection, source: str, indicator: str, now: datetime) -> None:
        updated = connection.execute(
            update(_TURNS)
            .where(_TURNS.c.source == source, _TURNS.c.indicator == indicator)
            .values(last_at=now)
        ).rowcount
        if not updated:
            connection.execute(insert(_TURNS).values(source=source, indicator=indicator, last_at=now))

    def finish(self, request_id: int, *, outcome: str, latency_ms: int) -> None:
        """How a request that had a slot ended."""
        with self.engine.begin() as connection:
            connection.execute(
                update(_REQUESTS)
                .where(_REQUESTS.c.id == request_id)
                .values(outcome=outcome[:32], latency_ms=latency_ms)
            )

    def log_request(self, source: str, *, at: datetime, outcome: str, latency_ms: int) -> None:
        """A request to a source without a quota, for its health."""
        with self.engine.begin() as connection:
            connection.execute(
                insert(_REQUESTS).values(source=source, at=at, outcome=outcome[:32], latency_ms=latency_ms)
            )

    def prune(self, *, now: datetime, kept: timedelta = REQUEST_LOG_KEPT) -> int:
        """Forget requests older than every window and every health figure (a day)."""
        with self.engine.begin() as connection:
            removed = connection.execute(delete(_REQUESTS).where(_REQUESTS.c.at < now - kept)).rowcount
            connection.execute(delete(_WAITS).where(_WAITS.c.expected_at < now - WAIT_GRACE))
        return int(removed or 0)

    # --- plans and health -------------------------------------------------------------

    def monitored(self, kinds: Collection[str]) -> int:
        """Subjects of these kinds: how many indicators a source serves."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(_SUBJECTS).where(_SUBJECTS.c.kind.in_(sorted(kinds)))
                ).scalar_one()
            )

    def waits_for(self, indicator: str) -> dict[str, datetime]:
        """The sources an indicator is queued for, and when its slot is expected."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(_WAITS.c.source, _WAITS.c.expected_at).where(_WAITS.c.indicator == indicator)
            ).all()
        return {row.source: _aware(row.expected_at) for row in rows}

    def usage(self, sources: Mapping[str, Sequence[QuotaLimit]], *, now: datetime) -> list[SourceUsage]:
        """Per source, the last day of its request log."""
        report = []
        with self.engine.connect() as connection:
            for source, limits in sorted(sources.items()):
                rows = connection.execute(
                    select(_REQUESTS.c.at, _REQUESTS.c.outcome, _REQUESTS.c.latency_ms)
                    .where(_REQUESTS.c.source == source, _REQUESTS.c.at > now - timedelta(days=1))
                    .order_by(_REQUESTS.c.at)
                ).all()
                waiting = connection.execute(
                    select(func.count()).select_from(_WAITS).where(_WAITS.c.source == source)
                ).scalar_one()
                report.append(
                    _usage(
                        source,
                        limits,
                        [(_aware(r.at), r.outcome, r.latency_ms) for r in rows],
                        now,
                        int(waiting),
                    )
                )
        return report

    def known_sources(self, *, now: datetime) -> list[str]:
        """Sources with a request in the last day."""
        with self.engine.connect() as connection:
            return sorted(
                connection.execute(
                    select(_REQUESTS.c.source).where(_REQUESTS.c.at > now - timedelta(days=1)).distinct()
                ).scalars()
            )


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _window(limit: QuotaLimit) -> timedelta:
    return timedelta(seconds=limit.window_seconds) + window_margin(limit)


def _requests_in_widest_window(
    connection: Connection, source: str, limits: Sequence[QuotaLimit], now: datetime
) -> list[datetime]:
    """The source's requests in its widest window (margin included), oldest first."""
    widest = max(timedelta(seconds=limit.window_seconds) + window_margin(limit) for limit in limits)
    return [
        _aware(at)
        for at in connection.execute(
            select(_REQUESTS.c.at)
            .where(_REQUESTS.c.source == source, _REQUESTS.c.at > now - widest)
            .order_by(_REQUESTS.c.at)
        ).scalars()
    ]


def _own_wait(connection: Connection, source: str, indicator: str | None) -> Row[Any] | None:
    """The indicator's place in the source's queue: priority, since, expected_at (None: none)."""
    if indicator is None:
        return None
    return connection.execute(
        select(_WAITS.c.priority, _WAITS.c.since, _WAITS.c.expected_at).where(
            _WAITS.c.source == source, _WAITS.c.indicator == indicator
        )
    ).first()


def _served_before(priority: int, since: datetime, indicator: str | None) -> ColumnElement[bool]:
    """Queued lookups served before this one: higher priority, or the same and earlier."""
    if priority >= ROUTINE:
        return _WAITS.c.priority < ROUTINE  # routine lookups never jump the queue
    return or_(
        _WAITS.c.priority < priority,
        and_(_WAITS.c.priority == priority, _WAITS.c.since < since),
        and_(_WAITS.c.priority == priority, _WAITS.c.since == since, _WAITS.c.indicator < (indicator or "")),
    )


def _due_ahead(
    connection: Connection,
    source: str,
    now: datetime,
    served_first: ColumnElement[bool],
    mine: Row[Any] | None,
    priority: int,
) -> int:
    """How many queued lookups a free slot is kept for before this one may take it."""
    # Only those already due hold a slot back: one told a later time leaves today's free
    # slots to whoever is here (a slot not taken is gone, a window does not save it).
    due = connection.execute(
        select(func.count())
        .select_from(_WAITS)
        .where(_WAITS.c.source == source, _WAITS.c.expected_at <= now, served_first)
    ).scalar_one()
    if mine is None or _aware(mine.expected_at) > now:
        return int(due)
    # A queued lookup back at (or after) its time takes a free slot unless one of a
    # higher priority is due: those of its own that are not back yet must not hold
    # it up, or a queue whose checks come back a little late would stall behind itself.
    return int(
        connection.execute(
            select(func.count())
            .select_from(_WAITS)
            .where(_WAITS.c.source == source, _WAITS.c.expected_at <= now, _WAITS.c.priority < priority)
        ).scalar_one()
    )


def _expected_slot(
    connection: Connection,
    source: str,
    limits: Sequence[QuotaLimit],
    times: list[datetime],
    served_first: ColumnElement[bool],
    now: datetime,
) -> datetime:
    """When this lookup's slot comes round."""
    # The slot this lookup waits for, counting from the next: behind every queued one
    # served before it (due or not), so the queue comes back spread at the quota's pace.
    position = (
        connection.execute(
            select(func.count()).select_from(_WAITS).where(_WAITS.c.source == source, served_first)
        ).scalar_one()
        + 1
    )
    return max(
        _slot_time(limit, [at for at in times if at > now - _window(limit)], position, now)
        for limit in limits
    )


def _hold_place(
    connection: Connection,
    source: str,
    indicator: str,
    priority: int,
    now: datetime,
    expected: datetime,
    *,
    queued: bool,
) -> None:
    """Queue the lookup for its slot at `expected` (`queued`: it already has a place: move it)."""
    if not queued:
        connection.execute(
            insert(_WAITS).values(
                source=source, indicator=indicator, priority=priority, since=now, expected_at=expected
            )
        )
    else:
        connection.execute(
            update(_WAITS)
            .where(_WAITS.c.source == source, _WAITS.c.indicator == indicator)
            .values(priority=priority, expected_at=expected)
        )


def _slot_time(limit: QuotaLimit, in_window: list[datetime], position: int, now: datetime) -> datetime:
    """When the `position`-th next slot of one limit frees up, given the requests now in
    its window (oldest first). Slots come round with the window: of the next `requests`
    slots, those free now are free now and the others free up as the requests in the
    window leave it, oldest first; every later slot frees up one window after the slot
    `requests` places before it (the request that slot's lookup will make leaves then)."""
    rounds, place = divmod(position - 1, max(limit.requests, 1))
    leave = len(in_window) + place + 1 - limit.requests  # how many must leave the window first
    first = now if leave <= 0 else in_window[leave - 1] + _window(limit)
    return first + _window(limit) * rounds


def _usage(
    source: str,
    limits: Sequence[QuotaLimit],
    rows: list[tuple[datetime, str | None, int | None]],
    now: datetime,
    waiting: int,
) -> SourceUsage:
    hour_ago = now - timedelta(hours=1)
    errors: dict[str, int] = {}
    last_ok = last_error = None
    failing_since: datetime | None = None
    for at, outcome, _ in rows:
        if outcome is None:
            continue
        if outcome == "ok":
            last_ok, failing_since = at, None
        else:
            errors[outcome] = errors.get(outcome, 0) + 1
            last_error = at
            if failing_since is None:
                failing_since = at
    latencies = sorted(ms for at, outcome, ms in rows if ms is not None and at > hour_ago)
    return SourceUsage(
        source=source,
        requests_hour=sum(1 for at, _, _ in rows if at > hour_ago),
        requests_day=len(rows),
        limits=tuple(
            (limit, sum(1 for at, _, _ in rows if at > now - timedelta(seconds=limit.window_seconds)))
            for limit in limits
        ),
        errors_day=errors,
        last_success_at=last_ok,
        last_error_at=last_error,
        latency_p50_ms=_percentile(latencies, 0.50),
        latency_p95_ms=_percentile(latencies, 0.95),
        waiting=waiting,
        failing_since=failing_since,
    )


def _percentile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- outages ------------------------------------------------------------------------------

_OUTAGES = cast(Table, SourceOutageRow.__table__)
_MONITORS = cast(Table, Monitor.__table__)


class OutageStore:
    """A source's outages, each noticed once and its recovery once, whatever the number of
    processes: the notice columns are claimed by whoever sets them first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._quotas = QuotaStore(engine)

    def claim_outage_notice(self, source: str, *, started_at: datetime, now: datetime) -> bool:
        """Open the source's outage if none is open; True for the one caller that should
        post its notice (once per outage)."""
        with self.engine.connect() as connection:
            self._quotas._lock(connection, source, now)
            open_id = connection.execute(
                select(_OUTAGES.c.id).where(_OUTAGES.c.source == source, _OUTAGES.c.recovered_at.is_(None))
            ).scalar()
            if open_id is None:
                open_id = connection.execute(
                    insert(_OUTAGES).values(source=source, started_at=started_at).returning(_OUTAGES.c.id)
                ).scalar_one()
            claimed = connection.execute(
                update(_OUTAGES)
                .where(_OUTAGES.c.id == open_id, _OUTAGES.c.noticed_at.is_(None))
                .values(noticed_at=now)
            ).rowcount
            connection.commit()
        return bool(claimed)

    def claim_recovery_notice(self, source: str, *, now: datetime) -> datetime | None:
        """Close the source's open outage; its start for the one caller that should post the
        recovery (None: nothing was open, or the outage was never noticed)."""
        with self.engine.connect() as connection:
            self._quotas._lock(connection, source, now)
            row = connection.execute(
                select(_OUTAGES.c.id, _OUTAGES.c.started_at, _OUTAGES.c.noticed_at).where(
                    _OUTAGES.c.source == source, _OUTAGES.c.recovered_at.is_(None)
                )
            ).first()
            if row is None:
                connection.commit()
                return None
            connection.execute(
                update(_OUTAGES)
                .where(_OUTAGES.c.id == row.id)
                .values(recovered_at=now, recovery_noticed_at=now if row.noticed_at is not None else None)
            )
            connection.commit()
        return _aware(row.started_at) if row.noticed_at is not None else None

    def channels_for(self, kinds: Collection[str]) -> list[tuple[str, str]]:
        """(team, channel) of every channel monitoring indicators of these kinds."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(_MONITORS.c.team_id, _MONITORS.c.channel_id)
                .join(_SUBJECTS, _SUBJECTS.c.id == _MONITORS.c.subject_id)
                .where(_SUBJECTS.c.kind.in_(sorted(kinds)))
                .distinct()
                .order_by(_MONITORS.c.team_id, _MONITORS.c.channel_id)
            ).all()
        return [(row.team_id, row.channel_id) for row in rows]

    def open_outages(self) -> dict[str, datetime]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(_OUTAGES.c.source, _OUTAGES.c.started_at).where(_OUTAGES.c.recovered_at.is_(None))
            ).all()
        return {row.source: _aware(row.started_at) for row in rows}
