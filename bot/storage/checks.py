"""Checks: claiming the subjects that are due, and writing what a check found — fact
intervals, dataset health, changes and the alerts to deliver — in one transaction with
the outbox, so no alert is lost or doubled. `Checks.record` is the one entry point for
writes: quiet checks of a batch go through bot/storage/quiet_checks.py (a few multi-row
statements), every other check through `record_one` in a transaction of its own."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, bindparam, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.model.observations import (
    Change,
    FactKey,
    FactState,
    FactStatus,
    IndicatorKind,
    Observation,
    SourceStates,
)
from bot.storage.cadence import NEXT_ROUTINE_CHECK_PG, interval_microseconds, next_routine_check
from bot.storage.models import DatasetState, FactRow, SourceFailureRow, Subject
from bot.storage.outbox import enqueue_alerts, record_alert
from bot.storage.quiet_checks import record_quiet
from bot.storage.triage import DEFAULT_FOLLOW_UP_WINDOW
from bot.storage.views import (
    CheckOutcome,
    CheckToRecord,
    DatasetHealth,
    DatasetSnapshot,
    Route,
    SubjectView,
    WebhookRouting,
    aware,
    change_row,
    dataset_snapshot,
    fact_row,
    fact_state,
)

log = logging.getLogger(__name__)

# Per check: its outcomes, or the exception that kept it from being written.
CheckResult = list[CheckOutcome] | Exception


class Checks:
    def __init__(
        self,
        engine: Engine,
        *,
        webhooks: WebhookRouting | None = None,
        follow_up_window: timedelta = DEFAULT_FOLLOW_UP_WINDOW,
    ) -> None:
        self.engine = engine
        self.webhooks = webhooks
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
        routine time (bot/storage/cadence.py: its own phase of the interval, so subjects
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

    def record(self, checks: Sequence[CheckToRecord]) -> list[CheckResult]:
        """Write a batch of checks; results in the order of `checks`.

        Quiet checks (no change, no failure) go together in one transaction; the others,
        and every check of a batch whose transaction failed, one by one, so one bad check
        never costs the others."""
        results: list[CheckResult | None] = [None] * len(checks)
        try:
            with self.engine.begin() as connection:
                for index, outcomes in record_quiet(connection, checks).items():
                    results[index] = outcomes
        except Exception:
            log.warning("a batch of %d checks failed; writing them one by one", len(checks), exc_info=True)
            results = [None] * len(checks)
        for index, check in enumerate(checks):
            if results[index] is not None:
                continue
            try:
                results[index] = self.record_one(
                    subject_id=check.subject_id,
                    observations=check.observations,
                    apply=check.apply,
                    now=check.now,
                    retry_without_baseline_at=check.retry_without_baseline_at,
                    route=check.route,
                    next_check_by=check.next_check_by,
                )
            except Exception as exc:
                results[index] = exc
        return [result if result is not None else [] for result in results]

    def record_one(
        self,
        *,
        subject_id: int,
        observations: Sequence[Observation],
        apply: Callable[[Observation, DatasetSnapshot | None], CheckOutcome],
        now: datetime,
        retry_without_baseline_at: datetime | None = None,
        route: Route | None = None,
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
                old = {key: fact_state(row) for key, row in rows[dataset].items()}
                snapshot = (
                    dataset_snapshot(state.baseline_at, state.last_ok_at, state.sources, old)
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
                    session.add(change_row(subject_id, batch_id, change, now))
                all_changes.extend(outcome.changes)
            if all_changes:
                posted, verdicts = enqueue_alerts(
                    session,
                    subject_id,
                    batch_id,
                    all_changes,
                    now,
                    route,
                    follow_up_window=self.follow_up_window,
                )
                record_alert(session, self.webhooks, subject_id, batch_id, all_changes, posted, now)
                outcomes = [
                    replace(
                        o, verdicts=tuple(v for v in verdicts if v.change.dataset == o.observation.dataset)
                    )
                    for o in outcomes
                ]
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
                    session.add(fact_row(subject_id, dataset, fact))
                else:
                    row.status, row.last_seen, row.source = fact.status.value, fact.last_seen, fact.source
            elif row is not None and key in closed:
                row.status = FactStatus.CLOSED.value
                row.last_seen = closed[key].last_seen
            elif row is not None:
                session.delete(row)  # a pending value that never got confirmed

    def dataset_health(self, subject_id: int) -> list[DatasetHealth]:
        with self._sessions() as session:
            facts: dict[str, list[FactState]] = defaultdict(list)
            for row in session.scalars(
                select(FactRow)
                .where(FactRow.subject_id == subject_id, FactRow.status != FactStatus.CLOSED.value)
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


# The next routine time is SQL of bot/storage/cadence.py, constants only: nothing from input.
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
