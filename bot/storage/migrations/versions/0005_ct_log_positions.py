"""ct_log_positions: how far the Certificate Transparency reader has read each log

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ct_log_positions",
        sa.Column("log", sa.String(length=512), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("log"),
    )


def downgrade() -> None:
    op.drop_table("ct_log_positions")
