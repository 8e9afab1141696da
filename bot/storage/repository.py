"""Repositories: the only code that talks SQL. Methods are synchronous and each runs one
transaction; the async application calls them through `AsyncStore` (a thread pool)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar, cast

from sqlalchemy import Engine, Select, Table, bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import NotPermitted, UserInputError
from bot.model.observations import (
    Change,
    ChangeKind,
    FactKey,
    FactState,
    FactStatus,
    IndicatorKind,
    Observation,
)
from bot.storage.models import (
    AlertRow,
    ChangeRow,
    DatasetState,
    FactRow,
    Monitor,
    OutboxRow,
    SourceFailureRow,
    Subject,
    WebhookDeliveryRow,
)


@dataclass(frozen=True)
class SubjectView:
    id: int
    indicator: str
    kind: IndicatorKind
    last_checked_at: datetime | None


@dataclass(frozen=True)
class MonitorView:
    id: int
    indicator: str
    kind: IndicatorKind
    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    last_checked_at: datetime | None
    muted: tuple[str, ...]
    stale_datasets: tuple[str, ...] = ()
    subject_id: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddedMonitor:
    indicator: str
    kind: IndicatorKind
    subject_id: int
    new_for_channel: bool
    new_subject: bool


@dataclass(frozen=True)
class DatasetSnapshot:
    """The stored state of one dataset of one subject, as the diff needs it."""

    facts: dict[FactKey, FactState] | None  # None: no baseline yet
    last_ok_at: datetime | None


@dataclass(frozen=True)
class CheckOutcome:
    """What one check wrote: its changes and the observation results, for the caller."""

    observation: Observation
    changes: list[Change]
    closed: list[FactState]
    state: dict[FactKey, FactState]
    baseline: bool


@dataclass(frozen=True)
class DatasetHealth:
    dataset: str
    baseline_at: datetime | None
    last_ok_at: datetime | None
    stale: bool
    last_error: str | None
    facts: tuple[FactState, ...] = ()


@dataclass(frozen=True)
class SharedInfrastructure:
    """A monitored subject that shares a fact value with an indicator under investigation.

    `field` is the monitored subject's field holding `value`; empty when the monitored
    indicator itself is one of the values looked up."""

    indicator: str
    kind: IndicatorKind
    field: str
    value: str
    channel_ids: tuple[str, ...]


@dataclass(frozen=True)
class PendingAlert:
    """An outbox row with everything the renderer needs."""

    id: int
    team_id: str
    channel_id: str
    indicator: str
    kind: IndicatorKind
    created_at: datetime
    attempts: int
    changes: list[Change] = field(default_factory=list)
    # Handed to a transport before without a recorded outcome (a failed attempt, or a
    # lease that ran out mid-send): it may already be in the channel.
    uncertain: bool = False


@dataclass(frozen=True)
class WebhookRouting:
    """Which alerts get a webhook delivery: all of them (`everything`, the global URL),
    and those posted to one of `channels` (channels with a URL of their own)."""

    everything: bool = False
    channels: frozenset[str] = frozenset()


# pg_advisory_xact_lock key (with the schema's hash) that numbers alerts in commit order.
ALERT_ORDER_LOCK = 727275


class Store:
    def __init__(self, engine: Engine, *, webhooks: WebhookRouting | None = None) -> None:
        self.engine = engine
        self.webhooks = webhooks
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # --- monitors -------------------------------------------------------------------

    def add_monitors(
        self,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        indicators: Sequence[tuple[str, IndicatorKind]],
        now: datetime,
        first_check_delay: timedelta = timedelta(0),
        quota: int | None = None,
        tags: Sequence[str] = (),
    ) -> list[AddedMonitor]:
        """Add monitors for a channel (all or nothing). Existing ones are reported as such
        (and get `tags` added to theirs).

        A new subject's first scheduled check comes after `first_check_delay`: the command
        that adds it captures the baseline itself. With `quota`, UserInputError (nothing
        added) when the channel would hold more monitors than that."""
        added: list[AddedMonitor] = []
        with self._sessions.begin() as session:
            if quota is not None:
                self._check_quota(session, team_id, channel_id, [i for i, _ in indicators], quota)
            for indicator, kind in indicators:
                subject = session.scalar(select(Subject).where(Subject.indicator == indicator))
                new_subject = subject is None
                if subject is None:
                    subject = Subject(
                        indicator=indicator,
                        kind=kind.value,
                        created_at=now,
                        next_check_at=now + first_check_delay,
                    )
                    session.add(subject)
                    session.flush()
                existing = session.scalar(
                    select(Monitor).where(
                        Monitor.subject_id == subject.id,
                        Monitor.team_id == team_id,
                        Monitor.channel_id == channel_id,
                    )
                )
                if existing is None:
                    session.add(
                        Monitor(
                            subject_id=subject.id,
                            team_id=team_id,
                            channel_id=channel_id,
                            created_by=user_id,
                            created_at=now,
                            muted=[],
                            tags=sorted(set(tags)),
                        )
                    )
                elif tags and not set(tags) <= set(existing.tags or ()):
                    existing.tags = sorted({*(existing.tags or ()), *tags})
                added.append(AddedMonitor(indicator, kind, subject.id, existing is None, new_subject))
        return added

    @staticmethod
    def _check_quota(
        session: Session, team_id: str, channel_id: str, indicators: Sequence[str], quota: int
    ) -> None:
        in_channel = (Monitor.team_id == team_id, Monitor.channel_id == channel_id)
        held = session.scalar(select(func.count()).select_from(Monitor).where(*in_channel)) or 0
        wanted = set(indicators)
        already = session.scalar(
            select(func.count())
            .select_from(Monitor)
            .join(Subject, Monitor.subject_id == Subject.id)
            .where(*in_channel, Subject.indicator.in_(wanted))
        )
        new = len(wanted) - (already or 0)
        if new and held + new > quota:
            raise UserInputError(
                f"This channel monitors {held:,} indicators and may monitor at most {quota:,}: "
                f"adding {new:,} more would go past that, so nothing was added. "
                "Remove monitors it no longer needs, or ask the Watchpost admin for a higher quota."
            )

    def remove_monitors(
        self, *, team_id: str, channel_id: str, indicators: Sequence[str], owner: str | None = None
    ) -> list[str]:
        """Remove this channel's monitors; a subject nobody monitors any more is deleted
        with its history. Raises UserInputError, changing nothing, if one is not monitored,
        and NotPermitted if `owner` is given and did not add every one of them."""
        with self._sessions.begin() as session:
            rows = session.execute(
                select(Monitor, Subject)
                .join(Subject, Monitor.subject_id == Subject.id)
                .where(
                    Monitor.team_id == team_id,
                    Monitor.channel_id == channel_id,
                    Subject.indicator.in_(indicators),
                )
            ).all()
            found = {subject.indicator for _, subject in rows}
            missing = [indicator for indicator in indicators if indicator not in found]
            if missing:
                raise UserInputError(
                    "Not monitored in this channel: "
                    + ", ".join(f"`{m}`" for m in missing)
                    + ". Nothing was removed."
                )
            _check_owner(owner, [(monitor, subject) for monitor, subject in rows])
            for monitor, subject in rows:
                session.delete(monitor)
                session.flush()
                others = session.scalar(select(func.count()).where(Monitor.subject_id == subject.id))
                if not others:
                    self._delete_subject(session, subject.id)
            return [indicator for indicator in indicators if indicator in found]

    @staticmethod
    def _delete_subject(session: Session, subject_id: int) -> None:
        # Explicit deletes: SQLite enforces ON DELETE CASCADE only with the pragma on.
        tables = (WebhookDeliveryRow, AlertRow, FactRow, ChangeRow, DatasetState, OutboxRow, SourceFailureRow)
        for table in tables:
            session.execute(delete(table).where(table.subject_id == subject_id))
        session.execute(delete(Subject).where(Subject.id == subject_id))

    def list_monitors(
        self, *, team_id: str | None = None, channel_id: str | None = None, indicator: str | None = None
    ) -> list[MonitorView]:
        with self._sessions() as session:
            query = select(Monitor, Subject).join(Subject, Monitor.subject_id == Subject.id)
            if team_id is not None:
                query = query.where(Monitor.team_id == team_id)
            if channel_id is not None:
                query = query.where(Monitor.channel_id == channel_id)
            if indicator is not None:
                query = query.where(Subject.indicator == indicator)
            rows = session.execute(
                query.order_by(Subject.indicator, Monitor.team_id, Monitor.channel_id)
            ).all()
            stale = self._stale_by_subject(session, [subject.id for _, subject in rows])
            return [_monitor_view(monitor, subject, stale.get(subject.id, ())) for monitor, subject in rows]

    def find_monitor(self, *, team_id: str, channel_id: str, indicator: str) -> MonitorView | None:
        with self._sessions() as session:
            row = session.execute(_channel_monitor(team_id, channel_id, indicator)).first()
            if row is None:
                return None
            stale = self._stale_by_subject(session, [row[1].id])
            return _monitor_view(row[0], row[1], stale.get(row[1].id, ()))

    @staticmethod
    def _stale_by_subject(session: Session, subject_ids: list[int]) -> dict[int, tuple[str, ...]]:
        if not subject_ids:
            return {}
        stale: dict[int, list[str]] = defaultdict(list)
        for subject_id, dataset in session.execute(
            select(DatasetState.subject_id, DatasetState.dataset).where(
                DatasetState.subject_id.in_(subject_ids), DatasetState.stale.is_(True)
            )
        ):
            stale[subject_id].append(dataset)
        return {key: tuple(sorted(value)) for key, value in stale.items()}

    def get_subject(self, indicator: str) -> SubjectView | None:
        with self._sessions() as session:
            subject = session.scalar(select(Subject).where(Subject.indicator == indicator))
            return None if subject is None else _subject_view(subject)

    def set_muted(
        self,
        *,
        team_id: str,
        channel_id: str,
        indicator: str,
        dataset: str,
        muted: bool,
        owner: str | None = None,
    ) -> MonitorView:
        """Mute or unmute one dataset of a channel's monitor. Raises UserInputError, changing
        nothing, if the indicator is not monitored here or the dataset is already so, and
        NotPermitted if `owner` is given and did not add the monitor."""
        with self._sessions.begin() as session:
            row = session.execute(_channel_monitor(team_id, channel_id, indicator)).first()
            if row is None:
                raise UserInputError(f"`{indicator}` is not monitored in this channel.")
            monitor, subject = row
            _check_owner(owner, [(monitor, subject)])
            current = list(monitor.muted or [])
            if muted == (dataset in current):
                state = "already muted" if muted else "not muted"
                raise UserInputError(f"`{dataset}` is {state} for `{indicator}` in this channel.")
            # A new list, not an in-place edit: the JSON column only notices assignment.
            monitor.muted = sorted({*current, dataset}) if muted else [d for d in current if d != dataset]
            session.flush()
            stale = self._stale_by_subject(session, [subject.id])
            return _monitor_view(monitor, subject, stale.get(subject.id, ()))

    def shared_infrastructure(
        self,
        *,
        team_id: str,
        indicator: str,
        values: Iterable[str],
        fields: Iterable[str],
        limit: int = 40,
    ) -> list[SharedInfrastructure]:
        """Subjects monitored in the team that share infrastructure with `indicator`: an
        open fact (of one of `fields`) whose value is one of `values` or `indicator` itself,
        or a monitored indicator that is one of `values`."""
        wanted = list(dict.fromkeys(v for v in values if v and v != indicator))[:1000]
        with self._sessions() as session:
            monitored = select(Monitor.subject_id).where(Monitor.team_id == team_id)
            found: dict[tuple[str, str, str], IndicatorKind] = {}
            for name, kind in session.execute(
                select(Subject.indicator, Subject.kind)
                .where(Subject.id.in_(monitored), Subject.indicator.in_(wanted))
                .order_by(Subject.indicator)
                .limit(limit)
            ):
                found[(name, "", name)] = IndicatorKind(kind)
            for name, kind, fact_field, value in session.execute(
                select(Subject.indicator, Subject.kind, FactRow.field, FactRow.value)
                .join(FactRow, FactRow.subject_id == Subject.id)
                .where(
                    Subject.id.in_(monitored),
                    Subject.indicator != indicator,
                    FactRow.status != FactStatus.CLOSED.value,
                    FactRow.field.in_(list(fields)),
                    FactRow.value.in_([*wanted, indicator]),
                )
                .distinct()
                .order_by(Subject.indicator, FactRow.field, FactRow.value)
                .limit(limit)
            ):
                found.setdefault((name, fact_field, value), IndicatorKind(kind))
            channels: dict[str, list[str]] = defaultdict(list)
            names = sorted({name for name, _, _ in found})
            for name, channel_id in session.execute(
                select(Subject.indicator, Monitor.channel_id)
                .join(Monitor, Monitor.subject_id == Subject.id)
                .where(Monitor.team_id == team_id, Subject.indicator.in_(names))
                .order_by(Monitor.channel_id)
            ):
                channels[name].append(channel_id)
            return [
                SharedInfrastructure(name, kind, fact_field, value, tuple(channels[name]))
                for (name, fact_field, value), kind in sorted(found.items())
            ][:limit]

    # --- checks ---------------------------------------------------------------------

    def claim_due_subjects(
        self, *, now: datetime, interval: timedelta, limit: int, jitter: float = 0.1
    ) -> list[SubjectView]:
        """Take subjects whose check is due and push their next check one interval ahead
        (plus up to `jitter` of it, so checks spread out instead of bunching), so a second
        claimer (another tick or process) does not take them again."""
        # At 100,000 monitors this runs hundreds of times a cycle: no ORM objects. On
        # PostgreSQL one statement (the rows are locked, SKIP LOCKED: another process's
        # claim in progress is passed over, never waited for nor taken twice).
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as connection:
                rows = connection.execute(
                    _CLAIM_PG,
                    {"now": now, "interval": interval, "jitter": jitter, "limit": limit},
                ).all()
            return [
                SubjectView(row.id, row.indicator, IndicatorKind(row.kind), _aware(row.last_checked_at))
                for row in rows
            ]
        with self._sessions.begin() as session:
            query = (
                select(Subject.id, Subject.indicator, Subject.kind, Subject.last_checked_at)
                .where(Subject.next_check_at <= now)
                .order_by(Subject.next_check_at)
                .limit(limit)
            )
            rows = session.execute(query).all()
            if rows:
                subjects = cast(Table, Subject.__table__)
                session.connection().execute(
                    update(subjects)
                    .where(subjects.c.id == bindparam("b_id"))
                    .values(next_check_at=bindparam("b_next")),
                    [
                        {"b_id": row.id, "b_next": now + interval * (1 + jitter * random.random())}
                        for row in rows
                    ],
                )
            return [
                SubjectView(row.id, row.indicator, IndicatorKind(row.kind), row.last_checked_at)
                for row in rows
            ]

    def record_check(
        self,
        *,
        subject_id: int,
        observations: Sequence[Observation],
        apply: Callable[[Observation, DatasetSnapshot | None], CheckOutcome],
        now: datetime,
        retry_without_baseline_at: datetime | None = None,
        next_check_by: datetime | None = None,
    ) -> list[CheckOutcome]:
        """Write one check: fact intervals, dataset health, changes and the alerts to
        deliver, in one transaction (the outbox), so no alert is lost or doubled.

        `apply` (the pure diff) runs inside the transaction on the state read in it; on
        PostgreSQL the subject row is locked, so concurrent checks of one subject queue.
        A dataset still without a baseline brings the next check forward to
        `retry_without_baseline_at`, so a source that was down when the monitor was set
        does not leave it without a baseline for a whole interval."""
        batch_id = uuid.uuid4().hex
        outcomes: list[CheckOutcome] = []
        all_changes: list[Change] = []
        with self._sessions.begin() as session:
            query = select(Subject).where(Subject.id == subject_id)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()
            subject = session.scalar(query)
            if subject is None:
                return []  # removed while the check ran
            subject.last_checked_at = now
            states = {
                row.dataset: row
                for row in session.scalars(select(DatasetState).where(DatasetState.subject_id == subject_id))
            }
            rows: dict[str, dict[FactKey, FactRow]] = defaultdict(dict)
            for row in session.scalars(
                select(FactRow).where(
                    FactRow.subject_id == subject_id, FactRow.status != FactStatus.CLOSED.value
                )
            ):
                rows[row.dataset][(row.field, row.value)] = row
            for observation in observations:
                dataset = observation.dataset
                state = states.get(dataset)
                old = {key: _fact_state(row) for key, row in rows[dataset].items()}
                snapshot = (
                    DatasetSnapshot(old if state.baseline_at is not None else None, state.last_ok_at)
                    if state is not None
                    else None
                )
                outcome = apply(observation, snapshot)
                outcomes.append(outcome)
                self._write_dataset_state(session, subject_id, state, outcome, now)
                if observation.failed:
                    continue
                self._sync_facts(session, subject_id, dataset, old, rows[dataset], outcome)
                for change in outcome.changes:
                    session.add(_change_row(subject_id, batch_id, change, now))
                all_changes.extend(outcome.changes)
            if all_changes:
                posted = self._enqueue_alerts(session, subject_id, batch_id, all_changes, now)
                self._record_alert(session, subject_id, batch_id, all_changes, posted, now)
            no_baseline = any(
                o.observation.failed
                and (
                    states.get(o.observation.dataset) is None
                    or states[o.observation.dataset].baseline_at is None
                )
                for o in outcomes
            )
            if no_baseline and retry_without_baseline_at is not None:
                subject.next_check_at = min(subject.next_check_at, retry_without_baseline_at)
            if next_check_by is not None:  # a source holds a slot for this subject then
                subject.next_check_at = min(subject.next_check_at, next_check_by)
        return outcomes

    @staticmethod
    def _write_dataset_state(
        session: Session, subject_id: int, state: DatasetState | None, outcome: CheckOutcome, now: datetime
    ) -> None:
        observation = outcome.observation
        if state is None:
            state = DatasetState(subject_id=subject_id, dataset=observation.dataset, consecutive_failures=0)
            session.add(state)
        if outcome.baseline:
            state.baseline_at = now
        if not observation.failed:
            state.last_ok_at = now
        if observation.stale:
            message = "; ".join(f"{f.source}: {f.message}" for f in observation.real_failures)
            state.stale = True
            state.last_error = message[:2000]
            state.last_error_at = now
            state.consecutive_failures = (state.consecutive_failures or 0) + 1
            for failure in observation.real_failures:
                session.add(
                    SourceFailureRow(
                        subject_id=subject_id,
                        dataset=observation.dataset,
                        source=failure.source,
                        message=failure.message[:2000],
                        at=now,
                    )
                )
        elif not observation.failed and (state.stale or state.consecutive_failures):
            state.stale = False
            state.consecutive_failures = 0

    @staticmethod
    def _sync_facts(
        session: Session,
        subject_id: int,
        dataset: str,
        old: dict[FactKey, FactState],
        rows: dict[FactKey, FactRow],
        outcome: CheckOutcome,
    ) -> None:
        """Write only what differs between the old and new open facts."""
        new = outcome.state
        closed = {fact.key: fact for fact in outcome.closed}
        for key in set(old) | set(new):
            fact = new.get(key)
            if old.get(key) == fact:
                continue
            row = rows.get(key)
            if fact is not None:
                if row is None:
                    session.add(_fact_row(subject_id, dataset, fact))
                else:
                    row.status, row.last_seen, row.source = fact.status.value, fact.last_seen, fact.source
            elif row is not None and key in closed:
                row.status = FactStatus.CLOSED.value
                row.last_seen = closed[key].last_seen
            elif row is not None:
                session.delete(row)  # a pending value that never got confirmed

    @staticmethod
    def _enqueue_alerts(
        session: Session, subject_id: int, batch_id: str, changes: list[Change], now: datetime
    ) -> list[OutboxRow]:
        changed_datasets = sorted({change.dataset for change in changes if change.alert})
        posted: list[OutboxRow] = []
        for monitor in session.scalars(select(Monitor).where(Monitor.subject_id == subject_id)):
            datasets = [d for d in changed_datasets if d not in (monitor.muted or [])]
            if datasets:
                posted.append(
                    OutboxRow(
                        subject_id=subject_id,
                        team_id=monitor.team_id,
                        channel_id=monitor.channel_id,
                        batch_id=batch_id,
                        datasets=datasets,
                        created_at=now,
                        next_attempt_at=now,
                        attempts=0,
                    )
                )
        session.add_all(posted)
        return posted

    def _record_alert(
        self,
        session: Session,
        subject_id: int,
        batch_id: str,
        changes: list[Change],
        posted: list[OutboxRow],
        now: datetime,
    ) -> None:
        """The check's alert row and its webhook deliveries.

        API clients page through alerts by id, so ids must become visible in id order:
        an id handed out before another must never commit after it. SQLite has one
        writer at a time; on PostgreSQL a transaction-scoped lock taken just before the
        id is drawn is held until commit, so the next alert's id is drawn only after
        this one is committed. Everything else is flushed first: the lock covers only
        these inserts and the commit."""
        datasets = sorted({change.dataset for change in changes if change.alert})
        if not datasets:
            return  # only changes kept for history and the digest
        session.flush()
        if self.engine.dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
                {"key": ALERT_ORDER_LOCK},
            )
        alert = AlertRow(subject_id=subject_id, batch_id=batch_id, detected_at=now)
        session.add(alert)
        session.flush()
        routing = self.webhooks
        if routing is None:
            return
        targets: list[tuple[str | None, str | None, list[str]]] = []
        if routing.everything:
            targets.append((None, None, datasets))
        targets += [
            (row.team_id, row.channel_id, row.datasets)
            for row in posted
            if row.channel_id in routing.channels
        ]
        session.add_all(
            WebhookDeliveryRow(
                alert_id=alert.id,
                subject_id=subject_id,
                team_id=team_id,
                channel_id=channel_id,
                datasets=list(target_datasets),
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
            for team_id, channel_id, target_datasets in targets
        )

    def domains_resolving_to(self, ip: str) -> list[tuple[str, str, datetime]]:
        """Monitored domains whose live A/AAAA records currently hold `ip`:
        (domain, record type, first seen)."""
        with self._sessions() as session:
            rows = session.execute(
                select(Subject.indicator, FactRow.field, FactRow.first_seen)
                .join(Subject, FactRow.subject_id == Subject.id)
                .where(
                    FactRow.dataset == "resolutions",
                    FactRow.field.in_(("A", "AAAA")),
                    FactRow.value == ip,
                    FactRow.status.in_((FactStatus.ACTIVE.value, FactStatus.REMOVING.value)),
                )
                .order_by(Subject.indicator)
            )
            return [(indicator, field_name, first_seen) for indicator, field_name, first_seen in rows]

    def dataset_health(self, subject_id: int) -> list[DatasetHealth]:
        with self._sessions() as session:
            facts: dict[str, list[FactState]] = defaultdict(list)
            for row in session.scalars(
                select(FactRow)
                .where(FactRow.subject_id == subject_id, FactRow.status != FactStatus.CLOSED.value)
                .order_by(FactRow.dataset, FactRow.field, FactRow.value)
            ):
                facts[row.dataset].append(_fact_state(row))
            return [
                DatasetHealth(
                    dataset=state.dataset,
                    baseline_at=state.baseline_at,
                    last_ok_at=state.last_ok_at,
                    stale=state.stale,
                    last_error=state.last_error,
                    facts=tuple(facts.get(state.dataset, ())),
                )
                for state in session.scalars(
                    select(DatasetState)
                    .where(DatasetState.subject_id == subject_id)
                    .order_by(DatasetState.dataset)
                )
            ]

    # --- outbox ---------------------------------------------------------------------

    def claim_alerts(self, *, now: datetime, lease: timedelta, limit: int) -> list[PendingAlert]:
        """Take the oldest undelivered alert of each channel if it is due, leasing it so
        nobody else sends it. One per channel at a time keeps each channel's alerts in
        order (a failed one is retried before anything after it) and paces the channel."""
        with self._sessions.begin() as session:
            heads = (
                select(func.min(OutboxRow.id))
                .where(OutboxRow.delivered_at.is_(None), OutboxRow.abandoned_at.is_(None))
                .group_by(OutboxRow.team_id, OutboxRow.channel_id)
            )
            query = (
                select(OutboxRow, Subject)
                .join(Subject, OutboxRow.subject_id == Subject.id)
                .where(
                    OutboxRow.id.in_(heads),
                    OutboxRow.next_attempt_at <= now,
                    or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
                )
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=OutboxRow)
            rows = session.execute(query).all()
            batches = {row.batch_id for row, _ in rows}
            changes: dict[str, list[ChangeRow]] = defaultdict(list)
            if batches:
                for change in session.scalars(
                    select(ChangeRow).where(ChangeRow.batch_id.in_(batches)).order_by(ChangeRow.id)
                ):
                    changes[change.batch_id].append(change)
            alerts = []
            for row, subject in rows:
                uncertain = row.attempts > 0 or row.claimed_until is not None
                row.claimed_until = now + lease
                wanted = set(row.datasets)
                alerts.append(
                    PendingAlert(
                        id=row.id,
                        team_id=row.team_id,
                        channel_id=row.channel_id,
                        indicator=subject.indicator,
                        kind=IndicatorKind(subject.kind),
                        created_at=row.created_at,
                        attempts=row.attempts,
                        changes=[
                            change_from_row(c)
                            for c in changes[row.batch_id]
                            if c.dataset in wanted and c.alerted
                        ],
                        uncertain=uncertain,
                    )
                )
            return alerts

    def mark_delivered(self, alert_id: int, *, now: datetime, message_ts: str | None) -> None:
        self._finish_attempt(alert_id, delivered_at=now, message_ts=message_ts)

    def mark_failed(self, alert_id: int, *, error: str, retry_at: datetime) -> None:
        self._finish_attempt(alert_id, last_error=error[:2000], next_attempt_at=retry_at)

    def mark_abandoned(self, alert_id: int, *, error: str, now: datetime) -> None:
        self._finish_attempt(alert_id, last_error=error[:2000], abandoned_at=now)

    def _finish_attempt(self, alert_id: int, **values: object) -> None:
        """Record how a delivery attempt ended and release the alert's lease."""
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == alert_id)
                .values(claimed_until=None, attempts=OutboxRow.attempts + 1, **values)
            )

    def undelivered_count(self) -> int:
        with self._sessions() as session:
            query = select(func.count()).where(
                OutboxRow.delivered_at.is_(None), OutboxRow.abandoned_at.is_(None)
            )
            return int(session.scalar(query) or 0)


