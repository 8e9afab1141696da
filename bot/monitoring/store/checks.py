"""Checks: claiming the subjects that are due, and the transactions a check's findings
are written in. Storage takes values and returns values: `Checks.unit` (one check: its
stored state and audience, then fact intervals, dataset health, changes and the
deliveries, with the outbox) and `Checks.quiet_batch` (checks that found no change, a
few multi-row statements, bot/monitoring/store/quiet_checks.py). What is a change and who hears
of it is decided by bot/monitoring/unit_of_work.py, between the read and the write."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, bindparam, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.model import AlertTarget, Routed
from bot.alerts.store.outbox import alert_targets, enqueue_routed, record_alert
from bot.alerts.store.receivers import ReceiverRoute
from bot.core.observations import (
    Change,
    FactKey,
    FactState,
    FactStatus,
    IndicatorKind,
    SourceStates,
)
from bot.monitoring.store.cadence import NEXT_ROUTINE_CHECK_PG, interval_microseconds, next_routine_check
from bot.monitoring.store.quiet_checks import QuietBatch
from bot.storage.models import DatasetState, FactRow, SourceFailureRow, Subject
from bot.storage.views import (
    CheckOutcome,
    CheckToRecord,
    DatasetHealth,
    DatasetSnapshot,
    SubjectView,
    aware,
    change_row,
    dataset_snapshot,
    fact_row,
    fact_state,
)
from bot.storage.walls import shown_fact
from bot.triage.store import DEFAULT_FOLLOW_UP_WINDOW

log = logging.getLogger(__name__)


class Checks:
    def __init__(
        self,
        engine: Engine,
        *,
        receivers: Sequence[ReceiverRoute] = (),
        follow_up_window: timedelta = DEFAULT_FOLLOW_UP_WINDOW,
    ) -> None:
        self.engine = engine
        self.receivers = tuple(receivers)  # which HTTP receivers get each alert
        self.follow_up_window = follow_up_window
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim_due(
        self,
        *,
        now: datetime,
        interval: timedelta,
        limit: int,
        among: Collection[int] | None = None,
    ) -> list[SubjectView]:
        """Take subjects whose check is due and push each one's next check to its next
        routine time (bot/monitoring/store/cadence.py: its own phase of the interval, so subjects
        due together come apart), so a second claimer (another tick or process) does not
        take them again. `among`: only these subjects (checks a source told to come back
        now), whatever else is due."""
        if among is not None and not among:
            return []
        # At 100,000 monitors this runs hundreds of times a cycle: no ORM objects. On
        # PostgreSQL one statement (the rows are locked, SKIP LOCKED: another process's
        # claim in progress is passed over, never waited for nor taken twice).
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as connection:
                rows = connection.execute(
                    _CLAIM_PG if among is None else _CLAIM_AMONG_PG,
                    {"now": now, "interval_us": interval_microseconds(interval), "limit": limit}
                    | ({} if among is None else {"among": sorted(among)}),
                ).all()
            return [
                SubjectView(row.id, row.indicator, IndicatorKind(row.kind), aware(row.last_checked_at))
                for row in rows
            ]
        with self._sessions.begin() as session:
            query = (
                select(Subject.id, Subject.indicator, Subject.kind, Subject.last_checked_at)
                .where(Subject.next_check_at <= now)
                .order_by(Subject.next_check_at)
                .limit(limit)
            )
            if among is not None:
                query = query.where(Subject.id.in_(sorted(among)))
            rows = session.execute(query).all()
            if rows:
                subjects = cast(Table, Subject.__table__)
                session.connection().execute(
                    update(subjects)
                    .where(subjects.c.id == bindparam("b_id"))
                    .values(next_check_at=bindparam("b_next")),
                    [{"b_id": row.id, "b_next": next_routine_check(row.id, now, interval)} for row in rows],
                )
            return [
                SubjectView(row.id, row.indicator, IndicatorKind(row.kind), row.last_checked_at)
                for row in rows
            ]

    @contextmanager
    def quiet_batch(self, subject_ids: Sequence[int]) -> Iterator[QuietBatch]:
        """One transaction for a batch of checks that found no change (its writes are sent
        when the block ends; an exception rolls them all back)."""
        with self.engine.begin() as connection:
            batch = QuietBatch(connection, subject_ids)
            yield batch
            batch.execute()

    @contextmanager
    def unit(self, subject_id: int) -> Iterator[CheckUnit | None]:
        """One check's transaction (None: the subject was removed while it ran). On
        PostgreSQL the subject row is locked, so concurrent checks of one subject queue."""
        with self._sessions.begin() as session:
            query = select(Subject).where(Subject.id == subject_id)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()
            subject = session.scalar(query)
            yield (
                None
                if subject is None
                else CheckUnit(
                    session, subject, receivers=self.receivers, follow_up_window=self.follow_up_window
                )
            )

    def dataset_health(self, subject_id: int) -> list[DatasetHealth]:
        with self._sessions() as session:
            facts: dict[str, list[FactState]] = defaultdict(list)
            for row in session.scalars(
                select(FactRow)
                .where(
                    FactRow.subject_id == subject_id,
                    FactRow.status != FactStatus.CLOSED.value,
                    shown_fact(),
                )
                .order_by(FactRow.dataset, FactRow.field, FactRow.value)
            ):
                facts[row.dataset].append(fact_state(row))
            return [
                DatasetHealth(
                    dataset=state.dataset,
                    baseline_at=state.baseline_at,
                    last_ok_at=state.last_ok_at,
                    stale=state.stale,
                    last_error=state.last_error,
                    facts=tuple(facts.get(state.dataset, ())),
                    sources=SourceStates.from_json(state.sources),
                )
                for state in session.scalars(
                    select(DatasetState)
                    .where(DatasetState.subject_id == subject_id)
                    .order_by(DatasetState.dataset)
                )
            ]


def _write_dataset_state(
    session: Session, subject_id: int, state: DatasetState | None, outcome: CheckOutcome, now: datetime
) -> None:
    observation = outcome.observation
    if state is None:
        state = DatasetState(subject_id=subject_id, dataset=observation.dataset, consecutive_failures=0)
        session.add(state)
    if outcome.baseline:
        state.baseline_at = now
    if outcome.sources is not None:
        sources = outcome.sources.to_json()
        if state.sources != sources:
            state.sources = sources
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
                session.add(fact_row(subject_id, dataset, fact))
            else:
                row.status, row.last_seen, row.source = fact.status.value, fact.last_seen, fact.source
        elif row is not None and key in closed:
            row.status = FactStatus.CLOSED.value
            row.last_seen = closed[key].last_seen
        elif row is not None:
            session.delete(row)  # a pending value that never got confirmed


class CheckUnit:
    """The unit of work of one check that found something: the stored state and who
    should hear, as values; then the writes — fact intervals, dataset health, changes,
    the deliveries and the alert — in the same transaction (the outbox), so no alert is
    lost or doubled. It decides nothing: bot/monitoring/unit_of_work.py does."""

    def __init__(
        self,
        session: Session,
        subject: Subject,
        *,
        receivers: Sequence[ReceiverRoute],
        follow_up_window: timedelta,
    ) -> None:
        self._session = session
        self._subject = subject
        self._receivers = receivers
        self._follow_up_window = follow_up_window
        self._states = {
            row.dataset: row
            for row in session.scalars(select(DatasetState).where(DatasetState.subject_id == subject.id))
        }
        self._rows: dict[str, dict[FactKey, FactRow]] = defaultdict(dict)
        for row in session.scalars(
            select(FactRow).where(FactRow.subject_id == subject.id, FactRow.status != FactStatus.CLOSED.value)
        ):
            self._rows[row.dataset][(row.field, row.value)] = row
        self._old = {
            dataset: {key: fact_state(row) for key, row in rows.items()}
            for dataset, rows in self._rows.items()
        }

    def snapshots(self, datasets: Sequence[str]) -> dict[str, DatasetSnapshot | None]:
        """The stored state of these datasets (None: never checked)."""
        return {
            dataset: dataset_snapshot(self._states.get(dataset), self._old.get(dataset, {}))
            for dataset in datasets
        }

    def audience(self, now: datetime) -> list[AlertTarget]:
        """Every monitor of the subject as the alert policy sees it: its channel, and the
        mutes and suppressions in force."""
        return alert_targets(self._session, self._subject.id, now)

    def write(
        self, check: CheckToRecord, outcomes: list[CheckOutcome], decisions: Sequence[Routed]
    ) -> list[CheckOutcome]:
        """Write the check's decided outcomes and the policy's decisions per channel;
        returns the outcomes with each change's fate per channel."""
        session, subject, now = self._session, self._subject, check.now
        batch_id = uuid.uuid4().hex
        subject.last_checked_at = now
        all_changes: list[Change] = []
        for outcome in outcomes:
            dataset = outcome.observation.dataset
            _write_dataset_state(session, subject.id, self._states.get(dataset), outcome, now)
            if outcome.observation.failed:
                continue
            _sync_facts(
                session, subject.id, dataset, self._old.get(dataset, {}), self._rows[dataset], outcome
            )
            for change in outcome.changes:
                session.add(change_row(subject.id, batch_id, change, now))
            all_changes.extend(outcome.changes)
        if all_changes:
            posted, verdicts = enqueue_routed(
                session,
                subject.id,
                batch_id,
                all_changes,
                decisions,
                now,
                follow_up_window=self._follow_up_window,
            )
            record_alert(session, self._receivers, subject.id, batch_id, all_changes, posted, now)
            outcomes = [
                replace(o, verdicts=tuple(v for v in verdicts if v.change.dataset == o.observation.dataset))
                for o in outcomes
            ]
        no_baseline = any(
            o.observation.failed
            and (
                self._states.get(o.observation.dataset) is None
                or self._states[o.observation.dataset].baseline_at is None
            )
            for o in outcomes
        )
        if no_baseline and check.retry_without_baseline_at is not None:
            subject.next_check_at = min(subject.next_check_at, check.retry_without_baseline_at)
        if check.next_check_by is not None:  # a source holds a slot for this subject then
            subject.next_check_at = min(subject.next_check_at, check.next_check_by)
        return outcomes


# The next routine time is SQL of bot/monitoring/store/cadence.py, constants only: nothing from input.
_CLAIM_PG = text(
    f"UPDATE subjects SET next_check_at = {NEXT_ROUTINE_CHECK_PG}"  # noqa: S608
    " WHERE id IN (SELECT id FROM subjects WHERE next_check_at <= :now"
    " ORDER BY next_check_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
    " RETURNING id, indicator, kind, last_checked_at"
)
_CLAIM_AMONG_PG = text(
    f"UPDATE subjects SET next_check_at = {NEXT_ROUTINE_CHECK_PG}"  # noqa: S608
    " WHERE id IN (SELECT id FROM subjects WHERE next_check_at <= :now AND id = ANY(:among)"
    " ORDER BY next_check_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
    " RETURNING id, indicator, kind, last_checked_at"
)
