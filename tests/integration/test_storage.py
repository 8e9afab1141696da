"""Storage on SQLite and PostgreSQL: monitors, intervals, the outbox, claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from bot.alerts.pipeline import AlertPolicy
from bot.core.errors import UserInputError
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure
from bot.monitoring.unit_of_work import record_check
from bot.storage.db import Database
from bot.storage.models import Base, ChangeRow, FactRow, Monitor, OutboxRow, SourceFailureRow, Subject
from bot.storage.views import CheckOutcome, CheckToRecord

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
IP = IndicatorKind.IP
DOMAIN = IndicatorKind.DOMAIN


def resolutions(*domains: str, failed: bool = False) -> Observation:
    if failed:
        return Observation("resolutions", frozenset(), frozenset(), (SourceFailure("mnemonic", "HTTP 500"),))
    return Observation(
        "resolutions", frozenset(Fact("domain", d, "mnemonic") for d in domains), frozenset({"domain"})
    )


def record(store: Database, subject_id: int, now: datetime, *observations: Observation) -> list[CheckOutcome]:
    return record_check(store.checks, CheckToRecord(subject_id, observations, now), AlertPolicy())


def add(store: Database, indicator: str, channel: str = "C1", kind: IndicatorKind = IP) -> int:
    added = store.monitors.add(
        team_id="T1", channel_id=channel, user_id="U1", indicators=[(indicator, kind)], now=T0
    )
    return added[0].subject_id


def count(store: Database, table: type) -> int:
    with store.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_migrations_match_the_models(store: Database) -> None:
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_storage_one_subject_for_several_channels(store: Database) -> None:
    first = store.monitors.add(
        team_id="T1", channel_id="C1", user_id="U1", indicators=[("98.126.38.107", IP)], now=T0
    )
    second = store.monitors.add(
        team_id="T1",
        channel_id="C2",
        user_id="U2",
        indicators=[("98.126.38.107", IP), ("example.com", DOMAIN)],
        now=T0,
    )
    again = store.monitors.add(
        team_id="T1", channel_id="C1", user_id="U1", indicators=[("98.126.38.107", IP)], now=T0
    )
    assert first[0].new_subject and first[0].new_for_channel
    assert second[0].subject_id == first[0].subject_id and not second[0].new_subject
    assert second[0].new_for_channel and second[1].new_subject
    assert not again[0].new_for_channel
    assert count(store, Subject) == 2 and count(store, Monitor) == 3
    assert [m.indicator for m in store.monitors.list(team_id="T1", channel_id="C2")] == [
        "98.126.38.107",
        "example.com",
    ]


def test_storage_remove_is_all_or_nothing(store: Database) -> None:
    add(store, "98.126.38.107")
    with pytest.raises(UserInputError, match=r"example\.org"):
        store.monitors.remove(team_id="T1", channel_id="C1", indicators=["98.126.38.107", "example.org"])
    assert count(store, Monitor) == 1
    assert store.monitors.remove(team_id="T1", channel_id="C1", indicators=["98.126.38.107"]) == [
        "98.126.38.107"
    ]
    assert count(store, Monitor) == 0 and count(store, Subject) == 0


def test_storage_removing_one_channel_keeps_the_shared_subject(store: Database) -> None:
    subject_id = add(store, "98.126.38.107", "C1")
    add(store, "98.126.38.107", "C2")
    record(store, subject_id, T0, resolutions("a.example.com"))
    store.monitors.remove(team_id="T1", channel_id="C1", indicators=["98.126.38.107"])
    assert count(store, Subject) == 1 and count(store, FactRow) == 1


def test_storage_change_writes_changes_and_one_alert_per_channel(store: Database) -> None:
    subject_id = add(store, "98.126.38.107", "C1")
    add(store, "98.126.38.107", "C2")
    baseline = record(store, subject_id, T0, resolutions("a.example.com"))
    assert baseline[0].baseline and count(store, OutboxRow) == 0 and count(store, ChangeRow) == 0
    record(store, subject_id, T0 + timedelta(hours=1), resolutions("a.example.com", "www.interfaxru.com"))
    alerts = store.outbox.claim(now=T0 + timedelta(hours=1), lease=timedelta(minutes=1), limit=10)
    assert sorted(a.channel_id for a in alerts) == ["C1", "C2"]
    assert [(c.kind.value, c.field, c.new_value) for c in alerts[0].changes] == [
        ("added", "domain", "www.interfaxru.com")
    ]


def test_storage_muted_dataset_enqueues_nothing(store: Database) -> None:
    subject_id = add(store, "98.126.38.107", "C1")
    store.monitors.set_muted(
        team_id="T1",
        channel_id="C1",
        indicator="98.126.38.107",
        dataset="resolutions",
        muted=True,
        by="U1",
        now=T0,
    )
    record(store, subject_id, T0, resolutions("a.example.com"))
    record(store, subject_id, T0 + timedelta(hours=1), resolutions("a.example.com", "b.example.com"))
    assert count(store, ChangeRow) == 1 and count(store, OutboxRow) == 0


def test_storage_grows_with_changes_not_checks(store: Database) -> None:
    subject_id = add(store, "98.126.38.107")
    record(store, subject_id, T0, resolutions("a.example.com", "b.example.com"))
    tables = (FactRow, ChangeRow, OutboxRow, SourceFailureRow, Subject)
    after_one = [count(store, t) for t in tables]
    for hour in range(1, 30):
        record(store, subject_id, T0 + timedelta(hours=hour), resolutions("b.example.com", "a.example.com"))
    assert [count(store, t) for t in tables] == after_one


def test_storage_removal_closes_the_interval(store: Database) -> None:
    subject_id = add(store, "98.126.38.107")
    record(store, subject_id, T0, resolutions("a.example.com", "b.example.com"))
    record(store, subject_id, T0 + timedelta(hours=1), resolutions("a.example.com"))
    outcomes = record(store, subject_id, T0 + timedelta(hours=2), resolutions("a.example.com"))
    assert [(c.kind.value, c.old_value) for c in outcomes[0].changes] == [("removed", "b.example.com")]
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(FactRow.value, FactRow.status, FactRow.first_seen, FactRow.last_seen).order_by(
                FactRow.value
            )
        ).all()
    assert [(r.value, r.status) for r in rows] == [("a.example.com", "active"), ("b.example.com", "closed")]
    assert rows[1].first_seen == T0 and rows[1].last_seen == T0


def test_storage_failure_keeps_state_and_records_health(store: Database) -> None:
    subject_id = add(store, "98.126.38.107")
    record(store, subject_id, T0, resolutions("a.example.com"))
    record(store, subject_id, T0 + timedelta(hours=1), resolutions(failed=True))
    record(store, subject_id, T0 + timedelta(hours=2), resolutions(failed=True))
    health = store.checks.dataset_health(subject_id)
    assert health[0].stale and "HTTP 500" in (health[0].last_error or "")
    assert [f.value for f in health[0].facts] == ["a.example.com"]
    assert count(store, SourceFailureRow) == 2 and count(store, ChangeRow) == 0
    record(store, subject_id, T0 + timedelta(hours=3), resolutions("a.example.com"))
    assert not store.checks.dataset_health(subject_id)[0].stale


def test_storage_alerts_go_out_in_order_one_per_channel(store: Database) -> None:
    subject_id = add(store, "98.126.38.107")
    record(store, subject_id, T0, resolutions("a.example.com"))
    for hour, new in enumerate(["b.example.com", "c.example.com"], start=1):
        record(store, subject_id, T0 + timedelta(hours=hour), resolutions("a.example.com", new))
    now = T0 + timedelta(hours=3)
    lease = timedelta(minutes=1)
    first = store.outbox.claim(now=now, lease=lease, limit=10)
    assert [c.new_value for a in first for c in a.changes] == ["b.example.com"]
    assert (
        store.outbox.claim(now=now, lease=lease, limit=10) == []
    )  # leased, and the next one waits behind it
    store.outbox.mark_failed(first[0].id, error="HTTP 500", retry_at=now + timedelta(seconds=30))
    assert store.outbox.claim(now=now + timedelta(seconds=10), lease=lease, limit=10) == []  # order kept
    retried = store.outbox.claim(now=now + timedelta(seconds=31), lease=lease, limit=10)
    assert [a.id for a in retried] == [first[0].id] and retried[0].attempts == 1
    store.outbox.mark_delivered(first[0].id, now=now, message_ts="1.1")
    second = store.outbox.claim(now=now + timedelta(seconds=32), lease=lease, limit=10)
    assert [c.new_value for a in second for c in a.changes] == ["c.example.com"]
    store.outbox.mark_abandoned(second[0].id, error="channel_not_found", now=now)
    assert store.outbox.undelivered_count() == 0


def test_storage_due_subjects_are_claimed_once(store: Database) -> None:
    add(store, "98.126.38.107")
    add(store, "example.com", kind=DOMAIN)
    now = T0 + timedelta(minutes=1)
    first = store.checks.claim_due(now=now, interval=timedelta(hours=1), limit=10)
    assert sorted(s.indicator for s in first) == ["98.126.38.107", "example.com"]
    assert store.checks.claim_due(now=now, interval=timedelta(hours=1), limit=10) == []
    later = store.checks.claim_due(  # the next routine check is at most 1.5 intervals away
        now=now + timedelta(hours=1, minutes=30), interval=timedelta(hours=1), limit=10
    )
    assert len(later) == 2


def test_storage_a_dataset_without_baseline_is_retried_soon(store: Database) -> None:
    subject_id = store.monitors.add(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        indicators=[("98.126.38.107", IP)],
        now=T0,
        first_check_delay=timedelta(hours=1),
    )[0].subject_id

    retry_at = T0 + timedelta(minutes=5)
    record_check(
        store.checks,
        CheckToRecord(subject_id, [resolutions(failed=True)], T0, retry_without_baseline_at=retry_at),
        AlertPolicy(),
    )
    assert [
        s.indicator for s in store.checks.claim_due(now=retry_at, interval=timedelta(hours=1), limit=5)
    ] == ["98.126.38.107"]