_CLAIM_PG = text(
    "UPDATE subjects SET next_check_at = :now + CAST(:interval AS interval) * (1 + :jitter * random())"
    " WHERE id IN (SELECT id FROM subjects WHERE next_check_at <= :now"
    " ORDER BY next_check_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
    " RETURNING id, indicator, kind, last_checked_at"
)


def _aware(moment: datetime | None) -> datetime | None:
    """A timestamptz from a plain-SQL row, in UTC like UtcDateTime gives it."""
    return None if moment is None else moment.astimezone(UTC)


def _check_owner(owner: str | None, rows: Iterable[tuple[Monitor, Subject]]) -> None:
    """NotPermitted, naming who added them, for the monitors `owner` did not add."""
    if owner is None:
        return
    others = {
        subject.indicator: monitor.created_by for monitor, subject in rows if monitor.created_by != owner
    }
    if others:
        raise NotPermitted(dict(sorted(others.items())))


def _channel_monitor(team_id: str, channel_id: str, indicator: str) -> Select[tuple[Monitor, Subject]]:
    """A channel's monitor of one indicator, with its subject."""
    return (
        select(Monitor, Subject)
        .join(Subject, Monitor.subject_id == Subject.id)
        .where(Monitor.team_id == team_id, Monitor.channel_id == channel_id, Subject.indicator == indicator)
    )


