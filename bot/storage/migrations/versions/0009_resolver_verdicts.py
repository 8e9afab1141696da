"""resolver_verdicts: the resolver check's last verdict, shared by every process

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resolver_verdicts",
        sa.Column("resolver", sa.String(length=255), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("resolver"),
    )


def downgrade() -> None:
    op.drop_table("resolver_verdicts")
