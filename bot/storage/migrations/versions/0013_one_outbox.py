"""One Slack outbox: lookalike findings, their later certificates and the notices of
suppressions that ended go through the outbox with alerts and follow-ups

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

`outbox` rows get a `kind` (alert, lookalike, sighting, notice) and what a non-alert
message is about (`finding_id`, `sighting_id`, `suppression_id`); `subject_id` and
`batch_id` are an alert's only. Queued lookalike messages move over with their state
(attempts, errors, delivered or given up) and `lookalike_deliveries` is dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="alert", nullable=False))
        batch.add_column(sa.Column("finding_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sighting_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("suppression_id", sa.Integer(), nullable=True))
        batch.alter_column("subject_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("batch_id", existing_type=sa.String(length=32), nullable=True)
        batch.create_foreign_key(
            "fk_outbox_finding", "lookalike_findings", ["finding_id"], ["id"], ondelete="CASCADE"
        )
    op.execute(
        """
        INSERT INTO outbox (team_id, channel_id, kind, finding_id, sighting_id, datasets, created_at,
                            next_attempt_at, attempts, last_error, claimed_until, delivered_at,
                            abandoned_at, message_ts)
        SELECT f.team_id, d.channel_id, CASE WHEN d.sighting_id IS NULL THEN 'lookalike' ELSE 'sighting' END,
               d.finding_id, d.sighting_id, '[]', d.created_at, d.next_attempt_at, d.attempts,
               d.last_error, d.claimed_until, d.delivered_at, d.abandoned_at, d.message_ts
        FROM lookalike_deliveries d JOIN lookalike_findings f ON f.id = d.finding_id
        ORDER BY d.id
        """
    )
    op.drop_index("ix_lookalike_deliveries_pending", table_name="lookalike_deliveries")
    op.drop_table("lookalike_deliveries")


def downgrade() -> None:
    op.create_table(
        "lookalike_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["finding_id"], ["lookalike_findings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lookalike_deliveries_pending", "lookalike_deliveries", ["delivered_at", "next_attempt_at"]
    )
    op.execute(
        """
        INSERT INTO lookalike_deliveries (finding_id, sighting_id, channel_id, created_at, next_attempt_at,
                                          attempts, last_error, claimed_until, delivered_at,
                                          abandoned_at, message_ts)
        SELECT finding_id, sighting_id, channel_id, created_at, next_attempt_at, attempts, last_error,
               claimed_until, delivered_at, abandoned_at, message_ts
        FROM outbox WHERE kind IN ('lookalike', 'sighting') ORDER BY id
        """
    )
    op.execute("DELETE FROM outbox WHERE kind <> 'alert'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_finding", type_="foreignkey")
        batch.alter_column("batch_id", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("suppression_id")
        batch.drop_column("sighting_id")
        batch.drop_column("finding_id")
        batch.drop_column("kind")
