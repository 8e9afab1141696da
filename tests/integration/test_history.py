"""History queries and alert summaries on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage.db import Database
from tests.integration.test_storage import T0, add, record, resolutions


def test_history_filters_by_day_and_dataset_newest_first(store: Database) -> None:
    subject_id = add(store, "98.126.38.107")
    record(store, subject_id, T0, resolutions("a.example.com"))
    record(store, subject_id, T0 + timedelta(hours=1), resolutions("a.example.com", "b.example.com"))
    record(
        store,
        subject_id,
        T0 + timedelta(days=1),
        resolutions("a.example.com", "b.example.com", "c.example.com"),
    )
    history = store.history
    day = datetime(2026, 11, 20, tzinfo=UTC)
    assert [r.change.new_value for r in history.history(subject_id)] == ["c.example.com", "b.example.com"]
    on_day = history.history(subject_id, start=day, end=day + timedelta(days=1), dataset="resolutions")
    assert [(r.change.new_value, r.detected_at) for r in on_day] == [
        ("b.example.com", T0 + timedelta(hours=1))
    ]
    assert history.history(subject_id, dataset="whois") == []


def test_history_summaries_count_alerts_and_today(store: Database) -> None:
    subject_id = add(store, "98.126.38.107")
    quiet_id = add(store, "example.com")
    record(store, subject_id, T0, resolutions("a.example.com"))
    record(store, subject_id, T0 + timedelta(hours=1), resolutions("a.example.com", "b.example.com"))
    record(
        store,
        subject_id,
        T0 + timedelta(days=2),
        resolutions("a.example.com", "b.example.com", "c.example.com"),
    )
    summaries = store.history.summaries([subject_id, quiet_id], day_start=datetime(2026, 11, 22, tzinfo=UTC))
    assert summaries[subject_id].alert_count == 2
    assert summaries[subject_id].datasets_today == ("resolutions",)
    assert summaries[subject_id].last_alert_at == T0 + timedelta(days=2)
    assert (summaries[quiet_id].alert_count, summaries[quiet_id].last_alert_at) == (0, None)


def test_history_changes_between_only_for_the_channel(store: Database) -> None:
    mine = add(store, "98.126.38.107", "C1")
    other = add(store, "45.77.10.20", "C2")
    for subject_id in (mine, other):
        record(store, subject_id, T0, resolutions("a.example.com"))
        record(store, subject_id, T0 + timedelta(hours=1), resolutions("a.example.com", "b.example.com"))
    history = store.history
    rows = history.changes_between(T0, T0 + timedelta(days=1), team_id="T1", channel_id="C1")
    assert [(r.indicator, r.change.new_value) for r in rows] == [("98.126.38.107", "b.example.com")]
    assert len(history.changes_between(T0, T0 + timedelta(days=1))) == 2
