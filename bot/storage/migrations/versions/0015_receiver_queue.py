"""one queue for every HTTP receiver: webhook_deliveries becomes receiver_deliveries,
each row naming its receiver (webhook, misp, thehive) and, for MISP, the event the
monitor came from

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Existing rows are webhook deliveries and keep their ids, state and idempotency keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_pending", table_name="webhook_deliveries")
    op.drop_index(op.f("ix_webhook_deliveries_alert_id"), table_name="webhook_deliveries")
    op.rename_table("webhook_deliveries", "receiver_deliveries")
    with op.batch_alter_table("receiver_deliveries") as batch:
        batch.add_column(
            sa.Column("receiver", sa.String(length=16), server_default="webhook", nullable=False)
        )
        batch.add_column(sa.Column("origin_event", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_receiver_pending", "receiver_deliveries", ["delivered_at", "abandoned_at", "next_attempt_at"]
    )
    op.create_index(op.f("ix_receiver_deliveries_alert_id"), "receiver_deliveries", ["alert_id"])


def downgrade() -> None:
    """Back to webhooks only: the other receivers' rows are dropped."""
    op.execute(sa.text("DELETE FROM receiver_deliveries WHERE receiver <> 'webhook'"))
    op.drop_index("ix_receiver_pending", table_name="receiver_deliveries")
    op.drop_index(op.f("ix_receiver_deliveries_alert_id"), table_name="receiver_deliveries")
    with op.batch_alter_table("receiver_deliveries") as batch:
        batch.drop_column("last_attempt_at")
        batch.drop_column("origin_event")
        batch.drop_column("receiver")
    op.rename_table("receiver_deliveries", "webhook_deliveries")
    op.create_index(
        "ix_webhook_pending", "webhook_deliveries", ["delivered_at", "abandoned_at", "next_attempt_at"]
    )
    op.create_index(op.f("ix_webhook_deliveries_alert_id"), "webhook_deliveries", ["alert_id"])