def _subject_view(subject: Subject) -> SubjectView:
    return SubjectView(subject.id, subject.indicator, IndicatorKind(subject.kind), subject.last_checked_at)


def _monitor_view(monitor: Monitor, subject: Subject, stale: Iterable[str]) -> MonitorView:
    return MonitorView(
        id=monitor.id,
        indicator=subject.indicator,
        kind=IndicatorKind(subject.kind),
        team_id=monitor.team_id,
        channel_id=monitor.channel_id,
        created_by=monitor.created_by,
        created_at=monitor.created_at,
        last_checked_at=subject.last_checked_at,
        muted=tuple(monitor.muted or ()),
        stale_datasets=tuple(stale),
        subject_id=subject.id,
        tags=tuple(monitor.tags or ()),
    )


def _fact_state(row: FactRow) -> FactState:
    return FactState(row.field, row.value, row.source, row.first_seen, FactStatus(row.status), row.last_seen)


def _fact_row(subject_id: int, dataset: str, fact: FactState) -> FactRow:
    return FactRow(
        subject_id=subject_id,
        dataset=dataset,
        field=fact.field,
        value=fact.value,
        source=fact.source,
        status=fact.status.value,
        first_seen=fact.first_seen,
        last_seen=fact.last_seen,
    )


def _change_row(subject_id: int, batch_id: str, change: Change, now: datetime) -> ChangeRow:
    return ChangeRow(
        subject_id=subject_id,
        batch_id=batch_id,
        dataset=change.dataset,
        kind=change.kind.value,
        field=change.field,
        old_value=change.old_value,
        new_value=change.new_value,
        source=change.source,
        first_seen=change.first_seen,
        last_seen=change.last_seen,
        detected_at=now,
        alerted=change.alert,
    )


def change_from_row(row: ChangeRow) -> Change:
    return Change(
        dataset=row.dataset,
        kind=ChangeKind(row.kind),
        field=row.field,
        old_value=row.old_value,
        new_value=row.new_value,
        source=row.source,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        alert=row.alerted,
    )


P = ParamSpec("P")
R = TypeVar("R")


class AsyncStore:
    """Runs Store methods in a small thread pool so the event loop never waits on the database."""

    def __init__(self, store: Store, *, threads: int = 4) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="watchpost-db")

    async def run(self, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: method(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
