"""Migration 0016 on SQLite and PostgreSQL: a monitor's mutes until unmuted move from the
`monitors.muted` column to `mute` suppressions ending at UNTIMED, which the policy, the
list and `lift` then see like any other; the downgrade puts them back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, text

from bot.monitoring.store.monitors import Monitors
from bot.storage.engine import alembic_config, create_database_engine
from bot.triage.model import SuppressionKind
from bot.triage.store import TriageStore

T = "2026-12-01 10:00:00+00:00"
CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine_at_0015(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    command.upgrade(alembic_config(engine), "0015")
    rows = [
        "INSERT INTO subjects (id, indicator, kind, created_at, next_check_at)"
        " VALUES (1, 'x.example', 'domain', :t, :t)",
        "INSERT INTO monitors (id, subject_id, team_id, channel_id, created_by, created_at, tags, muted)"
        " VALUES"
        " (10, 1, 'T1', 'C0A', 'U0A', :t, '[]', '[\"whois\", \"subdomains\"]'),"
        " (11, 1, 'T1', 'C0B', 'U0B', :t, '[]', '[]')",
        # A timed mute of C0B's whois, in force, and an ended snooze of C0A: both stay as they are.
        "INSERT INTO suppressions (monitor_id, subject_id, kind, dataset, value, created_by, created_at,"
        " expires_at) VALUES"
        " (11, 1, 'mute', 'whois', NULL, 'U0B', :t, '2026-12-09 10:00:00+00:00'),"
        " (10, 1, 'snooze', NULL, NULL, 'U0A', :t, :t)",
    ]
    with engine.begin() as connection:
        for statement in rows:
            connection.execute(text(statement), {"t": T})
    yield engine
    engine.dispose()


def test_migration_0016_makes_each_untimed_mute_a_suppression_and_back(engine_at_0015: Engine) -> None:
    command.upgrade(alembic_config(engine_at_0015), "0016")
    triage, monitors = TriageStore(engine_at_0015), Monitors(engine_at_0015)
    mutes = [s for s in triage.active(now=NOW) if s.kind is SuppressionKind.MUTE]
    assert [(s.channel_id, s.dataset, s.expires_at) for s in mutes] == [
        ("C0B", "whois", datetime(2026, 12, 9, 10, 0, tzinfo=UTC)),
        ("C0A", "subdomains", None),
        ("C0A", "whois", None),
    ]
    moved = mutes[1:]
    assert {(s.created_by, s.created_at, s.reason) for s in moved} == {("U0A", CREATED, "muted before 0016")}
    assert all(s.id > 2 for s in moved)  # numbered, so `/monitor lift` ends them
    assert {m.channel_id: m.muted for m in monitors.list()} == {"C0A": ("subdomains", "whois"), "C0B": ()}
    # Lifted after the upgrade: the downgrade leaves it out of the column, on record.
    triage.lift(mutes[1].id, by="U0A", now=NOW)

    command.downgrade(alembic_config(engine_at_0015), "0015")
    with engine_at_0015.connect() as connection:
        columns = connection.execute(text("SELECT id, muted FROM monitors ORDER BY id")).all()
        left = connection.execute(
            text("SELECT id, monitor_id, kind, dataset, lifted_at IS NOT NULL FROM suppressions ORDER BY id")
        ).all()
    muted = {
        monitor_id: value if isinstance(value, list) else json.loads(value) for monitor_id, value in columns
    }
    assert muted == {10: ["whois"], 11: []}
    # The timed mute and the snooze stay; the lifted untimed row stays on record; the one in
    # force went back to the column.
    assert [tuple(r)[1:4] for r in left][:2] == [(11, "mute", "whois"), (10, "snooze", None)]
    assert [tuple(r)[2:] for r in left][2:] == [("mute", "subdomains", True)]
