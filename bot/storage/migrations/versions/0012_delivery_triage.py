"""Triage per delivery: each channel's copy of an alert has its own state

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

`alert_triage` (one state per alert, shared by every channel it went to) becomes
`delivery_triage` (one per outbox row: the alert's message in one channel). Each alert's
state is copied to every channel's delivery of it, so nothing a team decided is lost.
A suppression made by a false positive now names the delivery it came from
(`suppressions.delivery_id`), so reopening one channel's alert lifts only that channel's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_triage",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id"),
    )
    op.create_index(op.f("ix_delivery_triage_subject_id"), "delivery_triage", ["subject_id"])
    op.execute(
        """
        INSERT INTO delivery_triage (outbox_id, subject_id, state, set_by, set_at, reason)
        SELECT o.id, t.subject_id, t.state, t.set_by, t.set_at, t.reason
        FROM alert_triage t
        JOIN alerts a ON a.id = t.alert_id
        JOIN outbox o ON o.batch_id = a.batch_id
        """
    )
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("delivery_id", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE suppressions SET delivery_id = (
            SELECT MIN(o.id) FROM outbox o
            JOIN alerts a ON a.batch_id = o.batch_id
            JOIN monitors m ON m.id = suppressions.monitor_id
            WHERE a.id = suppressions.alert_id
              AND o.team_id = m.team_id AND o.channel_id = m.channel_id
        )
        WHERE alert_id IS NOT NULL
        """
    )
    op.drop_index(op.f("ix_alert_triage_subject_id"), table_name="alert_triage")
    op.drop_table("alert_triage")


def downgrade() -> None:
    op.create_table(
        "alert_triage",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index(op.f("ix_alert_triage_subject_id"), "alert_triage", ["subject_id"])
    # One state per alert again: the channel that set one last speaks for the alert.
    op.execute(
        """
        INSERT INTO alert_triage (alert_id, subject_id, state, set_by, set_at, reason)
        SELECT a.id, t.subject_id, t.state, t.set_by, t.set_at, t.reason
        FROM delivery_triage t
        JOIN outbox o ON o.id = t.outbox_id
        JOIN alerts a ON a.batch_id = o.batch_id
        WHERE t.outbox_id = (
            SELECT t2.outbox_id FROM delivery_triage t2 JOIN outbox o2 ON o2.id = t2.outbox_id
            WHERE o2.batch_id = o.batch_id ORDER BY t2.set_at DESC, t2.outbox_id DESC LIMIT 1
        )
        """
    )
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("delivery_id")
    op.drop_index(op.f("ix_delivery_triage_subject_id"), table_name="delivery_triage")
    op.drop_table("delivery_triage")
