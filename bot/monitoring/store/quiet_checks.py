"""Quiet checks written in batches: what makes a check cycle cheap at 100,000 monitors.

Most checks of a monitor find what the last one found. Such a check writes the time it
ran, the health of each dataset (and its failed lookups, if a source was down) and, at
most, fact bookkeeping (a value missing once, a pending new value, a first baseline) —
no change, no alert. A `QuietBatch` writes all of those of a batch in one transaction
with a few multi-row statements; a check with a change is written by `CheckUnit`
(bot/monitoring/store/checks.py) in a transaction of its own (changes, outbox and alert rows).
bot/monitoring/unit_of_work.py decides which is which; storage only reads and writes
values. The effect on the database is the same either way.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, text, update

from bot.core.observations import FactKey, FactState, FactStatus
from bot.storage.models import DatasetState, FactRow, SourceFailureRow, Subject
from bot.storage.views import CheckOutcome, CheckToRecord, DatasetSnapshot, dataset_snapshot

log = logging.getLogger(__name__)

_SUBJECTS = cast(Table, Subject.__table__)
_STATES = cast(Table, DatasetState.__table__)
_FACTS = cast(Table, FactRow.__table__)
_FAILURES = cast(Table, SourceFailureRow.__table__)


@dataclass
class _Writes:
    checked: list[dict[str, Any]] = field(default_factory=list)
    brought_forward: list[dict[str, Any]] = field(default_factory=list)
    new_states: list[dict[str, Any]] = field(default_factory=list)
    ok_states: list[dict[str, Any]] = field(default_factory=list)
    other_states: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    new_facts: list[dict[str, Any]] = field(default_factory=list)
    changed_facts: list[dict[str, Any]] = field(default_factory=list)
    dropped_facts: list[int] = field(default_factory=list)


class QuietBatch:
    """One transaction over a batch of checks' subjects: their stored state as values
    (`snapshots`), then the rows of the checks that found no change (`write`), sent in a
    few multi-row statements when the batch ends (`execute`). On PostgreSQL the subjects'
    rows are locked first, in id order, as a single check locks its one."""

    def __init__(self, connection: Connection, subject_ids: Sequence[int]) -> None:
        self._connection = connection
        ids = sorted(set(subject_ids))
        query = (
            select(_SUBJECTS.c.id, _SUBJECTS.c.next_check_at)
            .where(_SUBJECTS.c.id.in_(ids))
            .order_by(_SUBJECTS.c.id)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        self._present: dict[int, datetime] = dict(connection.execute(query).tuples().all())
        self._states: dict[tuple[int, str], Any] = {
            (row.subject_id, row.dataset): row
            for row in connection.execute(select(_STATES).where(_STATES.c.subject_id.in_(ids)))
        }
        self._facts: dict[tuple[int, str], dict[FactKey, tuple[int, FactState]]] = defaultdict(dict)
        for row in connection.execute(
            select(_FACTS).where(_FACTS.c.subject_id.in_(ids), _FACTS.c.status != FactStatus.CLOSED.value)
        ):
            state = FactState(
                row.field, row.value, row.source, row.first_seen, FactStatus(row.status), row.last_seen
            )
            self._facts[(row.subject_id, row.dataset)][(row.field, row.value)] = (row.id, state)
        self._writes = _Writes()

    def snapshots(self, subject_id: int, datasets: Sequence[str]) -> dict[str, DatasetSnapshot | None] | None:
        """The stored state of these datasets of the subject (None: the subject is gone)."""
        if subject_id not in self._present:
            return None
        return {
            dataset: dataset_snapshot(
                self._states.get((subject_id, dataset)),
                {key: fact for key, (_, fact) in self._facts[(subject_id, dataset)].items()},
            )
            for dataset in datasets
        }

    def write(self, check: CheckToRecord, outcomes: list[CheckOutcome]) -> None:
        """Plan the rows of a check whose outcomes hold no change."""
        _plan(self._writes, check, outcomes, self._states, self._facts, self._present[check.subject_id])

    def execute(self) -> None:
        _execute(self._connection, self._writes)


def _plan(
    writes: _Writes,
    check: CheckToRecord,
    outcomes: list[CheckOutcome],
    states: dict[tuple[int, str], Any],
    facts: dict[tuple[int, str], dict[FactKey, tuple[int, FactState]]],
    next_check_at: datetime,
) -> None:
    """The rows a check without changes writes: what `Store.record_check` writes for it."""
    subject_id, now = check.subject_id, check.now
    writes.checked.append({"b_id": subject_id, "b_now": now})
    for outcome in outcomes:
        observation = outcome.observation
        dataset = observation.dataset
        key = (subject_id, dataset)
        _plan_state(writes, subject_id, states.get(key), outcome, now)
        if observation.failed:
            continue  # nothing learned: the facts stay as they are
        old = facts[key]
        new = outcome.state
        for fact_key in old.keys() | new.keys():
            fact = new.get(fact_key)
            row_id, previous = old.get(fact_key, (None, None))
            if previous == fact:
                continue
            if fact is None:
                if row_id is not None:
                    writes.dropped_facts.append(row_id)  # a pending value that never got confirmed
            elif row_id is None:
                writes.new_facts.append(
                    {
                        "subject_id": subject_id,
                        "dataset": dataset,
                        "field": fact.field,
                        "value": fact.value,
                        "source": fact.source,
                        "status": fact.status.value,
                        "first_seen": fact.first_seen,
                        "last_seen": fact.last_seen,
                    }
                )
            else:
                writes.changed_facts.append(
                    {
                        "b_id": row_id,
                        "b_status": fact.status.value,
                        "b_last_seen": fact.last_seen,
                        "b_source": fact.source,
                    }
                )
    # A dataset still without a baseline brings the next check forward.
    no_baseline = any(
        o.observation.failed
        and (
            states.get((subject_id, o.observation.dataset)) is None
            or states[(subject_id, o.observation.dataset)].baseline_at is None
        )
        for o in outcomes
    )
    retry_at = check.retry_without_baseline_at if no_baseline else None
    if check.next_check_by is not None and (retry_at is None or check.next_check_by < retry_at):
        retry_at = check.next_check_by
    if retry_at is not None and retry_at < next_check_at:
        writes.brought_forward.append({"b_id": subject_id, "b_next": retry_at})


def _plan_state(writes: _Writes, subject_id: int, state: Any, outcome: CheckOutcome, now: datetime) -> None:
    """The dataset's health row, as `Store._write_dataset_state` writes it."""
    observation = outcome.observation
    values: dict[str, Any] = {
        "baseline_at": state.baseline_at if state is not None else None,
        "last_ok_at": state.last_ok_at if state is not None else None,
        "stale": state.stale if state is not None else False,
        "last_error": state.last_error if state is not None else None,
        "last_error_at": state.last_error_at if state is not None else None,
        "consecutive_failures": (state.consecutive_failures or 0) if state is not None else 0,
        "sources": state.sources if state is not None else None,
    }
    if outcome.baseline:
        values["baseline_at"] = now
    if outcome.sources is not None:
        values["sources"] = outcome.sources.to_json()
    if not observation.failed:
        values["last_ok_at"] = now
    if observation.stale:
        message = "; ".join(f"{f.source}: {f.message}" for f in observation.real_failures)
        values.update(
            stale=True,
            last_error=message[:2000],
            last_error_at=now,
            consecutive_failures=values["consecutive_failures"] + 1,
        )
        writes.failures.extend(
            {
                "subject_id": subject_id,
                "dataset": observation.dataset,
                "source": failure.source,
                "message": failure.message[:2000],
                "at": now,
            }
            for failure in observation.real_failures
        )
    elif not observation.failed and (values["stale"] or values["consecutive_failures"]):
        values.update(stale=False, consecutive_failures=0)
    if state is None:
        writes.new_states.append({"subject_id": subject_id, "dataset": observation.dataset, **values})
    elif all(values[column] == getattr(state, column) for column in _STATE_COLUMNS if column != "last_ok_at"):
        # Only the time of the last good lookup moves: the common case, one narrow UPDATE.
        writes.ok_states.append(
            {"b_subject": subject_id, "b_dataset": observation.dataset, "b_now": values["last_ok_at"]}
        )
    else:
        writes.other_states.append(
            {
                "b_subject": subject_id,
                "b_dataset": observation.dataset,
                **{f"b_{k}": v for k, v in values.items()},
            }
        )


