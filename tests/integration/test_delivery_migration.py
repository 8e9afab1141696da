"""Migration 0012 on SQLite and PostgreSQL: triage kept per alert becomes one state per
channel's delivery, each with the alert's state, and a false positive's suppressions
name the delivery of their own channel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, text

from bot.storage.engine import alembic_config, create_database_engine

T = "2026-12-01 10:00:00+00:00"


@pytest.fixture
def engine_at_0011(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    command.upgrade(alembic_config(engine), "0011")
    yield engine
    engine.dispose()


def test_migration_0012_gives_each_channel_its_own_copy_of_the_alerts_triage(engine_at_0011: Engine) -> None:
    rows = [
        "INSERT INTO subjects (id, indicator, kind, created_at, next_check_at)"
        " VALUES (1, 'x.example', 'domain', :t, :t)",
        "INSERT INTO monitors (id, subject_id, team_id, channel_id, created_by, created_at, tags, muted)"
        " VALUES (10, 1, 'T1', 'C0A', 'U0A', :t, '[]', '[]'), (11, 1, 'T1', 'C0B', 'U0B', :t, '[]', '[]')",
        "INSERT INTO alerts (id, subject_id, batch_id, detected_at)"
        " VALUES (5, 1, 'b1', :t), (6, 1, 'b2', :t)",
        "INSERT INTO outbox (id, subject_id, team_id, channel_id, batch_id, datasets, created_at,"
        " next_attempt_at, attempts) VALUES"
        " (100, 1, 'T1', 'C0A', 'b1', '[\"dns\"]', :t, :t, 1),"
        " (101, 1, 'T1', 'C0B', 'b1', '[\"dns\"]', :t, :t, 1),"
        " (102, 1, 'T1', 'C0A', 'b2', '[\"dns\"]', :t, :t, 1)",
        "INSERT INTO alert_triage (alert_id, subject_id, state, set_by, set_at, reason)"
        " VALUES (5, 1, 'false_positive', 'U0A', :t, 'sinkhole')",
        "INSERT INTO suppressions (id, monitor_id, subject_id, kind, dataset, value, created_by, created_at,"
        " expires_at, alert_id) VALUES"
        " (1, 10, 1, 'value', 'dns', '1.2.3.4', 'U0A', :t, :t, 5),"
        " (2, 11, 1, 'value', 'dns', '1.2.3.4', 'U0A', :t, :t, 5),"
        " (3, 11, 1, 'snooze', NULL, NULL, 'U0B', :t, :t, NULL)",
    ]
    with engine_at_0011.begin() as connection:
        for statement in rows:
            connection.execute(text(statement), {"t": T})

    command.upgrade(alembic_config(engine_at_0011), "head")

    with engine_at_0011.connect() as connection:
        triage = connection.execute(
            text("SELECT outbox_id, state, set_by, reason FROM delivery_triage ORDER BY outbox_id")
        ).all()
        suppressions = connection.execute(text("SELECT id, delivery_id FROM suppressions ORDER BY id")).all()
        tables = set(
            connection.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
                if engine_at_0011.dialect.name == "postgresql"
                else text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).scalars()
        )
    # Both channels' deliveries of alert 5 carry its state; alert 6 had none (open).
    assert [tuple(r) for r in triage] == [
        (100, "false_positive", "U0A", "sinkhole"),
        (101, "false_positive", "U0A", "sinkhole"),
    ]
    assert [tuple(r) for r in suppressions] == [(1, 100), (2, 101), (3, None)]
    assert "alert_triage" not in tables

    command.downgrade(alembic_config(engine_at_0011), "0011")
    with engine_at_0011.connect() as connection:
        back = connection.execute(text("SELECT alert_id, state FROM alert_triage")).all()
    assert [tuple(r) for r in back] == [(5, "false_positive")]


def test_migration_0013_moves_queued_lookalike_messages_into_the_one_outbox(engine_at_0011: Engine) -> None:
    command.upgrade(alembic_config(engine_at_0011), "0012")
    rows = [
        "INSERT INTO lookalike_findings (id, team_id, channel_id, domain, name, reasons, source,"
        " first_seen_at, message_ts) VALUES (7, 'T1', 'C0A', 'interfaxru.com', 'www.interfaxru.com',"
        " '[]', 'ct', :t, '111.1')",
        "INSERT INTO lookalike_sightings (id, finding_id, issuer, serial, name, log, log_index, logged_at)"
        " VALUES (70, 7, 'CA', '0b', 'www.interfaxru.com', 'log-a', 3, :t)",
        "INSERT INTO lookalike_deliveries (id, finding_id, channel_id, sighting_id, created_at,"
        " next_attempt_at, attempts, delivered_at, message_ts) VALUES"
        " (1, 7, 'C0A', NULL, :t, :t, 1, :t, '111.1'), (2, 7, 'C0A', 70, :t, :t, 2, NULL, NULL)",
    ]
    with engine_at_0011.begin() as connection:
        for statement in rows:
            connection.execute(text(statement), {"t": T})

    command.upgrade(alembic_config(engine_at_0011), "head")

    with engine_at_0011.connect() as connection:
        moved = connection.execute(
            text(
                "SELECT kind, team_id, channel_id, finding_id, sighting_id, attempts, message_ts,"
                " delivered_at IS NOT NULL FROM outbox ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in moved] == [
        ("lookalike", "T1", "C0A", 7, None, 1, "111.1", True),
        ("sighting", "T1", "C0A", 7, 70, 2, None, False),
    ]
    command.downgrade(alembic_config(engine_at_0011), "0012")
    with engine_at_0011.connect() as connection:
        back = connection.execute(
            text("SELECT finding_id, sighting_id, attempts FROM lookalike_deliveries")
        ).all()
        left = connection.execute(text("SELECT count(*) FROM outbox")).scalar()
    assert [tuple(r) for r in back] == [(7, None, 1), (7, 70, 2)] and left == 0
