"""suppressions of lookalike and keyword watches (mutes, snoozes), and silenced findings

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

A suppression belongs to a monitor (as before: monitor_id and subject_id set) or to a
watch (watch_id set, the other two NULL), so `/monitor suppressions`, `lift` and the
notice of a suppression's end work for both. No row is rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.alter_column("monitor_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("subject_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("watch_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_suppressions_watch_id", "lookalike_watches", ["watch_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_suppressions_watch", ["watch_id", "expires_at"])
        batch.create_check_constraint(
            "ck_suppressions_one_owner", "(monitor_id IS NULL) <> (watch_id IS NULL)"
        )
    with op.batch_alter_table("lookalike_findings") as batch:
        batch.add_column(sa.Column("silenced", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lookalike_findings") as batch:
        batch.drop_column("silenced")
    op.execute("DELETE FROM suppressions WHERE watch_id IS NOT NULL")
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_constraint("ck_suppressions_one_owner", type_="check")
        batch.drop_index("ix_suppressions_watch")
        batch.drop_constraint("fk_suppressions_watch_id", type_="foreignkey")
        batch.drop_column("watch_id")
        batch.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("monitor_id", existing_type=sa.Integer(), nullable=False)
