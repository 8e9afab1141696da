"""alerts (numbered in commit order, for the API), webhook deliveries, monitor tags

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.create_index("ix_outbox_batch", "outbox", ["batch_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alerts_time", "alerts", ["detected_at"])
    op.create_index(op.f("ix_alerts_subject_id"), "alerts", ["subject_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_pending", "webhook_deliveries", ["delivered_at", "abandoned_at", "next_attempt_at"]
    )
    op.create_index(op.f("ix_webhook_deliveries_alert_id"), "webhook_deliveries", ["alert_id"])
    _backfill_alerts()


def _backfill_alerts() -> None:
    """Every check that alerted before this revision becomes an alert, oldest first."""
    changes = sa.table(
        "changes",
        sa.column("id", sa.Integer()),
        sa.column("subject_id", sa.Integer()),
        sa.column("batch_id", sa.String()),
        sa.column("detected_at", sa.DateTime(timezone=True)),
        sa.column("alerted", sa.Boolean()),
    )
    alerts = sa.table(
        "alerts",
        sa.column("subject_id", sa.Integer()),
        sa.column("batch_id", sa.String()),
        sa.column("detected_at", sa.DateTime(timezone=True)),
    )
    grouped = (
        sa.select(sa.func.min(changes.c.subject_id), changes.c.batch_id, sa.func.min(changes.c.detected_at))
        .where(changes.c.alerted == sa.true())
        .group_by(changes.c.batch_id)
        .order_by(sa.func.min(changes.c.id))
    )
    op.execute(alerts.insert().from_select(["subject_id", "batch_id", "detected_at"], grouped))


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("alerts")
    op.drop_index("ix_outbox_batch", table_name="outbox")
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.drop_column("tags")