def _execute(connection: Connection, writes: _Writes) -> None:
    """A few executemany statements instead of a flush per row (on PostgreSQL, the two
    that every check makes are one statement each, joined to arrays of the values)."""
    postgres = connection.dialect.name == "postgresql"
    if writes.checked and postgres:
        connection.execute(
            _CHECKED_PG,
            {"ids": [w["b_id"] for w in writes.checked], "ats": [w["b_now"] for w in writes.checked]},
        )
    elif writes.checked:
        connection.execute(
            update(_SUBJECTS)
            .where(_SUBJECTS.c.id == bindparam("b_id"))
            .values(last_checked_at=bindparam("b_now")),
            writes.checked,
        )
    if writes.brought_forward:
        connection.execute(
            update(_SUBJECTS)
            .where(_SUBJECTS.c.id == bindparam("b_id"))
            .values(next_check_at=bindparam("b_next")),
            writes.brought_forward,
        )
    if writes.new_states:
        connection.execute(insert(_STATES), writes.new_states)
    one_state = (_STATES.c.subject_id == bindparam("b_subject"), _STATES.c.dataset == bindparam("b_dataset"))
    if writes.ok_states and postgres:
        connection.execute(
            _OK_STATES_PG,
            {
                "ids": [w["b_subject"] for w in writes.ok_states],
                "datasets": [w["b_dataset"] for w in writes.ok_states],
                "ats": [w["b_now"] for w in writes.ok_states],
            },
        )
    elif writes.ok_states:
        connection.execute(
            update(_STATES).where(*one_state).values(last_ok_at=bindparam("b_now")), writes.ok_states
        )
    if writes.other_states:
        connection.execute(
            update(_STATES)
            .where(*one_state)
            .values({column: bindparam(f"b_{column}") for column in _STATE_COLUMNS}),
            writes.other_states,
        )
    if writes.failures:
        connection.execute(insert(_FAILURES), writes.failures)
    if writes.new_facts:
        connection.execute(insert(_FACTS), writes.new_facts)
    if writes.changed_facts:
        connection.execute(
            update(_FACTS)
            .where(_FACTS.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"), last_seen=bindparam("b_last_seen"), source=bindparam("b_source")
            ),
            writes.changed_facts,
        )
    if writes.dropped_facts:
        connection.execute(delete(_FACTS).where(_FACTS.c.id.in_(writes.dropped_facts)))


# One UPDATE for a whole batch: PostgreSQL plans and runs it once, as a join, instead of
# once per row (psycopg sends the lists as arrays; times are timestamptz).
_CHECKED_PG = text(
    "UPDATE subjects SET last_checked_at = v.at"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamptz[])) AS v(id, at)"
    " WHERE subjects.id = v.id"
)
_OK_STATES_PG = text(
    "UPDATE dataset_states SET last_ok_at = v.at"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:datasets AS varchar[]), CAST(:ats AS timestamptz[]))"
    " AS v(id, dataset, at)"
    " WHERE dataset_states.subject_id = v.id AND dataset_states.dataset = v.dataset"
)
_STATE_COLUMNS = (
    "baseline_at",
    "last_ok_at",
    "stale",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "sources",
)
