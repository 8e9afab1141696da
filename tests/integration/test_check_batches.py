"""Checks written in batches leave the database exactly as checks written one by one: the
same script of observations, applied to one subject through `record_check` and to a twin
through `record_checks` (with other checks in the batch), ends in the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.alerts.pipeline import AlertPolicy
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure
from bot.monitoring.unit_of_work import record_check, record_checks
from bot.storage.db import Database
from bot.storage.models import ChangeRow, DatasetState, FactRow, OutboxRow, SourceFailureRow, Subject
from bot.storage.views import CheckToRecord

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RETRY = timedelta(minutes=5)


def dns(*records: tuple[str, str], failed: bool = False, partial: bool = False) -> Observation:
    """`resolutions` as the DNS lookups see it: A records and the single-valued status."""
    if failed:
        return Observation(
            "resolutions", frozenset(), frozenset(), (SourceFailure("dns", "SERVFAIL", frozenset({"A"})),)
        )
    facts = frozenset(Fact(field, value, "dns") for field, value in records)
    known = frozenset({"A", "status"}) - ({"A"} if partial else set())
    failures = (SourceFailure("dns", "A: timeout", frozenset({"A"})),) if partial else ()
    return Observation("resolutions", facts, known, failures, single_valued=frozenset({"status"}))


def ns(*servers: str, failed: bool = False) -> Observation:
    if failed:
        return Observation("dns_records", frozenset(), frozenset(), (SourceFailure("dns", "REFUSED"),))
    return Observation("dns_records", frozenset(Fact("NS", s, "dns") for s in servers), frozenset({"NS"}))


EXISTS = ("status", "exists")
# One check per step: each a list of observations. Baselines (one dataset failing at
# first), quiet checks, a source down and back, values missing once and back, pending
# single values, and real changes (which take the one-by-one path in both).
SCRIPT: list[list[Observation]] = [
    [dns(("A", "192.0.2.1"), EXISTS), ns(failed=True)],  # baseline for one dataset only
    [dns(("A", "192.0.2.1"), EXISTS), ns("ns1.example.net")],  # the other's baseline
    [dns(("A", "192.0.2.1"), EXISTS), ns("ns1.example.net")],  # nothing new
    [dns(failed=True), ns("ns1.example.net")],  # DNS down: stale
    [dns(failed=True), ns("ns1.example.net")],  # still down
    [dns(("A", "192.0.2.1"), EXISTS), ns("ns1.example.net")],  # back: not stale
    [dns(EXISTS), ns("ns1.example.net")],  # A missing once: removing, no change yet
    [dns(("A", "192.0.2.1"), EXISTS), ns("ns1.example.net")],  # back: a flap, nothing
    [dns(("A", "192.0.2.1"), ("status", "NXDOMAIN")), ns("ns1.example.net")],  # pending status
    [dns(("A", "192.0.2.1"), EXISTS), ns("ns1.example.net")],  # and back
    [dns(("A", "192.0.2.1"), ("A", "198.51.100.7"), EXISTS), ns("ns1.example.net")],  # a change
    [dns(("A", "198.51.100.7"), EXISTS, partial=True), ns("ns1.example.net")],  # partial: add-only
    [dns(("A", "198.51.100.7"), EXISTS), ns("ns1.example.net", "ns2.example.net")],  # change
    [dns(("A", "198.51.100.7"), EXISTS), ns("ns2.example.net")],  # NS missing once
    [dns(("A", "198.51.100.7"), EXISTS), ns("ns2.example.net")],  # confirmed: a removal
    [dns(("A", "198.51.100.7"), EXISTS), ns("ns2.example.net")],  # quiet again
]


POLICY = AlertPolicy()


def snapshot(store: Database, subject_id: int) -> dict[str, Any]:
    """Every row the checks of one subject wrote, without ids and batch ids."""
    with store.engine.connect() as connection:

        def rows(table: Any, *columns: Any, order: Sequence[Any]) -> list[tuple[Any, ...]]:
            query = select(*columns).where(table.subject_id == subject_id).order_by(*order)
            return [tuple(row) for row in connection.execute(query)]

        subject = connection.execute(
            select(Subject.last_checked_at, Subject.next_check_at).where(Subject.id == subject_id)
        ).one()
        return {
            "subject": tuple(subject),
            "states": rows(
                DatasetState,
                DatasetState.dataset,
                DatasetState.baseline_at,
                DatasetState.last_ok_at,
                DatasetState.stale,
                DatasetState.last_error,
                DatasetState.last_error_at,
                DatasetState.consecutive_failures,
                order=[DatasetState.dataset],
            ),
            "facts": rows(
                FactRow,
                FactRow.dataset,
                FactRow.field,
                FactRow.value,
                FactRow.source,
                FactRow.status,
                FactRow.first_seen,
                FactRow.last_seen,
                order=[FactRow.dataset, FactRow.field, FactRow.value, FactRow.status, FactRow.first_seen],
            ),
            "failures": rows(
                SourceFailureRow,
                SourceFailureRow.dataset,
                SourceFailureRow.source,
                SourceFailureRow.message,
                SourceFailureRow.at,
                order=[SourceFailureRow.at, SourceFailureRow.dataset, SourceFailureRow.message],
            ),
            "changes": rows(
                ChangeRow,
                ChangeRow.dataset,
                ChangeRow.kind,
                ChangeRow.field,
                ChangeRow.old_value,
                ChangeRow.new_value,
                ChangeRow.detected_at,
                order=[ChangeRow.detected_at, ChangeRow.dataset, ChangeRow.field, ChangeRow.kind],
            ),
            "outbox": rows(OutboxRow, OutboxRow.channel_id, OutboxRow.datasets, order=[OutboxRow.id]),
        }


def test_batched_checks_write_what_single_checks_write(store: Database) -> None:
    one, batched, bystander = (
        store.monitors.add(
            team_id="T1",
            channel_id="C1",
            user_id="U1",
            indicators=[(name, IndicatorKind.DOMAIN)],
            now=T0,
        )[0].subject_id
        for name in ["one.example.com", "batched.example.com", "bystander.example.com"]
    )
    one_by_one: list[int] = []
    unit = store.checks.unit

    def spy(subject_id: int) -> Any:
        one_by_one.append(subject_id)
        return unit(subject_id)

    for step, observations in enumerate(SCRIPT):
        now = T0 + timedelta(hours=step + 1)
        single = record_check(store.checks, CheckToRecord(one, observations, now, now + RETRY), POLICY)
        checks = [
            CheckToRecord(bystander, [dns(("A", "203.0.113.9"), EXISTS)], now, now + RETRY),
            CheckToRecord(batched, observations, now, now + RETRY),
        ]
        one_by_one.clear()
        store.checks.unit = spy  # type: ignore[method-assign]
        results = record_checks(store.checks, checks, POLICY)
        store.checks.unit = unit  # type: ignore[method-assign]
        assert not any(isinstance(result, Exception) for result in results), results
        # Only a check with changes leaves the batch for a transaction of its own.
        assert (batched in one_by_one) == any(o.changes for o in single), step
        assert bystander not in one_by_one
        together = results[1]
        assert isinstance(together, list)
        assert [(o.changes, o.baseline, o.state) for o in together] == [
            (o.changes, o.baseline, o.state) for o in single
        ], step
        assert snapshot(store, batched) == snapshot(store, one), step
    # The script did reach the one-by-one path (changes) and the batch path (the rest).
    assert snapshot(store, one)["changes"] and snapshot(store, one)["outbox"]


def test_batched_check_of_a_removed_subject_writes_nothing(store: Database) -> None:
    subject_id = store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[("gone.example.com", IndicatorKind.DOMAIN)],
        now=T0,
    )[0].subject_id
    store.monitors.remove(team_id="T1", channel_id="C1", indicators=["gone.example.com"])
    results = record_checks(store.checks, [CheckToRecord(subject_id, [dns(EXISTS)], T0, None)], POLICY)
    assert results == [[]]
