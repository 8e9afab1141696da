"""Revision 0015 on SQLite and PostgreSQL: the webhook deliveries waiting at the upgrade
become rows of the one receiver queue, unchanged, and the downgrade gives them back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, text

from bot.storage.engine import alembic_config, create_database_engine

AT = "2026-12-01 09:00:00+00"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = create_database_engine(database_url)
    yield made
    made.dispose()


def test_receiver_queue_migration_keeps_waiting_webhooks(engine: Engine) -> None:
    config = alembic_config(engine)
    command.upgrade(config, "0014")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subjects (id, indicator, kind, next_check_at, created_at)"
                " VALUES (1, '98.126.38.107', 'ip', :at, :at)"
            ),
            {"at": AT},
        )
        connection.execute(
            text("INSERT INTO alerts (id, subject_id, batch_id, detected_at) VALUES (7, 1, 'b7', :at)"),
            {"at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO webhook_deliveries (id, alert_id, subject_id, team_id, channel_id, datasets,"
                " created_at, next_attempt_at, attempts, last_error) VALUES (3, 7, 1, 'T1', 'C1',"
                " '[\"resolutions\"]', '2026-12-01 09:00:00+00', '2026-12-01 09:05:00+00', 2, 'HTTP 500')"
            )
        )
    command.upgrade(config, "0015")
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT id, receiver, channel_id, attempts, last_error, origin_event FROM receiver_deliveries"
            )
        ).one()
    assert tuple(row) == (3, "webhook", "C1", 2, "HTTP 500", None)
    command.downgrade(config, "0014")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, attempts FROM webhook_deliveries")).one() == (3, 2)
